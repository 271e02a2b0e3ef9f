import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { afterAll, describe, expect, test } from 'vitest'
import fc from 'fast-check'
import { DuckDbStore } from '../../src/store/duckdb-store.js'
import { EDGE_FACTS } from '../../src/store/duckdb-schema.js'
import type { AuditEvent } from '../../src/generated/types.js'
import { finding, makeEvent } from './event-fixtures.js'

const dir = mkdtempSync(join(tmpdir(), 'ea-store-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const FRONTEND = 'spiffe://cluster.local/ns/shop/sa/frontend'
const LEGACY = 'spiffe://cluster.local/ns/legacy/sa/legacy-billing'

/** A small mesh: an mTLS pair, a plaintext inbound, an RBAC denial and a passthrough egress. */
function sampleEvents(): AuditEvent[] {
  return [
    makeEvent({
      id: 'a-out',
      reporter: 'source',
      requestId: 'r1',
      srcNs: 'shop',
      k8sNs: 'shop',
      app: 'frontend',
      dstService: 'cart.shop.svc.cluster.local',
      dstNs: 'shop',
      mtls: null,
    }),
    makeEvent({
      id: 'a-in',
      reporter: 'destination',
      requestId: 'r1',
      srcSpiffe: FRONTEND,
      srcNs: 'shop',
      srcSa: 'frontend',
      k8sNs: 'shop',
      app: 'cart',
      dstService: 'cart.shop.svc.cluster.local',
      dstNs: 'shop',
      method: 'POST',
    }),
    makeEvent({
      id: 'b-in',
      reporter: 'destination',
      requestId: 'r2',
      mtls: false,
      sourceIp: '10.9.9.9',
      k8sNs: 'payments',
      app: 'payments',
      dstService: 'payments.payments.svc.cluster.local',
      dstNs: 'payments',
      au3Missing: ['identity'],
      findings: [finding('plaintext_inbound', 'high', ['SC-8']), finding('au3_incomplete', 'low', ['AU-3'])],
    }),
    makeEvent({
      id: 'c-in',
      reporter: 'destination',
      requestId: 'r3',
      status: 403,
      action: 'denied',
      srcSpiffe: FRONTEND,
      srcNs: 'shop',
      srcSa: 'frontend',
      k8sNs: 'payments',
      app: 'payments-db',
      dstService: 'payments-db.payments.svc.cluster.local',
      dstNs: 'payments',
      rbacPolicy: 'none',
      findings: [finding('authz_denied', 'medium', ['AC-3', 'AC-6'])],
    }),
    makeEvent({
      id: 'd-out',
      reporter: 'source',
      requestId: 'r4',
      srcSpiffe: LEGACY,
      srcNs: 'legacy',
      srcSa: 'legacy-billing',
      k8sNs: 'legacy',
      app: 'legacy-billing',
      cluster: 'PassthroughCluster',
      sni: 'api.stripe.com',
      mtls: null,
      findings: [finding('unregistered_egress', 'medium', ['SC-7', 'AC-4'])],
    }),
  ]
}

async function withStore<T>(path: string, fn: (s: DuckDbStore) => Promise<T>, layout?: 'table' | 'segments'): Promise<T> {
  const store = new DuckDbStore({ path, ...(layout === undefined ? {} : { layout }) })
  await store.start()
  try {
    return await fn(store)
  } finally {
    await store.close()
  }
}

describe('DuckDbStore', () => {
  test('round-trips events: events() returns exactly what was written, newest first', async () => {
    const written = sampleEvents()
    await withStore(':memory:', async (store) => {
      expect((await store.writeEvents(written)).rejected).toEqual([])
      const back = await store.events()
      expect(back).toHaveLength(written.length)
      const byId = new Map(back.map((e) => [e.event.id, e]))
      for (const e of written) expect(byId.get(e.event.id)).toEqual(e)
      const times = back.map((e) => e['@timestamp'])
      expect([...times].sort().reverse()).toEqual(times)
      expect((await store.events({ finding: 'authz_denied' })).map((e) => e.event.id)).toEqual(['c-in'])
      expect((await store.events({ limit: 2 })).length).toBe(2)
    })
  })

  test('is idempotent on event.id, across batches and across reopening the file', async () => {
    const path = join(dir, 'idem.duckdb')
    await withStore(path, async (store) => {
      await store.writeEvents(sampleEvents())
      await store.writeEvents(sampleEvents())
      // The same id twice inside one batch is stored once too.
      const dup = makeEvent({ id: 'dup' })
      await store.writeEvents([dup, dup])
      expect(store.stats).toEqual({ received: 12, inserted: 6, rejected: 0 })
    })
    await withStore(path, async (store) => {
      await store.writeEvents(sampleEvents())
      expect((await store.summary()).events).toBe(6)
      expect(store.stats.inserted).toBe(0)
      const findings = await store.sql('SELECT count(*)::INTEGER AS n FROM findings')
      expect(findings.rows[0]!.n).toBe(4)
    })
  })

  test('a replayed batch falls back to staging and leaves the connection clean for the batches after it', async () => {
    // The refused direct append must not leave rows in its appenders: collected later, an appender
    // flushes them into whatever transaction is open then. Collect garbage between batches to see it.
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as () => void
    const pool = Array.from({ length: 300 }, (_, i) =>
      makeEvent({ id: `r${i}`, findings: i % 2 === 0 ? [finding('authz_denied', 'medium', ['AC-3'])] : [] }),
    )
    await withStore(join(dir, 'replay.duckdb'), async (store) => {
      for (const [from, to] of [
        [0, 100],
        [50, 150],
        [150, 250],
        [200, 300],
        [0, 300],
        [0, 10],
      ] as const) {
        gc()
        expect((await store.writeEvents(pool.slice(from, to))).rejected).toEqual([])
      }
      expect(store.stats).toEqual({ received: 710, inserted: 300, rejected: 0 })
      expect((await store.summary()).events).toBe(300)
      expect((await store.sql('SELECT count(*)::INTEGER AS n FROM findings')).rows[0]!.n).toBe(150)
    })
  })

  test('edge_facts: written with every batch, and rebuilt from the events for a store that predates it', async () => {
    const path = join(dir, 'facts.duckdb')
    const grouped = `SELECT strftime(hour, '%Y-%m-%dT%H') AS hour, srv, ${EDGE_FACTS.join(', ')}, strftime(min(first), '%Y-%m-%dT%H:%M:%S.%g') AS first
      FROM edge_facts GROUP BY ALL ORDER BY ALL`
    const events = [
      ...sampleEvents(),
      makeEvent({
        id: 'late',
        ts: '2026-11-20T11:59:59.999Z',
        reporter: 'destination',
        srcSpiffe: FRONTEND,
        srcNs: 'shop',
        srcSa: 'frontend',
      }),
    ]
    const written = await withStore(path, async (store) => {
      await store.writeEvents(events)
      await store.writeEvents(events.slice(0, 3)) // a replay adds nothing new to read
      return (await store.sql(grouped)).rows
    })
    expect(written.length).toBeGreaterThanOrEqual(5)
    expect(written.filter((r) => r.srv === true).length).toBe(events.filter((e) => e.mesh?.reporter === 'destination').length)
    await withStore(path, (store) => store.sql('DROP TABLE edge_facts'))
    expect(await withStore(path, async (store) => (await store.sql(grouped)).rows)).toEqual(written)
  })

  test('rejects events it cannot key or place in time, and keeps the rest', async () => {
    await withStore(':memory:', async (store) => {
      const bad = makeEvent({ id: 'bad' })
      bad['@timestamp'] = 'not a date'
      const res = await store.writeEvents([bad, makeEvent({ id: 'good' })])
      expect(res.rejected.map((r) => [r.event.event.id, r.code])).toEqual([['bad', 'EA_SINK_MAPPING']])
      expect((await store.summary()).events).toBe(1)
    })
  })

  test('coverage counts inbound mTLS and AU-3 gaps by namespace, workload and reporter', async () => {
    await withStore(':memory:', async (store) => {
      await store.writeEvents(sampleEvents())
      const ns = await store.coverage('namespace')
      const payments = ns.find((r) => r.key === 'payments')!
      expect(payments).toMatchObject({ events: 2, inbound: 2, inboundMtls: 1, au3Complete: 1 })
      expect(payments.missing).toEqual({ identity: 1 })
      const shop = ns.find((r) => r.key === 'shop')!
      expect(shop).toMatchObject({ events: 2, inbound: 1, inboundMtls: 1 })
      const wl = await store.coverage('workload')
      expect(wl.find((r) => r.key === 'payments-db.payments.svc.cluster.local')).toMatchObject({ inbound: 1 })
      const rep = await store.coverage('reporter')
      expect(Object.fromEntries(rep.map((r) => [r.key, r.events]))).toEqual({ destination: 3, source: 2 })
    })
  })

  test('finding counts split multi-control findings into one row per control', async () => {
    await withStore(':memory:', async (store) => {
      await store.writeEvents(sampleEvents())
      const rows = await store.findingCounts()
      const key = (r: { code: string; control: string }) => `${r.code}/${r.control}`
      expect(rows.map(key).sort()).toEqual([
        'au3_incomplete/AU-3',
        'authz_denied/AC-3',
        'authz_denied/AC-6',
        'plaintext_inbound/SC-8',
        'unregistered_egress/AC-4',
        'unregistered_egress/SC-7',
      ])
      expect(rows.every((r) => r.count === 1)).toBe(true)
      expect(await store.findingCounts({ since: '2030-01-01T00:00:00Z' })).toEqual([])
    })
  })

  test('edges count one flow per request (client + server lines of one request id count once)', async () => {
    await withStore(':memory:', async (store) => {
      await store.writeEvents(sampleEvents())
      const edges = await store.edges()
      const cart = edges.filter((e) => e.destination === 'cart.shop.svc.cluster.local')
      expect(cart).toHaveLength(1)
      expect(cart[0]).toMatchObject({ source: FRONTEND, sourceKind: 'spiffe', count: 1, mtls: 1, denied: 0, methods: ['POST'] })
      expect(cart[0]!.statusClasses).toEqual({ '2xx': 1 })
      const denied = await store.edges({ deniedOnly: true })
      expect(denied.map((e) => [e.source, e.destination, e.denied, e.findings])).toEqual([
        [FRONTEND, 'payments-db.payments.svc.cluster.local', 1, ['authz_denied']],
      ])
      expect((await store.edges({ sourceContains: 'LEGACY' })).map((e) => e.source)).toEqual([LEGACY])
      expect((await store.edges({ finding: 'plaintext_inbound' })).map((e) => [e.source, e.sourceKind])).toEqual([['10.9.9.9', 'ip']])
      expect((await store.edges({ namespace: 'legacy' })).length).toBe(1)
    })
  })

  test('an edge snapshot answers every edge question of its window as the flows do, until released', async () => {
    await withStore(':memory:', async (store) => {
      const events = sampleEvents()
      for (const e of events) {
        e.orchestrator = { cluster: { name: 'east' } }
        if (e.mesh !== undefined) e.mesh.source = { ...e.mesh.source, cluster: 'west' }
      }
      await store.writeEvents(events)
      const window = { since: '2026-11-20T00:00:00Z', inferFromAddresses: true }
      const questions = [
        {},
        { deniedOnly: true },
        { finding: 'plaintext_inbound' },
        { finding: 'authz_denied', deniedOnly: true },
        { sourceContains: 'LEGACY' },
        { limit: 2 },
        { clusters: true },
        { namespace: 'legacy' },
      ].map((q) => ({ ...window, ...q }))
      const ask = () => Promise.all(questions.map((q) => store.edges(q)))
      const before = await ask()
      expect(before[6]!.some((e) => e.sourceClusters?.includes('west'))).toBe(true)
      expect(before[0]!.every((e) => e.sourceClusters === undefined)).toBe(true)
      const snapshot = await store.snapshotEdges(window)
      expect(await ask()).toEqual(before)
      // The answers come from the aggregate made at the snapshot: a later write shows once it is released.
      await store.writeEvents([makeEvent({ reporter: 'destination', srcSpiffe: LEGACY, dstService: 'late', dstNs: 'shop' })])
      expect(await ask()).toEqual(before)
      // A window the snapshot was not made for reads the flows.
      expect((await store.edges({ inferFromAddresses: true })).some((e) => e.destination === 'late.shop')).toBe(true)
      await snapshot.release()
      expect((await store.edges(window)).some((e) => e.destination === 'late.shop')).toBe(true)
      await expect(store.sql('SELECT * FROM edge_snapshot')).rejects.toThrow(/edge_snapshot/)
    })
  })

  test('egress lists passthrough destinations by SNI with their sources', async () => {
    await withStore(':memory:', async (store) => {
      await store.writeEvents(sampleEvents())
      const rows = await store.egress()
      expect(rows).toEqual([
        {
          destination: 'api.stripe.com',
          cluster: 'PassthroughCluster',
          count: 1,
          sources: [LEGACY],
          firstSeen: expect.any(String),
          lastSeen: expect.any(String),
        },
      ])
    })
  })

  test('time ranges are half-open over @timestamp', async () => {
    await withStore(':memory:', async (store) => {
      await store.writeEvents([
        makeEvent({ id: 't1', ts: '2026-11-20T10:00:00.000Z' }),
        makeEvent({ id: 't2', ts: '2026-11-20T11:00:00.000Z' }),
      ])
      expect((await store.summary({ since: '2026-11-20T10:00:00.000Z', until: '2026-11-20T11:00:00.000Z' })).events).toBe(1)
      expect(await store.summary()).toEqual({ events: 2, firstSeen: '2026-11-20T10:00:00.000Z', lastSeen: '2026-11-20T11:00:00.000Z' })
    })
  })

  test('close is idempotent and safe before start; a closed store refuses queries', async () => {
    const never = new DuckDbStore({ path: ':memory:' })
    await never.close()
    await never.close()
    const store = new DuckDbStore({ path: ':memory:' })
    await store.start()
    await store.close()
    await expect(store.summary()).rejects.toMatchObject({ code: 'EA_STORE_QUERY' })
  })

  test('config errors name the option path', () => {
    expect(() => new DuckDbStore({ path: '' })).toThrow(/store\.path/)
    expect(() => new DuckDbStore({ threads: -1 })).toThrow(/store\.threads/)
    expect(() => new DuckDbStore({ memoryLimit: 'lots' })).toThrow(/store\.memoryLimit: must be a size/)
    expect(() => new DuckDbStore({ checkpointThreshold: '1 bucket' })).toThrow(/store\.checkpointThreshold: must be a size/)
  })

  test.each([
    ['table', 25],
    ['segments', 6],
  ] as const)(
    'property (%s layout): any replay of any batching stores each event and its findings exactly once',
    async (layout, numRuns) => {
      const pool = Array.from({ length: 12 }, (_, i) =>
        makeEvent({
          id: `p${i}`,
          findings:
            i % 3 === 0
              ? [finding('authz_denied', 'medium', ['AC-3', 'AC-6'])]
              : i % 3 === 1
                ? [finding('weak_tls', 'high', ['SC-8(1)'])]
                : [],
        }),
      )
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.integer({ min: 0, max: pool.length - 1 }), { minLength: 1, maxLength: 40 }),
          fc.integer({ min: 1, max: 7 }),
          async (picks, batch) => {
            await withStore(
              ':memory:',
              async (store) => {
                const stream = picks.map((i) => pool[i]!)
                for (let i = 0; i < stream.length; i += batch) await store.writeEvents(stream.slice(i, i + batch))
                const distinct = new Set(picks)
                expect((await store.summary()).events).toBe(distinct.size)
                const findings = [...distinct].reduce((n, i) => n + (pool[i]!.audit.findings?.length ?? 0), 0)
                expect((await store.sql('SELECT count(*)::INTEGER AS n FROM findings')).rows[0]!.n).toBe(findings)
                expect(store.stats.inserted).toBe(distinct.size)
              },
              layout,
            )
          },
        ),
        { numRuns, seed: 4 },
      )
    },
  )
})

describe("streamRows (verify's row-at-a-time scan)", () => {
  test('gives every row of a many-chunk query as stream() does, each chunk read before the next is asked for', async () => {
    await withStore(':memory:', async (store) => {
      // 5,000 rows: three chunks; long strings (kept out of line by DuckDB), lists, NULLs and numbers.
      const query = `SELECT i::BIGINT AS i, repeat(chr(97 + (i % 26)::INTEGER), 200 + (i % 7)) || i AS s,
        CASE WHEN i % 5 = 0 THEN NULL ELSE ['a' || i, 'b'] END AS l, i % 3 = 0 AS b FROM range(5000) t(i) ORDER BY i`
      const want: unknown[][] = []
      for await (const rows of store.stream(query)) for (const r of rows) want.push(Object.values(r))
      const got: unknown[][] = []
      let chunks = 0
      for await (const chunk of store.streamRows(query)) {
        chunks++
        for (let i = 0; i < chunk.rowCount; i++) got.push(chunk.row(i))
      }
      expect(chunks).toBeGreaterThan(1)
      expect(got).toHaveLength(5000)
      expect(got).toEqual(want)
      expect(got[4999]).toEqual(['4999', `${'h'.repeat(200 + (4999 % 7))}4999`, ['a4999', 'b'], false])
    })
  })
})

describe('companion rows (committed with a batch, as the integrity ledger is)', () => {
  const columns = [
    { name: 'k', type: 'VARCHAR' },
    { name: 'n', type: 'BIGINT' },
    { name: 'v', type: 'VARCHAR' },
  ] as const
  const count = async (store: DuckDbStore): Promise<number> =>
    (await store.sql('SELECT count(*)::INTEGER AS n FROM t')).rows[0]!.n as number

  test('a batch of no events commits them alone: stored and repeated keys skipped, NULLs and 64-bit values kept', async () => {
    const store = new DuckDbStore({ path: ':memory:', serveReaders: false })
    try {
      await store.start()
      await store.sql('CREATE TABLE t (k VARCHAR NOT NULL, n BIGINT NOT NULL, v VARCHAR, PRIMARY KEY (k, n))')
      const rows = Array.from({ length: 2_500 }, (_, i) => ['s', String(i + 1), i % 7 === 0 ? null : `v${i}`])
      await store.writeEvents([], [{ table: 't', columns, rows }])
      expect(await count(store)).toBe(2_500)
      // Stored keys and a key twice in one batch: skipped, the stored value kept.
      const again = [
        ['s', '1', 'changed'],
        ['s', '9007199254740993', 'big'],
        ['s', '9007199254740993', 'big twice'],
        ['s', '2501', 'new'],
      ]
      await store.writeEvents([], [{ table: 't', columns, rows: again }])
      const { rows: out } = await store.sql(
        `SELECT count(*)::INTEGER AS n, count(v)::INTEGER AS v, max(n)::VARCHAR AS top, any_value(v) FILTER (WHERE n = 1) AS first FROM t`,
      )
      expect(out[0]).toEqual({ n: 2_502, v: 2_502 - 358, top: '9007199254740993', first: null })
      // The staging tables are gone: nothing of the batch stays in memory.
      const { rows: temp } = await store.sql(
        `SELECT count(*)::INTEGER AS n FROM duckdb_tables() WHERE temporary AND table_name LIKE 'stage_companion%'`,
      )
      expect(temp[0]!.n).toBe(0)
    } finally {
      await store.close()
    }
  })

  for (const layout of ['table', 'segments'] as const) {
    test(`${layout} layout: when the companion rows fail, the batch's events are rolled back with them`, async () => {
      const path = join(dir, `companions-${layout}.duckdb`)
      const store = new DuckDbStore({ path, layout, serveReaders: false })
      try {
        await store.start()
        // A constraint the second batch breaks, inside the transaction that stores its events.
        await store.sql('CREATE TABLE t (k VARCHAR NOT NULL, n BIGINT NOT NULL CHECK (n < 100), v VARCHAR, PRIMARY KEY (k, n))')
        const events = Array.from({ length: 6 }, () => makeEvent())
        await store.writeEvents(events.slice(0, 3), [{ table: 't', columns, rows: [['s', '1', 'a']] }])
        await expect(store.writeEvents(events.slice(3), [{ table: 't', columns, rows: [['s', '100', 'b']] }])).rejects.toMatchObject({
          code: 'EA_SINK_UNAVAILABLE',
        })
        expect((await store.sql('SELECT count(*)::INTEGER AS n FROM events')).rows[0]!.n).toBe(3)
        expect(await count(store)).toBe(1)
        // Retried with rows that fit: both land.
        await store.writeEvents(events.slice(3), [{ table: 't', columns, rows: [['s', '2', 'b']] }])
        expect((await store.sql('SELECT count(*)::INTEGER AS n FROM events')).rows[0]!.n).toBe(6)
        expect(await count(store)).toBe(2)
      } finally {
        await store.close()
      }
    })
  }

  test('a read-only store refuses', async () => {
    const path = join(dir, 'companions-ro.duckdb')
    const writer = new DuckDbStore({ path, serveReaders: false })
    await writer.start()
    await writer.close()
    const reader = new DuckDbStore({ path, readOnly: true })
    try {
      await expect(reader.writeEvents([], [{ table: 'store_meta', columns, rows: [['a', '1', 'b']] }])).rejects.toThrow(/read-only/)
    } finally {
      await reader.close()
    }
  })
})
