/**
 * Contract: the project's OpenSearch test server against the real node, request by request, on the read
 * side the product uses. The same indices (same names, mappings, settings and documents) are made on both,
 * every request goes to both over plain HTTP, and the parts of the answers that must agree are compared:
 * hits and their sort values, bucket keys of every type (date, boolean, ip, long, keyword), date math,
 * PIT and search_after, _count, the max_result_window and max_buckets refusals, and the error bodies of
 * bad requests (status, type, root cause). Scores and timings are left out: the test server does not
 * model relevance. What the test server cannot model it must refuse (the last test checks that it does).
 */
import { afterAll, beforeAll, expect, test } from 'vitest'
import { randomBytes } from 'node:crypto'
import { describeOpenSearch, opensearchUrl } from '../helpers/real-servers.js'
import { TestOpenSearch } from './opensearch-server/index.js'
import { call, type Answer, type Json } from './opensearch-contract-call.js'

const NOW = Date.now()
const iso = (ms: number) => new Date(ms).toISOString()
const HOUR = 3_600_000
const DOCS: Json[] = [
  { ts: '2024-03-01T00:00:00.123Z', b: true, ip: '10.0.0.1', k: 'a', n: 5, codes: ['x', 'y'] },
  { ts: 1709251200000, b: false, ip: '::1', k: 'b', n: 7, codes: ['y'] },
  { ts: '2024-03-01', b: 'true', ip: '2001:db8::1', k: 'c', codes: [] },
  { ts: '2024-03-02T10:30:00+02:00', b: false, ip: '192.168.1.9', k: 'a', n: 403 },
  { ts: iso(NOW - HOUR), b: true, ip: '10.0.0.2', k: 'd', n: 5 },
  { ts: iso(NOW - 50 * HOUR), k: 'e' },
  { ts: iso(NOW - 8 * 24 * HOUR), k: 'f', ip: '10.1.2.3' },
  { ts: '2024-02-29T23:59:59.999Z', k: 'g', b: false },
]
const MAPPINGS = {
  properties: {
    ts: { type: 'date' },
    b: { type: 'boolean' },
    ip: { type: 'ip' },
    k: { type: 'keyword' },
    n: { type: 'long' },
    codes: { type: 'keyword' },
  },
}

describeOpenSearch('contract: the test server answers read requests as OpenSearch does', () => {
  const prefix = `envoy-audit-contract-${randomBytes(4).toString('hex')}`
  const A = `${prefix}-a`
  /** Same documents, index.max_result_window 5. */
  const W = `${prefix}-w`
  /** Two dates a day apart: a 1s date_histogram fills 86,401 buckets. */
  const H = `${prefix}-h`
  let srv: TestOpenSearch
  const real = opensearchUrl!
  const both = async (method: string, path: string, body?: unknown): Promise<{ fake: Answer; real: Answer }> => ({
    fake: await call(srv.url, method, path, body),
    real: await call(real, method, path, body),
  })
  const same = async <T>(method: string, path: string, body: unknown, project: (a: Answer) => T): Promise<T> => {
    const r = await both(method, path, body)
    expect(project(r.fake), `${method} ${path} ${JSON.stringify(body)}`).toEqual(project(r.real))
    return project(r.real)
  }

  beforeAll(async () => {
    srv = await TestOpenSearch.start()
    const bulk = (index: string, docs: Json[]) =>
      docs.map((d, i) => `${JSON.stringify({ index: { _index: index, _id: String(i + 1) } })}\n${JSON.stringify(d)}\n`).join('')
    for (const base of [srv.url, real]) {
      for (const [name, settings] of [
        [A, {}],
        [W, { max_result_window: 5 }],
        [H, {}],
      ] as const) {
        const r = await call(base, 'PUT', `/${name}`, {
          settings: { index: { number_of_shards: 1, number_of_replicas: 0, ...settings } },
          mappings: MAPPINGS,
        })
        expect(r.status, JSON.stringify(r.body)).toBe(200)
      }
      for (const [name, docs] of [
        [A, DOCS],
        [W, DOCS],
        [H, [{ ts: '2024-03-01T00:00:00Z' }, { ts: '2024-03-02T00:00:00Z' }]],
      ] as const) {
        const r = await call(base, 'POST', '/_bulk?refresh=true', bulk(name, docs as Json[]))
        expect(r.body.errors, JSON.stringify(r.body)).toBe(false)
      }
    }
  }, 60_000)

  afterAll(async () => {
    await call(real, 'DELETE', `/${prefix}-*`).catch(() => undefined)
    await srv?.close()
  })

  const ids = (a: Answer) => ({
    status: a.status,
    total: a.body.hits?.total,
    ids: (a.body.hits?.hits ?? []).map((h: Json) => h._id).sort(),
  })
  const sorted = (a: Answer) => ({
    status: a.status,
    hits: (a.body.hits?.hits ?? []).map((h: Json) => ({ _id: h._id, _index: h._index, sort: h.sort, _source: h._source })),
  })
  const aggs = (a: Answer) => ({ status: a.status, aggregations: a.body.aggregations })
  const error = (a: Answer) => ({
    status: a.status,
    type: a.body.error?.type,
    root: (a.body.error?.root_cause ?? []).map((c: Json) => ({ type: c.type, reason: c.reason })),
    caused_by: a.body.error?.caused_by?.type,
  })

  test('sorted hits carry sort values: dates as epoch ms, keywords as strings; _source as written', async () => {
    const r = await same('POST', `/${A}/_search`, { size: 20, sort: [{ ts: 'asc' }, { k: 'desc' }] }, sorted)
    expect(r.hits[0]).toMatchObject({ _id: '8', sort: [Date.parse('2024-02-29T23:59:59.999Z'), 'g'] })
    await same(
      'POST',
      `/${A}/_search`,
      { size: 3, sort: [{ n: { order: 'desc' } }, { k: 'asc' }], query: { exists: { field: 'n' } } },
      sorted,
    )
  })

  test('terms keys by type: date epoch ms + key_as_string, boolean 1/0 + "true"/"false", ip text in byte order, long, keyword', async () => {
    const r = await same(
      'POST',
      `/${A}/_search`,
      {
        size: 0,
        aggs: {
          ts: { terms: { field: 'ts', size: 3 } },
          b: { terms: { field: 'b' } },
          ip: { terms: { field: 'ip', order: { _key: 'asc' } } },
          n: { terms: { field: 'n', missing: 0 } },
          k: { terms: { field: 'k', size: 2 } },
          codes: { terms: { field: 'codes' } },
        },
      },
      aggs,
    )
    expect(r.aggregations.b.buckets).toEqual([
      { key: 0, key_as_string: 'false', doc_count: 3 },
      { key: 1, key_as_string: 'true', doc_count: 3 },
    ])
    expect(r.aggregations.ts.buckets[0]).toEqual({ key: 1709251200000, key_as_string: '2024-03-01T00:00:00.000Z', doc_count: 2 })
    expect(r.aggregations.ip.buckets.map((x: Json) => x.key)).toEqual([
      '::1',
      '10.0.0.1',
      '10.0.0.2',
      '10.1.2.3',
      '192.168.1.9',
      '2001:db8::1',
    ])
  })

  test('composite keys by type, paged by after_key to the end: date epoch ms, boolean true/false, missing_bucket null first', async () => {
    const pages: unknown[] = []
    let after: unknown
    for (let i = 0; i < 10; i++) {
      const composite = {
        size: 3,
        sources: [
          { b: { terms: { field: 'b', missing_bucket: true } } },
          { ts: { terms: { field: 'ts' } } },
          { ip: { terms: { field: 'ip', missing_bucket: true } } },
        ],
        ...(after === undefined ? {} : { after }),
      }
      const page = await same(
        'POST',
        `/${A}/_search`,
        { size: 0, aggs: { g: { composite, aggs: { last: { max: { field: 'ts' } }, on: { max: { field: 'b' } } } } } },
        aggs,
      )
      pages.push(page)
      after = page.aggregations.g.after_key
      if (page.aggregations.g.buckets.length < 3) break
    }
    expect(pages.length).toBeGreaterThan(2)
    expect((pages[0] as Json).aggregations.g.buckets[0].key).toEqual({ b: null, ts: Date.parse(DOCS[6]!.ts), ip: '10.1.2.3' })
  })

  test('date_histogram (fixed and calendar), min/max with value_as_string, cardinality, filter and filters', async () => {
    await same(
      'POST',
      `/${A}/_search`,
      {
        size: 0,
        query: { range: { ts: { lt: '2024-03-03' } } },
        aggs: {
          h: { date_histogram: { field: 'ts', fixed_interval: '6h' } },
          d: { date_histogram: { field: 'ts', calendar_interval: 'day', min_doc_count: 1 } },
          first: { min: { field: 'ts' } },
          last: { max: { field: 'ts' } },
          anyTrue: { max: { field: 'b' } },
          nmax: { max: { field: 'n' } },
          ips: { cardinality: { field: 'ip' } },
          t: { filter: { term: { b: true } } },
          f: { filters: { filters: { a: { term: { k: 'a' } }, none: { term: { k: 'zz' } } } } },
        },
      },
      aggs,
    )
    await same(
      'POST',
      `/${A}/_search`,
      { size: 0, query: { match_none: {} }, aggs: { first: { min: { field: 'ts' } }, on: { max: { field: 'b' } } } },
      aggs,
    )
  })

  test('date math and epoch millis in range and term queries, including a rendered monitor window', async () => {
    const periodEnd = NOW
    const ranges: Json[] = [
      { gte: 'now-7d' },
      { gte: 'now-7d/d', lt: 'now/d' },
      { gt: 'now-3d/d' },
      { lte: 'now-1d' },
      { gte: '2024-03-01||/M', lte: '2024-03-01||+1M-1d/d' },
      { lt: '2024-03-01||/d' },
      { lte: '2024-03-01' },
      { gt: '2024-03' },
      { gte: 1709251200100 },
      { gte: '1709251200100' },
      { gte: '2024-03-01T01:00:00+02:00' },
      { lte: '2024-03-01T00:00:00.1' },
      // A monitor's window after the Alerting plugin renders {{period_end}} (epoch ms), in both forms it stores ranges in.
      { gte: `${periodEnd}||-10m`, lte: `${periodEnd}`, format: 'epoch_millis' },
      { from: `${periodEnd}||-7d`, to: `${periodEnd}`, include_lower: true, include_upper: true, format: 'epoch_millis' },
    ]
    let matched = 0
    for (const r of ranges)
      matched += (await same('POST', `/${A}/_search`, { size: 20, query: { bool: { filter: [{ range: { ts: r } }] } } }, ids)).ids.length
    expect(matched).toBeGreaterThan(20)
    for (const t of [
      { ts: '2024-03-01' },
      { ts: 1709251200000 },
      { b: 'true' },
      { b: false },
      { ip: '10.0.0.0/8' },
      { ip: '::1' },
      { n: '403' },
      { codes: 'y' },
    ]) {
      await same('POST', `/${A}/_search`, { size: 20, query: { term: t } }, ids)
    }
    await same('POST', `/${A}/_search`, { size: 20, query: { range: { ip: { gte: '10.0.0.0', lte: '10.255.255.255' } } } }, ids)
  })

  test('_count, track_total_hits false, and a missing index with and without ignore_unavailable', async () => {
    await same('POST', `/${A}/_count`, { query: { term: { b: true } } }, (a) => ({ status: a.status, count: a.body.count }))
    await same('POST', `/${A}/_search`, { size: 1, track_total_hits: false, sort: ['k'] }, (a) => ({
      status: a.status,
      hasTotal: 'total' in (a.body.hits ?? {}),
      n: a.body.hits.hits.length,
    }))
    await same('POST', `/${prefix}-missing/_count`, {}, error)
    await same('POST', `/${prefix}-missing/_search?ignore_unavailable=true`, { size: 0 }, (a) => ({
      status: a.status,
      total: a.body.hits?.total,
    }))
  })

  test('PIT: open, page with search_after to the end, close; no index with a pit; a closed pit is a 404', async () => {
    const open = await both('POST', `/${A}/_search/point_in_time?keep_alive=1m`)
    expect([open.fake.status, open.real.status]).toEqual([200, 200])
    expect(Object.keys(open.fake.body).sort()).toEqual(Object.keys(open.real.body).sort())
    const pages: { fake: string[][]; real: string[][] } = { fake: [], real: [] }
    for (const side of ['fake', 'real'] as const) {
      const base = side === 'fake' ? srv.url : real
      const pit = open[side].body.pit_id as string
      let after: unknown
      for (;;) {
        const r = await call(base, 'POST', '/_search', {
          size: 3,
          pit: { id: pit, keep_alive: '1m' },
          sort: [{ ts: 'desc' }, { k: 'asc' }],
          ...(after === undefined ? {} : { search_after: after }),
        })
        expect(r.status).toBe(200)
        expect(r.body.pit_id).toBeTypeOf('string')
        const hits = r.body.hits.hits as Json[]
        pages[side].push(hits.map((h) => h._id))
        if (hits.length < 3) break
        after = hits[hits.length - 1]!.sort
      }
    }
    expect(pages.fake).toEqual(pages.real)
    expect(pages.real.flat()).toHaveLength(DOCS.length)
    const withIndex = await both('POST', `/${A}/_search`, { pit: { id: open.real.body.pit_id } })
    expect(error(withIndex.fake)).toEqual(error(withIndex.real))
    const closed: Answer[] = []
    for (const side of ['fake', 'real'] as const) {
      const base = side === 'fake' ? srv.url : real
      const del = await call(base, 'DELETE', '/_search/point_in_time', { pit_id: [open[side].body.pit_id] })
      expect(del).toEqual({ status: 200, body: { pits: [{ successful: true, pit_id: open[side].body.pit_id }] } })
      closed.push(await call(base, 'POST', '/_search', { pit: { id: open[side].body.pit_id } }))
    }
    expect({ ...error(closed[0]!), root: closed[0]!.body.error.root_cause.map((c: Json) => c.type) }).toEqual({
      ...error(closed[1]!),
      root: closed[1]!.body.error.root_cause.map((c: Json) => c.type),
    })
    await same('POST', `/${A}/_search/point_in_time`, undefined, error)
  })

  test('PIT over two indices paged on _doc then _index (as verify reads): same pages and sort values; settings give shards', async () => {
    const pages: { fake: unknown[][]; real: unknown[][] } = { fake: [], real: [] }
    for (const side of ['fake', 'real'] as const) {
      const base = side === 'fake' ? srv.url : real
      const open = await call(base, 'POST', `/${A},${W}/_search/point_in_time?keep_alive=1m`)
      expect(open.body._shards.total).toBe(2)
      let after: unknown
      try {
        for (;;) {
          const r = await call(base, 'POST', '/_search', {
            size: 4,
            pit: { id: open.body.pit_id, keep_alive: '1m' },
            sort: [{ _doc: 'asc' }, { _index: 'asc' }],
            ...(after === undefined ? {} : { search_after: after }),
          })
          expect(r.status, JSON.stringify(r.body)).toBe(200)
          const hits = r.body.hits.hits as Json[]
          pages[side].push(hits.map((h) => [h._index, h._id, h.sort]))
          if (hits.length < 4) break
          after = hits[hits.length - 1]!.sort
        }
      } finally {
        await call(base, 'DELETE', '/_search/point_in_time', { pit_id: [open.body.pit_id] })
      }
    }
    expect(pages.fake).toEqual(pages.real)
    expect(pages.real.flat()).toHaveLength(2 * DOCS.length)
    const shards = (a: Answer) => ({ status: a.status, body: a.body })
    await same('GET', `/${A},${W}/_settings/index.number_of_shards?flat_settings=true`, undefined, shards)
  })

  test('index.max_result_window: from + size, a scroll batch, and search_after pages within it', async () => {
    await same('POST', `/${W}/_search`, { from: 3, size: 3 }, error)
    await same('POST', `/${W}/_search?scroll=1m`, { size: 6 }, error)
    await same('POST', `/${W}/_search`, { from: 2, size: 3, sort: ['k', { ts: 'asc' }] }, sorted)
    await same('POST', `/${A}/_search`, { from: 9995, size: 10 }, error)
  })

  test('search.max_buckets: a 1s date_histogram over a day (86,401 buckets) is refused whole with the same body', async () => {
    const r = await same(
      'POST',
      `/${H}/_search`,
      { size: 0, aggs: { h: { date_histogram: { field: 'ts', fixed_interval: '1s' } } } },
      (a) => ({
        status: a.status,
        type: a.body.error?.type,
        root: a.body.error?.root_cause,
        caused_by: a.body.error?.caused_by?.type,
        max_buckets: a.body.error?.caused_by?.max_buckets,
        reason: String(a.body.error?.caused_by?.reason).replace(/but was \[\d+\]/, 'but was [N]'),
      }),
    )
    expect(r).toMatchObject({ status: 503, caused_by: 'too_many_buckets_exception', max_buckets: 65_535 })
    await same('POST', `/${H}/_search`, { size: 0, aggs: { h: { date_histogram: { field: 'ts', fixed_interval: '1h' } } } }, aggs)
  })

  test('error bodies of bad requests: status, type and root cause', async () => {
    const bad: Json[] = [
      { query: { frobnicate: { ts: 1 } } },
      { size: 0, aggs: { x: { frobnicate: { field: 'ts' } } } },
      { query: { range: { ts: { gte: 'yesterday' } } } },
      { query: { range: { ts: { gte: '2024-03-01 00:00:00' } } } },
      { query: { range: { ts: { gte: 'now-7x' } } } },
      // A monitor query sent without rendering its mustache.
      { query: { range: { ts: { gte: '{{period_end}}||-5m', format: 'epoch_millis' } } } },
      { query: { range: { ts: { gte: 1709251200100, format: 'strict_date_optional_time' } } } },
      { query: { term: { ip: 'nope' } } },
      { query: { term: { n: 'abc' } } },
      { search_after: [1] },
      { sort: [{ ts: 'asc' }], search_after: [1, 2] },
      { from: 1, sort: [{ ts: 'asc' }], search_after: [1] },
    ]
    for (const body of bad) await same('POST', `/${A}/_search`, body, error)
  })

  test('the test server refuses what it does not model instead of answering loosely (400, named)', async () => {
    for (const body of [
      { query: { range: { ts: { gte: '01/03/2024', format: 'dd/MM/yyyy' } } } },
      { query: { range: { ts: { gte: '2024-03-01T01:00:00', time_zone: '+01:00' } } } },
      { size: 0, aggs: { t: { terms: { field: 'k', include: 'a.*' } } } },
    ]) {
      const r = await both('POST', `/${A}/_search`, body)
      expect(r.real.status).toBe(200)
      expect(r.fake.status).toBe(400)
      expect(r.fake.body.error.reason).toMatch(/not modelled by the test server/)
    }
  })
})
