/**
 * The identity stage's work, once per identity tuple. A mesh has few distinct (reporter, cluster, peer
 * certificates, SNI, :authority, pod) combinations and every line repeats one, so enrichIdentity's
 * result is remembered under a key made of exactly the values it reads, and replayed on the next event
 * with the same key: the same fields written in the same order onto the same objects, so the stored
 * document is byte for byte what the cold computation writes (test/enrich/identity-memo.test.ts).
 *
 * The key holds every input enrichIdentity and identityContext read, each as that code reads it (a
 * string through `str`, so an absent, '-', '' or oversized value is one value), length-prefixed so no
 * two inputs make the same key whatever they contain. An event whose shape the key does not describe
 * (mesh.source or mesh.destination holding more than the parser's `cluster`, a mesh.mtls already set)
 * is computed cold, uncached.
 */
import type { AuditEvent } from '../generated/types.js'
import type { TransformsConfig } from '../config/transforms.js'
import { enrichIdentity, isGateway, str, ztunnelOf, type IdentityContext } from './identity.js'
import { isFilterChainNotFound } from './signals.js'
import { BoundedCache } from './bounded-cache.js'

/** What enrichIdentity did to an event with a given key. */
export interface IdentityOutcome {
  /** Members added to mesh.source / mesh.destination, as key, value, key, value, in the order they were added. */
  readonly source: readonly unknown[]
  readonly destination: readonly unknown[]
  readonly mtls: boolean | null
  /** ztunnel lines get mesh.mtls before mesh.source and mesh.destination; Envoy lines after. */
  readonly mtlsFirst: boolean
  readonly ctx: IdentityContext
  /** Unique per outcome for the life of the process: later memos key their entries by it, not by the long key. */
  readonly id: number
  /** AU-3f (identityElementSatisfied) for this identity, set by the au3 stage when it first needs it. */
  identityOk?: boolean
}

let nextId = 0

/** Keys longer than this are not cached: a cached entry's memory stays bounded whatever the input. */
export const MAX_KEY_LENGTH = 2048

export interface MemoIdentity {
  ctx: IdentityContext
  /** The cached outcome the event got or made, when it had a key: the au3 and detect memos hang off it. */
  outcome: IdentityOutcome | undefined
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** One input: '~' when absent, else its length, ':' and itself (prefix-free, so keys cannot collide). */
function part(v: string | undefined): string {
  return v === undefined ? '~' : `${v.length}:${v}`
}

function raw(v: unknown): string {
  return typeof v === 'string' ? part(v) : '~'
}

/**
 * What the parser may have put on one side before enrichment: nothing ('n'), or only its `cluster`
 * (that side's part). undefined: anything else, which the key does not describe.
 */
function prior(mesh: Record<string, unknown>, side: 'source' | 'destination'): string | undefined {
  const v = mesh[side]
  if (v === undefined) return 'n'
  if (!isObject(v)) return undefined
  let n = 0
  for (const k in v) {
    if (!Object.hasOwn(v, k)) return undefined
    if (k !== 'cluster' || typeof v[k] !== 'string') return undefined
    n++
  }
  return n === 0 ? 'e' : `c${part(v.cluster as string)}`
}

/** Workload name from envelope labels, most specific first, else the pod name (as identity.ts reads it). */
function workloadPart(event: AuditEvent, max: number): string {
  const k = isObject(event.kubernetes) ? event.kubernetes : undefined
  if (k === undefined) return '~'
  const labels = isObject(k.labels) ? k.labels : undefined
  if (labels !== undefined) {
    for (const key of ['service.istio.io/canonical-name', 'app.kubernetes.io/name', 'app']) {
      const v = Object.hasOwn(labels, key) ? str(labels[key], max) : undefined
      if (v !== undefined) return part(v)
    }
  }
  return part(str(k.pod, max))
}

/** The key of everything enrichIdentity reads from `event`, or undefined when the event is not cacheable. */
export function identityKey(event: AuditEvent, max: number): string | undefined {
  const mesh = event.mesh as unknown
  if (!isObject(mesh) || Object.hasOwn(mesh, 'mtls')) return undefined
  const src = prior(mesh, 'source')
  const dst = prior(mesh, 'destination')
  if (src === undefined || dst === undefined) return undefined
  const envoy = isObject(event.envoy) ? event.envoy : undefined
  const peer = envoy !== undefined && isObject(envoy.peer) ? envoy.peer : undefined
  const k8s = isObject(event.kubernetes) ? event.kubernetes : undefined
  const network = isObject(event.network) ? event.network : undefined
  let key =
    src +
    dst +
    raw(mesh.reporter) +
    raw(network?.direction) +
    part(str(mesh.upstream_cluster, max)) +
    part(str(peer?.downstream_uri_san, max)) +
    part(str(peer?.upstream_uri_san, max)) +
    part(str(peer?.downstream_local_uri_san, max)) +
    part(str(envoy?.requested_server_name, max)) +
    part(str(envoy?.authority, max)) +
    part(str(k8s?.namespace, max)) +
    workloadPart(event, max) +
    (isObject(event.tls) && event.tls.established === true ? 'T' : 'F') +
    (isFilterChainNotFound(event) ? 'T' : 'F') +
    (isGateway(event) ? 'T' : 'F')
  const zt = ztunnelOf(event)
  if (zt === undefined) return key + 'E'
  const port = isObject(event.destination) ? event.destination.port : undefined
  key +=
    'Z' +
    part(str(zt.src_identity, max)) +
    part(str(zt.src_namespace, max)) +
    part(str(zt.src_workload, max)) +
    part(str(zt.dst_identity, max)) +
    part(str(zt.dst_service, max)) +
    part(str(zt.dst_namespace, max)) +
    part(str(zt.dst_workload, max)) +
    part(str(zt.dst_hbone_addr, max)) +
    part(str(zt.dst_addr, max)) +
    (zt.message === 'connection failed' ? 'T' : 'F') +
    (typeof port === 'number' ? part(String(port)) : '~')
  return key
}

function addedMembers(side: unknown, hadCluster: boolean): unknown[] {
  const out: unknown[] = []
  if (!isObject(side)) return out
  for (const k in side) {
    if (hadCluster && k === 'cluster') continue
    out.push(k, side[k])
  }
  return Object.freeze(out) as unknown[]
}

function hasMembers(o: Record<string, unknown>): boolean {
  for (const k in o) if (Object.hasOwn(o, k)) return true
  return false
}

/** Does to `event` what enrichIdentity did to the event the outcome was recorded from. */
function replay(event: AuditEvent, o: IdentityOutcome): void {
  const mesh = event.mesh as Record<string, unknown>
  if (o.mtlsFirst) mesh.mtls = o.mtls
  const source = isObject(mesh.source) ? mesh.source : {}
  const dest = isObject(mesh.destination) ? mesh.destination : {}
  for (let i = 0; i < o.source.length; i += 2) source[o.source[i] as string] = o.source[i + 1]
  for (let i = 0; i < o.destination.length; i += 2) dest[o.destination[i] as string] = o.destination[i + 1]
  if (hasMembers(source)) mesh.source = source
  if (hasMembers(dest)) mesh.destination = dest
  if (!o.mtlsFirst) mesh.mtls = o.mtls
}

/** enrichIdentity through a cache of outcomes per identity key. */
export function enrichIdentityMemo(event: AuditEvent, config: TransformsConfig, cache: BoundedCache<IdentityOutcome>): MemoIdentity {
  if (cache.maxEntries === 0) return { ctx: enrichIdentity(event, config), outcome: undefined }
  const key = identityKey(event, config.maxFieldLength)
  if (key === undefined || key.length > MAX_KEY_LENGTH) return { ctx: enrichIdentity(event, config), outcome: undefined }
  const hit = cache.get(key)
  if (hit !== undefined) {
    replay(event, hit)
    return { ctx: hit.ctx, outcome: hit }
  }
  const mesh = event.mesh as Record<string, unknown>
  const srcCluster = isObject(mesh.source)
  const dstCluster = isObject(mesh.destination)
  const ctx = enrichIdentity(event, config)
  Object.freeze(ctx.identities)
  const outcome: IdentityOutcome = {
    source: addedMembers(mesh.source, srcCluster),
    destination: addedMembers(mesh.destination, dstCluster),
    mtls: mesh.mtls as boolean | null,
    mtlsFirst: ztunnelOf(event) !== undefined,
    ctx: Object.freeze(ctx),
    id: nextId++,
  }
  cache.set(key, outcome)
  return { ctx, outcome }
}
