/**
 * src/store/opensearch-read.ts on the test server, whose limits and error bodies the contract test
 * (test/support/opensearch-contract.test.ts) holds to the real node's: a refused composite page is
 * asked again at half the size, not retried as it was; an outage is retried; a point in time is
 * always deleted; errors name the root cause.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest'
import { Client } from '@opensearch-project/opensearch'
import {
  bucketLimitOf,
  compositeAll,
  describeSearchError,
  hitsAll,
  resultWindowOf,
  searchOnce,
  type ReadTarget,
} from '../../src/store/opensearch-read.js'
import { TestOpenSearch } from '../support/opensearch-server/index.js'
import { setMaxBuckets } from '../support/opensearch-server/search-handler.js'

let srv: TestOpenSearch
let client: Client
const INDEX = 'reads'
const t = (): ReadTarget => ({ client, index: INDEX, what: 'test read' })
const searches = () => srv.requests.filter((r) => r.path.endsWith('/_search') || r.path === '/_search')

beforeAll(async () => {
  srv = await TestOpenSearch.start()
  client = new Client({ node: srv.url })
  await client.indices.create({
    index: INDEX,
    body: {
      settings: { index: { max_result_window: 25 } },
      mappings: { properties: { k: { type: 'keyword' }, tag: { type: 'keyword' }, n: { type: 'long' } } },
    },
  })
  const body = Array.from({ length: 60 }, (_, i) => [
    { index: { _index: INDEX, _id: String(i) } },
    { k: `k${String(i).padStart(2, '0')}`, tag: ['a', 'b', 'c', 'd'], n: i },
  ]).flat()
  await client.bulk({ body, refresh: true } as never)
})
afterAll(async () => {
  await client.close()
  await srv.close()
})
beforeEach(() => {
  srv.requests.length = 0
  srv.faults.clear()
  setMaxBuckets(srv.state, 65_535)
})

describe('compositeAll', () => {
  const sources = [{ k: { terms: { field: 'k' } } }]
  const sub = { tags: { terms: { field: 'tag' } } }

  test('a page refused for search.max_buckets is asked again at half the size, once, and the walk completes', async () => {
    // 5 buckets per key (the key and its 4 tags): 20 keys = 100 > 60, 10 keys = 50 fit.
    setMaxBuckets(srv.state, 60)
    const buckets = await compositeAll(t(), { match_all: {} }, sources, sub, { pageSize: 20, maxKeys: 1000 })
    expect(buckets.map((b) => b.key.k)).toEqual(Array.from({ length: 60 }, (_, i) => `k${String(i).padStart(2, '0')}`))
    // 20 refused, then 10 per page: six full pages and a seventh that comes back empty.
    expect(searches().map((r) => JSON.parse(r.body.toString()).aggs.groups.composite.size)).toEqual([20, 10, 10, 10, 10, 10, 10, 10])
  })

  test('one key whose own sub-aggregations exceed the limit is an error naming search.max_buckets', async () => {
    setMaxBuckets(srv.state, 3)
    await expect(compositeAll(t(), { match_all: {} }, sources, sub, { pageSize: 8, maxKeys: 1000 })).rejects.toMatchObject({
      code: 'EA_STORE_QUERY',
      message: expect.stringContaining('search.max_buckets (3)'),
    })
    expect(searches().map((r) => JSON.parse(r.body.toString()).aggs.groups.composite.size)).toEqual([8, 4, 2, 1])
  })

  test('maxKeys bounds the walk', async () => {
    await expect(compositeAll(t(), { match_all: {} }, sources, {}, { pageSize: 10, maxKeys: 25 })).rejects.toThrow(
      /maxBuckets \(25 groups\)/,
    )
  })
})

describe('searchOnce', () => {
  test('an outage (503 twice, then a dropped connection) is retried; the answer comes through', async () => {
    srv.faults.failRequests(/_search/, 503, 2)
    srv.faults.failRequests(/_search/, 'destroy', 1)
    const body = await searchOnce(t(), { size: 0, query: { match_all: {} } })
    expect((body.hits as { total: { value: number } }).total.value).toBe(60)
    expect(searches()).toHaveLength(4)
  })

  test("a 400 is not retried, and the message names the shard's root cause", async () => {
    await expect(searchOnce(t(), { query: { term: { n: 'abc' } } })).rejects.toMatchObject({
      code: 'EA_STORE_QUERY',
      message: 'test read on reads failed (HTTP 400): query_shard_exception: failed to create query: For input string: "abc"',
    })
    expect(searches()).toHaveLength(1)
  })

  test('a missing index reads as empty', async () => {
    const body = await searchOnce({ ...t(), index: 'nothing-here' }, { size: 0 })
    expect((body.hits as { total: { value: number } }).total.value).toBe(0)
  })
})

describe('hitsAll', () => {
  const sort = [{ n: { order: 'desc' } }]
  const ns = (hits: { _source: Record<string, unknown> }[]) => hits.map((h) => h._source.n)

  test('within one page: one plain search, no point in time', async () => {
    expect(ns(await hitsAll(t(), { match_all: {} }, sort, 5, { pageSize: 10 }))).toEqual([59, 58, 57, 56, 55])
    expect(srv.requests.map((r) => `${r.method} ${r.path}`)).toEqual([`POST /${INDEX}/_search`])
  })

  test('past max_result_window: pages of the window with search_after in a PIT, which is deleted', async () => {
    const hits = await hitsAll(t(), { range: { n: { gte: 3 } } }, sort, 1000, { pageSize: 40 })
    expect(ns(hits)).toEqual(Array.from({ length: 57 }, (_, i) => 59 - i))
    const sizes = searches().map((r) => JSON.parse(r.body.toString()).size)
    // 40 refused by the window of 25, then 25, 25 and the last 7.
    expect(sizes).toEqual([40, 25, 25, 25])
    expect(srv.requests.filter((r) => r.path.includes('point_in_time')).map((r) => r.method)).toEqual(['POST', 'DELETE'])
    expect((await client.transport.request({ method: 'GET', path: '/_search/point_in_time/_all' })).body).toEqual({ pits: [] })
  })

  test('the PIT is deleted when a page fails', async () => {
    srv.faults.failRequests(/^POST \/_search$/, 400, 1)
    await expect(hitsAll(t(), { match_all: {} }, sort, 100, { pageSize: 20 })).rejects.toMatchObject({ code: 'EA_STORE_QUERY' })
    expect((await client.transport.request({ method: 'GET', path: '/_search/point_in_time/_all' })).body).toEqual({ pits: [] })
  })
})

test("refusals are recognised from OpenSearch's bodies: bucket limit under caused_by, window under root_cause", () => {
  const buckets = {
    statusCode: 503,
    body: {
      error: {
        root_cause: [],
        type: 'search_phase_execution_exception',
        reason: '',
        caused_by: {
          type: 'too_many_buckets_exception',
          reason: 'Trying to create too many buckets. Must be less than or equal to: [65535] but was [65536].',
          max_buckets: 65535,
        },
      },
    },
  }
  expect(bucketLimitOf(buckets)).toBe(65_535)
  expect(resultWindowOf(buckets)).toBeUndefined()
  const window = {
    statusCode: 400,
    body: {
      error: {
        root_cause: [
          {
            type: 'illegal_argument_exception',
            reason: 'Result window is too large, from + size must be less than or equal to: [10000] but was [10005]. See the scroll api',
          },
        ],
        type: 'search_phase_execution_exception',
        reason: 'all shards failed',
      },
    },
  }
  expect(resultWindowOf(window)).toBe(10_000)
  expect(describeSearchError(window)).toMatch(/^illegal_argument_exception: Result window is too large/)
  expect(describeSearchError(buckets)).toMatch(/^too_many_buckets_exception: Trying/)
  expect(describeSearchError({ statusCode: 400, body: { error: 'no handler found for uri [/x] and method [GET]' } })).toBe(
    'no handler found for uri [/x] and method [GET]',
  )
})
