/**
 * Tests of the OpenSearch test server itself, through the real @opensearch-project/opensearch client:
 * if the double drifts from the shapes the client needs, the product tests built on it mean nothing.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { Client } from '@opensearch-project/opensearch'
import { TestOpenSearch, applyFilterPath, failByRate } from './opensearch-server/index.js'

let srv: TestOpenSearch
let client: Client

beforeAll(async () => {
  srv = await TestOpenSearch.start()
  client = new Client({ node: srv.url, maxRetries: 0 })
})
afterAll(async () => {
  await client.close()
  await srv.close()
})
afterEach(() => {
  srv.faults.clear()
  srv.seen.clear()
  for (const name of [...srv.state.indices.keys()]) srv.state.deleteIndex(name)
  srv.state.templates.clear()
  srv.state.policies.clear()
})

const ndjson = (...lines: object[]) => lines.map((l) => JSON.stringify(l)).join('\n') + '\n'

describe('test server: product check and errors', () => {
  test('GET / answers what client.info() reads, and says it is a test server', async () => {
    const { body } = await client.info()
    expect(body.version.distribution).toBe('opensearch')
    expect(typeof body.version.number).toBe('string')
    expect(body.tagline).toContain('not OpenSearch')
  })

  test('unknown endpoints and unsupported queries fail loudly instead of matching everything', async () => {
    await expect(client.transport.request({ method: 'POST', path: '/_reindex' })).rejects.toMatchObject({ statusCode: 400 })
    await client.indices.create({ index: 'x' })
    await expect(client.search({ index: 'x', body: { query: { fuzzy: { a: 'b' } } } as never })).rejects.toMatchObject({ statusCode: 400 })
  })
})

describe('test server: _bulk', () => {
  test('per-item results in request order, 409 on create of an existing _id, index overwrites', async () => {
    const body = ndjson(
      { create: { _index: 'a', _id: '1' } },
      { v: 1 },
      { create: { _index: 'a', _id: '1' } },
      { v: 2 },
      { index: { _index: 'a', _id: '1' } },
      { v: 3 },
    )
    const res = await client.bulk({ body: body as never })
    expect(res.statusCode).toBe(200)
    expect(res.body.errors).toBe(true)
    expect(res.body.items.map((i) => Object.values(i)[0]!.status)).toEqual([201, 409, 200])
    expect((res.body.items[1]!.create as { error: { type: string } }).error.type).toBe('version_conflict_engine_exception')
    expect(srv.docs('a').map((d) => d._source)).toEqual([{ v: 3 }])
  })

  test('gzip request bodies and filter_path', async () => {
    const gz = new Client({ node: srv.url, compression: 'gzip' })
    const res = await gz.bulk({
      body: ndjson({ create: { _index: 'a', _id: '1' } }, { v: 1 }) as never,
      filter_path: 'errors,items.*.status',
    })
    await gz.close()
    expect(res.body).toEqual({ errors: false, items: [{ create: { status: 201 } }] })
    expect(srv.requests.at(-1)!.headers['content-encoding']).toBe('gzip')
  })

  test('writes through an alias go to its write index; no write index is a per-item error', async () => {
    await client.indices.create({ index: 'w-000001', body: { aliases: { w: { is_write_index: true } } } })
    await client.indices.create({ index: 'w-000002', body: { aliases: { w: {} } } })
    await client.bulk({ body: ndjson({ create: { _index: 'w', _id: '1' } }, { v: 1 }) as never })
    expect(srv.docs('w-000001')).toHaveLength(1)
    srv.state.aliases.get('w')!.get('w-000001')!.is_write_index = false
    const res = await client.bulk({ body: ndjson({ create: { _index: 'w', _id: '2' } }, { v: 1 }) as never })
    expect(res.body.items[0]!.create!.status).toBe(400)
  })

  test('injected item faults by rate are deterministic and attempt-aware', async () => {
    srv.faults.item = failByRate(429, 0.5, 's')
    const lines = Array.from({ length: 200 }, (_, i) => [{ create: { _index: 'a', _id: String(i) } }, { i }]).flat()
    const first = await client.bulk({ body: ndjson(...lines) as never })
    const failed = first.body.items.filter((i) => i.create!.status === 429).length
    expect(failed).toBeGreaterThan(60)
    expect(failed).toBeLessThan(140)
    expect((first.body.items.find((i) => i.create!.status === 429)!.create as { error: { type: string } }).error.type).toBe(
      'rejected_execution_exception',
    )
    const second = await client.bulk({ body: ndjson(...lines) as never })
    // Every item gets a fresh draw on its second attempt; those let through conflict if stored the first time.
    const stored = new Set(first.body.items.filter((i) => i.create!.status === 201).map((i) => i.create!._id))
    const through = second.body.items.filter((i) => i.create!.status !== 429)
    expect(through.length).toBeGreaterThan(60)
    for (const i of through) expect(i.create!.status).toBe(stored.has(i.create!._id) ? 409 : 201)
    expect(second.body.items.map((i) => i.create!.status)).not.toEqual(first.body.items.map((i) => i.create!.status))
  })

  test('request faults: status N times, destroyed sockets, and latency', async () => {
    srv.faults.failRequests(/_bulk/, 503, 2)
    await expect(client.bulk({ body: ndjson({ create: { _index: 'a', _id: '1' } }, {}) as never })).rejects.toMatchObject({
      statusCode: 503,
    })
    await expect(client.bulk({ body: ndjson({ create: { _index: 'a', _id: '1' } }, {}) as never })).rejects.toMatchObject({
      statusCode: 503,
    })
    srv.faults.failRequests(/_bulk/, 'destroy', 1)
    await expect(client.bulk({ body: ndjson({ create: { _index: 'a', _id: '1' } }, {}) as never })).rejects.toMatchObject({
      name: 'ConnectionError',
    })
    srv.faults.latencyMs = 120
    const t0 = Date.now()
    await client.bulk({ body: ndjson({ create: { _index: 'a', _id: '1' } }, {}) as never })
    expect(Date.now() - t0).toBeGreaterThanOrEqual(110)
  })

  test('malformed action lines fail the whole request with 400', async () => {
    await expect(client.bulk({ body: 'not json\n{}\n' as never })).rejects.toMatchObject({ statusCode: 400 })
  })
})

describe('test server: templates, ISM, indices', () => {
  test('index template PUT/GET/HEAD and application to new indices, strict mappings enforced', async () => {
    await client.indices.putIndexTemplate({
      name: 't',
      body: {
        index_patterns: ['t-*'],
        version: 3,
        template: { mappings: { dynamic: 'strict', properties: { ip: { type: 'ip' } } } },
      } as never,
    })
    expect((await client.indices.existsIndexTemplate({ name: 't' })).body).toBe(true)
    expect((await client.indices.existsIndexTemplate({ name: 'nope' })).body).toBe(false)
    const got = await client.indices.getIndexTemplate({ name: 't' })
    expect(got.body.index_templates[0]!.index_template.version).toBe(3)
    const res = await client.bulk({
      body: ndjson(
        { create: { _index: 't-1', _id: '1' } },
        { ip: 'x' },
        { create: { _index: 't-1', _id: '2' } },
        { other: 1 },
        { create: { _index: 't-1', _id: '3' } },
        { ip: '::1' },
      ) as never,
    })
    expect(res.body.items.map((i) => [i.create!.status, (i.create!.error as { type?: string } | undefined)?.type])).toEqual([
      [400, 'mapper_parsing_exception'],
      [400, 'strict_dynamic_mapping_exception'],
      [201, undefined],
    ])
  })

  test('strict by default: the same bulk is refused item by item unless the server runs in bench mode (checkMappings: false)', async () => {
    const template = {
      name: 'strict',
      body: { index_patterns: ['s-*'], template: { mappings: { dynamic: 'strict', properties: { ip: { type: 'ip' } } } } } as never,
    }
    const bulk = ndjson({ create: { _index: 's-1', _id: '1' } }, { ip: 'x' }, { create: { _index: 's-1', _id: '2' } }, { other: 1 })
    const statuses = async (c: Client): Promise<unknown[]> => {
      await c.indices.putIndexTemplate(template)
      const res = await c.bulk({ body: bulk as never })
      return res.body.items.map((i) => [i.create!.status, (i.create!.error as { type?: string } | undefined)?.type])
    }
    const strictServer = await TestOpenSearch.start()
    const benchServer = await TestOpenSearch.start({ checkMappings: false })
    const strictClient = new Client({ node: strictServer.url, maxRetries: 0 })
    const benchClient = new Client({ node: benchServer.url, maxRetries: 0 })
    try {
      expect(await statuses(strictClient)).toEqual([
        [400, 'mapper_parsing_exception'],
        [400, 'strict_dynamic_mapping_exception'],
      ])
      expect(await statuses(benchClient)).toEqual([
        [201, undefined],
        [201, undefined],
      ])
      // Bench mode parses a document only when it is read: what is read back is what was written.
      await benchClient.indices.refresh({ index: 's-1' })
      const found = await benchClient.search({ index: 's-1', body: { query: { term: { other: 1 } } } as never })
      expect(found.body.hits.hits.map((h) => [h._id, h._source])).toEqual([['2', { other: 1 }]])
      const got = await benchClient.mget({ index: 's-1', body: { ids: ['1', '2'] } })
      expect(got.body.docs.map((d) => (d as { _source?: unknown })._source)).toEqual([{ ip: 'x' }, { other: 1 }])
    } finally {
      await strictClient.close()
      await benchClient.close()
      await strictServer.close()
      await benchServer.close()
    }
  })

  test('ISM: 201, 409 on re-PUT without seq_no, 200 with the right seq_no/primary_term', async () => {
    const path = '/_plugins/_ism/policies/p'
    const body = {
      policy: { description: 'd', default_state: 'hot', states: [{ name: 'hot', actions: [{ read_only: {} }], transitions: [] }] },
    }
    expect((await client.transport.request({ method: 'PUT', path, body })).statusCode).toBe(201)
    await expect(client.transport.request({ method: 'PUT', path, body })).rejects.toMatchObject({ statusCode: 409 })
    const got = (await client.transport.request({ method: 'GET', path })).body as {
      _seq_no: number
      _primary_term: number
      policy: { policy_id: string; states: { actions: { retry: unknown }[] }[] }
    }
    expect(got.policy.policy_id).toBe('p')
    expect(got.policy.states[0]!.actions[0]!.retry).toBeDefined() // as real ISM fills action defaults
    await expect(
      client.transport.request({ method: 'PUT', path, body, querystring: { if_seq_no: got._seq_no + 1, if_primary_term: 1 } }),
    ).rejects.toMatchObject({ statusCode: 409 })
    expect(
      (
        await client.transport.request({
          method: 'PUT',
          path,
          body,
          querystring: { if_seq_no: got._seq_no, if_primary_term: got._primary_term },
        })
      ).statusCode,
    ).toBe(200)
  })

  test('aliases: one write index only, _alias GET/HEAD, index exists', async () => {
    await client.indices.create({ index: 'e-000001', body: { aliases: { e: { is_write_index: true } } } })
    await expect(client.indices.create({ index: 'e-000002', body: { aliases: { e: { is_write_index: true } } } })).rejects.toMatchObject({
      statusCode: 400,
    })
    expect((await client.indices.existsAlias({ name: 'e' })).body).toBe(true)
    expect((await client.indices.getAlias({ name: 'e' })).body).toEqual({ 'e-000001': { aliases: { e: { is_write_index: true } } } })
    await expect(client.indices.create({ index: 'e-000001' })).rejects.toMatchObject({ statusCode: 400 })
  })
})

describe('test server: _search and _count', () => {
  test('_count with no query counts what search sees: nothing written since the last refresh, every index of a pattern', async () => {
    await client.indices.create({ index: 'c-1', body: { settings: { refresh_interval: '-1' } } as never })
    await client.indices.create({ index: 'c-2', body: { settings: { refresh_interval: '-1' } } as never })
    await client.bulk({
      body: ndjson({ create: { _index: 'c-1', _id: '1' } }, { a: 1 }, { create: { _index: 'c-2', _id: '2' } }, { a: 2 }) as never,
    })
    expect((await client.count({ index: 'c-*' })).body.count).toBe(0)
    await client.indices.refresh({ index: 'c-1' })
    expect((await client.count({ index: 'c-*' })).body.count).toBe(1)
    await client.indices.refresh({ index: 'c-2' })
    expect((await client.count({ index: 'c-*' })).body.count).toBe(2)
    expect((await client.count({ index: 'c-*', body: { query: { term: { a: 2 } } } })).body.count).toBe(1)
  })

  test('bool/term/terms/range/exists/wildcard, sort, size, and the aggregations the store uses', async () => {
    const docs = [
      { t: '2024-01-01T00:00:00.000Z', ns: 'a', code: ['x', 'y'], n: 1 },
      { t: '2024-01-02T00:00:00.000Z', ns: 'a', code: ['y'], n: 5 },
      { t: '2024-01-03T00:00:00.000Z', ns: 'b', n: 10 },
    ]
    await client.bulk({ body: ndjson(...docs.flatMap((d, i) => [{ create: { _index: 's', _id: String(i) } }, d])) as never })
    await client.indices.refresh({ index: 's' })
    expect((await client.count({ index: 's', body: { query: { term: { ns: 'a' } } } })).body.count).toBe(2)
    const q = (query: object) =>
      client
        .search({ index: 's', body: { query, sort: [{ t: { order: 'desc' } }] } as never })
        .then((r) => r.body.hits.hits.map((h) => h._id))
    expect(await q({ terms: { code: ['x'] } })).toEqual(['0'])
    expect(await q({ range: { t: { gte: '2024-01-02', lt: '2024-01-03T00:00:00.000Z' } } })).toEqual(['1'])
    expect(await q({ bool: { must_not: [{ exists: { field: 'code' } }] } })).toEqual(['2'])
    expect(await q({ bool: { should: [{ term: { n: 1 } }, { wildcard: { ns: 'b*' } }], minimum_should_match: 1 } })).toEqual(['2', '0'])
    const res = await client.search({
      index: 's',
      body: {
        size: 0,
        aggs: {
          g: {
            composite: {
              size: 1,
              sources: [{ ns: { terms: { field: 'ns' } } }, { c: { terms: { field: 'code', missing_bucket: true } } }],
            },
            aggs: { last: { max: { field: 't' } } },
          },
          f: { filters: { filters: { big: { range: { n: { gte: 5 } } } } } },
          total: { sum: { field: 'n' } },
          codes: { terms: { field: 'code', size: 1 } },
        },
      } as never,
    })
    const aggs = res.body.aggregations as Record<string, any>
    expect(aggs.g.buckets).toEqual([
      { key: { ns: 'a', c: 'x' }, doc_count: 1, last: { value: Date.parse(docs[0]!.t), value_as_string: docs[0]!.t } },
    ])
    expect(aggs.g.after_key).toEqual({ ns: 'a', c: 'x' })
    expect(aggs.f.buckets.big.doc_count).toBe(2)
    expect(aggs.total.value).toBe(16)
    expect(aggs.codes).toEqual({ doc_count_error_upper_bound: 0, sum_other_doc_count: 1, buckets: [{ key: 'y', doc_count: 2 }] })
    // Page on with after_key: the multi-valued field gives one bucket per value; missing_bucket gives null.
    const keys: unknown[] = []
    let after: unknown
    for (;;) {
      const page = await client.search({
        index: 's',
        body: {
          size: 0,
          aggs: {
            g: {
              composite: {
                size: 1,
                ...(after ? { after } : {}),
                sources: [{ ns: { terms: { field: 'ns' } } }, { c: { terms: { field: 'code', missing_bucket: true } } }],
              },
            },
          },
        } as never,
      })
      const g = (page.body.aggregations as Record<string, any>).g
      if (g.buckets.length === 0) break
      keys.push(...g.buckets.map((b: { key: unknown }) => b.key))
      after = g.after_key
    }
    expect(keys).toEqual([
      { ns: 'a', c: 'x' },
      { ns: 'a', c: 'y' },
      { ns: 'b', c: null },
    ])
  })
})

test('applyFilterPath keeps only matching paths through arrays', () => {
  expect(applyFilterPath({ took: 1, errors: false, items: [{ create: { status: 201, _id: 'a' } }] }, 'errors,items.*.status')).toEqual({
    errors: false,
    items: [{ create: { status: 201 } }],
  })
})

test('runs as a child process and prints {"port":N}', async () => {
  const tsx = new URL('../../node_modules/.bin/tsx', import.meta.url).pathname
  const child = spawn(tsx, [new URL('./opensearch-server/cli.ts', import.meta.url).pathname], { stdio: ['pipe', 'pipe', 'inherit'] })
  try {
    const line = await new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once('line', resolve))
    const { port } = JSON.parse(line) as { port: number }
    const c = new Client({ node: `http://127.0.0.1:${port}` })
    expect((await c.info()).body.version.distribution).toBe('opensearch')
    await c.close()
  } finally {
    child.kill('SIGTERM')
  }
})
