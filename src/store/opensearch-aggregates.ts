/**
 * The OpenSearch query DSL behind the AuditStore aggregates, and the key rules that turn aggregation
 * buckets into rows. Every count is computed by OpenSearch (composite aggregations paged by after_key,
 * filters/terms/min/max sub-aggregations); this module never sees raw events. The key rules are the
 * embedded store's (src/store/duckdb-aggregates.ts: SOURCE_KEY, DESTINATION_KEY, NAMESPACE_KEY, ...)
 * written as coalesces over composite keys, so `report` reads the same on either store.
 */
import { DENIAL_FINDING_CODES, EGRESS_FINDING_CODES } from '../detect/catalogue.js'
import type { CoverageDimension, TimeRange } from './store.js'

type Json = Record<string, unknown>
export type BucketKey = Record<string, string | number | boolean | null>

/** Composite source name → event field. Each is a terms source with missing_bucket. */
export const FIELDS = {
  src_spiffe: 'mesh.source.spiffe_id',
  src_ns: 'mesh.source.namespace',
  src_sa: 'mesh.source.service_account',
  src_wl: 'mesh.source.workload',
  reporter: 'mesh.reporter',
  k8s_ns: 'kubernetes.namespace',
  k8s_pod: 'kubernetes.pod',
  src_ip: 'source.ip',
  src_addr: 'source.address',
  dst_service: 'mesh.destination.service',
  dst_spiffe: 'mesh.destination.spiffe_id',
  dst_ns: 'mesh.destination.namespace',
  dst_wl: 'mesh.destination.workload',
  dst_domain: 'destination.domain',
  url_domain: 'url.domain',
  sni: 'envoy.requested_server_name',
  authority: 'envoy.authority',
  dst_addr: 'destination.address',
  upstream_host: 'envoy.upstream_host',
  cluster: 'mesh.upstream_cluster',
  orchestrator_cluster: 'orchestrator.cluster.name',
  finding_code: 'audit.finding_codes',
} as const
export type FieldName = keyof typeof FIELDS

export const SOURCE_FIELDS: FieldName[] = [
  'src_spiffe',
  'src_ns',
  'src_sa',
  'src_wl',
  'reporter',
  'k8s_ns',
  'k8s_pod',
  'src_ip',
  'src_addr',
]
export const DESTINATION_FIELDS: FieldName[] = [
  'dst_service',
  'dst_ns',
  'dst_spiffe',
  'dst_domain',
  'url_domain',
  'sni',
  'dst_addr',
  'upstream_host',
]

export function compositeSources(names: FieldName[]): Json[] {
  return names.map((n) => ({ [n]: { terms: { field: FIELDS[n], missing_bucket: true } } }))
}

const s = (k: BucketKey, n: FieldName): string | undefined => {
  const v = k[n]
  return v === null || v === undefined || v === '' ? undefined : String(v)
}

/** SOURCE_KEY/SOURCE_KIND of the embedded store (the app label is not aggregatable here: pod is used). */
export function sourceKey(k: BucketKey): { key: string; kind: 'spiffe' | 'workload' | 'ip' | 'unknown' } {
  const spiffe = s(k, 'src_spiffe')
  if (spiffe !== undefined) return { key: spiffe, kind: 'spiffe' }
  const ns = s(k, 'src_ns')
  const who = s(k, 'src_sa') ?? s(k, 'src_wl')
  if (ns !== undefined && who !== undefined) return { key: `${ns}/${who}`, kind: 'workload' }
  const reporter = s(k, 'reporter')
  const k8sNs = s(k, 'k8s_ns')
  const pod = s(k, 'k8s_pod')
  // Only client-side lines: a gateway's downstream is the internet client, never the gateway itself.
  if (reporter === 'source' && k8sNs !== undefined && pod !== undefined) return { key: `${k8sNs}/${pod}`, kind: 'workload' }
  const ip = s(k, 'src_ip') ?? s(k, 'src_addr')
  if (ip !== undefined) return { key: ip, kind: 'ip' }
  return { key: '(unknown)', kind: 'unknown' }
}

/** DESTINATION_KEY: a short service name is qualified with its namespace so equal names stay apart. */
export function destinationKey(k: BucketKey): string {
  const service = s(k, 'dst_service')
  const ns = s(k, 'dst_ns')
  if (service !== undefined) return ns !== undefined && !service.includes('.') ? `${service}.${ns}` : service
  for (const n of DESTINATION_FIELDS) {
    if (n === 'dst_service' || n === 'dst_ns') continue
    const v = s(k, n)
    if (v !== undefined) return v
  }
  return '(unknown)'
}

/** Where an egress request went: SNI, Host, destination domain, :authority host, upstream host, address. */
export function egressDestination(k: BucketKey): string {
  const authorityHost = s(k, 'authority')?.split(':')[0]
  return (
    s(k, 'sni') ??
    s(k, 'url_domain') ??
    s(k, 'dst_domain') ??
    (authorityHost !== '' ? authorityHost : undefined) ??
    s(k, 'upstream_host') ??
    s(k, 'dst_addr') ??
    '(unknown)'
  )
}

export const COVERAGE_FIELDS: Record<CoverageDimension, FieldName[]> = {
  namespace: ['k8s_ns', 'reporter', 'dst_ns', 'src_ns'],
  workload: ['reporter', 'dst_wl', 'dst_service', 'src_wl', 'k8s_pod'],
  reporter: ['reporter'],
  cluster: ['orchestrator_cluster'],
}

export function coverageKey(dimension: CoverageDimension, k: BucketKey): string {
  if (dimension === 'cluster') return s(k, 'orchestrator_cluster') ?? '(unknown)'
  const reporter = s(k, 'reporter')
  if (dimension === 'reporter') return reporter ?? '(unknown)'
  if (dimension === 'namespace') return s(k, 'k8s_ns') ?? (reporter === 'destination' ? s(k, 'dst_ns') : s(k, 'src_ns')) ?? '(unknown)'
  return (reporter === 'destination' ? (s(k, 'dst_wl') ?? s(k, 'dst_service')) : s(k, 'src_wl')) ?? s(k, 'k8s_pod') ?? '(unknown)'
}

/** DENIED of the embedded store: refused by RBAC, ext_authz, the egress black hole or a STRICT listener. */
export const DENIED_QUERY: Json = {
  bool: {
    should: [
      { terms: { 'event.action': ['denied', 'rejected'] } },
      { exists: { field: 'envoy.rbac_policy' } },
      { terms: { 'audit.finding_codes': DENIAL_FINDING_CODES } },
    ],
    minimum_should_match: 1,
  },
}

/** STATUS_CLASS 'tcp': protocol tcp, or neither a status code (other than 0) nor a method. */
const TCP_QUERY: Json = {
  bool: {
    should: [
      { term: { 'network.protocol': 'tcp' } },
      {
        bool: {
          must_not: [
            { exists: { field: 'http.request.method' } },
            {
              bool: {
                filter: [{ exists: { field: 'http.response.status_code' } }],
                must_not: [{ term: { 'http.response.status_code': 0 } }],
              },
            },
          ],
        },
      },
    ],
    minimum_should_match: 1,
  },
}

function statusClassFilters(): Json {
  const filters: Json = { tcp: TCP_QUERY }
  for (const n of [1, 2, 3, 4, 5]) {
    filters[`${n}xx`] = {
      bool: { filter: [{ range: { 'http.response.status_code': { gte: n * 100, lte: n * 100 + 99 } } }], must_not: [TCP_QUERY] },
    }
  }
  filters.none = { bool: { must_not: [TCP_QUERY, { range: { 'http.response.status_code': { gte: 100, lte: 599 } } }] } }
  return { filters: { filters } }
}

export const EGRESS_QUERY: Json = {
  bool: {
    should: [
      { terms: { 'mesh.upstream_cluster': ['PassthroughCluster', 'BlackHoleCluster'] } },
      { terms: { 'audit.finding_codes': EGRESS_FINDING_CODES } },
    ],
    minimum_should_match: 1,
  },
}

/**
 * Lines whose call the server sidecar's line of the same call already counts (the embedded store joins
 * the two lines, which an aggregation cannot): a client sidecar's line that carries the server's
 * certificate (mesh.destination.signal upstream_peer_uri_san: the server has a sidecar, which logs the
 * call with the verified client identity), and an east-west gateway's passthrough line (reporter
 * gateway, Istio SNI `outbound_.`), which the server line of the call it carried follows. `requestId`:
 * only client lines with a request id, as the store's `flows` view behind the report drops them (the
 * call tables behind `flows`/`hunt` also join TCP lines by socket). Judged from the line alone: when the
 * server sidecar's line of such a call was lost, the call is missing here while the embedded store
 * keeps the client's line.
 */
export function countedByServerLine(requestId: boolean): Json {
  const client: Json[] = [
    { term: { 'mesh.reporter': 'source' } },
    { term: { 'mesh.destination.signal': 'upstream_peer_uri_san' } },
    ...(requestId ? [{ exists: { field: 'http.request.id' } }] : []),
  ]
  return {
    bool: {
      should: [
        { bool: { filter: client } },
        { bool: { filter: [{ term: { 'mesh.reporter': 'gateway' } }, { wildcard: { 'envoy.requested_server_name': 'outbound_.*' } }] } },
      ],
      minimum_should_match: 1,
    },
  }
}

/** The report's edges: countedByServerLine as the store's `flows` view (client lines with a request id). */
export const COUNTED_BY_SERVER_LINE: Json = countedByServerLine(true)

/** TimeRange.inClusters: records a proxy of these clusters wrote, or that name one as either end. */
export function clusterQuery(clusters: readonly string[]): Json {
  const names = [...new Set(clusters)]
  return {
    bool: {
      should: ['orchestrator.cluster.name', 'mesh.source.cluster', 'mesh.destination.cluster'].map((field) => ({
        terms: { [field]: names },
      })),
      minimum_should_match: 1,
    },
  }
}

/** The window over the events index, with its clusters (the findings index has no cluster field: timeFilter). */
export function rangeFilter(range: TimeRange | undefined, field = '@timestamp'): Json[] {
  const filters = timeFilter(range, field)
  if (range?.inClusters !== undefined && range.inClusters.length > 0) filters.push(clusterQuery(range.inClusters))
  return filters
}

/** The window's time bounds alone. */
export function timeFilter(range: TimeRange | undefined, field = '@timestamp'): Json[] {
  const bounds: Json = {}
  if (range?.since !== undefined) bounds.gte = range.since
  if (range?.until !== undefined) bounds.lt = range.until
  return Object.keys(bounds).length === 0 ? [] : [{ range: { [field]: bounds } }]
}

export function namespaceFilter(ns: string | undefined): Json[] {
  if (ns === undefined) return []
  return [{ bool: { should: [FIELDS.src_ns, FIELDS.dst_ns, FIELDS.k8s_ns].map((f) => ({ term: { [f]: ns } })), minimum_should_match: 1 } }]
}

export function boolQuery(filters: Json[]): Json {
  return filters.length === 0 ? { match_all: {} } : { bool: { filter: filters } }
}

export const TIME_AGGS: Json = { first: { min: { field: '@timestamp' } }, last: { max: { field: '@timestamp' } } }

export const EDGE_SUB_AGGS: Json = {
  ...TIME_AGGS,
  methods: { terms: { field: 'http.request.method', size: 32 } },
  status: statusClassFilters(),
  mtls: { filter: { term: { 'mesh.mtls': true } } },
  denied: { filter: DENIED_QUERY },
  findings: { terms: { field: 'audit.finding_codes', size: 64 } },
}

/** With EdgeQuery.clusters: the Istio cluster ids of each end. */
export const EDGE_CLUSTER_AGGS: Json = {
  source_clusters: { terms: { field: 'mesh.source.cluster', size: 16 } },
  destination_clusters: { terms: { field: 'mesh.destination.cluster', size: 16 } },
}

export const COVERAGE_SUB_AGGS: Json = {
  inbound: { filter: { term: { 'mesh.reporter': 'destination' } } },
  inbound_mtls: { filter: { bool: { filter: [{ term: { 'mesh.reporter': 'destination' } }, { term: { 'mesh.mtls': true } }] } } },
  au3_complete: { filter: { term: { 'audit.au3.complete': true } } },
  missing: { terms: { field: 'audit.au3.missing', size: 64 } },
}
