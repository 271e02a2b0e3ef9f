/**
 * The report's edges on OpenSearch count a call once, as on the embedded store: a mesh call is logged by
 * the client sidecar and by the server sidecar (and across clusters by the east-west gateway too), and
 * an aggregation cannot join those lines, so the store leaves out the lines whose call the server
 * line counts (COUNTED_BY_SERVER_LINE in src/store/opensearch-aggregates.ts). Before, payments →
 * ledger showed twice (`payments/payments` from the client lines, the SPIFFE ID from the server's) and
 * the east-west gateway's lines as an edge of their own. The demo's events through the real pipeline,
 * indexed by the product's sink on the test server, and on the real node when OPENSEARCH_URL is set.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { Client } from '@opensearch-project/opensearch'
import { CLUSTERS } from '../../src/demo/east-west.js'
import { generateMeshTraffic } from '../../src/demo/mesh-traffic.js'
import { loadLifecycleConfig } from '../../src/lifecycle/config.js'
import { runSetup } from '../../src/lifecycle/setup.js'
import type { AuditEvent } from '../../src/schema/audit-event.js'
import { DuckDbStore } from '../../src/store/duckdb-store.js'
import { OpenSearchStore } from '../../src/store/opensearch-store.js'
import type { EdgeRow } from '../../src/store/store.js'
import { ingestDemoLogs } from '../helpers/demo-logs.js'
import { plantIndices } from '../helpers/opensearch-planted.js'
import { describeOpenSearch } from '../helpers/real-servers.js'
import { TestOpenSearch } from '../support/opensearch-server/index.js'

const traffic = generateMeshTraffic({ seed: 42, sessions: 200, noise: false, eastWest: true })
const PAYMENTS = 'spiffe://cluster.local/ns/payments/sa/payments'
let events: AuditEvent[] = []
/** The embedded store's edges (its flows view joins the lines of a call), without address inference. */
let duckEdges: EdgeRow[] = []

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ea-os-edges-'))
  const store = new DuckDbStore({ path: ':memory:' })
  await store.start()
  try {
    await ingestDemoLogs(dir, traffic.lines, store)
    const { rows } = await store.sql('SELECT event_json FROM events ORDER BY ts, id')
    events = rows.map((r) => JSON.parse(String(r.event_json)) as AuditEvent)
    duckEdges = await store.edges({ limit: 100_000, clusters: true })
  } finally {
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  }
}, 180_000)

const key = (e: EdgeRow): string => `${e.source} → ${e.destination}`

function suite(open: () => Promise<{ store: OpenSearchStore; close(): Promise<void> }>): void {
  let target: { store: OpenSearchStore; close(): Promise<void> }
  let edges: EdgeRow[]
  beforeAll(async () => {
    target = await open()
    edges = await target.store.edges({ limit: 100_000, clusters: true })
  }, 120_000)
  afterAll(async () => {
    await target?.close()
  })

  test('payments → ledger is one edge, counted once per call, east → west', () => {
    const calls = events.filter(
      (e) => e.mesh?.reporter === 'destination' && e.mesh.source?.spiffe_id === PAYMENTS && e.mesh.destination?.service === 'ledger',
    ).length
    expect(calls).toBeGreaterThan(0)
    const intoLedger = edges.filter((e) => e.destination === 'ledger.finance' && e.source.includes('payments'))
    expect(intoLedger.map((e) => [e.source, e.count, e.sourceClusters, e.destinationClusters])).toEqual([
      [PAYMENTS, calls, [CLUSTERS.first], [CLUSTERS.second]],
    ])
  })

  test('no edge of the east-west gateway', () => {
    expect(edges.filter((e) => e.destination.startsWith('outbound_.')).map(key)).toEqual([])
  })

  test('every edge of the embedded store, with its count; the only extra edges are plaintext client lines', () => {
    const counts = (rows: EdgeRow[]) => Object.fromEntries(rows.map((e) => [key(e), e.count]))
    const os = counts(edges)
    const want = counts(duckEdges)
    expect(Object.keys(want).length).toBeGreaterThan(20)
    for (const [k, n] of Object.entries(want)) expect(os[k], k).toBe(n)
    // Without a certificate on the client's line nothing in it says a server sidecar logged the call
    // too (docs/opensearch.md): those calls still count on both lines (in the demo, plaintext calls in catalog).
    const extra = edges.filter((e) => want[key(e)] === undefined)
    expect(extra.length).toBeGreaterThan(0)
    for (const e of extra) expect([key(e), e.sourceKind, e.mtls]).toEqual([key(e), 'workload', 0])
  })
}

describe('report edges on OpenSearch (test server)', () =>
  suite(async () => {
    const srv = await TestOpenSearch.start()
    const client = new Client({ node: srv.url, maxRetries: 0 })
    await runSetup(client, loadLifecycleConfig())
    const store = new OpenSearchStore({ client, sink: { flushIntervalMs: 1 } })
    await store.start()
    const { rejected } = await store.writeEvents(events)
    expect(rejected).toEqual([])
    return {
      store,
      close: async () => {
        await store.close()
        await client.close()
        await srv.close()
      },
    }
  }))

describeOpenSearch('report edges on OpenSearch, indexed by the product', () =>
  suite(async () => {
    const planted = await plantIndices('osedges')
    await planted.write(events)
    const store = new OpenSearchStore({
      client: planted.client,
      config: { eventsIndex: planted.eventsAlias, findingsIndex: planted.findingsAlias },
    })
    await store.start()
    return { store, close: async () => store.close().finally(() => planted.drop()) }
  }),
)
