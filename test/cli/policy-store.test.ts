import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { describeRead, openStoreRead, storeEvents } from '../../src/cli/policy-store.js'
import { DuckDbStore } from '../../src/store/duckdb-store.js'
import { at, callLines, MESH, toEvents } from '../hunt/scenario.js'

const dir = mkdtempSync(join(tmpdir(), 'ea-policy-store-'))
const path = join(dir, 'audit.duckdb')
afterAll(() => rmSync(dir, { recursive: true, force: true }))

let expected: { id: string; ts: string }[] = []

beforeAll(async () => {
  const { frontend, cart, payments } = MESH
  // Several lines per call share their @timestamp: pages must cut inside runs of equal times.
  const events = toEvents([
    ...callLines(frontend, cart, at(1)),
    ...callLines(frontend, cart, at(1), { method: 'POST' }),
    ...callLines(cart, payments, at(2)),
    ...callLines(cart, payments, at(2), { denied: true }),
    ...callLines(frontend, payments, at(3)),
  ])
  const store = new DuckDbStore({ path })
  await store.start()
  await store.writeEvents(events)
  await store.close()
  expected = events
    .map((e) => ({ id: e.event.id, ts: e['@timestamp'] }))
    .sort((a, b) => (a.ts === b.ts ? (a.id < b.id ? 1 : -1) : a.ts < b.ts ? 1 : -1))
})

const read = async (limit: number | undefined, pageSize: number) => {
  const r = await openStoreRead(path, limit)
  const pages: string[][] = []
  for await (const page of storeEvents(r, pageSize)) pages.push(page.map((e) => e.event.id))
  return { r, pages }
}

describe('policy --store reads the store in pages', () => {
  test('every page size gives every event once, newest first (ties broken by id)', async () => {
    expect(expected.length).toBeGreaterThanOrEqual(8)
    expect(new Set(expected.map((e) => e.ts)).size).toBeLessThan(expected.length)
    for (const size of [1, 2, 3, expected.length - 1, expected.length, 1000]) {
      const { r, pages } = await read(undefined, size)
      expect(pages.flat(), `page size ${size}`).toEqual(expected.map((e) => e.id))
      expect(pages.every((p) => p.length <= size)).toBe(true)
      expect([r.read, r.total, describeRead(r)]).toEqual([expected.length, expected.length, `all ${expected.length} events of ${path}`])
    }
  })

  test('--limit reads the newest N and says how many it left', async () => {
    const { r, pages } = await read(3, 2)
    expect(pages).toEqual([expected.slice(0, 2).map((e) => e.id), [expected[2]!.id]])
    expect(describeRead(r)).toBe(`the newest 3 of ${expected.length} events of ${path} (--limit 3)`)
  })

  test('the store is closed when a reader stops early, and when it reads to the end', async () => {
    const early = await openStoreRead(path, undefined)
    for await (const page of storeEvents(early, 2)) {
      expect(page).toHaveLength(2)
      break
    }
    await expect(early.store.sql('SELECT 1')).rejects.toThrow(/closed/)
    const full = await openStoreRead(path, undefined)
    for await (const _ of storeEvents(full)) {
      /* drain */
    }
    await expect(full.store.sql('SELECT 1')).rejects.toThrow(/closed/)
  })
})
