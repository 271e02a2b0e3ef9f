/**
 * The DuckDB tables behind the embedded store. The canonical event (schemas/audit-event.schema.json) is
 * flattened into typed columns so every aggregate is plain SQL, and the full event is kept as JSON so
 * drill-down returns exactly what was ingested. Findings get their own table because one event can
 * carry several, each with its own controls: counting by control needs one row per finding.
 *
 * Column names are part of the `envoy-audit sql` contract: add columns, never rename them.
 */
import type { AuditEvent, Finding } from '../generated/types.js'

export type ColumnType = 'VARCHAR' | 'INTEGER' | 'BIGINT' | 'BOOLEAN' | 'TIMESTAMP' | 'VARCHAR[]'

export type ColumnValue = string | number | boolean | readonly string[] | null

export interface Column<Row> {
  readonly name: string
  readonly type: ColumnType
  readonly get: (row: Row) => ColumnValue | undefined
}

/** The event columns; `id` and `ts` come first and are the only NOT NULL ones. */
export const EVENT_COLUMNS: readonly Column<AuditEvent>[] = [
  { name: 'id', type: 'VARCHAR', get: (e) => e.event.id },
  { name: 'ts', type: 'TIMESTAMP', get: (e) => e['@timestamp'] },
  { name: 'action', type: 'VARCHAR', get: (e) => e.event.action },
  { name: 'outcome', type: 'VARCHAR', get: (e) => e.event.outcome },
  { name: 'duration_ns', type: 'BIGINT', get: (e) => e.event.duration },
  { name: 'ingested', type: 'TIMESTAMP', get: (e) => e.event.ingested },
  { name: 'protocol', type: 'VARCHAR', get: (e) => e.network?.protocol },
  { name: 'transport', type: 'VARCHAR', get: (e) => e.network?.transport },
  { name: 'direction', type: 'VARCHAR', get: (e) => e.network?.direction },
  { name: 'http_version', type: 'VARCHAR', get: (e) => e.http?.version },
  { name: 'method', type: 'VARCHAR', get: (e) => e.http?.request?.method },
  { name: 'request_id', type: 'VARCHAR', get: (e) => e.http?.request?.id },
  { name: 'request_bytes', type: 'BIGINT', get: (e) => e.http?.request?.bytes },
  { name: 'status_code', type: 'INTEGER', get: (e) => e.http?.response?.status_code },
  { name: 'response_bytes', type: 'BIGINT', get: (e) => e.http?.response?.bytes },
  { name: 'url_path', type: 'VARCHAR', get: (e) => e.url?.path },
  { name: 'url_query', type: 'VARCHAR', get: (e) => e.url?.query },
  { name: 'url_domain', type: 'VARCHAR', get: (e) => e.url?.domain },
  { name: 'user_agent', type: 'VARCHAR', get: (e) => e.user_agent?.original },
  { name: 'source_ip', type: 'VARCHAR', get: (e) => e.source?.ip },
  { name: 'source_port', type: 'INTEGER', get: (e) => e.source?.port },
  { name: 'source_address', type: 'VARCHAR', get: (e) => e.source?.address },
  { name: 'destination_ip', type: 'VARCHAR', get: (e) => e.destination?.ip },
  { name: 'destination_port', type: 'INTEGER', get: (e) => e.destination?.port },
  { name: 'destination_address', type: 'VARCHAR', get: (e) => e.destination?.address },
  { name: 'destination_domain', type: 'VARCHAR', get: (e) => e.destination?.domain },
  { name: 'tls_established', type: 'BOOLEAN', get: (e) => e.tls?.established },
  { name: 'tls_version', type: 'VARCHAR', get: (e) => e.tls?.version },
  { name: 'tls_cipher', type: 'VARCHAR', get: (e) => e.tls?.cipher },
  { name: 'tls_server_name', type: 'VARCHAR', get: (e) => e.tls?.client?.server_name },
  { name: 'reporter', type: 'VARCHAR', get: (e) => e.mesh?.reporter },
  { name: 'upstream_cluster', type: 'VARCHAR', get: (e) => e.mesh?.upstream_cluster },
  { name: 'route_name', type: 'VARCHAR', get: (e) => e.mesh?.route_name },
  { name: 'mtls', type: 'BOOLEAN', get: (e) => e.mesh?.mtls },
  { name: 'src_spiffe_id', type: 'VARCHAR', get: (e) => e.mesh?.source?.spiffe_id },
  { name: 'src_trust_domain', type: 'VARCHAR', get: (e) => e.mesh?.source?.trust_domain },
  { name: 'src_namespace', type: 'VARCHAR', get: (e) => e.mesh?.source?.namespace },
  { name: 'src_service_account', type: 'VARCHAR', get: (e) => e.mesh?.source?.service_account },
  { name: 'src_workload', type: 'VARCHAR', get: (e) => e.mesh?.source?.workload },
  { name: 'src_signal', type: 'VARCHAR', get: (e) => e.mesh?.source?.signal },
  { name: 'dst_service', type: 'VARCHAR', get: (e) => e.mesh?.destination?.service },
  { name: 'dst_namespace', type: 'VARCHAR', get: (e) => e.mesh?.destination?.namespace },
  { name: 'dst_port', type: 'INTEGER', get: (e) => e.mesh?.destination?.port },
  { name: 'dst_subset', type: 'VARCHAR', get: (e) => e.mesh?.destination?.subset },
  { name: 'dst_spiffe_id', type: 'VARCHAR', get: (e) => e.mesh?.destination?.spiffe_id },
  { name: 'dst_trust_domain', type: 'VARCHAR', get: (e) => e.mesh?.destination?.trust_domain },
  { name: 'dst_service_account', type: 'VARCHAR', get: (e) => e.mesh?.destination?.service_account },
  { name: 'dst_workload', type: 'VARCHAR', get: (e) => e.mesh?.destination?.workload },
  { name: 'dst_signal', type: 'VARCHAR', get: (e) => e.mesh?.destination?.signal },
  { name: 'envoy_format', type: 'VARCHAR', get: (e) => e.envoy.format },
  { name: 'response_flags', type: 'VARCHAR[]', get: (e) => e.envoy.response_flags },
  { name: 'response_code_details', type: 'VARCHAR', get: (e) => e.envoy.response_code_details },
  { name: 'connection_termination_details', type: 'VARCHAR', get: (e) => e.envoy.connection_termination_details },
  { name: 'upstream_transport_failure_reason', type: 'VARCHAR', get: (e) => e.envoy.upstream_transport_failure_reason },
  { name: 'upstream_host', type: 'VARCHAR', get: (e) => e.envoy.upstream_host },
  { name: 'upstream_local_address', type: 'VARCHAR', get: (e) => e.envoy.upstream_local_address },
  { name: 'downstream_local_address', type: 'VARCHAR', get: (e) => e.envoy.downstream_local_address },
  { name: 'downstream_remote_address', type: 'VARCHAR', get: (e) => e.envoy.downstream_remote_address },
  { name: 'upstream_service_time', type: 'BIGINT', get: (e) => e.envoy.upstream_service_time },
  { name: 'x_forwarded_for', type: 'VARCHAR', get: (e) => e.envoy.x_forwarded_for },
  { name: 'connection_id', type: 'VARCHAR', get: (e) => e.envoy.connection_id },
  { name: 'authority', type: 'VARCHAR', get: (e) => e.envoy.authority },
  { name: 'requested_server_name', type: 'VARCHAR', get: (e) => e.envoy.requested_server_name },
  { name: 'rbac_policy', type: 'VARCHAR', get: (e) => e.envoy.rbac_policy },
  { name: 'peer_downstream_uri_san', type: 'VARCHAR', get: (e) => e.envoy.peer?.downstream_uri_san },
  { name: 'peer_upstream_uri_san', type: 'VARCHAR', get: (e) => e.envoy.peer?.upstream_uri_san },
  { name: 'k8s_namespace', type: 'VARCHAR', get: (e) => e.kubernetes?.namespace },
  { name: 'k8s_pod', type: 'VARCHAR', get: (e) => e.kubernetes?.pod },
  { name: 'k8s_container', type: 'VARCHAR', get: (e) => e.kubernetes?.container },
  { name: 'k8s_node', type: 'VARCHAR', get: (e) => e.kubernetes?.node },
  { name: 'k8s_app', type: 'VARCHAR', get: (e) => labelApp(e.kubernetes?.labels) },
  { name: 'source_kind', type: 'VARCHAR', get: (e) => e.audit.source?.kind },
  { name: 'source_file', type: 'VARCHAR', get: (e) => e.audit.source?.file },
  { name: 'source_line', type: 'BIGINT', get: (e) => e.audit.source?.line },
  { name: 'source_offset', type: 'VARCHAR', get: (e) => e.audit.source?.offset },
  { name: 'source_topic', type: 'VARCHAR', get: (e) => e.audit.source?.topic },
  { name: 'source_partition', type: 'INTEGER', get: (e) => e.audit.source?.partition },
  { name: 'au3_complete', type: 'BOOLEAN', get: (e) => e.audit.au3?.complete },
  { name: 'au3_missing', type: 'VARCHAR[]', get: (e) => e.audit.au3?.missing },
  { name: 'au3_extras_missing', type: 'VARCHAR[]', get: (e) => e.audit.au3?.extras_missing },
  { name: 'finding_codes', type: 'VARCHAR[]', get: (e) => e.audit.finding_codes ?? e.audit.findings?.map((f) => f.code) },
  { name: 'controls', type: 'VARCHAR[]', get: (e) => e.audit.controls },
  { name: 'severity', type: 'VARCHAR', get: (e) => e.audit.severity },
  { name: 'redactions', type: 'INTEGER', get: (e) => e.audit.redactions },
  { name: 'hash', type: 'VARCHAR', get: (e) => e.audit.hash },
]

/** One row per finding; `ts` is copied from the event so time filters need no join. */
export interface FindingRow {
  eventId: string
  ts: string
  index: number
  finding: Finding
}

export const FINDING_COLUMNS: readonly Column<FindingRow>[] = [
  { name: 'event_id', type: 'VARCHAR', get: (r) => r.eventId },
  { name: 'ts', type: 'TIMESTAMP', get: (r) => r.ts },
  { name: 'idx', type: 'INTEGER', get: (r) => r.index },
  { name: 'code', type: 'VARCHAR', get: (r) => r.finding.code },
  { name: 'severity', type: 'VARCHAR', get: (r) => r.finding.severity },
  { name: 'controls', type: 'VARCHAR[]', get: (r) => r.finding.controls },
  { name: 'message', type: 'VARCHAR', get: (r) => r.finding.message },
  { name: 'policy', type: 'VARCHAR', get: (r) => r.finding.policy },
]

function labelApp(labels: Record<string, string | undefined> | undefined): string | undefined {
  if (labels === undefined) return undefined
  // Own-property reads only: label keys came from untrusted envelopes.
  for (const key of ['app', 'app.kubernetes.io/name', 'k8s-app']) {
    if (Object.prototype.hasOwnProperty.call(labels, key)) return labels[key]
  }
  return undefined
}

function columnDdl<Row>(columns: readonly Column<Row>[], notNull: readonly string[]): string {
  return columns.map((c) => `${c.name} ${c.type}${notNull.includes(c.name) ? ' NOT NULL' : ''}`).join(',\n  ')
}

/**
 * The DDL, idempotent. `events` carries the full event JSON for drill-down; `flows` is the view every
 * edge and coverage query reads: the two lines Istio writes for one mesh request (client sidecar and
 * server sidecar, same x-request-id) would otherwise count twice, so a source-side line is dropped when
 * the destination side of the same hop was logged too (the server side carries the peer identity). A
 * hop is matched by request id and, when both lines have them, by the client socket: the server's
 * downstream_remote_address is the client's upstream_local_address. Apps propagate x-request-id down a
 * whole call tree, so the request id alone would also match other hops of the same trace.
 */
export function schemaDdl(): string[] {
  return [
    `CREATE TABLE IF NOT EXISTS events (\n  ${columnDdl(EVENT_COLUMNS, ['id', 'ts'])},\n  event_json VARCHAR NOT NULL,\n  PRIMARY KEY (id)\n)`,
    `CREATE TABLE IF NOT EXISTS findings (\n  ${columnDdl(FINDING_COLUMNS, ['event_id', 'ts', 'idx', 'code'])},\n  PRIMARY KEY (event_id, idx)\n)`,
    `CREATE OR REPLACE VIEW flows AS
     SELECT e.* FROM events e
     WHERE NOT (e.reporter = 'source' AND e.request_id IS NOT NULL AND EXISTS (
       SELECT 1 FROM events d WHERE d.reporter = 'destination' AND d.request_id = e.request_id
         AND (d.downstream_remote_address = e.upstream_local_address
              OR d.downstream_remote_address IS NULL OR e.upstream_local_address IS NULL)))`,
    `CREATE TABLE IF NOT EXISTS store_meta (key VARCHAR PRIMARY KEY, value VARCHAR)`,
    `CREATE TABLE IF NOT EXISTS edge_facts (\n  hour TIMESTAMP NOT NULL,\n  srv BOOLEAN NOT NULL,\n  ${EDGE_FACTS.map((c) => `${c} VARCHAR`).join(',\n  ')},\n  first TIMESTAMP NOT NULL\n)`,
    // The per-call tables (callsDdl, src/store/duckdb-calls.ts) are created by the store when it keeps them (callTables).
  ]
}

/**
 * `edge_facts`: the identity facts of a proxy line (the columns the hunt's learning window resolves
 * identities from) with the first time they were seen, per hour and per side (server line or not).
 * Written with every batch, so "was this edge seen before?" over days of learning window reads a few
 * rows per (hour, workload pair) instead of every line (src/hunt/duckdb-backend.ts, BASELINE_SQL).
 * Only min(first) is kept, which a replay cannot change, so batches append without deduplicating.
 */
export const EDGE_FACTS = [
  'src_spiffe_id', 'src_namespace', 'src_workload', 'src_service_account', 'k8s_namespace', 'k8s_app', 'k8s_pod', 'source_ip',
  'dst_spiffe_id', 'dst_namespace', 'dst_workload', 'dst_service', 'destination_address',
] as const

const HOUR_MS = 3_600_000
const FACT_COLUMNS: readonly Column<AuditEvent>[] = EDGE_FACTS.map((name) => EVENT_COLUMNS.find((c) => c.name === name)!)

export interface EdgeFactRow {
  hourMs: number
  srv: boolean
  facts: (string | null)[]
  firstMs: number
}

/** The batch's edge_facts rows, grouped as the backfill groups the events table (edgeFactsBackfillSql). */
export function edgeFactRows(events: readonly AuditEvent[]): EdgeFactRow[] {
  const groups = new Map<string, EdgeFactRow>()
  for (const event of events) {
    const ms = Date.parse(event['@timestamp'])
    if (!Number.isFinite(ms)) continue
    const srv = event.mesh?.reporter === 'destination'
    const hourMs = Math.floor(ms / HOUR_MS) * HOUR_MS
    const facts: (string | null)[] = []
    let key = `${hourMs}${srv ? 's' : 'c'}`
    for (const column of FACT_COLUMNS) {
      const value = column.get(event)
      // As appendRow writes a VARCHAR: absent is NULL, anything else its string form.
      const text = value === undefined || value === null ? null : String(value)
      facts.push(text)
      key += text === null ? '\u0001' : `\u0000${text}`
    }
    const group = groups.get(key)
    if (group === undefined) groups.set(key, { hourMs, srv, facts, firstMs: ms })
    else if (ms < group.firstMs) group.firstMs = ms
  }
  return [...groups.values()]
}

/** Fills edge_facts from the stored events: for stores written before the table existed, and bulk loads. */
export function edgeFactsBackfillSql(): string {
  return `INSERT INTO edge_facts SELECT date_trunc('hour', ts), coalesce(reporter = 'destination', false), ${EDGE_FACTS.join(', ')}, min(ts)
    FROM events GROUP BY ALL`
}

/** Staging tables have the same columns without keys: the appender fills them, one INSERT moves them. */
export function stagingDdl(): string[] {
  return [
    `CREATE OR REPLACE TEMP TABLE stage_events AS SELECT * FROM events LIMIT 0`,
    `CREATE OR REPLACE TEMP TABLE stage_findings AS SELECT * FROM findings LIMIT 0`,
  ]
}
