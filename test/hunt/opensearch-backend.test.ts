/**
 * The OpenSearch backend against the wire-compatible test server: the same scenario (lines through the
 * real parser and transforms, indexed through the real sink) must give the same search answer as the
 * DuckDB backend, with every number coming from composite aggregations.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { Client } from '@opensearch-project/opensearch'
import { OpenSearchHuntBackend } from '../../src/hunt/opensearch-backend.js'
import { DuckDbHuntBackend } from '../../src/hunt/duckdb-backend.js'
import { huntPaths, type HuntResult } from '../../src/hunt/search.js'
import { resolveIdentity } from '../../src/hunt/node-id.js'
import type { HuntBackend } from '../../src/hunt/backend.js'
import { OpenSearchStore } from '../../src/store/opensearch-store.js'
import type { DuckDbStore } from '../../src/store/duckdb-store.js'
import { runSetup } from '../../src/lifecycle/setup.js'
import { loadLifecycleConfig } from '../../src/lifecycle/config.js'
import { TestOpenSearch } from '../support/opensearch-server/index.js'
import { at, callLines, MESH, spiffe, storeWith, toEvents } from './scenario.js'

const { gateway, frontend, cart, catalog, payments, db } = MESH

const lines = [
  ...callLines(gateway, frontend, at(-90)),
  ...callLines(frontend, cart, at(-60)),
  ...callLines(frontend, cart, at(1)),
  ...callLines(frontend, catalog, at(2)),
  ...callLines(cart, payments, at(3), { denied: true }),
  ...callLines(catalog, payments, at(4)),
  ...callLines(payments, db, at(5), { tcp: true }),
  ...callLines(db, cart, at(0)),
  ...callLines(catalog, cart, at(6), { plaintext: true }),
]

let srv: TestOpenSearch
let client: Client
let duck: DuckDbStore

async function hunt(backend: HuntBackend, from: string): Promise<HuntResult> {
  const range = { since: at(0), baselineFrom: at(-24 * 60) }
  await backend.prepare(range, [])
  return huntPaths(backend, { from: resolveIdentity(from, await backend.nodes()), maxDepth: 6, ...range })
}

beforeAll(async () => {
  srv = await TestOpenSearch.start()
  client = new Client({ node: srv.url, maxRetries: 0 })
  await runSetup(client, loadLifecycleConfig())
  const store = new OpenSearchStore({ client, sink: { flushIntervalMs: 1 } })
  await store.start()
  const { rejected } = await store.writeEvents(toEvents(lines))
  expect(rejected).toEqual([])
  await store.close()
  duck = await storeWith(lines)
}, 60_000)

afterAll(async () => {
  await duck?.close()
  await client?.close()
  await srv?.close()
})

const summary = (r: HuntResult) => ({
  reached: Object.fromEntries(r.reached.map((n) => [n.node, [n.arrival, n.hops]])),
  probes: r.reached.flatMap((n) => n.probes.map((p) => [p.src, p.dst, p.count])),
  fresh: r.edges.filter((e) => e.newEdge).map((e) => [e.from, e.to]),
})

describe('OpenSearch hunt backend', () => {
  test('same reachability, arrivals, probes and new edges as the DuckDB backend', async () => {
    const os = await hunt(new OpenSearchHuntBackend(client, { index: 'envoy-audit-events', pageSize: 10 }), spiffe(frontend))
    const dk = await hunt(new DuckDbHuntBackend(duck), spiffe(frontend))
    expect(summary(os)).toEqual(summary(dk))
    expect(Object.keys(summary(os).reached).sort()).toEqual(
      [spiffe(cart), spiffe(catalog), spiffe(db), spiffe(frontend), spiffe(payments)].sort(),
    )
    expect(summary(os).probes).toEqual([[spiffe(cart), spiffe(payments), 1]])
    // db → cart at minute 0 is before db was reached (minute 5): no path uses it.
    expect(os.reached.find((n) => n.node === spiffe(cart))!.arrival).toBe(at(1))
    // DuckDB joins the plaintext server line to catalog's client line; OpenSearch cannot, so there the
    // server line stays an edge from catalog's address (see flows below) and the hop is not flagged.
    expect(dk.edges.find((e) => e.from === spiffe(catalog) && e.to === spiffe(cart))?.plaintext).toBe(true)
    expect(os.edges.find((e) => e.from === spiffe(catalog) && e.to === spiffe(cart))?.plaintext).toBe(false)
  })

  test('flows: every aggregate from OpenSearch; a call with both sidecar lines counts once, on the server line', async () => {
    const backend = new OpenSearchHuntBackend(client, { index: 'envoy-audit-events' })
    // The learning window holds frontend's own server line, which ties shop/frontend to its certificate.
    await backend.prepare({ since: at(0), baselineFrom: at(-24 * 60) }, [])
    const edges = await backend.flows({})
    const fc = edges.find((e) => e.source === spiffe(frontend) && e.destination === spiffe(cart))
    expect(fc).toMatchObject({ count: 1, firstSeen: at(1), methods: ['GET'], mtls: 1 })
    const denied = edges.find((e) => e.destination === spiffe(payments) && e.source === spiffe(cart))
    expect(denied?.denied).toBe(1)
    expect(denied?.findings).toContain('authz_denied')
    expect(edges.find((e) => e.source === catalog.ip && e.destination === spiffe(cart))).toMatchObject({ sourceKind: 'ip', plaintext: 1 })
    expect((await backend.flows({ finding: 'authz_denied' })).every((e) => e.findings.includes('authz_denied'))).toBe(true)
    expect(
      (await backend.flows({ namespace: 'payments' })).every(
        (e) => e.destinationNamespace === 'payments' || e.source.includes('/ns/payments/'),
      ),
    ).toBe(true)
  })
})
