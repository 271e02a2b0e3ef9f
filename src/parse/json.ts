import { CANONICAL_FIELDS, type CanonicalField, RawFields, type RawValue } from './fields.js'

/*
 * JSON access-log records, through a field map (canonical field -> JSON key).
 *
 * Istio default JSON (meshConfig.accessLogEncoding: JSON), any key order:
 *   {"authority":"reviews:9080","bytes_received":0,"bytes_sent":358,"connection_termination_details":null,
 *    "downstream_local_address":"10.124.1.5:9080","downstream_remote_address":"10.124.0.13:43612","duration":15,
 *    "method":"GET","path":"/reviews/0","protocol":"HTTP/1.1","request_id":"9fcc7101-...","response_code":200,
 *    "response_flags":"-","start_time":"2022-09-08T12:51:05.656Z","upstream_cluster":"inbound|9080||", ...}
 *   typed (1.8+): numbers and null; untyped (<=1.7): every value a string, unset = "-", plus
 *   istio_policy_status; 1.23/1.24: upstream_cluster ends in ";".
 * Seed format (a published government-cloud Istio guide; the `seed-000` preset):
 *   {"timestamp":"%START_TIME%","source_principal":"%DOWNSTREAM_PEER_SUBJECT%",
 *   "destination_service":"%REQ(:authority)%","method":...,"path":...,"response_code":...,
 *   "duration_ms":"%DURATION%","connection_id":"%CONNECTION_ID%"}
 * Every map also reads the canonical key names for fields it does not map explicitly, so common extras
 * (downstream_peer_uri_san, downstream_tls_version, upstream_peer_uri_san, ...) work with any preset.
 * Values are read only when they are primitives: an inherited property (`constructor`, `toString`) is
 * a function and is ignored, so no prototype lookup can leak into the event.
 */

export type FieldMapPreset = 'istio' | 'seed-000'

export interface FieldMap {
  /** Shown in envoy.format as `custom:<name>`. */
  name?: string
  /** Canonical field name -> JSON key in the access-log object. */
  fields: Partial<Record<CanonicalField, string>>
}

const PRESETS: Readonly<Record<FieldMapPreset, FieldMap>> = {
  istio: { name: 'istio', fields: {} },
  'seed-000': {
    name: 'seed-000',
    fields: {
      start_time: 'timestamp',
      downstream_peer_subject: 'source_principal',
      authority: 'destination_service',
      duration: 'duration_ms',
    },
  },
}

const UNSAFE_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype'])

export function isUnsafeKey(k: string): boolean {
  return UNSAFE_KEYS.has(k)
}

export interface CompiledMap {
  readonly name: string
  /** The JSON key whose presence marks a record as written in this format. */
  readonly timeKey: string
  readonly pairs: ReadonlyArray<readonly [CanonicalField, string]>
  readonly tlsVersionKey: string
  /** Keys that only this map uses (not Istio's), to recognise a record in auto mode. */
  readonly distinctiveKeys: readonly string[]
}

export function resolveFieldMap(m: FieldMap | FieldMapPreset | undefined): FieldMap {
  if (m === undefined) return PRESETS['seed-000']
  return typeof m === 'string' ? PRESETS[m] : m
}

/** Compiles a map once into the (field, key) pairs the hot loop walks. */
export function compileFieldMap(m: FieldMap): CompiledMap {
  const explicit = m.fields
  const pairs: Array<readonly [CanonicalField, string]> = []
  const used = new Set<string>()
  for (const field of CANONICAL_FIELDS) {
    const key = explicit[field] ?? field
    if (used.has(key)) continue
    used.add(key)
    pairs.push([field, key])
  }
  const distinctive = Object.entries(explicit)
    .filter(([field, key]) => key !== undefined && key !== field)
    .map(([, key]) => key as string)
  return {
    name: m.name ?? 'user',
    timeKey: explicit.start_time ?? 'start_time',
    pairs,
    tlsVersionKey: explicit.downstream_tls_version ?? 'downstream_tls_version',
    distinctiveKeys: distinctive,
  }
}

export const ISTIO_MAP: CompiledMap = compileFieldMap(PRESETS.istio)
export const SEED_MAP: CompiledMap = compileFieldMap(PRESETS['seed-000'])

export function extractJsonFields(obj: Record<string, unknown>, map: CompiledMap): RawFields {
  if (map === ISTIO_MAP) return extractIstio(obj)
  const f = new RawFields()
  const pairs = map.pairs
  for (let i = 0; i < pairs.length; i++) {
    const p = pairs[i]!
    const v = obj[p[1]]
    const t = typeof v
    if (t === 'string' || t === 'number' || t === 'boolean' || v === null) f[p[0]] = v as string | number | boolean | null
  }
  f.downstreamTlsLogged = Object.hasOwn(obj, map.tlsVersionKey)
  return f
}

/**
 * Istio <=1.7 JSON (untyped): response_code is a string, and istio_policy_status is present. 1.8+
 * typed JSON has response_code as a number.
 */
export function istioJsonFormat(obj: Record<string, unknown>): 'istio-json' | 'istio-json-untyped' {
  return typeof obj['response_code'] === 'string' || Object.hasOwn(obj, 'istio_policy_status') ? 'istio-json-untyped' : 'istio-json'
}

/**
 * True when the object carries the map's time key and at least one other key that only an access log
 * has (a key the map renames, or response_code / method), so `{"start_time": ...}` alone is not enough.
 */
export function matchesMap(obj: Record<string, unknown>, map: CompiledMap): boolean {
  if (!Object.hasOwn(obj, map.timeKey)) return false
  for (const k of map.distinctiveKeys) if (k !== map.timeKey && Object.hasOwn(obj, k)) return true
  return Object.hasOwn(obj, 'response_code') || Object.hasOwn(obj, 'method')
}

function prim(v: unknown): RawValue {
  const t = typeof v
  return t === 'string' || t === 'number' || t === 'boolean' || v === null ? (v as RawValue) : undefined
}

/**
 * The identity map unrolled into named property loads: JSON.parse gives objects with the same key order
 * one hidden class, so these loads stay monomorphic, several times cheaper than keyed lookups in a loop.
 * None of these names exists on Object.prototype, and prim() drops anything that is not a primitive.
 */
function extractIstio(obj: Record<string, unknown>): RawFields {
  const o = obj as Partial<Record<CanonicalField, unknown>>
  const f = new RawFields()
  f.start_time = prim(o.start_time)
  f.method = prim(o.method)
  f.path = prim(o.path)
  f.protocol = prim(o.protocol)
  f.response_code = prim(o.response_code)
  f.response_flags = prim(o.response_flags)
  f.response_code_details = prim(o.response_code_details)
  f.connection_termination_details = prim(o.connection_termination_details)
  f.upstream_transport_failure_reason = prim(o.upstream_transport_failure_reason)
  f.bytes_received = prim(o.bytes_received)
  f.bytes_sent = prim(o.bytes_sent)
  f.duration = prim(o.duration)
  f.upstream_service_time = prim(o.upstream_service_time)
  f.x_forwarded_for = prim(o.x_forwarded_for)
  f.user_agent = prim(o.user_agent)
  f.request_id = prim(o.request_id)
  f.authority = prim(o.authority)
  f.upstream_host = prim(o.upstream_host)
  f.upstream_cluster = prim(o.upstream_cluster)
  f.upstream_local_address = prim(o.upstream_local_address)
  f.downstream_local_address = prim(o.downstream_local_address)
  f.downstream_remote_address = prim(o.downstream_remote_address)
  f.requested_server_name = prim(o.requested_server_name)
  f.route_name = prim(o.route_name)
  f.connection_id = prim(o.connection_id)
  f.downstream_peer_uri_san = prim(o.downstream_peer_uri_san)
  f.downstream_local_uri_san = prim(o.downstream_local_uri_san)
  f.downstream_peer_subject = prim(o.downstream_peer_subject)
  f.downstream_tls_version = prim(o.downstream_tls_version)
  f.downstream_tls_cipher = prim(o.downstream_tls_cipher)
  f.upstream_peer_uri_san = prim(o.upstream_peer_uri_san)
  f.upstream_tls_version = prim(o.upstream_tls_version)
  f.upstream_tls_cipher = prim(o.upstream_tls_cipher)
  f.istio_policy_status = prim(o.istio_policy_status)
  f.cluster_id = prim(o.cluster_id)
  f.downstream_peer_cluster = prim(o.downstream_peer_cluster)
  f.upstream_peer_cluster = prim(o.upstream_peer_cluster)
  f.downstreamTlsLogged = Object.hasOwn(obj, 'downstream_tls_version')
  return f
}
