/**
 * The identity stage's work, once per identity tuple. A mesh has few distinct (reporter, cluster, peer
 * certificates, SNI, :authority, pod) combinations and every line repeats one, so enrichIdentity's
 * result is remembered under a key made of exactly the values it reads, and replayed on the next event
 * with the same key: the same fields written in the same order onto the same objects, so the stored
 * document is byte for byte what the cold computation writes (test/enrich/identity-memo.test.ts).
 *
 * The key holds every input enrichIdentity and identityContext read, each as that code reads it (a
 * string through `str`, so an absent, '-', '' or oversized value is one value), as a tuple compared
 * value by value (bounded-cache.ts), so no two inputs make the same key whatever they contain; an
 * oversized value is never part of it (maxFieldLength bounds each). An event whose shape the key does not describe
 * (mesh.source or mesh.destination holding more than the parser's `cluster`, a mesh.mtls already set)
 * is computed cold, uncached.
 */
import type { AuditEvent } from '../generated/types.js'
import type { TransformsConfig } from '../config/transforms.js'
import { enrichIdentity, isGateway, isObject, str, workloadOf, ztunnelOf, type IdentityContext } from './identity.js'
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

export interface MemoIdentity {
  ctx: IdentityContext
  /** The cached outcome the event got or made, when it had a key: the au3 and detect memos hang off it. */
  outcome: IdentityOutcome | undefined
}

function strOrUndefined(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined
}

/**
 * What the parser may have put on one side before enrichment, as two parts of the key: nothing ('n'),
 * an empty object ('e'), or only its `cluster` ('c', then the cluster). false: anything else, which the
 * key does not describe.
 */
function prior(mesh: Record<string, unknown>, side: 'source' | 'destination', parts: unknown[], at: number): boolean {
  const v = mesh[side]
  parts[at + 1] = undefined
  if (v === undefined) {
    parts[at] = 'n'
    return true
  }
  if (!isObject(v)) return false
  let n = 0
  for (const k in v) {
    if (!Object.hasOwn(v, k)) return false
    if (k !== 'cluster' || typeof v[k] !== 'string') return false
    n++
  }
  parts[at] = n === 0 ? 'e' : 'c'
  if (n > 0) parts[at + 1] = v.cluster
  return true
}

/**
 * Keys whose strings add up to more than this many characters are not cached: a cached entry's memory
 * stays bounded whatever the input (a mesh's clusters, SANs and names are far shorter).
 */
export const MAX_KEY_CHARS = 2048

/** Whether the strings of parts[0..n-1] fit MAX_KEY_CHARS. */
export function keyFits(parts: readonly unknown[], n: number): boolean {
  let chars = 0
  for (let i = 0; i < n; i++) {
    const v = parts[i]
    if (typeof v === 'string') chars += v.length
  }
  return chars <= MAX_KEY_CHARS
}

/** The longest key identityKey writes. */
export const IDENTITY_KEY_PARTS = 32

/**
 * Writes the key of everything enrichIdentity reads from `event` into `parts` (each value as that
 * code reads it) and returns its length, or 0 when the event is not cacheable.
 */
export function identityKey(event: AuditEvent, max: number, parts: unknown[]): number {
  const mesh = event.mesh as unknown
  if (!isObject(mesh) || Object.hasOwn(mesh, 'mtls')) return 0
  if (!prior(mesh, 'source', parts, 0) || !prior(mesh, 'destination', parts, 2)) return 0
  const envoy = isObject(event.envoy) ? event.envoy : undefined
  const peer = envoy !== undefined && isObject(envoy.peer) ? envoy.peer : undefined
  const k8s = isObject(event.kubernetes) ? event.kubernetes : undefined
  const network = isObject(event.network) ? event.network : undefined
  parts[4] = strOrUndefined(mesh.reporter)
  parts[5] = strOrUndefined(network?.direction)
  parts[6] = str(mesh.upstream_cluster, max)
  parts[7] = str(peer?.downstream_uri_san, max)
  parts[8] = str(peer?.upstream_uri_san, max)
  parts[9] = str(peer?.downstream_local_uri_san, max)
  parts[10] = str(envoy?.requested_server_name, max)
  parts[11] = str(envoy?.authority, max)
  parts[12] = str(k8s?.namespace, max)
  parts[13] = workloadOf(event, max)
  parts[14] = isObject(event.tls) && event.tls.established === true
  parts[15] = isFilterChainNotFound(event)
  parts[16] = isGateway(event)
  const zt = ztunnelOf(event)
  if (zt === undefined) {
    parts[17] = 'E'
    return keyFits(parts, 18) ? 18 : 0
  }
  const port = isObject(event.destination) ? event.destination.port : undefined
  parts[17] = 'Z'
  parts[18] = str(zt.src_identity, max)
  parts[19] = str(zt.src_namespace, max)
  parts[20] = str(zt.src_workload, max)
  parts[21] = str(zt.dst_identity, max)
  parts[22] = str(zt.dst_service, max)
  parts[23] = str(zt.dst_namespace, max)
  parts[24] = str(zt.dst_workload, max)
  parts[25] = str(zt.dst_hbone_addr, max)
  parts[26] = str(zt.dst_addr, max)
  parts[27] = zt.message === 'connection failed'
  parts[28] = typeof port === 'number' ? port : undefined
  return keyFits(parts, 29) ? 29 : 0
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

// One key at a time per thread: the stages are synchronous, so one scratch array serves every lookup.
const PARTS: unknown[] = new Array(IDENTITY_KEY_PARTS)

/** enrichIdentity through a cache of outcomes per identity key. */
export function enrichIdentityMemo(event: AuditEvent, config: TransformsConfig, cache: BoundedCache<IdentityOutcome>): MemoIdentity {
  if (cache.maxEntries === 0) return { ctx: enrichIdentity(event, config), outcome: undefined }
  const n = identityKey(event, config.maxFieldLength, PARTS)
  if (n === 0) return { ctx: enrichIdentity(event, config), outcome: undefined }
  const hit = cache.get(PARTS, n)
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
  cache.set(PARTS, n, outcome)
  return { ctx, outcome }
}
