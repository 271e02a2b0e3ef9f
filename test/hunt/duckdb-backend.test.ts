import { afterEach, describe, expect, test } from 'vitest'
import fc from 'fast-check'
import { BASELINE_SQL, DuckDbHuntBackend, wholeHours } from '../../src/hunt/duckdb-backend.js'
import { huntPaths, type HuntResult } from '../../src/hunt/search.js'
import { resolveIdentity } from '../../src/hunt/node-id.js'
import type { InventoryEntry } from '../../src/hunt/backend.js'
import type { DuckDbStore } from '../../src/store/duckdb-store.js'
import { at, callLines, MESH, spiffe, storeWith } from './scenario.js'
import { MemoryBackend, type Call } from './memory-backend.js'

const { frontend, cart, catalog, payments, db } = MESH

let open: DuckDbStore[] = []
afterEach(async () => {
  await Promise.all(open.map((s) => s.close()))
  open = []
})

async function hunt(
  lines: string[],
  from: string,
  opts: { since?: string; maxDepth?: number; baselineFrom?: string; inventory?: InventoryEntry[] } = {},
): Promise<{ result: HuntResult; backend: DuckDbHuntBackend }> {
  const store = await storeWith(lines)
  open.push(store)
  const backend = new DuckDbHuntBackend(store)
  const range = { since: opts.since ?? at(0), ...(opts.baselineFrom === undefined ? {} : { baselineFrom: opts.baselineFrom }) }
  await backend.prepare(range, opts.inventory ?? [])
  const origins = resolveIdentity(from, await backend.nodes())
  return { result: await huntPaths(backend, { from: origins, maxDepth: opts.maxDepth ?? 6, ...range }), backend }
}

const arrivals = (r: HuntResult): Record<string, string> => Object.fromEntries(r.reached.map((n) => [n.node, n.arrival]))

describe('DuckDB hunt over pipeline-produced events', () => {
  test('branching chain with certificates: earliest arrivals, witness hops, signals from URI SANs', async () => {
    const { result } = await hunt(
      [
        ...callLines(frontend, cart, at(1)),
        ...callLines(frontend, catalog, at(2)),
        ...callLines(cart, payments, at(3)),
        ...callLines(payments, db, at(4), { tcp: true }),
        ...callLines(catalog, payments, at(6)),
      ],
      spiffe(frontend),
    )
    expect(arrivals(result)).toEqual({
      [spiffe(frontend)]: at(0),
      [spiffe(cart)]: at(1),
      [spiffe(catalog)]: at(2),
      [spiffe(payments)]: at(3),
      [spiffe(db)]: at(4),
    })
    const dbPath = result.reached.find((n) => n.node === spiffe(db))!.path
    expect(dbPath.map((h) => [h.to, h.at, h.dstSignal, h.service])).toEqual([
      [spiffe(cart), at(1), 'downstream_local_uri_san', 'cart.shop'],
      [spiffe(payments), at(3), 'downstream_local_uri_san', 'payments.payments'],
      [spiffe(db), at(4), 'downstream_local_uri_san', 'payments-db.payments'],
    ])
    expect(dbPath.every((h) => h.srcSignal === 'downstream_peer_uri_san' && !h.plaintext)).toBe(true)
  })

  test('time order forbids a path, and a cycle back to the origin changes nothing', async () => {
    const { result } = await hunt(
      [...callLines(cart, db, at(1), { tcp: true }), ...callLines(frontend, cart, at(5)), ...callLines(cart, frontend, at(6))],
      'shop/frontend',
    )
    expect(arrivals(result)).toEqual({ [spiffe(frontend)]: at(0), [spiffe(cart)]: at(5) })
  })

  test('denied-only edge: RBAC 403s are probes from the reached node, the target stays unreached', async () => {
    const { result } = await hunt(
      [
        ...callLines(frontend, cart, at(1)),
        ...callLines(cart, payments, at(2), { denied: true, path: '/admin' }),
        ...callLines(cart, payments, at(3), { denied: true }),
      ],
      'frontend',
    )
    expect(Object.keys(arrivals(result)).sort()).toEqual([spiffe(cart), spiffe(frontend)])
    const probes = result.reached.find((n) => n.node === spiffe(cart))!.probes
    expect(probes).toEqual([
      {
        src: spiffe(cart),
        dst: spiffe(payments),
        count: 2,
        first: at(2),
        last: at(3),
        reasons: ['authz_denied', 'rbac:none'],
        service: 'payments.payments',
      },
    ])
    expect(result.probedOnly).toEqual([spiffe(payments)])
  })

  test('identity linking by x-request-id: sidecars without identity extras, client and server lines joined', async () => {
    const fe = { ...frontend, plainFormat: true }
    const ct = { ...cart, plainFormat: true }
    const { result } = await hunt([...callLines(fe, ct, at(1))], 'shop/frontend')
    const hop = result.reached.find((n) => n.node === 'shop/cart')!.path[0]!
    expect([hop.from, hop.to, hop.srcSignal, hop.dstSignal]).toEqual([
      'shop/frontend',
      'shop/cart',
      'request_id+kubernetes',
      'request_id+kubernetes',
    ])
  })

  test('namespace/workload seen without a certificate is linked to the SPIFFE ID learned elsewhere', async () => {
    // cart's own server line ties shop/cart to its certificate; its later client-only call must start from that identity.
    const { result } = await hunt(
      [...callLines(frontend, cart, at(1)), ...callLines({ ...cart, plainFormat: true }, payments, at(2), { only: 'client' })],
      spiffe(frontend),
    )
    // Nothing names the identity behind payments: the hop ends at the service it addressed.
    const p = result.reached.find((n) => n.node === 'payments.payments')
    expect(p?.path.map((h) => [h.from, h.to, h.srcSignal, h.dstSignal])).toEqual([
      [spiffe(frontend), spiffe(cart), 'downstream_peer_uri_san', 'downstream_local_uri_san'],
      [spiffe(cart), 'payments.payments', 'kubernetes+alias', 'service'],
    ])
  })

  test('a propagated x-request-id does not join different hops', async () => {
    const store = await storeWith([
      ...callLines(frontend, cart, at(1), { requestId: 'trace-1' }),
      ...callLines(cart, payments, at(1), { requestId: 'trace-1' }),
    ])
    open.push(store)
    const backend = new DuckDbHuntBackend(store)
    await backend.prepare({ since: at(0) }, [])
    const flows = await backend.flows({})
    expect(flows.map((f) => [f.source, f.destination, f.count]).sort()).toEqual([
      [spiffe(cart), spiffe(payments), 1],
      [spiffe(frontend), spiffe(cart), 1],
    ])
  })

  test('TCP lines carry no request id: joined by socket, and the hop is plaintext when the server saw no mTLS', async () => {
    const { result } = await hunt(
      [...callLines({ ...payments, plainFormat: true }, { ...db, plainFormat: true }, at(2), { tcp: true, plaintext: true })],
      'payments/payments',
    )
    const hop = result.reached.find((n) => n.node === 'payments/payments-db')!.path[0]!
    expect([hop.srcSignal, hop.dstSignal, hop.plaintext]).toEqual(['socket+kubernetes', 'socket+kubernetes', true])
  })

  test('inventory links a service whose server side never logged; the learned service map links the rest', async () => {
    const inventory = [{ service: 'payments-db', namespace: 'payments', identity: spiffe(db) }]
    const lines = [...callLines({ ...payments, plainFormat: true }, db, at(2), { tcp: true, only: 'client' })]
    const withInv = await hunt(lines, 'payments/payments', { inventory })
    expect(withInv.result.reached.find((n) => n.node === spiffe(db))?.path[0]?.dstSignal).toBe('inventory')
    const without = await hunt(lines, 'payments/payments')
    expect(without.result.reached.map((n) => n.node)).toContain('payments-db.payments')
    const learned = await hunt([...callLines(cart, db, at(1), { tcp: true }), ...lines], 'payments/payments')
    expect(learned.result.reached.find((n) => n.node === spiffe(db))?.path[0]?.dstSignal).toBe('service_map')
  })

  test('new edges against the learning window', async () => {
    const { result } = await hunt(
      [...callLines(frontend, cart, at(-120)), ...callLines(frontend, cart, at(1)), ...callLines(cart, payments, at(2))],
      'frontend',
      { baselineFrom: at(-24 * 60) },
    )
    const hops = Object.fromEntries(result.reached.flatMap((n) => n.path.slice(-1)).map((h) => [h.to, h.newEdge]))
    expect(hops).toEqual({ [spiffe(cart)]: false, [spiffe(payments)]: true })
    // Calls before --since are learning data only: they never extend a path.
    expect(result.reached.find((n) => n.node === spiffe(cart))!.arrival).toBe(at(1))
  })

  test('flows: counts, first/last, methods, status classes, mTLS share, findings, filters', async () => {
    const store = await storeWith([
      ...callLines(frontend, cart, at(1), { method: 'POST' }),
      ...callLines(frontend, cart, at(2)),
      ...callLines(frontend, cart, at(3), { denied: true }),
      ...callLines({ ...catalog, plainFormat: true }, payments, at(4), { plaintext: true }),
    ])
    open.push(store)
    const backend = new DuckDbHuntBackend(store)
    await backend.prepare({ since: at(0) }, [])
    const all = await backend.flows({})
    const fc = all.find((e) => e.source === spiffe(frontend))!
    expect(fc).toMatchObject({
      destination: spiffe(cart),
      count: 3,
      firstSeen: at(1),
      lastSeen: at(3),
      methods: ['GET', 'POST'],
      mtls: 3,
      plaintext: 0,
      denied: 1,
      findings: ['authz_denied'],
      service: 'cart.shop',
      destinationNamespace: 'shop',
    })
    expect({ ...fc.statusClasses }).toEqual({ '2xx': 2, '4xx': 1 })
    const plain = all.find((e) => e.destination === 'payments/payments')!
    expect(plain).toMatchObject({ source: 'shop/catalog', plaintext: 1, mtls: 0 })
    expect(plain.findings).toContain('plaintext_inbound')
    expect((await backend.flows({ finding: 'plaintext_inbound' })).map((e) => e.source)).toEqual(['shop/catalog'])
    expect((await backend.flows({ namespace: 'payments' })).map((e) => e.destination)).toEqual(['payments/payments'])
    expect((await backend.flows({ nodes: [spiffe(cart)] })).map((e) => e.source)).toEqual([spiffe(frontend)])
    expect(await backend.flows({ since: at(5) })).toEqual([])
  })
})

describe('DuckDB backend agrees with the in-memory reference backend', () => {
  const mesh = [frontend, cart, catalog, payments, db]
  const call = fc
    .record({
      c: fc.integer({ min: 0, max: 4 }),
      s: fc.integer({ min: 0, max: 4 }),
      minute: fc.integer({ min: -3, max: 20 }),
      denied: fc.boolean(),
      tcp: fc.boolean(),
    })
    .filter((x) => x.c !== x.s)

  test('random meshes: same arrivals and hop counts from the pipeline-produced store as from the resolved calls', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(call, { minLength: 1, maxLength: 10 }), async (calls) => {
        const lines = calls.flatMap((x) =>
          callLines(mesh[x.c]!, mesh[x.s]!, at(x.minute), {
            denied: x.denied && x.minute % 2 === 0,
            tcp: x.tcp && !x.denied,
          }),
        )
        const resolved: Call[] = calls.map((x) => ({
          src: spiffe(mesh[x.c]!),
          dst: spiffe(mesh[x.s]!),
          ts: at(x.minute),
          denied: x.denied && x.minute % 2 === 0,
        }))
        const from = spiffe(frontend)
        const memory = new MemoryBackend(resolved)
        await memory.prepare({ since: at(0) })
        const expected = await huntPaths(memory, { from: [from], since: at(0), maxDepth: 4 })
        const store = await storeWith(lines)
        try {
          const backend = new DuckDbHuntBackend(store)
          await backend.prepare({ since: at(0) }, [])
          const got = await huntPaths(backend, { from: [from], since: at(0), maxDepth: 4 })
          const view = (r: HuntResult) => Object.fromEntries(r.reached.map((n) => [n.node, [n.arrival, n.hops]]))
          expect(view(got)).toEqual(view(expected))
        } finally {
          await store.close()
        }
      }),
      { numRuns: 12 },
    )
  }, 60_000)
})

describe('learning window from edge_facts', () => {
  test('wholeHours: the hours inside the window, none when it does not span one', () => {
    expect(wholeHours('2026-11-20T09:30:00.000Z', '2026-11-20T12:15:00.000Z')).toEqual([
      '2026-11-20T10:00:00.000Z',
      '2026-11-20T12:00:00.000Z',
    ])
    expect(wholeHours('2026-11-20T10:00:00.000Z', '2026-11-20T11:00:00.000Z')).toEqual([
      '2026-11-20T10:00:00.000Z',
      '2026-11-20T11:00:00.000Z',
    ])
    expect(wholeHours('2026-11-20T10:10:00.000Z', '2026-11-20T10:50:00.000Z')).toEqual([
      '2026-11-20T10:50:00.000Z',
      '2026-11-20T10:50:00.000Z',
    ])
    expect(wholeHours('2026-11-20T10:10:00.000Z', '2026-11-20T11:05:00.000Z')).toEqual([
      '2026-11-20T11:05:00.000Z',
      '2026-11-20T11:05:00.000Z',
    ])
  })

  test('property: hours from edge_facts plus partial hours from events give the baseline the events alone give', async () => {
    // Calls over five hours, each hour its own pair (so a misplaced hour boundary adds or loses an edge),
    // plaintext and denied ones among them, so groups differ by side and identity.
    const pairs = [
      [frontend, cart],
      [cart, catalog],
      [frontend, payments],
      [payments, db],
      [catalog, db],
    ] as const
    const lines: string[] = []
    for (let m = -300; m < 0; m += 7) {
      const [c, s] = pairs[Math.floor((m + 300) / 60) % pairs.length]!
      lines.push(...callLines(c, s, at(m), { plaintext: m % 3 === 0, denied: m % 5 === 0 }))
    }
    const store = await storeWith(lines)
    open.push(store)
    const backend = new DuckDbHuntBackend(store)
    await backend.prepare({ since: at(0) }, [])
    const baseline = async (params: string[]): Promise<unknown[]> => {
      await store.sql(BASELINE_SQL, params)
      return (await store.sql(`SELECT src, dst, ${"strftime(first, '%Y-%m-%dT%H:%M:%S.%g')"} AS first FROM hunt_baseline ORDER BY ALL`))
        .rows
    }
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: -330, max: 10 }), fc.integer({ min: 0, max: 340 }), async (fromMin, span) => {
        const from = at(fromMin)
        const to = at(fromMin + span)
        // [to, to) for the hours: everything from the events, which is what the store did before edge_facts.
        const reference = await baseline([from, to, to, to])
        expect(await baseline([from, to, ...wholeHours(from, to)])).toEqual(reference)
        if (span >= 30 && fromMin >= -300 && fromMin + 30 <= 0) expect(reference.length).toBeGreaterThan(0)
      }),
      { numRuns: 150, seed: 11 },
    )
  })
})
