import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, test } from 'vitest'
import fc from 'fast-check'
import { DuckDbHuntBackend } from '../../src/hunt/duckdb-backend.js'
import { CALL_TABLES, GROUP_KEYS, callsBackfillSql } from '../../src/store/duckdb-calls.js'
import { DuckDbStore } from '../../src/store/duckdb-store.js'
import type { AuditEvent } from '../../src/generated/types.js'
import { MESH, T0, callLines, toEvents } from '../hunt/scenario.js'
import { callArb, eventsOf } from '../hunt/random-mesh.js'

/**
 * The call tables filled batch by batch at ingest must hold exactly what the query-time match
 * (DuckDbHuntBackend with source 'events', today's reference) computes from the events table over
 * the whole store, whatever the batches and their order. Lines come from test/hunt/scenario.ts (Istio
 * default JSON lines with the identity extras, in Fluent Bit envelopes; sources cited there).
 */

let open: DuckDbStore[] = []
afterEach(async () => {
  await Promise.all(open.map((s) => s.close()))
  open = []
})

async function memoryStore(): Promise<DuckDbStore> {
  const store = new DuckDbStore({ path: ':memory:' })
  await store.start()
  open.push(store)
  return store
}

const PAIR_COLUMNS = `ts, joined, join_key, request_id, src_id, src_sig, cli_wl, srv_src_wl, src_ip, dst_id, dst_sig, dst_wl, dst_svc, dst_ns, dst_addr,
  is_denied, blocked, mtls, method, status_code, protocol, findings, rbac_policy`
const LINK_COLUMNS = 'crid, srid, join_key, cli_wl, c_ip, c_dst_id, c_dst_sig, s_src_id'

async function rows(store: DuckDbStore, sql: string): Promise<unknown[]> {
  return (await store.sql(sql)).rows
}

/** The reference: the query-time match and per-call rows over the whole store, as sorted rows. */
async function reference(store: DuckDbStore): Promise<{ calls: unknown[]; links: unknown[] }> {
  const backend = new DuckDbHuntBackend(store, { source: 'events' })
  await backend.prepare({ since: '1970-01-01T00:00:00.000Z' }, [])
  const calls = await rows(store, `SELECT ${PAIR_COLUMNS} FROM hunt_pair ORDER BY ALL`)
  const links = await rows(
    store,
    `SELECT c.id AS crid, s.id AS srid, m.join_key, m.cli_wl, m.c_ip, m.c_dst_id, m.c_dst_sig, m.s_src_id
    FROM hunt_match m JOIN events c ON c.id = m.crid JOIN events s ON s.id = m.srid ORDER BY ALL`,
  )
  await backend.close()
  return { calls, links }
}

async function stored(store: DuckDbStore): Promise<{ calls: unknown[]; links: unknown[] }> {
  return {
    calls: await rows(store, `SELECT ${PAIR_COLUMNS} FROM calls ORDER BY ALL`),
    links: await rows(store, `SELECT ${LINK_COLUMNS} FROM call_links ORDER BY ALL`),
  }
}

/** The groups must be what grouping the current calls and links gives, whatever was deleted and re-added. */
async function expectGroupsConsistent(store: DuckDbStore): Promise<void> {
  const keys = GROUP_KEYS.join(', ')
  expect(await rows(store, `SELECT hour, ${keys}, n, first, last FROM call_groups ORDER BY ALL`)).toEqual(
    await rows(
      store,
      `SELECT date_trunc('hour', ts) AS hour, ${keys}, count(*) AS n, min(ts) AS first, max(ts) AS last FROM calls GROUP BY ALL ORDER BY ALL`,
    ),
  )
  expect(
    await rows(store, `SELECT hour, cli_wl, s_src_id, join_key, sum(n)::BIGINT AS n FROM call_link_groups GROUP BY ALL ORDER BY ALL`),
  ).toEqual(
    await rows(
      store,
      `SELECT date_trunc('hour', s_ts) AS hour, cli_wl, s_src_id, join_key, count(*)::BIGINT AS n FROM call_links
      WHERE cli_wl IS NOT NULL AND s_src_id IS NOT NULL GROUP BY ALL ORDER BY ALL`,
    ),
  )
}

async function write(store: DuckDbStore, events: AuditEvent[]): Promise<void> {
  const { rejected } = await store.writeEvents(events)
  expect(rejected).toEqual([])
}

describe('call tables filled at ingest', () => {
  test('property: any split into batches, any batch order, replays: the same calls and links as the query-time match, and consistent groups', async () => {
    await fc.assert(
      fc.asyncProperty(
        // Across an hour boundary (T0 is 10:00), so groups of several hours are touched.
        fc.array(callArb(-75 * 60, 75 * 60), { minLength: 1, maxLength: 14 }),
        fc.array(fc.integer({ min: 0, max: 1_000_000 }), { minLength: 40, maxLength: 40 }),
        fc.integer({ min: 1, max: 6 }),
        fc.boolean(),
        async (calls, order, batches, replay) => {
          const events = eventsOf(calls)
          // A permutation of the lines, then cut into `batches` runs: any order of arrival within the match window and beyond it.
          const shuffled = events
            .map((e, i) => ({ e, k: order[i % order.length]! * 64 + i }))
            .sort((a, b) => a.k - b.k)
            .map((x) => x.e)
          const size = Math.ceil(shuffled.length / batches)
          const store = await memoryStore()
          const written: AuditEvent[][] = []
          for (let i = 0; i < shuffled.length; i += size) {
            written.push(shuffled.slice(i, i + size))
            await write(store, written[written.length - 1]!)
          }
          // A replayed batch (the staged path) must change nothing.
          if (replay) await write(store, written[0]!)
          const expected = await reference(store)
          expect(await stored(store)).toEqual(expected)
          await expectGroupsConsistent(store)
          // The backfill (stores written before the tables) gives the same tables from the events.
          for (const statement of callsBackfillSql()) await store.sql(statement)
          expect(await stored(store)).toEqual(expected)
          await expectGroupsConsistent(store)
          await store.close()
        },
      ),
      { numRuns: 30, seed: 23 },
    )
  }, 120_000)

  test('a server line stored after its client line upgrades the client line alone to one joined call', async () => {
    const fe = { ...MESH.frontend, plainFormat: true }
    const ct = { ...MESH.cart, plainFormat: true }
    const [client, server] = toEvents(callLines(fe, ct, T0))
    const store = await memoryStore()
    await write(store, [client!])
    expect(await rows(store, 'SELECT joined, cli_wl, dst_wl FROM calls')).toEqual([
      { joined: false, cli_wl: 'shop/frontend', dst_wl: null },
    ])
    await write(store, [server!])
    expect(await rows(store, 'SELECT joined, join_key, cli_wl, dst_wl FROM calls')).toEqual([
      { joined: true, join_key: 'request_id', cli_wl: 'shop/frontend', dst_wl: 'shop/cart' },
    ])
    expect(await rows(store, 'SELECT n::INTEGER AS n, joined FROM call_groups')).toEqual([{ n: 1, joined: true }])
  })

  test('a client line more than five minutes from the server line is a call of its own', async () => {
    const [client, server] = toEvents(callLines({ ...MESH.frontend, plainFormat: true }, { ...MESH.cart, plainFormat: true }, T0))
    server!['@timestamp'] = new Date(T0 + 301_000).toISOString()
    const store = await memoryStore()
    await write(store, [server!])
    await write(store, [client!])
    expect(await rows(store, 'SELECT joined, cli_wl IS NOT NULL AS client FROM calls ORDER BY ts')).toEqual([
      { joined: false, client: true },
      { joined: false, client: false },
    ])
  })
})

describe('stores written before the call tables', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ea-calls-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  test('are backfilled once on open, with what ingest would have written', async () => {
    const path = join(dir, 'old.duckdb')
    const events = eventsOf(fc.sample(callArb(-75 * 60, 75 * 60), { numRuns: 25, seed: 3 }))
    let store = new DuckDbStore({ path })
    await store.start()
    await write(store, events.slice(0, 20))
    await write(store, events.slice(20))
    const before = await stored(store)
    expect(before.calls.length).toBeGreaterThan(20)
    // What a store of the previous release looks like: the events, no call tables.
    for (const t of CALL_TABLES) await store.sql(`DROP TABLE ${t}`)
    await store.close()
    store = new DuckDbStore({ path })
    await store.start()
    open.push(store)
    expect(await stored(store)).toEqual(before)
    await expectGroupsConsistent(store)
  })
})

describe('callTables: false (a store kept without the per-call tables)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ea-calls-off-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))
  const tableCount = async (store: DuckDbStore): Promise<number> => {
    const [r] = await rows(
      store,
      `SELECT count(*)::INTEGER AS n FROM information_schema.tables WHERE table_name IN (${CALL_TABLES.map((t) => `'${t}'`).join(', ')})`,
    )
    return (r as { n: number }).n
  }

  test('has no call tables, keeps that choice when reopened without one, and builds them from the events when turned on', async () => {
    const path = join(dir, 'off.duckdb')
    const events = eventsOf(fc.sample(callArb(-75 * 60, 75 * 60), { numRuns: 25, seed: 5 }))
    let store = new DuckDbStore({ path, callTables: false })
    await store.start()
    expect(store.callTables).toBe(false)
    await write(store, events.slice(0, 20))
    await write(store, events.slice(20))
    expect(await tableCount(store)).toBe(0)
    await store.close()

    store = new DuckDbStore({ path }) // no choice given: the store's own
    await store.start()
    expect(store.callTables).toBe(false)
    expect(await tableCount(store)).toBe(0)
    await store.close()

    store = new DuckDbStore({ path, callTables: true })
    await store.start()
    open.push(store)
    expect(store.callTables).toBe(true)
    expect(await tableCount(store)).toBe(CALL_TABLES.length)
    // Built from the stored events: exactly what the query-time match gives.
    expect(await stored(store)).toEqual(await reference(store))
    await expectGroupsConsistent(store)
  })

  test('a store turned off and on again does not keep the stale tables of before', async () => {
    const path = join(dir, 'flip.duckdb')
    const events = eventsOf(fc.sample(callArb(-75 * 60, 75 * 60), { numRuns: 20, seed: 9 }))
    let store = new DuckDbStore({ path })
    await store.start()
    await write(store, events.slice(0, 10))
    await store.close()
    store = new DuckDbStore({ path, callTables: false })
    await store.start()
    await write(store, events.slice(10)) // stored while the tables are off
    await store.close()
    store = new DuckDbStore({ path, callTables: true })
    await store.start()
    open.push(store)
    expect(await stored(store)).toEqual(await reference(store))
  })
})
