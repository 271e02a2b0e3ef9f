/**
 * The generated DuckDB columns (src/generated/duckdb-columns.ts, from the x-duckdb annotations of
 * schemas/audit-event.schema.json) against the hand-written ones they replaced: the same DDL text,
 * the same catalog (tables, columns, order, types, nullability, keys) for a store created before and
 * after, and the same value from every column getter for any event the schema allows. The previous
 * DDL and getters are kept below, verbatim, as the reference; a change to a store's columns must be
 * a deliberate edit of this file.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DuckDBInstance } from '@duckdb/node-api'
import fc from 'fast-check'
import { afterAll, describe, expect, test } from 'vitest'
import type { AuditEvent, Finding } from '../../src/generated/types.js'
import { auditEventSchema } from '../../src/schema/audit-event.js'
import { DuckDbStore } from '../../src/store/duckdb-store.js'
import { EVENT_COLUMNS, FINDING_COLUMNS, schemaDdl, stagingDdl, type ColumnValue, type FindingRow } from '../../src/store/duckdb-schema.js'
import { finding, makeEvent } from './event-fixtures.js'

/** schemaDdl() then stagingDdl() as the hand-written columns produced them. */
const PREVIOUS_DDL = [
  `CREATE TABLE IF NOT EXISTS events (
  id VARCHAR NOT NULL,
  ts TIMESTAMP NOT NULL,
  action VARCHAR,
  outcome VARCHAR,
  duration_ns BIGINT,
  ingested TIMESTAMP,
  protocol VARCHAR,
  transport VARCHAR,
  direction VARCHAR,
  http_version VARCHAR,
  method VARCHAR,
  request_id VARCHAR,
  request_bytes BIGINT,
  status_code INTEGER,
  response_bytes BIGINT,
  url_path VARCHAR,
  url_query VARCHAR,
  url_domain VARCHAR,
  user_agent VARCHAR,
  source_ip VARCHAR,
  source_port INTEGER,
  source_address VARCHAR,
  destination_ip VARCHAR,
  destination_port INTEGER,
  destination_address VARCHAR,
  destination_domain VARCHAR,
  tls_established BOOLEAN,
  tls_version VARCHAR,
  tls_cipher VARCHAR,
  tls_server_name VARCHAR,
  reporter VARCHAR,
  upstream_cluster VARCHAR,
  route_name VARCHAR,
  mtls BOOLEAN,
  src_spiffe_id VARCHAR,
  src_trust_domain VARCHAR,
  src_namespace VARCHAR,
  src_service_account VARCHAR,
  src_workload VARCHAR,
  src_signal VARCHAR,
  dst_service VARCHAR,
  dst_namespace VARCHAR,
  dst_port INTEGER,
  dst_subset VARCHAR,
  dst_spiffe_id VARCHAR,
  dst_trust_domain VARCHAR,
  dst_service_account VARCHAR,
  dst_workload VARCHAR,
  dst_signal VARCHAR,
  envoy_format VARCHAR,
  response_flags VARCHAR[],
  response_code_details VARCHAR,
  connection_termination_details VARCHAR,
  upstream_transport_failure_reason VARCHAR,
  upstream_host VARCHAR,
  upstream_local_address VARCHAR,
  downstream_local_address VARCHAR,
  downstream_remote_address VARCHAR,
  upstream_service_time BIGINT,
  x_forwarded_for VARCHAR,
  connection_id VARCHAR,
  authority VARCHAR,
  requested_server_name VARCHAR,
  rbac_policy VARCHAR,
  peer_downstream_uri_san VARCHAR,
  peer_upstream_uri_san VARCHAR,
  k8s_namespace VARCHAR,
  k8s_pod VARCHAR,
  k8s_container VARCHAR,
  k8s_node VARCHAR,
  k8s_app VARCHAR,
  source_kind VARCHAR,
  source_file VARCHAR,
  source_line BIGINT,
  source_offset VARCHAR,
  source_topic VARCHAR,
  source_partition INTEGER,
  au3_complete BOOLEAN,
  au3_missing VARCHAR[],
  au3_extras_missing VARCHAR[],
  finding_codes VARCHAR[],
  controls VARCHAR[],
  severity VARCHAR,
  redactions INTEGER,
  hash VARCHAR,
  event_json VARCHAR NOT NULL,
  PRIMARY KEY (id)
)`,
  `CREATE TABLE IF NOT EXISTS findings (
  event_id VARCHAR NOT NULL,
  ts TIMESTAMP NOT NULL,
  idx INTEGER NOT NULL,
  code VARCHAR NOT NULL,
  severity VARCHAR,
  controls VARCHAR[],
  message VARCHAR,
  policy VARCHAR,
  PRIMARY KEY (event_id, idx)
)`,
  `CREATE OR REPLACE VIEW flows AS
     SELECT e.* FROM events e
     WHERE NOT (e.reporter = 'source' AND e.request_id IS NOT NULL AND EXISTS (
       SELECT 1 FROM events d WHERE d.reporter = 'destination' AND d.request_id = e.request_id
         AND (d.downstream_remote_address = e.upstream_local_address
              OR d.downstream_remote_address IS NULL OR e.upstream_local_address IS NULL)))
       AND NOT (e.reporter = 'gateway' AND starts_with(e.requested_server_name, 'outbound_.') AND e.upstream_local_address IS NOT NULL
         AND EXISTS (SELECT 1 FROM events d WHERE d.reporter = 'destination' AND d.downstream_remote_address = e.upstream_local_address
           AND abs(epoch(d.ts) - epoch(e.ts)) <= 300))
       AND e.id NOT IN (SELECT c.eid AS id FROM (
         SELECT p.eid, json_extract_string(e.event_json,
             ['$.orchestrator.cluster.name', '$.mesh.source.cluster', '$.mesh.destination.cluster']) AS ec,
           json_extract_string(d.event_json,
             ['$.orchestrator.cluster.name', '$.mesh.source.cluster', '$.mesh.destination.cluster']) AS dc FROM (
           SELECT e.id AS eid, d.id AS did FROM events e JOIN events d ON d.request_id = e.request_id
           WHERE e.reporter = 'source' AND d.reporter = 'destination' AND d.downstream_remote_address <> e.upstream_local_address
             AND e.dst_service = d.dst_service AND abs(epoch(d.ts) - epoch(e.ts)) <= 300) p
         JOIN events e ON e.id = p.eid JOIN events d ON d.id = p.did) c
       WHERE c.ec[3] = c.dc[1] AND c.dc[2] = c.ec[1] AND c.ec[1] <> c.dc[1])`,
  `CREATE TABLE IF NOT EXISTS store_meta (key VARCHAR PRIMARY KEY, value VARCHAR)`,
  `CREATE TABLE IF NOT EXISTS edge_facts (
  hour TIMESTAMP NOT NULL,
  srv BOOLEAN NOT NULL,
  src_spiffe_id VARCHAR,
  src_namespace VARCHAR,
  src_workload VARCHAR,
  src_service_account VARCHAR,
  k8s_namespace VARCHAR,
  k8s_app VARCHAR,
  k8s_pod VARCHAR,
  source_ip VARCHAR,
  dst_spiffe_id VARCHAR,
  dst_namespace VARCHAR,
  dst_workload VARCHAR,
  dst_service VARCHAR,
  destination_address VARCHAR,
  first TIMESTAMP NOT NULL
)`,
  `CREATE OR REPLACE TEMP TABLE stage_events AS SELECT * FROM events LIMIT 0`,
  `CREATE OR REPLACE TEMP TABLE stage_findings AS SELECT * FROM findings LIMIT 0`,
]

/**
 * The DDL since the cluster columns were added: the same tables with `cluster`, `src_cluster` and
 * `dst_cluster` after event_json (where ALTER TABLE puts them in a previous store), and the flows view
 * reading them instead of the documents, each of its drops a join instead of a correlated EXISTS.
 */
const CURRENT_DDL = PREVIOUS_DDL.map((ddl, i) => {
  if (i === 0)
    return ddl.replace(
      '  event_json VARCHAR NOT NULL,\n',
      '  event_json VARCHAR NOT NULL,\n  src_cluster VARCHAR,\n  dst_cluster VARCHAR,\n  cluster VARCHAR,\n',
    )
  if (i !== 2) return ddl
  // Each dropped line found by a join of narrow columns (test/store/duckdb-schema.test.ts).
  return `CREATE OR REPLACE VIEW flows AS
     SELECT e.* FROM events e
     WHERE e.id NOT IN (SELECT e.id FROM events e JOIN events d ON d.request_id = e.request_id
       WHERE e.reporter = 'source' AND d.reporter = 'destination'
         AND (d.downstream_remote_address = e.upstream_local_address
              OR d.downstream_remote_address IS NULL OR e.upstream_local_address IS NULL))
       AND e.id NOT IN (SELECT e.id FROM events e JOIN events d ON d.downstream_remote_address = e.upstream_local_address
       WHERE e.reporter = 'gateway' AND starts_with(e.requested_server_name, 'outbound_.') AND d.reporter = 'destination'
         AND abs(epoch(d.ts) - epoch(e.ts)) <= 300)
       AND e.id NOT IN (SELECT e.id FROM events e JOIN events d ON d.request_id = e.request_id
       WHERE e.reporter = 'source' AND d.reporter = 'destination' AND d.downstream_remote_address <> e.upstream_local_address
         AND e.dst_service = d.dst_service AND abs(epoch(d.ts) - epoch(e.ts)) <= 300
         AND e.dst_cluster = d.cluster AND d.src_cluster = e.cluster AND e.cluster <> d.cluster)`
})

interface PreviousColumn<Row> {
  name: string
  type: string
  get: (row: Row) => ColumnValue | undefined
}

const PREVIOUS_EVENT_COLUMNS: readonly PreviousColumn<AuditEvent>[] = [
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

const PREVIOUS_FINDING_COLUMNS: readonly PreviousColumn<FindingRow>[] = [
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
  for (const key of ['app', 'app.kubernetes.io/name', 'k8s-app']) {
    if (Object.prototype.hasOwnProperty.call(labels, key)) return labels[key]
  }
  return undefined
}

const dir = mkdtempSync(join(tmpdir(), 'ea-duckdb-compat-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

interface Catalog {
  columns: unknown[]
  constraints: unknown[]
  views: unknown[]
}

/** Everything a query can see of a store's shape, in a stable order. */
async function catalog(query: (sql: string) => Promise<unknown[]>): Promise<Catalog> {
  return {
    columns: await query(`SELECT table_name, column_name, ordinal_position, data_type, is_nullable, column_default
      FROM information_schema.columns WHERE table_schema = 'main' ORDER BY table_name, ordinal_position`),
    constraints: await query(`SELECT table_name, constraint_type, constraint_column_names::VARCHAR AS cols
      FROM duckdb_constraints() WHERE schema_name = 'main' ORDER BY ALL`),
    views: await query(`SELECT view_name, sql FROM duckdb_views() WHERE NOT internal AND schema_name = 'main' ORDER BY view_name`),
  }
}

async function rawCatalog(path: string, statements: readonly string[]): Promise<Catalog> {
  const instance = await DuckDBInstance.create(path)
  const conn = await instance.connect()
  try {
    for (const statement of statements) await conn.run(statement)
    return await catalog(async (sql) => (await conn.runAndReadAll(sql)).getRowObjectsJson())
  } finally {
    conn.closeSync()
    instance.closeSync()
  }
}

async function storeCatalog(store: DuckDbStore): Promise<Catalog> {
  return catalog(async (sql) => (await store.sql(sql)).rows)
}

function sampleEvents(): AuditEvent[] {
  const e = makeEvent({
    id: 'c1',
    reporter: 'destination',
    requestId: 'r1',
    status: 403,
    action: 'denied',
    srcSpiffe: 'spiffe://cluster.local/ns/shop/sa/frontend',
    srcNs: 'shop',
    k8sNs: 'payments',
    app: 'payments',
    dstService: 'payments.payments.svc.cluster.local',
    rbacPolicy: 'none',
    findings: [finding('authz_denied', 'medium', ['AC-3', 'AC-6']), finding('au3_incomplete', 'low', ['AU-3'])],
  })
  e.event.duration = 12_000_000
  e.envoy.response_flags = ['RBAC']
  e.audit.source = { kind: 'kafka', topic: 'logs', partition: 3, offset: '99' }
  return [e, makeEvent({ id: 'c2', reporter: 'source', requestId: 'r1', mtls: null }), makeEvent({ id: 'c3', sourceIp: '10.1.2.3' })]
}

describe('DuckDB columns generated from the schema, against the hand-written ones', () => {
  test('schemaDdl() and stagingDdl() produce the current DDL, byte for byte', () => {
    expect(CURRENT_DDL[0]).not.toEqual(PREVIOUS_DDL[0])
    expect([...schemaDdl(), ...stagingDdl()]).toEqual(CURRENT_DDL)
  })

  test('a store created by the previous DDL gets the catalog of a store created now, and keeps working', async () => {
    const before = join(dir, 'before.duckdb')
    const previous = await rawCatalog(before, PREVIOUS_DDL.slice(0, -2))
    const now = await rawCatalog(join(dir, 'now-ddl.duckdb'), schemaDdl())
    const added = ['src_cluster', 'dst_cluster', 'cluster']
    const names = (c: Catalog, table: string) =>
      (c.columns as { table_name: string; column_name: string }[]).filter((r) => r.table_name === table).map((r) => r.column_name)
    expect(names(now, 'events')).toEqual([...names(previous, 'events'), ...added])
    expect(names(now, 'findings')).toEqual(names(previous, 'findings'))
    expect(previous.columns.length).toBeGreaterThan(100)

    // The old file opened by today's store, and a new store, fed the same events: same catalog, same rows.
    const old = new DuckDbStore({ path: before })
    // The table layout's catalog is what this compares (a new store's default is the segment layout).
    const fresh = new DuckDbStore({ path: join(dir, 'fresh.duckdb'), layout: 'table' })
    await old.start()
    await fresh.start()
    try {
      const events = sampleEvents()
      for (const store of [old, fresh]) await store.write(structuredClone(events))
      expect(await storeCatalog(old)).toEqual(await storeCatalog(fresh))
      for (const sql of ['SELECT * FROM events ORDER BY id', 'SELECT * FROM findings ORDER BY ALL', 'SELECT * FROM flows ORDER BY id']) {
        const a = await old.sql(sql)
        const b = await fresh.sql(sql)
        expect(a.columns).toEqual(b.columns)
        expect(a.types).toEqual(b.types)
        expect(a.rows).toEqual(b.rows)
      }
      const byCode = await old.sql('SELECT code, count(*)::INTEGER AS n FROM findings GROUP BY code ORDER BY code')
      expect(byCode.rows).toEqual([
        { code: 'au3_incomplete', n: 1 },
        { code: 'authz_denied', n: 1 },
      ])
      const columns = 'status_code, k8s_app, source_partition, duration_ns, response_flags, finding_codes'
      const row = (await old.sql(`SELECT ${columns} FROM events WHERE id = 'c1'`)).rows[0]
      expect(row).toEqual({
        status_code: 403,
        k8s_app: 'payments',
        source_partition: 3,
        duration_ns: '12000000',
        response_flags: ['RBAC'],
        finding_codes: ['authz_denied', 'au3_incomplete'],
      })
    } finally {
      await old.close()
      await fresh.close()
    }
  })

  test('a store from before the cluster columns: computed for a reader without a writer, filled in by the next writer', async () => {
    const path = join(dir, 'clusters-before.duckdb')
    const doc = JSON.stringify({ event: { id: 'x1' }, orchestrator: { cluster: { name: 'east' } }, mesh: { source: { cluster: 'west' } } })
    await rawCatalog(path, [
      ...PREVIOUS_DDL.slice(0, -2),
      `INSERT INTO events (id, ts, reporter, event_json) VALUES ('x1', TIMESTAMP '2026-11-20 10:00:00', 'destination', '${doc}')`,
    ])
    const row = `SELECT cluster, src_cluster, dst_cluster FROM events WHERE id = 'x1'`
    const want = [{ cluster: 'east', src_cluster: 'west', dst_cluster: null }]
    const reader = new DuckDbStore({ path, readOnly: true, serveReaders: false })
    try {
      expect((await reader.sql(row)).rows).toEqual(want)
      expect((await reader.sql(`SELECT count(*)::INTEGER AS n FROM flows WHERE cluster = 'east'`)).rows).toEqual([{ n: 1 }])
    } finally {
      await reader.close()
    }
    const writer = new DuckDbStore({ path, serveReaders: false })
    try {
      await writer.start()
      expect((await writer.sql(row)).rows).toEqual(want)
      const stored = await writer.sql(
        `SELECT column_name FROM information_schema.columns
          WHERE table_name = 'events' AND column_name LIKE '%cluster' ORDER BY ordinal_position`,
      )
      expect(stored.rows.map((r) => r.column_name)).toEqual(['upstream_cluster', 'src_cluster', 'dst_cluster', 'cluster'])
    } finally {
      await writer.close()
    }
  })

  test('the columns have the previous names and types, in the previous order', () => {
    expect(EVENT_COLUMNS.map((c) => [c.name, c.type])).toEqual(PREVIOUS_EVENT_COLUMNS.map((c) => [c.name, c.type]))
    expect(FINDING_COLUMNS.map((c) => [c.name, c.type])).toEqual(PREVIOUS_FINDING_COLUMNS.map((c) => [c.name, c.type]))
  })

  test('property: every column reads the value the hand-written getter read, for any event the schema allows', () => {
    fc.assert(
      fc.property(schemaArbitrary(auditEventSchema) as fc.Arbitrary<AuditEvent>, (event) => {
        for (let i = 0; i < PREVIOUS_EVENT_COLUMNS.length; i++) {
          expect(EVENT_COLUMNS[i]!.get(event), EVENT_COLUMNS[i]!.name).toEqual(PREVIOUS_EVENT_COLUMNS[i]!.get(event))
        }
        const findings: Finding[] = event.audit.findings ?? []
        findings.forEach((f, index) => {
          const row: FindingRow = { eventId: event.event.id, ts: event['@timestamp'], index, finding: f }
          for (let i = 0; i < PREVIOUS_FINDING_COLUMNS.length; i++) {
            expect(FINDING_COLUMNS[i]!.get(row), FINDING_COLUMNS[i]!.name).toEqual(PREVIOUS_FINDING_COLUMNS[i]!.get(row))
          }
        })
      }),
      { numRuns: 300 },
    )
  })
})

interface Node {
  type?: string | string[]
  format?: string
  enum?: unknown[]
  properties?: Record<string, Node>
  required?: string[]
  items?: Node
  additionalProperties?: boolean | Node
}

/** Any value the schema allows, every optional member present or not (label keys include the ones k8s_app reads). */
function schemaArbitrary(schema: unknown): fc.Arbitrary<unknown> {
  const node = schema as Node
  if (node.enum !== undefined) return fc.constantFrom(...node.enum)
  if (node.properties !== undefined) {
    const members = Object.fromEntries(Object.entries(node.properties).map(([k, v]) => [k, schemaArbitrary(v)]))
    return fc.record(members, { requiredKeys: node.required ?? [] })
  }
  if (typeof node.additionalProperties === 'object') {
    const keys = fc.constantFrom('app', 'app.kubernetes.io/name', 'k8s-app', 'version', 'constructor', 'toString')
    return fc.dictionary(keys, fc.string(), { maxKeys: 4 })
  }
  const types = Array.isArray(node.type) ? node.type : [node.type]
  if (types.includes('array')) return fc.array(schemaArbitrary(node.items), { maxLength: 3 })
  if (types.includes('boolean')) return types.includes('null') ? fc.constantFrom(true, false, null) : fc.boolean()
  if (types.includes('integer')) return fc.oneof(fc.integer(), fc.maxSafeInteger())
  if (node.format === 'date-time') return fc.date({ noInvalidDate: true }).map((d) => d.toISOString())
  return fc.string({ maxLength: 8 })
}
