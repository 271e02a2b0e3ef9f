/**
 * How verify reads a whole target (src/integrity/opensearch-read-all.ts): PIT pages in `_doc` order,
 * indices of more than one shard a shard at a time through slices, `_id` as the last key only where the
 * shard counts are unknown. Against the wire-compatible test server (every index one shard) and, when
 * OPENSEARCH_URL is set, the real node, where a two-shard index shows why `_doc` alone is not enough.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import type { Client } from '@opensearch-project/opensearch'
import { BY_DOC, BY_DOC_AND_ID, readAll, readPlan, type Json } from '../../src/integrity/opensearch-read-all.js'
import { TestOpenSearch } from '../support/opensearch-server/index.js'
import { describeOpenSearch } from '../helpers/real-servers.js'
import { realClient } from '../helpers/opensearch-planted.js'
import { client } from './opensearch-harness.js'

/** `n` documents `<index>/<tag>-<i>` with a number, indexed and refreshed. */
async function fill(c: Client, index: string, shards: number, tag: string, n: number): Promise<void> {
  await c.indices.create({ index, body: { settings: { number_of_shards: shards, number_of_replicas: 0 } } } as never)
  const body: Json[] = []
  for (let i = 0; i < n; i++) body.push({ index: { _index: index, _id: `${tag}-${i}` } }, { n: i })
  await c.bulk({ body, refresh: true } as never)
}

async function readIds(c: Client, target: string, pageSize: number, query?: Json): Promise<{ ids: string[]; pages: number }> {
  const ids: string[] = []
  let pages = 0
  for await (const page of readAll(c, target, pageSize, query)) {
    pages++
    for (const h of page.hits) ids.push(`${(h as unknown as { _index: string })._index}/${h._id}`)
  }
  return { ids, pages }
}

/** Bytes of `_id` field data the node holds for `index`. */
async function idFieldData(c: Client, index: string): Promise<number> {
  const res = await c.indices.stats({ index, metric: 'fielddata', fielddata_fields: '_id' } as never)
  const b = res.body as { indices: Record<string, { total: { fielddata: { memory_size_in_bytes: number } } }> }
  return b.indices[index]!.total.fielddata.memory_size_in_bytes
}

/** The client, with the id of every PIT it opens recorded. */
function recordingPits(c: Client): { client: Client; opened: string[] } {
  const opened: string[] = []
  const client = Object.create(c) as Client
  client.createPit = (async (...args: Parameters<Client['createPit']>) => {
    const res = (await (c.createPit as (...a: unknown[]) => Promise<{ body: { pit_id: string } }>)(...args)) as { body: { pit_id: string } }
    opened.push(res.body.pit_id)
    return res
  }) as never
  return { client, opened }
}

async function pitShards(c: Client, target: string): Promise<{ pit: string; shards: number }> {
  const b = (await c.createPit({ index: target, keep_alive: '1m' } as never)).body as { pit_id: string; _shards: { total: number } }
  return { pit: b.pit_id, shards: b._shards.total }
}

function both(name: string, body: (get: () => { c: Client; prefix: string; real: boolean }) => void): void {
  describe(`${name} (test server)`, () => {
    let srv: TestOpenSearch
    let c: Client
    beforeAll(async () => {
      srv = await TestOpenSearch.start()
      c = await client(srv.url)
    })
    afterAll(async () => {
      await c.close()
      await srv.close()
    })
    body(() => ({ c, prefix: 'ra', real: false }))
  })
  describeOpenSearch(name, () => {
    const prefix = `ea-ra-${Date.now().toString(36)}`
    let c: Client
    beforeAll(async () => {
      c = await realClient()
    })
    afterAll(async () => {
      await c.indices.delete({ index: `${prefix}-*` } as never).catch(() => undefined)
      await c.close()
    })
    body(() => ({ c, prefix, real: true }))
  })
}

both('reading a whole target', (get) => {
  test('two single-shard indices behind one pattern, pages of 3: every document once, in _doc then _index order', async () => {
    const { c, prefix } = get()
    await fill(c, `${prefix}-one-a`, 1, 'a', 10)
    await fill(c, `${prefix}-one-b`, 1, 'b', 7)
    const { pit, shards } = await pitShards(c, `${prefix}-one-*`)
    expect(await readPlan(c, `${prefix}-one-*`, shards)).toEqual({ kind: 'whole', sort: BY_DOC })
    // An index created after the PIT opened is not in it: the counts disagree and `_id` is kept.
    await fill(c, `${prefix}-one-c`, 1, 'c', 1)
    expect(await readPlan(c, `${prefix}-one-*`, shards)).toEqual({ kind: 'whole', sort: BY_DOC_AND_ID })
    await c.deletePit({ body: { pit_id: [pit] } } as never)
    expect(await readPlan(c, `${prefix}-one-*`, undefined)).toEqual({ kind: 'whole', sort: BY_DOC_AND_ID })

    const { ids, pages } = await readIds(c, `${prefix}-one-a,${prefix}-one-b`, 3)
    expect(ids).toHaveLength(17)
    expect(new Set(ids).size).toBe(17)
    expect(pages).toBe(6)
    // `_doc` first: the two indices interleave, the first documents of each come first.
    expect(ids.slice(0, 2).sort()).toEqual([`${prefix}-one-a/a-0`, `${prefix}-one-b/b-0`])
    const live = await c.transport.request({ method: 'GET', path: '/_search/point_in_time/_all' })
    expect((live.body as { pits: { pit_id: string }[] }).pits.filter((p) => p.pit_id === pit)).toEqual([])
  })

  test('a query narrows the read; an empty target reads nothing', async () => {
    const { c, prefix } = get()
    await fill(c, `${prefix}-q`, 1, 'q', 20)
    const { ids } = await readIds(c, `${prefix}-q`, 4, { range: { n: { gte: 15 } } })
    expect(ids.map((i) => i.split('/')[1]).sort()).toEqual(['q-15', 'q-16', 'q-17', 'q-18', 'q-19'])
    expect((await readIds(c, `${prefix}-none-*`, 4)).ids).toEqual([])
  })
})

describe('page order where the shard count cannot be read', () => {
  test('settings refused (403, a role that may search but not read settings): `_id` is kept', async () => {
    const srv = await TestOpenSearch.start()
    const c = await client(srv.url)
    try {
      await fill(c, 'ro-a', 1, 'a', 3)
      const { shards } = await pitShards(c, 'ro-a')
      expect(await readPlan(c, 'ro-a', shards)).toEqual({ kind: 'whole', sort: BY_DOC })
      srv.faults.failRequests(/^GET \/ro-a\/_settings/, 403, 1)
      expect(await readPlan(c, 'ro-a', shards)).toEqual({ kind: 'whole', sort: BY_DOC_AND_ID })
    } finally {
      await c.close()
      await srv.close()
    }
  })
})

describeOpenSearch('a two-shard index', () => {
  const prefix = `ea-ra2-${Date.now().toString(36)}`
  let c: Client
  beforeAll(async () => {
    c = await realClient()
    await fill(c, `${prefix}-two`, 2, 't', 40)
  })
  afterAll(async () => {
    await c.indices.delete({ index: `${prefix}-*` } as never).catch(() => undefined)
    await c.close()
  })

  test('its shards share `_doc` values, so paging on `_doc` and `_index` alone skips documents', async () => {
    const { pit } = await pitShards(c, `${prefix}-two`)
    const seen = new Set<string>()
    let after: unknown[] | undefined
    try {
      for (;;) {
        const body: Json = { size: 3, sort: BY_DOC, pit: { id: pit, keep_alive: '1m' } }
        if (after !== undefined) body.search_after = after
        const hits = ((await c.search({ body } as never)).body as { hits: { hits: { _id: string; sort: unknown[] }[] } }).hits.hits
        for (const h of hits) seen.add(h._id)
        if (hits.length < 3) break
        after = hits[hits.length - 1]!.sort
      }
    } finally {
      await c.deletePit({ body: { pit_id: [pit] } } as never)
    }
    expect(seen.size).toBeLessThan(40)
  })

  test('readAll reads it a shard at a time on `_doc`: every document once, and the node loads no `_id` field data', async () => {
    const index = `${prefix}-two`
    const { pit, shards } = await pitShards(c, index)
    expect(shards).toBe(2)
    expect(await readPlan(c, index, shards)).toEqual({ kind: 'by-shard', groups: [{ indices: [index], shards: 2 }] })
    await c.deletePit({ body: { pit_id: [pit] } } as never)
    const { ids } = await readIds(c, index, 3)
    expect(ids).toHaveLength(40)
    expect(new Set(ids).size).toBe(40)
    expect(await idFieldData(c, index)).toBe(0)
    // What the check would see had the read sorted on `_id` (the order used where shard counts are unknown).
    await c.search({ index, body: { size: 1, sort: BY_DOC_AND_ID } } as never)
    expect(await idFieldData(c, index)).toBeGreaterThan(0)
  })

  test('one-, two- and three-shard indices behind one pattern: each shard count read in its own PIT, every document once', async () => {
    await fill(c, `${prefix}-mix-a`, 1, 'a', 7)
    await fill(c, `${prefix}-mix-b`, 2, 'b', 25)
    await fill(c, `${prefix}-mix-c`, 3, 'c', 31)
    const { pit, shards } = await pitShards(c, `${prefix}-mix-*`)
    expect(shards).toBe(6)
    expect(await readPlan(c, `${prefix}-mix-*`, shards)).toEqual({
      kind: 'by-shard',
      groups: [
        { indices: [`${prefix}-mix-a`], shards: 1 },
        { indices: [`${prefix}-mix-b`], shards: 2 },
        { indices: [`${prefix}-mix-c`], shards: 3 },
      ],
    })
    await c.deletePit({ body: { pit_id: [pit] } } as never)
    const totals = new Set<number | undefined>()
    const ids: string[] = []
    const { client: watched, opened } = recordingPits(c)
    for await (const page of readAll(watched, `${prefix}-mix-*`, 4)) {
      totals.add(page.total)
      for (const h of page.hits) ids.push(`${(h as unknown as { _index: string })._index}/${h._id}`)
    }
    expect(ids).toHaveLength(63)
    expect(new Set(ids).size).toBe(63)
    // The progress line's total is the whole target's, counted once.
    expect([...totals]).toEqual([63])
    // Every PIT it opened (the first, then one per shard count) is released; other suites' PITs may be live.
    expect(opened).toHaveLength(4)
    const live = await c.transport.request({ method: 'GET', path: '/_search/point_in_time/_all' })
    expect((live.body as { pits: { pit_id: string }[] }).pits.filter((p) => opened.includes(p.pit_id))).toEqual([])
  })
})
