/**
 * A ztunnel access line -> canonical AuditEvent. Decisions (docs/ambient.md):
 *
 * - mesh.reporter = ztunnel; network.direction = the logged direction (inbound: the destination node's
 *   ztunnel, outbound: the source node's); event.dataset = ztunnel.access.
 * - @timestamp is the connection's start: a `connection complete` line is written when the connection
 *   closes, so its time minus its duration; `connection opened` and `connection failed` are written at
 *   the start. A line without a time takes its envelope's, named by audit.time_source, like Envoy lines.
 * - destination.*: the HBONE target (dst.hbone_addr: the workload or service address the client asked
 *   for) when the connection was tunnelled, else dst.addr. source.* is src.addr.
 * - Bytes: ECS source.bytes (source to destination) and destination.bytes (the reverse), not the http.*
 *   byte fields (this is a TCP connection). ztunnel logs bytes_sent / bytes_recv from the side of its own
 *   workload, un-flipping Istio's source-reported metric (ConnectionResult in istio/ztunnel
 *   src/proxy/metrics.rs, istio/istio#32399): on an outbound line its workload is the source, so
 *   bytes_sent is source.bytes; on an inbound line it is the destination, so bytes_sent is
 *   destination.bytes. The logged values also stay in ztunnel.*; event.duration is the logged duration.
 * - event.action: `denied` for an authorization-policy rejection (`error` "connection closed due to
 *   policy rejection..."), `connection` otherwise; event.outcome: failure with an error, success for a
 *   complete line without one, unknown for an opened line.
 * - The identities, mesh.mtls and the findings are the enrich and detect stages' work (identity.ts reads
 *   ztunnel.*), as for Envoy lines.
 */
import type { AuditEvent } from '../schema/audit-event.js'
import type { DestinationFields, SourceFields, ZtunnelFields } from '../generated/types.js'
import { deriveEventId } from '../pipeline/event-id.js'
import { type BuildContext, type BuildResult, contextCluster, workloadOf } from './build-event.js'
import { setOriginal } from './original-line.js'
import { normaliseTimestamp } from './timestamp.js'
import { INVALID, splitHostPort, str, uint, validIp } from './values.js'
import type { ZtunnelRaw } from './ztunnel.js'

const POLICY_REJECTION = 'connection closed due to policy rejection'
const DENIED_BY = 'explicitly denied by: '

/** `<n>ms` (ztunnel's duration) or a bare number of milliseconds. */
function durationMs(v: ZtunnelRaw['duration']): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? v : undefined
  if (typeof v !== 'string') return undefined
  const m = /^(\d{1,15})(?:\.(\d{1,9}))?(ms|s|us|µs|ns)?$/.exec(v)
  if (m === null) return undefined
  const n = Number(`${m[1]}${m[2] === undefined ? '' : `.${m[2]}`}`)
  const unit = m[3] ?? 'ms'
  return unit === 'ms' ? n : unit === 's' ? n * 1000 : unit === 'ns' ? n / 1e6 : n / 1000
}

/** Is this ztunnel error an authorization-policy rejection, and which policy does it name? */
export function ztunnelRejection(error: string | undefined): { policy?: string } | undefined {
  if (error === undefined || !error.startsWith(POLICY_REJECTION)) return undefined
  const i = error.indexOf(DENIED_BY)
  if (i < 0) return {}
  const policy = error.slice(i + DENIED_BY.length).trim()
  return policy.length > 0 && policy.length <= 512 ? { policy } : {}
}

function address(s: string, kind: 'source'): SourceFields
function address(s: string, kind: 'destination'): DestinationFields
function address(s: string): SourceFields | DestinationFields {
  const out: SourceFields = { address: s }
  const hp = splitHostPort(s)
  if (hp !== undefined && validIp(hp.host)) {
    out.ip = hp.host
    if (hp.port !== undefined && hp.port > 0) out.port = hp.port
  }
  return out
}

export function buildZtunnelEvent(raw: ZtunnelRaw, ctx: BuildContext): BuildResult {
  const message = str(raw.message) ?? 'connection complete'
  const logged = normaliseTimestamp(raw.time)
  const dur = durationMs(raw.duration)
  let ts: string
  let timeSource: 'envelope' | 'ingest' | undefined
  if (logged !== undefined) {
    const at = Date.parse(logged)
    ts =
      message === 'connection complete' && dur !== undefined && Number.isFinite(at) ? new Date(at - Math.round(dur)).toISOString() : logged
  } else if (raw.time !== undefined) {
    const shown = typeof raw.time === 'string' ? JSON.stringify(raw.time.slice(0, 64)) : String(raw.time)
    return { code: 'EA_PARSE_BAD_TIMESTAMP', message: `ztunnel time not a valid date: ${shown}` }
  } else {
    const env = ctx.envelopeTime?.()
    ts = env ?? ctx.now.toISOString()
    timeSource = env !== undefined ? 'envelope' : 'ingest'
  }

  const error = str(raw.error)
  const rejection = ztunnelRejection(error)
  const dirText = str(raw.direction)
  const direction = dirText === 'inbound' || dirText === 'outbound' ? dirText : 'unknown'
  const outcome = error !== undefined ? 'failure' : message === 'connection opened' ? 'unknown' : 'success'

  const cluster = contextCluster(ctx)
  const event: AuditEvent = {
    '@timestamp': ts,
    event: {
      id: deriveEventId(ctx.original, workloadOf(ctx.kube, cluster)),
      kind: 'event',
      dataset: 'ztunnel.access',
      category: ['network'],
      type: ['connection', rejection !== undefined ? 'denied' : 'allowed'],
      action: rejection !== undefined ? 'denied' : 'connection',
      outcome,
    },
    envoy: { format: ctx.format },
    audit: { source: { ...ctx.record.coords } },
  }
  setOriginal(event, ctx.original, ctx.hashOriginal === true)
  if (timeSource !== undefined) {
    event.event.created = ctx.now.toISOString()
    event.audit.time_source = timeSource
  }
  if (dur !== undefined) {
    const ns = Math.round(dur * 1e6)
    if (Number.isSafeInteger(ns)) event.event.duration = ns
  }
  event.network = { transport: 'tcp', protocol: 'tcp', direction }

  const src = str(raw.src_addr)
  if (src !== undefined) event.source = address(src, 'source')
  const hbone = str(raw.dst_hbone_addr)
  const dst = hbone ?? str(raw.dst_addr)
  if (dst !== undefined) event.destination = address(dst, 'destination')

  const z: ZtunnelFields = { message }
  const level = str(raw.level)
  if (level !== undefined) z.level = level
  for (const key of [
    'src_addr',
    'src_workload',
    'src_namespace',
    'src_identity',
    'dst_addr',
    'dst_hbone_addr',
    'dst_service',
    'dst_workload',
    'dst_namespace',
    'dst_identity',
  ] as const) {
    const v = str(raw[key])
    if (v !== undefined) z[key] = v
  }
  for (const key of ['bytes_sent', 'bytes_recv'] as const) {
    const v = uint(raw[key])
    if (v !== undefined && v !== INVALID) z[key] = v
  }
  if (direction !== 'unknown' && (z.bytes_sent !== undefined || z.bytes_recv !== undefined)) {
    const fromSource = direction === 'outbound' ? z.bytes_sent : z.bytes_recv
    const fromDestination = direction === 'outbound' ? z.bytes_recv : z.bytes_sent
    if (fromSource !== undefined) (event.source ??= {}).bytes = fromSource
    if (fromDestination !== undefined) (event.destination ??= {}).bytes = fromDestination
  }
  if (error !== undefined) z.error = error
  if (rejection?.policy !== undefined) z.policy = rejection.policy
  event.ztunnel = z
  event.mesh = { reporter: 'ztunnel' }
  if (cluster !== undefined) event.orchestrator = { type: 'kubernetes', cluster: { name: cluster } }

  if (ctx.kube !== undefined) {
    const k: NonNullable<AuditEvent['kubernetes']> = {}
    if (ctx.kube.namespace !== undefined) k.namespace = ctx.kube.namespace
    if (ctx.kube.pod !== undefined) k.pod = ctx.kube.pod
    if (ctx.kube.container !== undefined) k.container = ctx.kube.container
    if (ctx.kube.node !== undefined) k.node = ctx.kube.node
    if (ctx.kube.labels !== undefined) k.labels = ctx.kube.labels
    event.kubernetes = k
  }
  return { event }
}
