/**
 * hunt and flows across the demo's two clusters on OpenSearch: the same events as
 * test/hunt/cross-cluster.test.ts (the demo's lines through the real pipeline into the embedded store,
 * then the stored documents indexed through the product's sink), searched by the OpenSearch backend on
 * the project's test server and, when OPENSEARCH_URL is set, on the real node. Each hop of the witness
 * path names the clusters its call ran between (hopClusters, one search per hop), flows names the
 * clusters of every edge, and --cluster narrows both.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { Client } from '@opensearch-project/opensearch'
import { generateMeshTraffic } from '../../src/demo/mesh-traffic.js'
import { spiffeId } from '../../src/demo/mesh-topology.js'
import { CLUSTERS } from '../../src/demo/east-west.js'
import { OpenSearchHuntBackend } from '../../src/hunt/opensearch-backend.js'
import { resolveIdentity } from '../../src/hunt/node-id.js'
import { huntPaths, type HuntResult } from '../../src/hunt/search.js'
import { ingestDemoLogs } from '../helpers/demo-logs.js'
import { DuckDbStore } from '../../src/store/duckdb-store.js'
import { OpenSearchStore } from '../../src/store/opensearch-store.js'
import { runSetup } from '../../src/lifecycle/setup.js'
import { loadLifecycleConfig } from '../../src/lifecycle/config.js'
import type { AuditEvent } from '../../src/schema/audit-event.js'
import { TestOpenSearch } from '../support/opensearch-server/index.js'
import { describeOpenSearch } from '../helpers/real-servers.js'
import { plantIndices, type Planted } from '../helpers/opensearch-planted.js'

const traffic = generateMeshTraffic({ seed: 42, sessions: 200, noise: false, eastWest: true })
const w = (name: string) => traffic.topology.get(name)
const FRONTEND = spiffeId(w('frontend'))
const CHECKOUT = spiffeId(w('checkout'))
const PAYMENTS = spiffeId(w('payments'))
const CART = spiffeId(w('cart'))
const LEDGER = 'spiffe://cluster.local/ns/finance/sa/ledger'
const STATEMENTS = 'spiffe://cluster.local/ns/finance/sa/statements'

let events: AuditEvent[] = []
let since = ''

/** The demo's events as the pipeline stored them (the documents the sink would index). */
beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ea-os-xcluster-'))
  const store = new DuckDbStore({ path: ':memory:' })
  await store.start()
  try {
    await ingestDemoLogs(dir, traffic.lines, store)
    const { rows } = await store.sql('SELECT event_json FROM events ORDER BY ts, id')
    events = rows.map((r) => JSON.parse(String(r.event_json)) as AuditEvent)
  } finally {
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  }
  since = events
    .filter((e) => e.mesh?.source?.spiffe_id === FRONTEND && (e.audit?.finding_codes ?? []).includes('authz_denied'))
    .map((e) => e['@timestamp'])
    .sort()[0]!
}, 120_000)

async function hunt(backend: OpenSearchHuntBackend, clusters?: string[]): Promise<HuntResult> {
  const range = { since, baselineFrom: traffic.window.start, ...(clusters === undefined ? {} : { clusters }) }
  await backend.prepare(range, [])
  const from = resolveIdentity('frontend', await backend.nodes())
  return huntPaths(backend, { ...range, from, maxDepth: 6 })
}

function crossClusterSuite(open: () => Promise<{ client: Client; index: string; close(): Promise<void> }>): void {
  {
    let target: { client: Client; index: string; close(): Promise<void> }
    const backend = () => new OpenSearchHuntBackend(target.client, { index: target.index, pageSize: 200 })

    beforeAll(async () => {
      target = await open()
    }, 120_000)
    afterAll(async () => {
      await target?.close()
    })

    test('ledger in west is reached from frontend in east; each hop with its clusters, the last east → west', async () => {
      const result = await hunt(backend())
      const ledger = result.reached.find((n) => n.node === LEDGER)
      expect(ledger, JSON.stringify(result.reached.map((n) => n.node))).toBeDefined()
      const path = ledger!.path
      expect(path[0]!.from).toBe(FRONTEND)
      expect(path.every((h) => h.sourceCluster !== undefined && h.destinationCluster !== undefined)).toBe(true)
      expect(path.slice(0, -1).every((h) => h.sourceCluster === CLUSTERS.first && h.destinationCluster === CLUSTERS.first)).toBe(true)
      expect([path.at(-1)!.sourceCluster, path.at(-1)!.destinationCluster]).toEqual([CLUSTERS.first, CLUSTERS.second])
      const pivot = result.edges.find((e) => e.from === CHECKOUT && e.to === LEDGER)
      expect([pivot?.sourceCluster, pivot?.destinationCluster]).toEqual([CLUSTERS.first, CLUSTERS.second])
    })

    test('--cluster: east still crosses into west; west alone does not reach checkout but lists the probe of ledger', async () => {
      const east = await hunt(backend(), [CLUSTERS.first])
      expect(east.reached.map((n) => n.node)).toEqual(expect.arrayContaining([CHECKOUT, LEDGER]))
      const west = await hunt(backend(), [CLUSTERS.second])
      expect(west.reached.map((n) => n.node)).not.toContain(CHECKOUT)
      expect(west.reached.map((n) => n.node)).not.toContain(LEDGER)
      expect(west.reached.find((n) => n.node === FRONTEND)!.probes.map((p) => p.dst)).toContain(LEDGER)
    })

    test('flows names the clusters of every edge; --cluster west keeps the edges with an end in west', async () => {
      const b = backend()
      await b.prepare({ since: traffic.window.start }, [])
      const edges = await b.flows({ limit: 10_000 })
      const edge = (src: string, dst: string) => edges.find((e) => e.source === src && e.destination === dst)
      expect([edge(PAYMENTS, LEDGER)?.sourceClusters, edge(PAYMENTS, LEDGER)?.destinationClusters]).toEqual([
        [CLUSTERS.first],
        [CLUSTERS.second],
      ])
      expect([edge(STATEMENTS, LEDGER)?.sourceClusters, edge(STATEMENTS, LEDGER)?.destinationClusters]).toEqual([
        [CLUSTERS.second],
        [CLUSTERS.second],
      ])
      expect(edge(FRONTEND, CART)?.destinationClusters).toEqual([CLUSTERS.first])
      // Each crossing call once, on its server line: not again on the client's line nor the gateway's.
      const calls = events.filter(
        (e) => e.mesh?.reporter === 'destination' && e.mesh.source?.spiffe_id === PAYMENTS && e.mesh.destination?.service === 'ledger',
      ).length
      expect(edge(PAYMENTS, LEDGER)?.count).toBe(calls)
      expect(edges.filter((e) => e.destination.startsWith('outbound_.')).map((e) => e.source)).toEqual([])
      const w2 = backend()
      await w2.prepare({ since: traffic.window.start, clusters: [CLUSTERS.second] }, [])
      const west = await w2.flows({ limit: 10_000 })
      expect(west.length).toBeGreaterThan(0)
      for (const e of west) expect([...e.sourceClusters!, ...e.destinationClusters!]).toContain(CLUSTERS.second)
      expect(west.find((e) => e.source === FRONTEND && e.destination === CART)).toBeUndefined()
      expect(west.find((e) => e.source === PAYMENTS && e.destination === LEDGER)).toBeDefined()
    })
  }
}

describe('hunt and flows across clusters on OpenSearch (test server)', () =>
  crossClusterSuite(async () => {
    const srv = await TestOpenSearch.start()
    const client = new Client({ node: srv.url, maxRetries: 0 })
    await runSetup(client, loadLifecycleConfig())
    const store = new OpenSearchStore({ client, sink: { flushIntervalMs: 1 } })
    await store.start()
    const { rejected } = await store.writeEvents(events)
    expect(rejected).toEqual([])
    await store.close()
    return {
      client,
      index: 'envoy-audit-events',
      close: async () => {
        await client.close()
        await srv.close()
      },
    }
  }))

describeOpenSearch('hunt and flows across clusters on OpenSearch, indexed by the product', () =>
  crossClusterSuite(async () => {
    const planted: Planted = await plantIndices('xcluster')
    await planted.write(events)
    return { client: planted.client, index: planted.eventsAlias, close: () => planted.drop() }
  }),
)
