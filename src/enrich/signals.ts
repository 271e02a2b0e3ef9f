/**
 * Parsers for the raw Envoy/Istio fields that name a destination or reveal the traffic direction.
 * Pure functions over strings; they return undefined for anything they do not recognise and never
 * throw. Regexes are compiled once here.
 */
import type { AuditEvent } from '../generated/types.js'

export type ClusterInfo =
  | { kind: 'outbound'; port?: number; subset?: string; host: string }
  | { kind: 'inbound'; port?: number; portName?: string; host?: string }
  | { kind: 'inbound-vip'; port?: number; host: string }
  | { kind: 'passthrough' }
  | { kind: 'inbound-passthrough' }
  | { kind: 'blackhole' }

/**
 * %UPSTREAM_CLUSTER% / %UPSTREAM_CLUSTER_RAW% as Istio names clusters (pilot/pkg/model/service.go
 * BuildSubsetKey / BuildInboundSubsetKey):
 *   outbound|9080||reviews.default.svc.cluster.local     outbound|9080|v1|reviews...
 *   inbound|9080||                (1.9+)                  inbound|9080|http|productpage.default.svc.cluster.local (<=1.8)
 *   inbound-vip|8080|http|svc.ns.svc.cluster.local        (ambient waypoint)
 *   PassthroughCluster  BlackHoleCluster  InboundPassthroughCluster(Ipv4|Ipv6)
 * Istio 1.23/1.24 JSON logs append the alt_stat_name delimiter: `outbound|80||x.svc.cluster.local;`.
 */
export function parseUpstreamCluster(value: unknown): ClusterInfo | undefined {
  if (typeof value !== 'string' || value === '' || value === '-') return undefined
  // A mesh has a bounded set of clusters and every line names one: parse each distinct name once
  // (frozen, so callers share it safely). Same bounds as the SAN cache in spiffe-id.ts.
  if (value.length > CACHE_MAX_KEY) return parseCluster(value)
  const hit = clusterCache.get(value)
  if (hit !== undefined || clusterCache.has(value)) return hit
  if (clusterCache.size >= CACHE_MAX_ENTRIES) clusterCache.clear()
  const info = parseCluster(value)
  if (info !== undefined) Object.freeze(info)
  clusterCache.set(value, info)
  return info
}

const CACHE_MAX_ENTRIES = 4096
const CACHE_MAX_KEY = 512
const clusterCache = new Map<string, ClusterInfo | undefined>()

function parseCluster(value: string): ClusterInfo | undefined {
  const semi = value.indexOf(';')
  const v = semi === -1 ? value : value.slice(0, semi)
  if (v === 'PassthroughCluster') return { kind: 'passthrough' }
  if (v === 'BlackHoleCluster') return { kind: 'blackhole' }
  if (v.startsWith('InboundPassthroughCluster')) return { kind: 'inbound-passthrough' }
  const parts = v.split('|')
  if (parts.length !== 4) return undefined
  const [dir, portText, subset, host] = parts as [string, string, string, string]
  const port = parsePort(portText)
  if (dir === 'outbound') {
    if (host === '') return undefined
    return { kind: 'outbound', host, ...(port === undefined ? {} : { port }), ...(subset === '' ? {} : { subset }) }
  }
  if (dir === 'inbound') {
    return {
      kind: 'inbound',
      ...(port === undefined ? {} : { port }),
      ...(subset === '' ? {} : { portName: subset }),
      ...(host === '' ? {} : { host }),
    }
  }
  if (dir === 'inbound-vip' && host !== '') return { kind: 'inbound-vip', host, ...(port === undefined ? {} : { port }) }
  return undefined
}

const ISTIO_SNI = /^outbound_\.(\d{1,5})_\.([^_]*)_\.(.+)$/

export interface IstioSni {
  port?: number
  subset?: string
  host: string
}

/**
 * The SNI Istio's client sidecar sends on mesh mTLS: `outbound_.<port>_.<subset>_.<fqdn>`
 * (BuildDNSSrvSubsetKey), e.g. `outbound_.9080_._.reviews.default.svc.cluster.local`. Seen in
 * %REQUESTED_SERVER_NAME% on inbound lines. An empty subset prints as nothing between `_.` and `_.`.
 */
export function parseIstioSni(value: unknown): IstioSni | undefined {
  if (typeof value !== 'string' || value.length > 512) return undefined
  const m = ISTIO_SNI.exec(value)
  if (m === null) return undefined
  const port = parsePort(m[1] ?? '')
  const subset = m[2] ?? ''
  return { host: m[3] ?? '', ...(port === undefined ? {} : { port }), ...(subset === '' ? {} : { subset }) }
}

export interface ServiceName {
  service: string
  namespace?: string
}

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/

/**
 * A Kubernetes service FQDN `<svc>.<ns>.svc.<cluster-domain>` gives service and namespace; any other
 * host (a ServiceEntry like `edition.cnn.com`) is the service name itself with no namespace.
 */
export function serviceFromHost(host: string): ServiceName | undefined {
  const h = host.toLowerCase()
  if (h === '' || h.length > 253) return undefined
  const labels = h.split('.')
  if (labels.length >= 4 && labels[2] === 'svc' && DNS_LABEL.test(labels[0] ?? '') && DNS_LABEL.test(labels[1] ?? '')) {
    return { service: labels[0] as string, namespace: labels[1] as string }
  }
  return { service: h }
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/

/**
 * :authority forms seen in mesh traffic: `reviews:9080`, `reviews`, `profiles-kfam.kubeflow:8081`,
 * `reviews.default.svc.cluster.local[:port]`, external hosts, IP literals (skipped: an address is not
 * a service name). `svc.ns` is ambiguous with an external `example.com`, so the caller says whether
 * two-label names may be read as service.namespace (inbound to a mesh workload: yes; egress: no).
 * A bare name resolves in the caller's namespace, which the caller passes as defaultNamespace.
 */
export function parseAuthority(
  value: unknown,
  opts: { twoLabelIsNamespace: boolean; defaultNamespace?: string },
): (ServiceName & { port?: number }) | undefined {
  if (typeof value !== 'string' || value === '' || value === '-' || value.length > 300) return undefined
  let host = value
  let port: number | undefined
  if (host.startsWith('[')) return undefined // IPv6 literal
  const colon = host.lastIndexOf(':')
  if (colon !== -1) {
    port = parsePort(host.slice(colon + 1))
    host = host.slice(0, colon)
  }
  host = host.toLowerCase().replace(/\.$/, '')
  if (host === '' || IPV4.test(host) || host.includes(':')) return undefined
  const withPort = port === undefined ? {} : { port }
  const labels = host.split('.')
  if (!labels.every((l) => DNS_LABEL.test(l))) return undefined
  if (labels.length === 1) {
    return { service: host, ...(opts.defaultNamespace === undefined ? {} : { namespace: opts.defaultNamespace }), ...withPort }
  }
  if (labels.length === 2 && opts.twoLabelIsNamespace) return { service: labels[0] as string, namespace: labels[1] as string, ...withPort }
  const svc = serviceFromHost(host)
  return svc === undefined ? undefined : { ...svc, ...withPort }
}

function parsePort(text: string): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined
  const n = Number(text)
  return n >= 1 && n <= 65535 ? n : undefined
}

export type Direction = 'inbound' | 'outbound' | 'unknown'

/**
 * Which side of a hop the line was logged on. The cluster name is the strongest signal (d.1); the
 * parser's network.direction and mesh.reporter come next. Gateways count as outbound: their
 * upstream clusters are all `outbound|...`, and their downstream is not a mesh peer.
 */
export function directionOf(event: AuditEvent, cluster: ClusterInfo | undefined): Direction {
  if (cluster !== undefined) {
    if (cluster.kind === 'inbound' || cluster.kind === 'inbound-passthrough' || cluster.kind === 'inbound-vip') return 'inbound'
    return 'outbound'
  }
  const d = event.network?.direction
  if (d === 'inbound') return 'inbound'
  if (d === 'outbound' || d === 'egress' || d === 'ingress') return 'outbound'
  const r = event.mesh?.reporter
  if (r === 'destination') return 'inbound'
  if (r === 'source' || r === 'gateway') return 'outbound'
  return 'unknown'
}

/**
 * A listener-level line recording a connection that matched no filter chain. In a STRICT mTLS
 * sidecar that is a plaintext client being refused (reference d.3.2; envoyproxy/ratelimit#296):
 * `"- - -" 0 NR filter_chain_not_found ...`.
 */
export function isFilterChainNotFound(event: AuditEvent): boolean {
  const flags = event.envoy?.response_flags
  if (!Array.isArray(flags) || !flags.includes('NR')) return false
  return (
    event.envoy.response_code_details === 'filter_chain_not_found' ||
    event.envoy.connection_termination_details === 'filter_chain_not_found'
  )
}
