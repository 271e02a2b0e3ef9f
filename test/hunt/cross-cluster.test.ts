/**
 * The demo's two clusters (src/demo/east-west.ts): one trust domain, so identities are the same SPIFFE IDs
 * on both sides of the east-west gateway, and `hunt` follows the lateral movement from the first cluster
 * into the second, each hop with the clusters its witness call ran between (from the call's own lines).
 * The stores are filled through the real pipeline, as `envoy-audit demo` does (--cluster east for the
 * first cluster's raw CRI files).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { generateMeshTraffic } from '../../src/demo/mesh-traffic.js'
import { spiffeId } from '../../src/demo/mesh-topology.js'
import { CLUSTERS } from '../../src/demo/east-west.js'
import { DuckDbHuntBackend } from '../../src/hunt/duckdb-backend.js'
import { resolveIdentity } from '../../src/hunt/node-id.js'
import { huntPaths, type HuntResult } from '../../src/hunt/search.js'
import { renderHuntText } from '../../src/hunt/render.js'
import { ingestDemoLogs } from '../helpers/demo-logs.js'
import { DuckDbStore } from '../../src/store/duckdb-store.js'

const traffic = generateMeshTraffic({ seed: 42, sessions: 200, noise: false, eastWest: true })
const w = (name: string) => traffic.topology.get(name)
const FRONTEND = spiffeId(w('frontend'))
const CHECKOUT = spiffeId(w('checkout'))
const LEDGER = 'spiffe://cluster.local/ns/finance/sa/ledger'
const dir = mkdtempSync(join(tmpdir(), 'ea-xcluster-'))
const store = new DuckDbStore({ path: ':memory:' })
let since: string

async function hunt(backend: DuckDbHuntBackend): Promise<HuntResult> {
  await backend.prepare({ since, baselineFrom: traffic.window.start }, [])
  const from = resolveIdentity('frontend', await backend.nodes())
  return huntPaths(backend, { from, since, baselineFrom: traffic.window.start, maxDepth: 6 })
}

beforeAll(async () => {
  await store.start()
  await ingestDemoLogs(dir, traffic.lines, store)
  // The compromise starts with the first denied probe from frontend.
  const { rows } = await store.sql(
    `SELECT strftime(min(ts), '%Y-%m-%dT%H:%M:%S.%gZ') AS t FROM events
    WHERE list_contains(finding_codes, 'authz_denied') AND src_spiffe_id = $1`,
    [FRONTEND],
  )
  since = String(rows[0]!.t)
}, 120_000)
afterAll(async () => {
  await store.close()
  rmSync(dir, { recursive: true, force: true })
})

describe('hunt across the clusters of one trust domain (embedded store)', () => {
  for (const source of ['calls', 'events'] as const) {
    test(`ledger in the second cluster is reached from frontend in the first, the crossing hop named east → west (${source})`, async () => {
      const result = await hunt(new DuckDbHuntBackend(store, { source }))
      const ledger = result.reached.find((n) => n.node === LEDGER)
      expect(ledger, JSON.stringify(result.reached.map((n) => n.node))).toBeDefined()
      const path = ledger!.path
      expect(path[0]!.from).toBe(FRONTEND)
      // Every hop of the witness path names its clusters; it stays in the first cluster until the last hop crosses.
      expect(path.every((h) => h.sourceCluster !== undefined && h.destinationCluster !== undefined)).toBe(true)
      expect(path.slice(0, -1).every((h) => h.sourceCluster === CLUSTERS.first && h.destinationCluster === CLUSTERS.first)).toBe(true)
      expect([path.at(-1)!.sourceCluster, path.at(-1)!.destinationCluster]).toEqual([CLUSTERS.first, CLUSTERS.second])
      let time = since
      for (const hop of path) {
        expect(hop.at >= time).toBe(true)
        time = hop.at
      }
    })
  }

  test("the pivot's export from ledger is a NEW edge across the gateway after checkout's arrival; the probe is listed", async () => {
    const result = await hunt(new DuckDbHuntBackend(store))
    const checkoutArrival = result.reached.find((n) => n.node === CHECKOUT)!.arrival
    const pivot = result.edges.find((e) => e.from === CHECKOUT && e.to === LEDGER)!
    expect(pivot).toBeDefined()
    expect(pivot.newEdge).toBe(true)
    expect(pivot.at >= checkoutArrival).toBe(true)
    expect([pivot.sourceCluster, pivot.destinationCluster]).toEqual([CLUSTERS.first, CLUSTERS.second])
    // payments posts ledger entries across the gateway all the time: that edge is not new.
    expect(result.edges.find((e) => e.from === spiffeId(w('payments')) && e.to === LEDGER)?.newEdge).toBe(false)
    const probes = result.reached.find((n) => n.node === FRONTEND)!.probes
    expect(probes.map((p) => p.dst)).toContain(LEDGER)
    expect(renderHuntText(result, { includeDenied: false })).toContain(`clusters ${CLUSTERS.first} → ${CLUSTERS.second}`)
  })
})

describe('--cluster and the clusters of flows (embedded store)', () => {
  const PAYMENTS = () => spiffeId(w('payments'))
  const STATEMENTS = 'spiffe://cluster.local/ns/finance/sa/statements'
  const CART = () => spiffeId(w('cart'))

  async function flows(source: 'calls' | 'events', clusters?: string[]) {
    const backend = new DuckDbHuntBackend(store, { source })
    try {
      await backend.prepare({ since: traffic.window.start, ...(clusters === undefined ? {} : { clusters }) }, [])
      return await backend.flows({ limit: 100_000 })
    } finally {
      await backend.close()
    }
  }

  for (const source of ['calls', 'events'] as const) {
    test(`every flows edge names the clusters its calls ran between (${source})`, async () => {
      const edges = await flows(source)
      const edge = (src: string, dst: string) => edges.find((e) => e.source === src && e.destination === dst)
      expect([edge(PAYMENTS(), LEDGER)?.sourceClusters, edge(PAYMENTS(), LEDGER)?.destinationClusters]).toEqual([
        [CLUSTERS.first],
        [CLUSTERS.second],
      ])
      expect([edge(STATEMENTS, LEDGER)?.sourceClusters, edge(STATEMENTS, LEDGER)?.destinationClusters]).toEqual([
        [CLUSTERS.second],
        [CLUSTERS.second],
      ])
      expect([edge(FRONTEND, CART())?.sourceClusters, edge(FRONTEND, CART())?.destinationClusters]).toEqual([
        [CLUSTERS.first],
        [CLUSTERS.first],
      ])
    })

    test(`flows --cluster west keeps the calls with an end in west, identities resolved as without it (${source})`, async () => {
      const all = await flows(source)
      const west = await flows(source, [CLUSTERS.second])
      expect(west.length).toBeGreaterThan(0)
      expect(west.length).toBeLessThan(all.length)
      for (const e of west) expect([...e.sourceClusters!, ...e.destinationClusters!]).toContain(CLUSTERS.second)
      // The same edges, with the same counts, as the unfiltered answer's edges into or out of west.
      const touching = all.filter((e) => [...e.sourceClusters!, ...e.destinationClusters!].includes(CLUSTERS.second))
      const key = (e: { source: string; destination: string; count: number }) => `${e.source} ${e.destination} ${e.count}`
      expect(west.map(key).sort()).toEqual(touching.map(key).sort())
      expect(west.find((e) => e.source === FRONTEND && e.destination === CART())).toBeUndefined()
      // A cluster nothing ran in: nothing.
      expect(await flows(source, ['nowhere'])).toEqual([])
    })
  }

  test('hunt --cluster: east still crosses into west (the crossing call starts in east); west alone does not reach checkout', async () => {
    const huntIn = async (clusters: string[]) => {
      const backend = new DuckDbHuntBackend(store)
      try {
        const range = { since, baselineFrom: traffic.window.start, clusters }
        await backend.prepare(range, [])
        const from = resolveIdentity('frontend', await backend.nodes())
        return await huntPaths(backend, { ...range, from, maxDepth: 6 })
      } finally {
        await backend.close()
      }
    }
    const east = await huntIn([CLUSTERS.first])
    expect(east.reached.map((n) => n.node)).toContain(LEDGER)
    expect(east.reached.map((n) => n.node)).toContain(CHECKOUT)
    const west = await huntIn([CLUSTERS.second])
    const reached = west.reached.map((n) => n.node)
    expect(reached).not.toContain(CHECKOUT)
    expect(reached).not.toContain(LEDGER)
    // frontend's own refused probe of ledger ran into west: it is there.
    expect(west.reached.find((n) => n.node === FRONTEND)!.probes.map((p) => p.dst)).toContain(LEDGER)
  })
})
