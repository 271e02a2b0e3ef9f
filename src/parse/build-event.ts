import type { AuditEvent } from '../schema/audit-event.js'
import { ecsTlsVersion } from '../schema/tls-version.js'
import type {
  DestinationFields,
  EnvoyFields,
  EnvoyPeerFields,
  HttpFields,
  KubernetesFields,
  MeshFields,
  SourceFields,
  TlsFields,
} from '../generated/types.js'
import type { RawRecord } from '../pipeline/component.js'
import { type Workload, deriveEventId } from '../pipeline/event-id.js'
import type { KubeMeta, RawFields } from './fields.js'
import { normaliseTimestamp } from './timestamp.js'
import { INVALID, authorityHost, millis, splitHostPort, str, uint, validIp } from './values.js'
import { setOriginal } from './original-line.js'

/**
 * RawFields -> canonical AuditEvent. Decisions (documented here because SIEM rules depend on them):
 *
 * - network.direction / mesh.reporter from the cluster name Istio builds (pilot/pkg/model/service.go):
 *   `inbound|...`, InboundPassthroughCluster* -> inbound, reported by the destination sidecar;
 *   `inbound-vip|...` (ambient waypoint) -> inbound, reporter `waypoint` (an intermediate proxy, not the
 *   destination's own sidecar), as is any line from a pod labelled as a waypoint; `outbound|...` -> outbound,
 *   reported by the source sidecar; PassthroughCluster and
 *   BlackHoleCluster -> egress (traffic leaving the mesh), reported by the source. A proxy that the
 *   envelope shows to be an Istio gateway (pod name or `istio` label) is reporter `gateway`, direction
 *   `ingress` for an ingress gateway and `egress` for an egress gateway. Anything else is `unknown`
 *   (e.g. listener-level NR filter_chain_not_found lines, which have no cluster).
 * - destination.*: for inbound lines the downstream local address (the pod IP:targetPort that was
 *   dialed; upstream_host is only 127.0.0.1 or the same pod before/after Istio 1.10). Otherwise the
 *   upstream host Envoy chose, falling back to the downstream local address (the ClusterIP or
 *   original destination the app dialed) when no upstream was chosen (503 UH, NR, BlackHole).
 * - source.*: the downstream remote address. Port 0 (address inferred from X-Forwarded-For) is omitted.
 * - event.outcome: failure for status >= 400; success for 1xx-3xx; for status 0 (TCP, or an HTTP
 *   stream that never got a response): failure when a response flag other than DI/RFCF is set, when
 *   termination details are present or an RBAC policy denied, success for a TCP connection without
 *   flags, unknown for an HTTP stream without flags. No status at all: unknown.
 * - event.action: `denied` (RBAC policy, ext_authz UAEX, BlackHoleCluster), `rejected` (no filter chain
 *   or route: NR), `connection` (other TCP), `allowed` (other HTTP). event.category is
 *   [network] plus web for HTTP; event.type is [access|connection] plus allowed|denied.
 * - http.request.bytes = BYTES_RECEIVED and http.response.bytes = BYTES_SENT (what the proxy received
 *   from and sent to the downstream), not inverted as in Elastic's Istio pipeline.
 */

const RBAC_PREFIX = 'rbac_access_denied_matched_policy['
const HARMLESS_FLAGS: ReadonlySet<string> = new Set(['DI', 'RFCF', 'DelayInjected', 'ResponseFromCacheFilter'])

export type Reporter = 'source' | 'destination' | 'gateway' | 'waypoint' | 'unknown'
type Direction = 'inbound' | 'outbound' | 'ingress' | 'egress' | 'unknown'

export interface BuildContext {
  record: RawRecord
  format: string
  /** The access-log line, envelope and CRI framing removed: the event's original and its id's content. */
  original: string
  kube: KubeMeta | undefined
  /** When the record was read. */
  now: Date
  /** The envelope's time for the record (CRI, Docker, Fluent Bit, Vector), normalised; asked only when needed. */
  envelopeTime?: () => string | undefined
  /** The format logs no start time at all (a text line without its `[START_TIME] ` prefix). */
  untimed?: boolean
  /** The parser's configured cluster, for records that name none themselves. */
  defaultCluster?: string
  /** parser.preserveOriginal false: event.hash instead of event.original (original-line.ts). */
  hashOriginal?: boolean
}

export type BuildResult = { event: AuditEvent } | { code: 'EA_PARSE_BAD_TIMESTAMP'; message: string }

/**
 * A line that logs no start time is still an access record: it becomes an event whose @timestamp is the
 * envelope's time, or the time it was read, named by audit.time_source, so that AU-3 reports its "when"
 * as missing (src/validate/au3.ts) instead of taking the collector's time for the request's. A start
 * time that is present but unreadable stays a dead letter: that line is damaged, not merely short.
 */
function eventTime(f: RawFields, ctx: BuildContext): { ts: string; source?: 'envelope' | 'ingest' } | undefined {
  const ts = normaliseTimestamp(f.start_time)
  if (ts !== undefined) return { ts }
  if (ctx.untimed !== true || f.start_time !== undefined) return undefined
  const envTime = ctx.envelopeTime?.()
  return envTime !== undefined ? { ts: envTime, source: 'envelope' } : { ts: ctx.now.toISOString(), source: 'ingest' }
}

export function buildEvent(f: RawFields, ctx: BuildContext): BuildResult {
  const time = eventTime(f, ctx)
  if (time === undefined) {
    const shown = typeof f.start_time === 'string' ? JSON.stringify(f.start_time.slice(0, 64)) : String(f.start_time)
    return { code: 'EA_PARSE_BAD_TIMESTAMP', message: `start time missing or not a valid date: ${shown}` }
  }
  const ts = time.ts

  const method = str(f.method)
  const rawPath = str(f.path)
  const protocol = str(f.protocol)
  const statusRaw = uint(f.response_code)
  const status = statusRaw === INVALID || (statusRaw !== undefined && statusRaw > 999) ? undefined : statusRaw
  const flags = splitFlags(str(f.response_flags))
  const details = str(f.response_code_details)
  const termination = str(f.connection_termination_details)
  const rbacPolicy = rbacPolicyOf(details) ?? rbacPolicyOf(termination)
  const cluster = clusterOf(str(f.upstream_cluster))
  const upstreamHost = str(f.upstream_host)
  const downstreamLocal = str(f.downstream_local_address)
  const downstreamRemote = str(f.downstream_remote_address)
  const sni = str(f.requested_server_name)
  const authority = str(f.authority)

  const isHttp = method !== undefined || (protocol !== undefined && protocol.startsWith('HTTP'))
  const isTcp = !isHttp && protocol === undefined
  const gateway = gatewayKind(ctx.kube)
  let direction: Direction = 'unknown'
  let reporter: Reporter = 'unknown'
  if (cluster !== undefined) {
    if (cluster.startsWith('inbound|') || cluster.startsWith('InboundPassthroughCluster')) {
      direction = 'inbound'
      reporter = 'destination'
    } else if (cluster.startsWith('inbound-vip|')) {
      direction = 'inbound'
      reporter = 'waypoint'
    } else if (cluster.startsWith('outbound|')) {
      direction = 'outbound'
      reporter = 'source'
    } else if (cluster === 'PassthroughCluster' || cluster === 'BlackHoleCluster') {
      direction = 'egress'
      reporter = 'source'
    }
  }
  if (isWaypointPod(ctx.kube)) {
    // A waypoint serves the destinations enrolled to it: inbound, whatever upstream cluster it chose.
    reporter = 'waypoint'
    if (direction === 'unknown' || direction === 'outbound') direction = 'inbound'
  } else if (gateway !== undefined) {
    reporter = 'gateway'
    if (direction !== 'egress') direction = gateway
  }

  const hasRealFlag = flags.some((x) => !HARMLESS_FLAGS.has(x))
  const denied =
    rbacPolicy !== undefined ||
    flags.includes('UAEX') ||
    cluster === 'BlackHoleCluster' ||
    (details !== undefined && details.startsWith('rbac_access_denied'))
  const rejected = !denied && flags.includes('NR')
  let outcome: 'success' | 'failure' | 'unknown' = 'unknown'
  if (status !== undefined && status >= 400) outcome = 'failure'
  else if (status !== undefined && status >= 100) outcome = 'success'
  else if (status === 0) {
    if (hasRealFlag || termination !== undefined || denied) outcome = 'failure'
    else if (isTcp) outcome = 'success'
  }
  const action = denied ? 'denied' : rejected ? 'rejected' : isTcp ? 'connection' : 'allowed'
  const clusters = clustersOf(f, ctx)

  const event: AuditEvent = {
    '@timestamp': ts,
    event: {
      id: deriveEventId(ctx.original, workloadOf(ctx.kube, clusters.name)),
      kind: 'event',
      dataset: 'envoy.access',
      category: isHttp ? ['network', 'web'] : ['network'],
      type: [isHttp ? 'access' : 'connection', denied || rejected ? 'denied' : 'allowed'],
      action,
      outcome,
    },
    envoy: { format: ctx.format },
    audit: { source: { ...ctx.record.coords } },
  }
  setOriginal(event, ctx.original, ctx.hashOriginal === true)
  if (time.source !== undefined) {
    event.event.created = ctx.now.toISOString()
    event.audit.time_source = time.source
  }
  const durationMs = millis(f.duration)
  if (durationMs !== undefined && durationMs !== INVALID) {
    const ns = Math.round(durationMs * 1e6)
    if (Number.isSafeInteger(ns)) event.event.duration = ns
  }

  event.network = { transport: 'tcp', direction }
  if (isHttp) event.network.protocol = 'http'
  else if (isTcp) event.network.protocol = 'tcp'

  if (isHttp) {
    const http: HttpFields = {}
    if (protocol !== undefined && protocol.startsWith('HTTP/')) http.version = protocol.slice(5)
    const req: NonNullable<HttpFields['request']> = {}
    if (method !== undefined) req.method = method
    const rid = str(f.request_id)
    if (rid !== undefined) req.id = rid
    const rx = uint(f.bytes_received)
    if (rx !== undefined && rx !== INVALID) req.bytes = rx
    http.request = req
    const res: NonNullable<HttpFields['response']> = {}
    if (status !== undefined) res.status_code = status
    const tx = uint(f.bytes_sent)
    if (tx !== undefined && tx !== INVALID) res.bytes = tx
    http.response = res
    event.http = http
    if (rawPath !== undefined || authority !== undefined) {
      const url: NonNullable<AuditEvent['url']> = {}
      if (rawPath !== undefined) {
        const q = rawPath.indexOf('?')
        url.path = q < 0 ? rawPath : rawPath.slice(0, q)
        if (q >= 0 && q + 1 < rawPath.length) url.query = rawPath.slice(q + 1)
      }
      const host = authority === undefined ? undefined : authorityHost(authority)
      if (host !== undefined) url.domain = host
      event.url = url
    }
    const ua = str(f.user_agent)
    if (ua !== undefined) event.user_agent = { original: ua }
  }

  if (downstreamRemote !== undefined) {
    const source: SourceFields = { address: downstreamRemote }
    const hp = splitHostPort(downstreamRemote)
    if (hp !== undefined && validIp(hp.host)) {
      source.ip = hp.host
      if (hp.port !== undefined && hp.port > 0) source.port = hp.port
    }
    event.source = source
  }
  const destAddr = direction === 'inbound' ? (downstreamLocal ?? upstreamHost) : (upstreamHost ?? downstreamLocal)
  const destDomain = destinationDomain(authority, sni)
  if (destAddr !== undefined || destDomain !== undefined) {
    const dest: DestinationFields = {}
    if (destAddr !== undefined) {
      dest.address = destAddr
      const hp = splitHostPort(destAddr)
      if (hp !== undefined && validIp(hp.host)) {
        dest.ip = hp.host
        if (hp.port !== undefined && hp.port > 0) dest.port = hp.port
      }
    }
    if (destDomain !== undefined) dest.domain = destDomain
    event.destination = dest
  }

  const tlsVersion = str(f.downstream_tls_version)
  const tlsCipher = str(f.downstream_tls_cipher)
  const peerSan = str(f.downstream_peer_uri_san)
  if (tlsVersion !== undefined || tlsCipher !== undefined || peerSan !== undefined || sni !== undefined || f.downstreamTlsLogged) {
    const tls: TlsFields = {}
    if (tlsVersion !== undefined || tlsCipher !== undefined || peerSan !== undefined) tls.established = true
    else if (f.downstreamTlsLogged) tls.established = false
    // ECS numeric version + protocol (TLSv1.3 is 1.3 + tls); a value that is neither is left out (event.original keeps it).
    const ecs = tlsVersion === undefined ? undefined : ecsTlsVersion(tlsVersion)
    if (ecs !== undefined) {
      tls.version = ecs.version
      tls.version_protocol = ecs.protocol
    }
    if (tlsCipher !== undefined) tls.cipher = tlsCipher
    if (sni !== undefined) tls.client = { server_name: sni }
    event.tls = tls
  }

  const mesh: MeshFields = { reporter }
  if (cluster !== undefined) mesh.upstream_cluster = cluster
  const route = str(f.route_name)
  if (route !== undefined) mesh.route_name = route
  const ownCluster = clusters.id ?? clusters.name
  const sourceCluster = clusters.downstreamPeer ?? (reporter === 'source' ? ownCluster : undefined)
  const destinationCluster = clusters.upstreamPeer ?? (reporter === 'destination' ? ownCluster : undefined)
  if (sourceCluster !== undefined) mesh.source = { cluster: sourceCluster }
  if (destinationCluster !== undefined) mesh.destination = { cluster: destinationCluster }
  event.mesh = mesh
  if (clusters.name !== undefined) {
    event.orchestrator = {
      type: 'kubernetes',
      cluster: clusters.id === undefined ? { name: clusters.name } : { name: clusters.name, id: clusters.id },
    }
  }

  const envoy: EnvoyFields = event.envoy
  envoy.response_flags = flags
  if (details !== undefined) envoy.response_code_details = details
  if (termination !== undefined) envoy.connection_termination_details = termination
  if (rbacPolicy !== undefined) envoy.rbac_policy = rbacPolicy
  setStr(envoy, 'upstream_transport_failure_reason', f.upstream_transport_failure_reason)
  if (upstreamHost !== undefined) envoy.upstream_host = upstreamHost
  setStr(envoy, 'upstream_local_address', f.upstream_local_address)
  if (downstreamLocal !== undefined) envoy.downstream_local_address = downstreamLocal
  if (downstreamRemote !== undefined) envoy.downstream_remote_address = downstreamRemote
  const ust = uint(f.upstream_service_time)
  if (ust !== undefined && ust !== INVALID) envoy.upstream_service_time = ust
  setStr(envoy, 'x_forwarded_for', f.x_forwarded_for)
  setStr(envoy, 'connection_id', f.connection_id)
  if (authority !== undefined) envoy.authority = authority
  if (sni !== undefined) envoy.requested_server_name = sni
  const peer = peerOf(f, peerSan)
  if (peer !== undefined) envoy.peer = peer

  if (ctx.kube !== undefined) {
    const k: KubernetesFields = {}
    if (ctx.kube.namespace !== undefined) k.namespace = ctx.kube.namespace
    if (ctx.kube.pod !== undefined) k.pod = ctx.kube.pod
    if (ctx.kube.container !== undefined) k.container = ctx.kube.container
    if (ctx.kube.node !== undefined) k.node = ctx.kube.node
    if (ctx.kube.labels !== undefined) k.labels = ctx.kube.labels
    event.kubernetes = k
  }
  return { event }
}

interface Clusters {
  /** orchestrator.cluster.name: the most specific place that names the cluster. */
  name: string | undefined
  /** The reporting proxy's Istio cluster id, as the line logs it. */
  id: string | undefined
  downstreamPeer: string | undefined
  upstreamPeer: string | undefined
}

/**
 * The cluster of a record: the envelope's (per record) over the source's (per topic or source), over the
 * parser's configured default, over the Istio cluster id the proxy logs. The peers' Istio cluster ids come
 * only from the line. Values are capped like other names; a value longer than that is not a cluster name.
 */
function clustersOf(f: RawFields, ctx: BuildContext): Clusters {
  const id = clusterName(f.cluster_id)
  return {
    name: contextCluster(ctx) ?? id,
    id,
    downstreamPeer: clusterName(f.downstream_peer_cluster),
    upstreamPeer: clusterName(f.upstream_peer_cluster),
  }
}

/** The cluster the record's envelope, its source or the parser's configuration names. */
export function contextCluster(ctx: BuildContext): string | undefined {
  return ctx.kube?.cluster ?? ctx.record.cluster ?? ctx.defaultCluster
}

function clusterName(v: RawFields[keyof RawFields]): string | undefined {
  const s = typeof v === 'boolean' ? undefined : str(v)
  return s !== undefined && s.length <= 253 ? s : undefined
}

/** The workload that emitted the line, in the cluster it runs in: the same pod name in two clusters is two workloads. */
export function workloadOf(kube: KubeMeta | undefined, cluster: string | undefined): Workload | undefined {
  if (cluster === undefined) return kube
  return { namespace: kube?.namespace, pod: kube?.pod, container: kube?.container, cluster }
}

function setStr(
  target: EnvoyFields,
  key: 'upstream_transport_failure_reason' | 'upstream_local_address' | 'x_forwarded_for' | 'connection_id',
  v: RawFields[keyof RawFields],
): void {
  const s = typeof v === 'boolean' ? undefined : str(v)
  if (s !== undefined) target[key] = s
}

function splitFlags(s: string | undefined): string[] {
  if (s === undefined) return []
  if (s.indexOf(',') < 0) return [s]
  return s.split(',').filter((x) => x.length > 0 && x !== '-')
}

/** `rbac_access_denied_matched_policy[ns[foo]-policy[deny]-rule[0]]` -> `ns[foo]-policy[deny]-rule[0]`. */
function rbacPolicyOf(s: string | undefined): string | undefined {
  if (s === undefined) return undefined
  const i = s.indexOf(RBAC_PREFIX)
  if (i < 0) return undefined
  const inner = s.slice(i + RBAC_PREFIX.length)
  const end = inner.lastIndexOf(']')
  const id = end < 0 ? inner : inner.slice(0, end)
  return id.length > 0 ? id : undefined
}

/** Istio 1.23/1.24 JSON leaks `alt_stat_name` as a `;` suffix (istio/istio#54219). */
function clusterOf(s: string | undefined): string | undefined {
  if (s === undefined) return undefined
  const semi = s.indexOf(';')
  const c = semi < 0 ? s : s.slice(0, semi)
  return c.length > 0 ? c : undefined
}

/** Istio mTLS SNI (`outbound_.9080_._.reviews...`) names a cluster, not the host the client asked for. */
function destinationDomain(authority: string | undefined, sni: string | undefined): string | undefined {
  if (authority !== undefined) {
    const h = authorityHost(authority)
    if (h !== undefined && !validIp(h)) return h
  }
  if (sni !== undefined && !sni.startsWith('outbound_.') && !validIp(sni)) return sni.toLowerCase()
  return undefined
}

/**
 * A waypoint's pod carries `gateway.istio.io/managed: istio.io-mesh-controller`, a gateway's
 * `istio.io-gateway-controller` (Istio's gateway deployment controller; Kiali selects waypoints by it).
 */
function isWaypointPod(kube: KubeMeta | undefined): boolean {
  const labels = kube?.labels
  return (
    labels !== undefined &&
    Object.hasOwn(labels, 'gateway.istio.io/managed') &&
    labels['gateway.istio.io/managed'] === 'istio.io-mesh-controller'
  )
}

function gatewayKind(kube: KubeMeta | undefined): 'ingress' | 'egress' | undefined {
  if (kube === undefined) return undefined
  const istioLabel = kube.labels?.['istio']
  if (istioLabel === 'ingressgateway') return 'ingress'
  if (istioLabel === 'egressgateway') return 'egress'
  // An east-west gateway takes the other networks' traffic into this cluster (istio.io, multi-primary on different networks).
  if (istioLabel === 'eastwestgateway') return 'ingress'
  const name = kube.labels?.['app'] ?? kube.pod ?? ''
  if (name.startsWith('istio-ingressgateway') || name.startsWith('istio-eastwestgateway')) return 'ingress'
  if (name.startsWith('istio-egressgateway')) return 'egress'
  if (kube.labels?.['gateway.networking.k8s.io/gateway-name'] !== undefined) return name.includes('egress') ? 'egress' : 'ingress'
  return undefined
}

function peerOf(f: RawFields, peerSan: string | undefined): EnvoyPeerFields | undefined {
  let peer: EnvoyPeerFields | undefined
  const subject = str(f.downstream_peer_subject)
  // A custom map may log a SPIFFE URI under a "principal" key (the seed format's source_principal).
  const san = peerSan ?? (subject !== undefined && subject.startsWith('spiffe://') ? subject : undefined)
  if (san !== undefined) (peer ??= {}).downstream_uri_san = san
  if (subject !== undefined) (peer ??= {}).downstream_subject = subject
  const local = str(f.downstream_local_uri_san)
  if (local !== undefined) (peer ??= {}).downstream_local_uri_san = local
  const up = str(f.upstream_peer_uri_san)
  if (up !== undefined) (peer ??= {}).upstream_uri_san = up
  const upv = str(f.upstream_tls_version)
  if (upv !== undefined) (peer ??= {}).upstream_tls_version = upv
  const upc = str(f.upstream_tls_cipher)
  if (upc !== undefined) (peer ??= {}).upstream_tls_cipher = upc
  return peer
}
