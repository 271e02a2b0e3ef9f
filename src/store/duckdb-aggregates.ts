/**
 * The SQL behind the AuditStore aggregates. Every count is computed by DuckDB; this module only builds
 * parameterised statements (values are always bound, never spliced) and the shared key expressions,
 * so the report, `flows` and the tests agree on what a "source", a "workload" or a "denial" is.
 */
import { DENIAL_FINDING_CODES, EGRESS_FINDING_CODES, UNREACHED_RESPONSE_FLAGS } from '../detect/catalogue.js'
import type { TimeRange } from './store.js'

/** ISO 8601 with milliseconds and a Z, the format @timestamp uses everywhere else. */
export const ISO = (col: string): string => `strftime(${col}, '%Y-%m-%dT%H:%M:%S.%gZ')`

/**
 * Who sent the request: the verified SPIFFE ID when the server side logged one, else the namespace and
 * service account or workload the enrichment found, else the reporting pod for client-side lines
 * (egress from a pod is that pod's own traffic), else the socket address (a gateway's downstream is
 * the internet client, never the gateway itself). Between the last two: the workload inferred from
 * the source pod address (see WITH_ADDRESS_MAPS), for log formats that carry no identity.
 */
export const SOURCE_KEY = `CASE
  WHEN src_spiffe_id IS NOT NULL THEN src_spiffe_id
  WHEN src_namespace IS NOT NULL AND coalesce(src_service_account, src_workload) IS NOT NULL
    THEN src_namespace || '/' || coalesce(src_service_account, src_workload)
  WHEN reporter = 'source' AND k8s_namespace IS NOT NULL AND coalesce(k8s_app, k8s_pod) IS NOT NULL
    THEN k8s_namespace || '/' || coalesce(k8s_app, k8s_pod)
  WHEN ip_workload IS NOT NULL THEN ip_workload
  WHEN source_ip IS NOT NULL THEN source_ip
  WHEN source_address IS NOT NULL THEN source_address
  ELSE '(unknown)' END`

export const SOURCE_KIND = `CASE
  WHEN src_spiffe_id IS NOT NULL THEN 'spiffe'
  WHEN src_namespace IS NOT NULL AND coalesce(src_service_account, src_workload) IS NOT NULL THEN 'workload'
  WHEN reporter = 'source' AND k8s_namespace IS NOT NULL AND coalesce(k8s_app, k8s_pod) IS NOT NULL THEN 'workload'
  WHEN ip_workload IS NOT NULL THEN 'workload'
  WHEN coalesce(source_ip, source_address) IS NOT NULL THEN 'ip'
  ELSE 'unknown' END`

/** `service.namespace` when the enrichment gave a short service name, so equal names in two namespaces stay apart. */
const SERVICE_NAME = `CASE WHEN dst_service IS NOT NULL AND dst_namespace IS NOT NULL AND NOT contains(dst_service, '.')
    THEN dst_service || '.' || dst_namespace ELSE dst_service END`

export const DESTINATION_KEY = `coalesce(${SERVICE_NAME},
  dst_spiffe_id, destination_domain, url_domain, requested_server_name, ip_service, destination_address, upstream_host, '(unknown)')`

/**
 * Address maps, for lines that name no identity (default TEXT format, listener rejections, clients
 * without a sidecar). A pod address maps to the workload whose client-side lines (with Kubernetes
 * metadata) came from it, and a server address to the service whose inbound lines were received on it,
 * but only when that is unambiguous over the whole store: an address reused by two workloads maps to
 * nothing and stays an address. The result is an inference, reported as kind 'workload', never as a
 * SPIFFE identity, and only when the caller asks for it (EdgeQuery.inferFromAddresses): by default the
 * keys are exactly those the OpenSearch store computes with aggregations.
 */
export function withAddressMaps(relation: string, alias: string, infer: boolean): string {
  if (!infer) return `${alias} AS (SELECT r.*, NULL::VARCHAR AS ip_workload, NULL::VARCHAR AS ip_service FROM ${relation} r)`
  return `src_ips AS (
    SELECT source_ip AS ip, min(k8s_namespace || '/' || coalesce(k8s_app, k8s_pod)) AS workload FROM events
    WHERE reporter = 'source' AND source_ip IS NOT NULL AND k8s_namespace IS NOT NULL AND coalesce(k8s_app, k8s_pod) IS NOT NULL
    GROUP BY source_ip HAVING count(DISTINCT k8s_namespace || '/' || coalesce(k8s_app, k8s_pod)) = 1),
  dst_ips AS (
    SELECT destination_ip AS ip, min(${SERVICE_NAME}) AS service FROM events
    WHERE reporter = 'destination' AND destination_ip IS NOT NULL AND dst_service IS NOT NULL
    GROUP BY destination_ip HAVING count(DISTINCT ${SERVICE_NAME}) = 1),
  ${alias} AS (
    SELECT r.*, s.workload AS ip_workload, d.service AS ip_service FROM ${relation} r
    LEFT JOIN src_ips s ON r.source_ip = s.ip LEFT JOIN dst_ips d ON r.destination_ip = d.ip)`
}

/** The namespace and workload that wrote the record: coverage is about where logging happened. */
export const NAMESPACE_KEY = `coalesce(k8s_namespace,
  CASE reporter WHEN 'destination' THEN dst_namespace ELSE src_namespace END, '(unknown)')`

export const WORKLOAD_KEY = `coalesce(
  CASE reporter WHEN 'destination' THEN coalesce(dst_workload, dst_service) ELSE src_workload END,
  k8s_app, k8s_pod, '(unknown)')`

export const REPORTER_KEY = `coalesce(reporter, '(unknown)')`

/** The cluster the record came from (orchestrator.cluster.name). */
export const CLUSTER_KEY = `coalesce(cluster, '(unknown)')`

/**
 * The clusters a record names: [its proxy's, the source's, the destination's] (1-based in SQL), each
 * end's when the peer metadata gave it. The order is what duckdb-calls.ts CROSSES reads.
 */
export const RECORD_CLUSTERS = `[cluster, src_cluster, dst_cluster]`

/** Events per (key, finding code). */
export function findingCodesBySql(keyExpr: string, where: Where): string {
  return `SELECT k AS key, code, count(*)::INTEGER AS count FROM (
    SELECT ${keyExpr} AS k, unnest(finding_codes) AS code FROM events ${where.add('finding_codes IS NOT NULL').sql()})
  GROUP BY ALL ORDER BY key, count DESC, code`
}

const SIDE_CLUSTERS = (side: 'source' | 'destination'): string => {
  const column = side === 'source' ? 'src_cluster' : 'dst_cluster'
  return `list_sort(list(DISTINCT ${column}) FILTER (WHERE ${column} IS NOT NULL)) AS ${side}_clusters`
}

/** Quoted SQL strings of fixed names (catalogue codes and flags: letters and '_', nothing to escape). */
const quoted = (names: readonly string[]): string => names.map((n) => `'${n}'`).join(', ')

/** The catalogue's denial codes as a SQL list, `[...]`, and as the right side of IN, `(...)`. */
export const DENIAL_CODES_LIST = `[${quoted(DENIAL_FINDING_CODES)}]`
export const DENIAL_CODES_IN = `(${quoted(DENIAL_FINDING_CODES)})`
/** The catalogue's response flags of a request that never reached the app, as a SQL list. */
export const UNREACHED_FLAGS_LIST = `[${quoted(UNREACHED_RESPONSE_FLAGS)}]`

/** A request the mesh refused: by RBAC, ext_authz, the egress black hole or a STRICT listener. */
export const DENIED = `(action IN ('denied', 'rejected') OR rbac_policy IS NOT NULL
  OR list_has_any(coalesce(finding_codes, []::VARCHAR[]), ${DENIAL_CODES_LIST}))`

/** Cheaper form of DENIED (same meaning) for per-line projections: no list is built for lines without findings. */
export const DENIED_LINE = `(action IN ('denied', 'rejected') OR rbac_policy IS NOT NULL
  OR (finding_codes IS NOT NULL AND list_has_any(finding_codes, ${DENIAL_CODES_LIST})))`

export const STATUS_CLASS = `CASE
  WHEN protocol = 'tcp' OR (coalesce(status_code, 0) = 0 AND method IS NULL) THEN 'tcp'
  WHEN status_code BETWEEN 100 AND 599 THEN (status_code // 100)::VARCHAR || 'xx'
  ELSE 'none' END`

export const EGRESS = `(upstream_cluster IN ('PassthroughCluster', 'BlackHoleCluster')
  OR list_has_any(coalesce(finding_codes, []::VARCHAR[]), [${quoted(EGRESS_FINDING_CODES)}]))`

/** Where an egress request went: the SNI when the app spoke TLS, else the Host, else the address. */
export const EGRESS_DESTINATION = `coalesce(requested_server_name, url_domain, destination_domain,
  nullif(split_part(authority, ':', 1), ''), upstream_host, destination_address, '(unknown)')`

/** Collects WHERE clauses and their bound values ($1, $2, ...). */
export class Where {
  readonly clauses: string[] = []
  readonly values: (string | number)[] = []

  bind(value: string | number): string {
    this.values.push(value)
    return `$${this.values.length}`
  }

  add(clause: string): this {
    this.clauses.push(clause)
    return this
  }

  /**
   * The window, and its clusters (TimeRange.clusters): over `events` (or `flows`) rows from their
   * cluster columns, over `findings` rows through the events they belong to.
   */
  range(range: TimeRange | undefined, rows: 'events' | 'findings' = 'events'): this {
    if (range?.since !== undefined) this.add(`ts >= CAST(${this.bind(range.since)} AS TIMESTAMP)`)
    if (range?.until !== undefined) this.add(`ts < CAST(${this.bind(range.until)} AS TIMESTAMP)`)
    const names = [...new Set(range?.inClusters ?? [])]
    if (names.length > 0) {
      const inClusters = `list_has_any(${RECORD_CLUSTERS}, [${names.map((n) => this.bind(n)).join(', ')}])`
      if (rows === 'events') this.add(inClusters)
      else {
        const window = this.clauses.filter((c) => c.startsWith('ts '))
        this.add(`event_id IN (SELECT id FROM events WHERE ${[...window, inClusters].join(' AND ')})`)
      }
    }
    return this
  }

  sql(): string {
    return this.clauses.length === 0 ? '' : `WHERE ${this.clauses.join(' AND ')}`
  }
}

export function coverageSql(keyExpr: string, where: Where): string {
  return `WITH base AS (SELECT ${keyExpr} AS k, * FROM events ${where.sql()}),
  totals AS (
    SELECT k, count(*)::INTEGER AS events,
      count(*) FILTER (WHERE reporter = 'destination')::INTEGER AS inbound,
      count(*) FILTER (WHERE reporter = 'destination' AND mtls)::INTEGER AS inbound_mtls,
      count(*) FILTER (WHERE au3_complete)::INTEGER AS au3_complete
    FROM base GROUP BY k),
  missing AS (
    SELECT k, m, count(*)::INTEGER AS n FROM (SELECT k, unnest(au3_missing) AS m FROM base) GROUP BY k, m)
  SELECT t.k AS key, t.events, t.inbound, t.inbound_mtls, t.au3_complete,
    coalesce((SELECT list({'element': m.m, 'n': m.n} ORDER BY m.m) FROM missing m WHERE m.k = t.k), []) AS missing
  FROM totals t ORDER BY t.events DESC, t.k`
}

export function findingCountsSql(where: Where): string {
  return `SELECT code, coalesce(severity, 'info') AS severity, control, count(*)::INTEGER AS count FROM (
    SELECT code, severity,
      unnest(CASE WHEN controls IS NULL OR len(controls) = 0 THEN ['(none)'] ELSE controls END) AS control
    FROM findings ${where.sql()})
  GROUP BY ALL ORDER BY count DESC, code, control`
}

/**
 * One row per (source, destination) of the flows `where` selects: every edge, unordered, unbounded.
 * The lists aggregate distinct values only: `list()` of every line's value is held whole per group
 * (DuckDB cannot spill it), 10M events ran a 256MB reader out of memory that way.
 */
export function edgeGroupsSql(where: Where, inferAddresses: boolean, clusters = false): string {
  return `WITH ${withAddressMaps('flows', 'mapped_flows', inferAddresses)}, f AS (
    SELECT ${SOURCE_KEY} AS src_key, ${SOURCE_KIND} AS src_kind, ${DESTINATION_KEY} AS dst_key,
      ${STATUS_CLASS} AS status_class, ${DENIED} AS is_denied, * FROM mapped_flows ${where.sql()})
  SELECT src_key AS source, any_value(src_kind) AS source_kind, dst_key AS destination,
    any_value(dst_spiffe_id) AS destination_spiffe_id, any_value(dst_namespace) AS destination_namespace,
    count(*)::INTEGER AS count, ${ISO('min(ts)')} AS first_seen, ${ISO('max(ts)')} AS last_seen,
    list_sort(list(DISTINCT method) FILTER (WHERE method IS NOT NULL)) AS methods,
    histogram(status_class) AS status_classes,
    count(*) FILTER (WHERE mtls)::INTEGER AS mtls,
    count(*) FILTER (WHERE is_denied)::INTEGER AS denied,
    list_sort(list_distinct(flatten(list(DISTINCT coalesce(finding_codes, []::VARCHAR[]))))) AS findings
    ${clusters ? `, ${SIDE_CLUSTERS('source')}, ${SIDE_CLUSTERS('destination')}` : ''}
  FROM f GROUP BY src_key, dst_key`
}

/** The order every edge list is returned in: most denied, then busiest. */
export const EDGE_ORDER = 'ORDER BY denied DESC, count DESC, source, destination'

export function edgesSql(where: Where, having: string[], limitParam: string, inferAddresses: boolean, clusters = false): string {
  return `${edgeGroupsSql(where, inferAddresses, clusters)}
  ${having.length === 0 ? '' : `HAVING ${having.join(' AND ')}`}
  ${EDGE_ORDER} LIMIT ${limitParam}`
}

export function egressSql(where: Where): string {
  return `WITH ${withAddressMaps('events', 'mapped_events', false)}
  SELECT ${EGRESS_DESTINATION} AS destination, coalesce(upstream_cluster, '(none)') AS cluster,
    count(*)::INTEGER AS count, list_sort(list(DISTINCT ${SOURCE_KEY})) AS sources,
    ${ISO('min(ts)')} AS first_seen, ${ISO('max(ts)')} AS last_seen
  FROM mapped_events ${where.add(EGRESS).sql()}
  GROUP BY ALL ORDER BY count DESC, destination`
}
