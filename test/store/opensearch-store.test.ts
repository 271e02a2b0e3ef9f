import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest'
import fc from 'fast-check'
import { Client } from '@opensearch-project/opensearch'
import { OpenSearchStore } from '../../src/store/opensearch-store.js'
import { DuckDbStore } from '../../src/store/duckdb-store.js'
import { runSetup } from '../../src/lifecycle/setup.js'
import { loadLifecycleConfig } from '../../src/lifecycle/config.js'
import type { AuditEvent } from '../../src/schema/audit-event.js'
import type { AuditStore, EdgeRow } from '../../src/store/store.js'
import { TestOpenSearch } from '../support/opensearch-server/index.js'
import { deniedEvent, okEvent } from '../sinks/opensearch/fixtures.js'
import { describeOpenSearch } from '../helpers/real-servers.js'
import { plantIndices } from '../helpers/opensearch-planted.js'

let srv: TestOpenSearch
let client: Client

beforeAll(async () => {
  srv = await TestOpenSearch.start()
  client = new Client({ node: srv.url })
})
afterAll(async () => {
  await client.close()
  await srv.close()
})

async function freshStore(config: ConstructorParameters<typeof OpenSearchStore>[0]['config'] = {}): Promise<OpenSearchStore> {
  for (const name of [...srv.state.indices.keys()]) srv.state.deleteIndex(name)
  await runSetup(client, loadLifecycleConfig())
  const store = new OpenSearchStore({ client, config, sink: { flushIntervalMs: 1 } })
  await store.start()
  return store
}

describe('OpenSearchStore on the fixture events', () => {
  let store: OpenSearchStore
  beforeEach(async () => {
    store = await freshStore()
    const events = [okEvent(0), okEvent(1), okEvent(2), deniedEvent(0), deniedEvent(1)]
    expect((await store.writeEvents(events)).rejected).toEqual([])
    expect((await store.writeEvents(events)).rejected).toEqual([]) // idempotent on event.id
  })

  test('summary counts events once and spans first to last @timestamp', async () => {
    expect(await store.summary()).toEqual({ events: 5, firstSeen: '2020-11-25T21:26:18.409Z', lastSeen: '2020-11-25T21:30:01.000Z' })
    expect((await store.summary({ since: '2020-11-25T21:30:00.000Z' })).events).toBe(2)
    expect((await store.summary({ until: '2020-11-25T21:26:19.409Z' })).events).toBe(1)
  })

  test('edges aggregate source identity → destination with counts, denials, status classes and findings', async () => {
    const edges = await store.edges()
    expect(edges).toEqual([
      {
        source: 'spiffe://cluster.local/ns/bar/sa/sleep',
        sourceKind: 'spiffe',
        destination: 'productpage.foo.svc.cluster.local',
        destinationSpiffeId: 'spiffe://cluster.local/ns/foo/sa/productpage',
        destinationNamespace: 'foo',
        count: 2,
        firstSeen: '2020-11-25T21:30:00.000Z',
        lastSeen: '2020-11-25T21:30:01.000Z',
        methods: ['GET'],
        statusClasses: { '4xx': 2 },
        mtls: 2,
        denied: 2,
        findings: ['authz_denied'],
      },
      {
        source: 'foo/sleep',
        sourceKind: 'workload',
        destination: 'httpbin.foo.svc.cluster.local',
        destinationNamespace: 'foo',
        count: 3,
        firstSeen: '2020-11-25T21:26:18.409Z',
        lastSeen: '2020-11-25T21:26:20.409Z',
        methods: ['GET'],
        statusClasses: { '4xx': 3 },
        mtls: 0,
        denied: 0,
        findings: [],
      },
    ])
    expect((await store.edges({ deniedOnly: true })).map((e) => e.source)).toEqual(['spiffe://cluster.local/ns/bar/sa/sleep'])
    expect((await store.edges({ sourceContains: 'SLEEP' })).length).toBe(2)
    expect((await store.edges({ finding: 'authz_denied', namespace: 'bar' })).length).toBe(1)
    expect((await store.edges({ limit: 1 })).length).toBe(1)
  })

  test('findingCounts reads the findings index: one row per control', async () => {
    expect(await store.findingCounts()).toEqual([
      { code: 'authz_denied', severity: 'medium', control: 'AC-3', count: 2 },
      { code: 'authz_denied', severity: 'medium', control: 'AC-6', count: 2 },
    ])
  })

  test('coverage by namespace and reporter', async () => {
    expect(await store.coverage('namespace')).toEqual([
      { key: 'foo', events: 5, inbound: 2, inboundMtls: 2, au3Complete: 2, missing: { identity: 3 } },
    ])
    expect((await store.coverage('reporter')).map((r) => [r.key, r.events])).toEqual([
      ['source', 3],
      ['destination', 2],
    ])
  })

  test('events are newest first, filtered and bounded', async () => {
    expect((await store.events()).map((e) => e.event.id)).toEqual(['denied-000001', 'denied-000000', 'ok-000002', 'ok-000001', 'ok-000000'])
    expect((await store.events({ finding: 'authz_denied', limit: 1 })).map((e) => e.event.id)).toEqual(['denied-000001'])
    expect(await store.events({ namespace: 'nowhere' })).toEqual([])
  })

  test('maxBuckets bounds a composite walk', async () => {
    const small = new OpenSearchStore({ client, config: { pageSize: 10, maxBuckets: 100 } })
    await small.start()
    srv.faults.clear()
    const many = Array.from({ length: 120 }, (_, i) => ({
      ...okEvent(100 + i),
      source: { ip: `10.1.${i >> 8}.${i & 255}` },
      mesh: { reporter: 'destination' as const },
    }))
    await store.writeEvents(many)
    await expect(small.edges()).rejects.toThrow(/maxBuckets/)
    await small.close()
  })

  test('a query failure is EA_STORE_QUERY with the HTTP status', async () => {
    srv.faults.failRequests(/_search/, 500, 1)
    await expect(store.summary()).rejects.toMatchObject({ code: 'EA_STORE_QUERY', message: expect.stringContaining('HTTP 500') })
  })
})

/**
 * Parity with the embedded store: the same events give the same report numbers on both stores.
 * Events are generated from small pools so keys collide and coalesce rules are exercised; there are no
 * request ids, so DuckDB's one-flow-per-request rule (which an aggregation cannot do) does not apply.
 */
const pick = <T>(xs: readonly T[]) => fc.option(fc.constantFrom(...xs), { nil: undefined })
const FINDINGS = [
  { code: 'plaintext_inbound', severity: 'high', controls: ['SC-8'] },
  { code: 'authz_denied', severity: 'medium', controls: ['AC-3', 'AC-6'] },
  { code: 'unregistered_egress', severity: 'medium', controls: ['SC-7', 'AC-4'] },
  { code: 'au3_incomplete', severity: 'low', controls: ['AU-3'] },
] as const

const eventArb = (i: number) =>
  fc
    .record({
      minute: fc.integer({ min: 0, max: 600 }),
      reporter: pick(['source', 'destination', 'gateway'] as const),
      spiffe: pick(['spiffe://cluster.local/ns/shop/sa/frontend', 'spiffe://evil.example/ns/x/sa/y']),
      srcNs: pick(['shop', 'legacy']),
      srcSa: pick(['frontend', 'billing']),
      srcWl: pick(['frontend-v1']),
      k8sNs: pick(['shop', 'payments']),
      pod: pick(['cart-7d9f', 'db-0']),
      ip: pick(['10.0.0.1', '10.0.0.2']),
      dstService: pick(['cart.shop.svc.cluster.local', 'db.payments.svc.cluster.local']),
      dstSpiffe: pick(['spiffe://cluster.local/ns/payments/sa/db']),
      dstNs: pick(['payments']),
      dstWl: pick(['db']),
      sni: pick(['api.stripe.com']),
      urlDomain: pick(['example.org']),
      authority: pick(['example.org:443', 'cart:8080']),
      dstAddr: pick(['93.184.216.34:443']),
      upstreamHost: pick(['10.0.9.9:8080']),
      cluster: pick(['PassthroughCluster', 'BlackHoleCluster', 'inbound|9080||']),
      protocol: pick(['http', 'tcp']),
      method: pick(['GET', 'POST']),
      status: pick([0, 200, 302, 403, 503]),
      mtls: fc.constantFrom(true, false, null, undefined),
      action: pick(['allowed', 'denied', 'connection']),
      rbac: pick(['none']),
      findings: fc.subarray([...FINDINGS]),
      complete: fc.boolean(),
    })
    .map((r): AuditEvent => {
      const base = okEvent(i)
      const e: AuditEvent = {
        '@timestamp': new Date(Date.parse('2024-03-01T00:00:00.000Z') + r.minute * 60_000 + i).toISOString(),
        event: {
          id: `gen-${i}`,
          kind: 'event',
          dataset: 'envoy.access',
          outcome: 'success',
          ...(r.action !== undefined ? { action: r.action } : {}),
        },
        envoy: { format: base.envoy.format },
        audit: {
          au3: { complete: r.complete, missing: r.complete ? [] : ['identity'] },
          findings: r.findings.map((f) => ({ ...f, controls: [...f.controls], message: f.code })),
          finding_codes: r.findings.map((f) => f.code),
        },
      }
      const defined = <T extends object>(o: T): T | undefined => {
        const out = Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T
        return Object.keys(out).length > 0 ? out : undefined
      }
      const src = defined({ spiffe_id: r.spiffe, namespace: r.srcNs, service_account: r.srcSa, workload: r.srcWl })
      const dst = defined({ service: r.dstService, spiffe_id: r.dstSpiffe, namespace: r.dstNs, workload: r.dstWl })
      const mesh = defined({ reporter: r.reporter, upstream_cluster: r.cluster, mtls: r.mtls, source: src, destination: dst })
      if (mesh !== undefined) e.mesh = mesh
      const k8s = defined({ namespace: r.k8sNs, pod: r.pod })
      if (k8s !== undefined) e.kubernetes = k8s
      if (r.ip !== undefined) e.source = { ip: r.ip }
      if (r.dstAddr !== undefined) e.destination = { address: r.dstAddr }
      if (r.urlDomain !== undefined) e.url = { domain: r.urlDomain }
      if (r.protocol !== undefined) e.network = { protocol: r.protocol }
      const http = defined({
        request: r.method !== undefined ? { method: r.method } : undefined,
        response: r.status !== undefined ? { status_code: r.status } : undefined,
      })
      if (http !== undefined) e.http = http
      Object.assign(
        e.envoy,
        defined({ requested_server_name: r.sni, authority: r.authority, upstream_host: r.upstreamHost, rbac_policy: r.rbac }) ?? {},
      )
      return e
    })

const eventsArb = fc.integer({ min: 1, max: 40 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => eventArb(i))))

/** destinationNamespace/destinationSpiffeId are "any value" in DuckDB: compared only when unambiguous. */
function comparableEdges(rows: EdgeRow[]): unknown[] {
  return rows.map(({ destinationNamespace: _n, destinationSpiffeId: _s, ...r }) => r)
}

async function report(store: AuditStore) {
  return {
    summary: await store.summary(),
    namespace: await store.coverage('namespace'),
    workload: await store.coverage('workload'),
    reporter: await store.coverage('reporter'),
    findings: await store.findingCounts(),
    edges: comparableEdges(await store.edges()),
    denied: comparableEdges(await store.edges({ deniedOnly: true, since: '2024-03-01T03:00:00.000Z' })),
    // DuckDB orders egress by count and destination only: ties (same destination, other cluster) are unordered.
    egress: (await store.egress()).sort((a, b) => b.count - a.count || JSON.stringify(a).localeCompare(JSON.stringify(b))),
    events: (await store.events({ limit: 5 })).map((e) => e.event.id),
  }
}

describeOpenSearch('OpenSearchStore on the real node: parity with the embedded DuckDB store', () => {
  test('same events, indexed by setup and the sink, read through the aliases → same report numbers', async () => {
    await fc.assert(
      fc.asyncProperty(eventsArb, async (events) => {
        const planted = await plantIndices('parity')
        const duck = new DuckDbStore({ path: ':memory:' })
        await duck.start()
        try {
          await planted.write(events)
          await duck.writeEvents(events)
          const os = new OpenSearchStore({
            client: planted.client,
            config: { eventsIndex: planted.eventsAlias, findingsIndex: planted.findingsAlias, pageSize: 10 },
          })
          await os.start()
          expect(await report(os)).toEqual(await report(duck))
        } finally {
          await duck.close()
          await planted.drop()
        }
      }),
      { numRuns: 8, seed: 20261206 },
    )
  }, 180_000)
})

describe('OpenSearchStore parity with the embedded DuckDB store', () => {
  test('same events → same summary, coverage, finding counts, edges, egress and drill-down', async () => {
    await fc.assert(
      fc.asyncProperty(eventsArb, async (events) => {
        const os = await freshStore()
        const duck = new DuckDbStore({ path: ':memory:' })
        await duck.start()
        try {
          expect((await os.writeEvents(events)).rejected).toEqual([])
          await duck.writeEvents(events)
          expect(await report(os)).toEqual(await report(duck))
        } finally {
          await duck.close()
          await os.close()
        }
      }),
      { numRuns: 12, seed: 20260601 },
    )
  }, 90_000)
})
