/**
 * Renders one simulated proxy log record in the shapes real sidecars write and collectors ship.
 * Facts (istio/istio pilot/pkg/model/telemetry_logging.go): Istio's default JSON has 24 keys, typed since
 * 1.8 (numbers for codes/bytes/duration, null for unset, upstream_service_time a string); the default
 * TEXT line prints `-` for unset values and `"- - -"` for TCP; custom formats commonly add
 * %DOWNSTREAM_PEER_URI_SAN%, %DOWNSTREAM_TLS_VERSION%, %DOWNSTREAM_TLS_CIPHER%, %UPSTREAM_PEER_URI_SAN%.
 * Fluent Bit's Kafka output wraps the line as a JSON string under `log` with `@timestamp` as an epoch
 * double and the kubernetes filter's metadata; CRI writes `<RFC3339Nano> stdout F <line>`.
 */
import type { Pod, Workload } from './mesh-topology.js'

/** The values one proxy knows about one request or connection; undefined prints as unset. */
export interface AccessRecord {
  startMs: number
  method?: string
  path?: string
  protocol?: string
  code: number
  flags?: string
  details?: string
  termination?: string
  failureReason?: string
  bytesIn: number
  bytesOut: number
  durationMs: number
  upstreamServiceTimeMs?: number
  xff?: string
  userAgent?: string
  requestId?: string
  authority?: string
  upstreamHost?: string
  cluster?: string
  upstreamLocal?: string
  downstreamLocal: string
  downstreamRemote: string
  sni?: string
  route?: string
  /** Custom-format extras (JSON only): the TLS facts of the downstream connection and the peer SANs. */
  peerUriSan?: string
  localUriSan?: string
  tlsVersion?: string
  tlsCipher?: string
  upstreamPeerUriSan?: string
  /**
   * Multi-cluster extras (JSON only, written only when set): the proxy's Istio cluster id
   * (%ENVIRONMENT(ISTIO_META_CLUSTER_ID)%) and each peer's from Istio's peer metadata
   * (filter_state downstream_peer / upstream_peer, istio/istio#48148, istio/istio#53769).
   */
  clusterId?: string
  downstreamPeerCluster?: string
  upstreamPeerCluster?: string
}

const iso = (ms: number): string => new Date(ms).toISOString()

/** The Istio JSON format of the mesh's Telemetry resource: the 24 default keys plus identity extras. */
export function istioJsonLine(r: AccessRecord): string {
  const line = {
    start_time: iso(r.startMs),
    route_name: r.route ?? null,
    method: r.method ?? null,
    path: r.path ?? null,
    protocol: r.protocol ?? null,
    response_code: r.code,
    response_flags: r.flags ?? '-',
    response_code_details: r.details ?? null,
    connection_termination_details: r.termination ?? null,
    bytes_received: r.bytesIn,
    bytes_sent: r.bytesOut,
    duration: r.durationMs,
    upstream_service_time: r.upstreamServiceTimeMs === undefined ? null : String(r.upstreamServiceTimeMs),
    x_forwarded_for: r.xff ?? null,
    user_agent: r.userAgent ?? null,
    request_id: r.requestId ?? null,
    authority: r.authority ?? null,
    upstream_host: r.upstreamHost ?? null,
    upstream_cluster: r.cluster ?? null,
    upstream_local_address: r.upstreamLocal ?? null,
    downstream_local_address: r.downstreamLocal,
    downstream_remote_address: r.downstreamRemote,
    requested_server_name: r.sni ?? null,
    upstream_transport_failure_reason: r.failureReason ?? null,
    downstream_peer_uri_san: r.peerUriSan ?? null,
    downstream_local_uri_san: r.localUriSan ?? null,
    downstream_tls_version: r.tlsVersion ?? null,
    downstream_tls_cipher: r.tlsCipher ?? null,
    upstream_peer_uri_san: r.upstreamPeerUriSan ?? null,
  }
  if (r.clusterId === undefined) return JSON.stringify(line)
  return JSON.stringify({
    ...line,
    cluster_id: r.clusterId,
    downstream_peer_cluster: r.downstreamPeerCluster ?? null,
    upstream_peer_cluster: r.upstreamPeerCluster ?? null,
  })
}

const dash = (v: string | number | undefined): string => (v === undefined || v === '' ? '-' : String(v))
const quoted = (v: string | undefined): string => `"${dash(v)}"`

/** Istio's default TEXT format (1.9+, %UPSTREAM_CLUSTER_RAW% since 1.23). */
export function istioTextLine(r: AccessRecord): string {
  const request = r.method === undefined ? '- - -' : `${r.method} ${dash(r.path)} ${dash(r.protocol)}`
  return [
    `[${iso(r.startMs)}]`,
    `"${request}"`,
    String(r.code),
    dash(r.flags),
    dash(r.details),
    dash(r.termination),
    quoted(r.failureReason),
    String(r.bytesIn),
    String(r.bytesOut),
    String(r.durationMs),
    dash(r.upstreamServiceTimeMs),
    quoted(r.xff),
    quoted(r.userAgent),
    quoted(r.requestId),
    quoted(r.authority),
    quoted(r.upstreamHost),
    dash(r.cluster),
    dash(r.upstreamLocal),
    r.downstreamLocal,
    r.downstreamRemote,
    dash(r.sni),
    dash(r.route),
  ].join(' ')
}

/** RFC 3339 with nanoseconds, as the container runtime stamps a CRI log line. */
export function rfc3339Nano(ms: number, nanosWithinMs: number): string {
  return `${iso(ms).slice(0, 23)}${String(nanosWithinMs).padStart(6, '0')}Z`
}

export function criLine(writtenMs: number, nanos: number, line: string): string {
  return `${rfc3339Nano(writtenMs, nanos)} stdout F ${line}`
}

/**
 * A Fluent Bit record as its Kafka output (format json) sends it, after the kubernetes filter; with a
 * cluster, the `cluster_name` key a record_modifier filter adds on each cluster's collector.
 */
export function fluentBitLine(writtenMs: number, nanos: number, line: string, w: Workload, pod: Pod, cluster?: string): string {
  const labels: Record<string, string> = {
    app: w.name,
    version: w.version,
    'security.istio.io/tlsMode': 'istio',
    'service.istio.io/canonical-name': w.name,
    'service.istio.io/canonical-revision': w.version,
  }
  // The east-west gateway chart's labels (istio/istio manifests/charts/gateway, gen-eastwest-gateway.sh).
  if (w.name === 'istio-eastwestgateway')
    Object.assign(labels, { istio: 'eastwestgateway', 'topology.istio.io/network': `network-${cluster ?? 'east'}` })
  return JSON.stringify({
    '@timestamp': writtenMs / 1000,
    time: rfc3339Nano(writtenMs, nanos),
    stream: 'stdout',
    _p: 'F',
    log: line,
    kubernetes: {
      pod_name: pod.name,
      namespace_name: w.namespace,
      pod_id: pod.uid,
      labels,
      host: pod.node,
      container_name: 'istio-proxy',
      docker_id: pod.containerId,
      container_image: 'docker.io/istio/proxyv2:1.26.2',
    },
    ...(cluster === undefined ? {} : { cluster_name: cluster }),
  })
}

/** The kubelet's /var/log/containers name for a container log: <pod>_<namespace>_<container>-<id>.log. */
export const criFileName = (w: Workload, pod: Pod): string => `${pod.name}_${w.namespace}_istio-proxy-${pod.containerId}.log`
