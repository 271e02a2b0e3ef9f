/**
 * `flows` across an east-west gateway: the demo's calls from the first cluster into the second leave
 * three lines (client sidecar in east, the gateway's TCP passthrough line and the server sidecar in
 * west). Each is one call, one edge naming both clusters, counted once: from the call tables the store
 * fills at ingest (both layouts), from the query-time match, and from the tables of a store that an
 * older match built (backfilled once at open). Before, payments → ledger counted every call twice (the
 * client line did not match the server line, whose downstream is the gateway) and the gateway's lines
 * were an edge `istio-system/istio-eastwestgateway → outbound_.8080_._.ledger...`.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { CLUSTERS } from '../../src/demo/east-west.js'
import { generateMeshTraffic } from '../../src/demo/mesh-traffic.js'
import type { FlowEdge } from '../../src/hunt/backend.js'
import { DuckDbHuntBackend } from '../../src/hunt/duckdb-backend.js'
import { DuckDbStore } from '../../src/store/duckdb-store.js'
import { CALLS_VERSION } from '../../src/store/duckdb-calls.js'
import { ingestDemoLogs } from '../helpers/demo-logs.js'

const traffic = generateMeshTraffic({ seed: 42, sessions: 200, noise: false, eastWest: true })
const LEDGER = 'spiffe://cluster.local/ns/finance/sa/ledger'
const dir = mkdtempSync(join(tmpdir(), 'ea-ew-flows-'))
const stores = {
  table: new DuckDbStore({ path: join(dir, 'table.duckdb'), layout: 'table' }),
  segments: new DuckDbStore({ path: join(dir, 'segments.duckdb'), layout: 'segments' }),
}
/** Caller SPIFFE ID → east-west calls into ledger, from the server lines in west that name east as the source. */
let expected: Map<string, number>
let gatewayLines: number

beforeAll(async () => {
  for (const [name, store] of Object.entries(stores)) {
    await store.start()
    mkdirSync(join(dir, name))
    await ingestDemoLogs(join(dir, name), traffic.lines, store)
  }
  const { rows } = await stores.table.sql(
    `SELECT src_spiffe_id AS src, count(*)::INTEGER AS n FROM events
    WHERE reporter = 'destination' AND json_extract_string(event_json, '$.orchestrator.cluster.name') = '${CLUSTERS.second}'
      AND json_extract_string(event_json, '$.mesh.source.cluster') = '${CLUSTERS.first}' GROUP BY ALL`,
  )
  expected = new Map(rows.map((r) => [String(r.src), Number(r.n)]))
  const gw = await stores.table.sql(`SELECT count(*)::INTEGER AS n FROM events WHERE starts_with(requested_server_name, 'outbound_.')
    AND reporter = 'gateway'`)
  gatewayLines = Number(gw.rows[0]!.n)
}, 240_000)
afterAll(async () => {
  for (const store of Object.values(stores)) await store.close()
  rmSync(dir, { recursive: true, force: true })
})

async function flows(store: DuckDbStore, source: 'calls' | 'events', clusters?: string[]): Promise<FlowEdge[]> {
  const backend = new DuckDbHuntBackend(store, { source })
  try {
    await backend.prepare({ since: traffic.window.start, ...(clusters === undefined ? {} : { clusters }) }, [])
    return await backend.flows({ limit: 100_000 })
  } finally {
    await backend.close()
  }
}

function expectOneEdgePerCall(edges: FlowEdge[]): void {
  // The premise: payments' posts and the incident's two calls crossed, each with a gateway line.
  expect(expected.size).toBe(3)
  expect([...expected.values()].reduce((s, n) => s + n, 0)).toBe(gatewayLines)
  for (const [src, n] of expected) {
    const into = edges.filter((e) => e.destination === LEDGER && (e.source === src || e.source.endsWith(src.split('/sa/')[1]!)))
    expect(into.map((e) => [e.source, e.count, e.sourceClusters, e.destinationClusters])).toEqual([
      [src, n, [CLUSTERS.first], [CLUSTERS.second]],
    ])
  }
  const gateway = edges.filter((e) => e.destination.startsWith('outbound_') || e.source.includes('eastwestgateway'))
  expect(gateway.map((e) => `${e.source} → ${e.destination} ${e.count}`)).toEqual([])
}

describe('flows: one edge per east-west call', () => {
  for (const layout of ['table', 'segments'] as const)
    for (const source of ['calls', 'events'] as const)
      test(`${layout} layout, ${source}`, async () => {
        expectOneEdgePerCall(await flows(stores[layout], source))
      })

  test('--cluster west and --cluster east both keep each crossing call once', async () => {
    for (const cluster of [CLUSTERS.first, CLUSTERS.second]) expectOneEdgePerCall(await flows(stores.segments, 'calls', [cluster]))
  })

  test('the calls of a crossing are the server lines: no client or gateway line of one is a call of its own', async () => {
    const { rows } = await stores.segments.sql(
      `SELECT count(*)::INTEGER AS n FROM calls c JOIN events e ON e.id = c.crid
      WHERE c.srid IS NULL AND (starts_with(e.requested_server_name, 'outbound_.') AND e.reporter = 'gateway'
        OR e.upstream_host = '10.30.200.15:15443')`,
    )
    expect(rows[0]!.n).toBe(0)
  })
})

describe('a store whose call tables an older match built', () => {
  test('is backfilled once at open, on both layouts', async () => {
    for (const [layout, store] of Object.entries(stores)) {
      const path = join(dir, `${layout}.duckdb`)
      // As a previous release left it: no version recorded, and call tables that counted each crossing twice
      // (emptied here: whatever they held, the backfill rebuilds them from the events).
      for (const t of ['calls', 'call_links', 'call_groups', 'call_link_groups']) await store.sql(`DELETE FROM ${t}`)
      await store.sql(`DELETE FROM store_meta WHERE key = 'call_tables_version'`)
      await store.close()
      const reopened = new DuckDbStore({ path })
      stores[layout as keyof typeof stores] = reopened
      await reopened.start()
      expectOneEdgePerCall(await flows(reopened, 'calls'))
      const { rows } = await reopened.sql(`SELECT value FROM store_meta WHERE key = 'call_tables_version'`)
      expect(rows[0]?.value).toBe(CALLS_VERSION)
    }
  })
})
