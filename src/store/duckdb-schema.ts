/**
 * The DuckDB tables behind the embedded store. The canonical event (schemas/audit-event.schema.json) is
 * flattened into typed columns so every aggregate is plain SQL, and the full event is kept as JSON so
 * drill-down returns exactly what was ingested. Findings get their own table because one event can
 * carry several, each with its own controls: counting by control needs one row per finding.
 *
 * Column names, types and order are part of the `envoy-audit sql` contract and of every existing store
 * (the tables are created once and never altered): add columns, never rename them. They are generated
 * from the schema's `x-duckdb` annotations (src/schema/duckdb-generate.ts), and
 * test/store/duckdb-schema-compat.test.ts pins the resulting DDL.
 */
import type { AuditEvent } from '../generated/types.js'
import { ADDED_EVENT_COLUMNS, EVENT_COLUMNS, EVENTS_TABLE, FINDING_COLUMNS, FINDINGS_TABLE } from '../generated/duckdb-columns.js'
import type { Column, TableSpec } from '../schema/duckdb-columns.js'

export type { Column, ColumnType, ColumnValue, FindingRow } from '../schema/duckdb-columns.js'
/**
 * The typed columns of `events` (one row per event; `id` and `ts` first and the only NOT NULL ones)
 * and of `findings` (one row per finding; `ts` is copied from the event so time filters need no
 * join), generated from the `x-duckdb` annotations of schemas/audit-event.schema.json.
 */
export { ADDED_EVENT_COLUMNS, EVENT_COLUMNS, FINDING_COLUMNS }

/**
 * Every typed column of `events` whatever the layout: EVENT_COLUMNS, then (after `event_json` in the
 * table) the columns added since (ADDED_EVENT_COLUMNS: the clusters a line names, which `report`,
 * `flows` and the east-west match read on every row and would otherwise parse out of each document).
 */
export const STORED_EVENT_COLUMNS: readonly Column<AuditEvent>[] = [...EVENT_COLUMNS, ...ADDED_EVENT_COLUMNS]

/** What an added column holds, read from the stored document: the backfill of older stores and segment files. */
export const addedColumnFromJson = (c: Column<AuditEvent>, json = 'event_json'): string =>
  `CAST(json_extract_string(${json}, '$.${c.path}') AS ${c.type})`

/** The added columns a table's column names lack: what a store written before them needs. */
export const missingAddedColumns = (have: ReadonlySet<string>): Column<AuditEvent>[] => ADDED_EVENT_COLUMNS.filter((c) => !have.has(c.name))

/**
 * A table store from before the added columns, brought up to date by its writer: the columns appended
 * (ALTER TABLE can only append: hence their place after event_json) and filled from each document.
 */
export function addColumnsSql(missing: readonly Column<AuditEvent>[]): string[] {
  if (missing.length === 0) return []
  return [
    ...missing.map((c) => `ALTER TABLE events ADD COLUMN ${c.name} ${c.type}`),
    `UPDATE events SET ${missing.map((c) => `${c.name} = ${addedColumnFromJson(c)}`).join(', ')}`,
  ]
}

/**
 * The same store read without its writer (read-only): a view that computes what the table lacks, for
 * this connection only. `database`: the store's catalog name, which the table is named through (the
 * temporary schema comes first, so `main.events` would be the view itself).
 */
export function readerEventsViewSql(missing: readonly Column<AuditEvent>[], database: string): string {
  const table = `"${database.replaceAll('"', '""')}".main.events`
  const computed = missing.map((c) => `${addedColumnFromJson(c)} AS ${c.name}`).join(', ')
  return `CREATE OR REPLACE TEMP VIEW events AS SELECT *, ${computed} FROM ${table}`
}

/** A generated table: its typed columns, then the document column if it has one, then the added columns, then its key. */
function tableDdl<Row>(table: TableSpec, columns: readonly Column<Row>[], added: readonly Column<Row>[] = []): string {
  const lines = columns.map((c) => `${c.name} ${c.type}${c.notNull ? ' NOT NULL' : ''}`)
  if (table.document !== undefined) lines.push(`${table.document} VARCHAR NOT NULL`)
  for (const c of added) lines.push(`${c.name} ${c.type}`)
  lines.push(`PRIMARY KEY (${table.primaryKey.join(', ')})`)
  return `CREATE TABLE IF NOT EXISTS ${table.name} (\n  ${lines.join(',\n  ')}\n)`
}

/**
 * The DDL, idempotent. `events` carries the full event JSON for drill-down; `flows` is the view every
 * edge and coverage query reads: the two lines Istio writes for one mesh request (client sidecar and
 * server sidecar, same x-request-id) would otherwise count twice, so a source-side line is dropped when
 * the destination side of the same hop was logged too (the server side carries the peer identity). A
 * hop is matched by request id and, when both lines have them, by the client socket: the server's
 * downstream_remote_address is the client's upstream_local_address. Apps propagate x-request-id down a
 * whole call tree, so the request id alone would also match other hops of the same trace.
 *
 * Across an east-west gateway the socket differs (the server's downstream is the gateway), so a client
 * line is also matched to a server line of the same request id and destination service when each names
 * the other's cluster (the client's mesh.destination.cluster is the cluster the server line was written
 * in, the server's mesh.source.cluster the client's) and they start within five minutes; and the gateway's own TCP
 * line of the passthrough (SNI `outbound_...`) is dropped when a server line's downstream socket is
 * the gateway's upstream one: one east-west call is one row, the server's, which names both clusters.
 */
export function schemaDdl(): string[] {
  return [
    tableDdl(EVENTS_TABLE, EVENT_COLUMNS, ADDED_EVENT_COLUMNS),
    tableDdl(FINDINGS_TABLE, FINDING_COLUMNS),
    flowsViewDdl(),
    `CREATE TABLE IF NOT EXISTS store_meta (key VARCHAR PRIMARY KEY, value VARCHAR)`,
    `CREATE TABLE IF NOT EXISTS edge_facts (\n  hour TIMESTAMP NOT NULL,\n  srv BOOLEAN NOT NULL,\n  ${EDGE_FACTS.map((c) => `${c} VARCHAR`).join(',\n  ')},\n  first TIMESTAMP NOT NULL\n)`,
    // The per-call tables (callsDdl, src/store/duckdb-calls.ts) are created by the store when it keeps them (callTables).
  ]
}

/**
 * Client lines of calls through an east-west gateway (see schemaDdl): a server line of the same request
 * id and destination service whose downstream is another socket, each line naming the other's cluster
 * (the typed cluster columns: reading them from the documents made this view scan every document).
 */
const EAST_WEST_CLIENT_LINES = `SELECT e.id FROM events e JOIN events d ON d.request_id = e.request_id
       WHERE e.reporter = 'source' AND d.reporter = 'destination' AND d.downstream_remote_address <> e.upstream_local_address
         AND e.dst_service = d.dst_service AND abs(epoch(d.ts) - epoch(e.ts)) <= 300
         AND e.dst_cluster = d.cluster AND d.src_cluster = e.cluster AND e.cluster <> d.cluster`

/**
 * Client lines whose server line of the same hop was logged (see schemaDdl): same request id, and the
 * same client socket when both lines have one.
 */
const SAME_HOP_CLIENT_LINES = `SELECT e.id FROM events e JOIN events d ON d.request_id = e.request_id
       WHERE e.reporter = 'source' AND d.reporter = 'destination'
         AND (d.downstream_remote_address = e.upstream_local_address
              OR d.downstream_remote_address IS NULL OR e.upstream_local_address IS NULL)`

/** The east-west gateway's own TCP lines of a passthrough whose server line was logged (see schemaDdl). */
const GATEWAY_PASSTHROUGH_LINES = `SELECT e.id FROM events e JOIN events d ON d.downstream_remote_address = e.upstream_local_address
       WHERE e.reporter = 'gateway' AND starts_with(e.requested_server_name, 'outbound_.') AND d.reporter = 'destination'
         AND abs(epoch(d.ts) - epoch(e.ts)) <= 300`

/**
 * The `flows` view (see schemaDdl), over `events` whichever layout holds them. Each line it drops is
 * found by a join of narrow columns, and the view keeps the events whose id none of them returned:
 * written as correlated EXISTS, DuckDB planned delim joins that first materialized every event with
 * every column the query needs (the report's edges at 1M events: 1.2 GB).
 */
export function flowsViewDdl(): string {
  return `CREATE OR REPLACE VIEW flows AS
     SELECT e.* FROM events e
     WHERE e.id NOT IN (${SAME_HOP_CLIENT_LINES})
       AND e.id NOT IN (${GATEWAY_PASSTHROUGH_LINES})
       AND e.id NOT IN (${EAST_WEST_CLIENT_LINES})`
}

/**
 * `edge_facts`: the identity facts of a proxy line (the columns the hunt's learning window resolves
 * identities from) with the first time they were seen, per hour and per side (server line or not).
 * Written with every batch, so "was this edge seen before?" over days of learning window reads a few
 * rows per (hour, workload pair) instead of every line (src/hunt/duckdb-backend.ts, BASELINE_SQL).
 * Only min(first) is kept, which a replay cannot change, so batches append without deduplicating.
 */
export const EDGE_FACTS = [
  'src_spiffe_id',
  'src_namespace',
  'src_workload',
  'src_service_account',
  'k8s_namespace',
  'k8s_app',
  'k8s_pod',
  'source_ip',
  'dst_spiffe_id',
  'dst_namespace',
  'dst_workload',
  'dst_service',
  'destination_address',
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
