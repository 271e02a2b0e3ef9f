/**
 * Contract, write side: the same requests to the project's OpenSearch test server and to the real node,
 * the parts of the answers the product reads compared. Bulk create/index with conflicts and mapping
 * errors (per-item status and error type, `errors`), a whole bulk refused (`_id` over 512 bytes, no final
 * newline), near-real-time visibility (_count before and after _refresh, refresh=true|wait_for, realtime
 * mget and GET), index templates that attach an alias, _rollover (and its refusals), write blocks and
 * settings, the 413 over http.max_content_length, and a node without the ISM plugin. Reasons are
 * compared where the product shows them (blocks, rollover, validation); mapping-error texts differ in
 * wording and are compared by the field they name.
 */
import { afterAll, beforeAll, expect, test } from 'vitest'
import { randomBytes } from 'node:crypto'
import { describeOpenSearch, opensearchPlugins, opensearchUrl } from '../helpers/real-servers.js'
import { TestOpenSearch } from './opensearch-server/index.js'
import { call, type Answer, type Json } from './opensearch-contract-call.js'

const ndjson = (ops: [Json, Json?][]): string =>
  ops.map(([a, d]) => `${JSON.stringify(a)}\n${d === undefined ? '' : `${JSON.stringify(d)}\n`}`).join('')
const MAPPINGS = {
  dynamic: 'strict',
  properties: { ts: { type: 'date' }, ip: { type: 'ip' }, k: { type: 'keyword' }, n: { type: 'long' } },
}

/** What the sink reads of a bulk item. */
function item(entry: Json): Json {
  const [action, v] = Object.entries(entry)[0] as [string, Json]
  const out: Json = { action, status: v.status, _index: v._index, _id: v._id }
  if (v.result !== undefined) out.result = v.result
  if (v._version !== undefined) out._version = v._version
  if (v.error !== undefined) out.error = v.error.type
  return out
}

describeOpenSearch('contract: the test server answers write requests as OpenSearch does', () => {
  const prefix = `ea-wcontract-${randomBytes(4).toString('hex')}`
  let srv: TestOpenSearch
  const real = opensearchUrl!
  const both = async (method: string, path: string, body?: unknown): Promise<{ fake: Answer; real: Answer }> => ({
    fake: await call(srv.url, method, path, body),
    real: await call(real, method, path, body),
  })
  const same = async <T>(method: string, path: string, body: unknown, project: (a: Answer) => T): Promise<T> => {
    const r = await both(method, path, body)
    expect(project(r.fake), `${method} ${path}`).toEqual(project(r.real))
    return project(r.real)
  }
  const status = (a: Answer) => ({ status: a.status, type: a.body.error?.type ?? a.body.error, reason: a.body.error?.reason })

  beforeAll(async () => {
    srv = await TestOpenSearch.start()
  })

  afterAll(async () => {
    await call(real, 'PUT', `/${prefix}-*/_settings`, { 'index.blocks.write': null, 'index.blocks.read_only': null }).catch(() => undefined)
    await call(real, 'DELETE', `/${prefix}-*`).catch(() => undefined)
    await call(real, 'DELETE', `/_index_template/${prefix}-t`).catch(() => undefined)
    await srv?.close()
  })

  test('bulk create and index: created, 409 on a second create, updated, strict mapping errors and auto-created indices, item by item', async () => {
    const S = `${prefix}-strict`
    await same('PUT', `/${S}`, { settings: { number_of_shards: 1, number_of_replicas: 0 }, mappings: MAPPINGS }, (a) => a.status)
    const body = ndjson([
      [{ create: { _index: S, _id: '1' } }, { ts: '2026-03-01T00:00:00Z', k: 'a', n: 1 }],
      [{ create: { _index: S, _id: '1' } }, { ts: '2026-03-01T00:00:00Z', k: 'a', n: 1 }],
      [{ index: { _index: S, _id: '1' } }, { ts: '2026-03-01T00:00:00Z', k: 'b', n: 2 }],
      [{ create: { _index: S, _id: '2' } }, { n: 'abc' }],
      [{ create: { _index: S, _id: '3' } }, { ip: 'not-an-ip' }],
      [{ create: { _index: S, _id: '4' } }, { unknown: 1 }],
      [{ create: { _index: S, _id: '5' } }, { ts: 'yesterday' }],
      [{ create: { _index: `${prefix}-auto`, _id: '6' } }, { any: 'thing' }],
    ])
    const r = await both('POST', '/_bulk', body)
    expect(r.fake.status).toBe(r.real.status)
    expect(r.fake.body.errors).toBe(r.real.body.errors)
    expect(r.fake.body.items.map(item)).toEqual(r.real.body.items.map(item))
    // The reasons name the field in both (the dead letter shows them).
    const fields = (a: Answer) =>
      a.body.items.map((e: Json) => /\[([a-z_.]+)\]/.exec(String((Object.values(e)[0] as Json).error?.reason ?? ''))?.[1] ?? null)
    expect(fields(r.fake)).toEqual(fields(r.real))
  })

  test('a whole bulk refused: an _id over 512 bytes, a body without its final newline', async () => {
    const long = 'x'.repeat(513)
    await same(
      'POST',
      '/_bulk',
      ndjson([
        [{ create: { _index: `${prefix}-ids`, _id: 'ok' } }, { a: 1 }],
        [{ create: { _index: `${prefix}-ids`, _id: long } }, { a: 1 }],
      ]),
      status,
    )
    await same('POST', '/_bulk', `${JSON.stringify({ create: { _index: `${prefix}-ids`, _id: 'y' } })}\n{"a":1}`, (a) => ({
      status: a.status,
      type: a.body.error?.type,
    }))
    await same('GET', `/${prefix}-ids/_count`, undefined, (a) => a.status)
  })

  test('near-real-time: a write is in GET and mget at once, in search and _count only after a refresh', async () => {
    const N = `${prefix}-nrt`
    await same(
      'PUT',
      `/${N}`,
      { settings: { number_of_shards: 1, number_of_replicas: 0, refresh_interval: '-1' }, mappings: MAPPINGS },
      (a) => a.status,
    )
    await same('POST', '/_bulk', ndjson([[{ create: { _index: N, _id: 'a' } }, { k: 'a' }]]), (a) => a.body.errors)
    await same('GET', `/${N}/_count`, undefined, (a) => a.body.count)
    await same('POST', `/${N}/_search`, { query: { match_all: {} } }, (a) => a.body.hits.total.value)
    await same(
      'POST',
      '/_mget',
      {
        docs: [
          { _index: N, _id: 'a' },
          { _index: N, _id: 'missing' },
          { _index: `${prefix}-no-such-index`, _id: 'a' },
        ],
      },
      (a) => a.body.docs.map((d: Json) => ({ _index: d._index, _id: d._id, found: d.found, error: d.error?.type })),
    )
    await same('POST', '/_mget?realtime=true&_source=false', { docs: [{ _index: N, _id: 'a' }] }, (a) =>
      a.body.docs.map((d: Json) => ({ found: d.found, hasSource: d._source !== undefined })),
    )
    await same('GET', `/${N}/_doc/a`, undefined, (a) => ({ status: a.status, found: a.body.found }))
    await same('POST', `/${N}/_refresh`, undefined, (a) => a.status)
    await same('GET', `/${N}/_count`, undefined, (a) => a.body.count)
    // refresh=true and refresh=wait_for on the write make it searchable before the answer.
    await same('POST', '/_bulk?refresh=true', ndjson([[{ create: { _index: N, _id: 'b' } }, { k: 'b' }]]), (a) => a.body.errors)
    await same('GET', `/${N}/_count`, undefined, (a) => a.body.count)
    // wait_for waits for a scheduled refresh: with refresh_interval -1 it would wait for ever (on the node too).
    await same('PUT', `/${N}/_settings`, { 'index.refresh_interval': '1s' }, (a) => a.status)
    await same('POST', '/_bulk?refresh=wait_for', ndjson([[{ create: { _index: N, _id: 'c' } }, { k: 'c' }]]), (a) => a.body.errors)
    await same('GET', `/${N}/_count`, undefined, (a) => a.body.count)
  })

  test('an index template with an alias: an index the bulk creates joins it; _rollover and its refusals', async () => {
    const T = `${prefix}-t`
    const alias = `${prefix}-read`
    await same(
      'PUT',
      `/_index_template/${T}`,
      {
        index_patterns: [`${alias}-*`],
        priority: 500,
        template: { settings: { number_of_shards: 1, number_of_replicas: 0 }, aliases: { [alias]: {} }, mappings: MAPPINGS },
      },
      (a) => a.status,
    )
    await same(
      'POST',
      '/_bulk',
      ndjson([
        [{ create: { _index: `${alias}-2026.03.01`, _id: '1' } }, { k: 'a' }],
        [{ create: { _index: `${alias}-2026.03.02`, _id: '1' } }, { k: 'a' }],
      ]),
      (a) => a.body.items.map(item),
    )
    await same('GET', `/_alias/${alias}`, undefined, (a) => a.body)
    await same('GET', `/${alias}-2026.03.01/_mapping`, undefined, (a) => a.body)
    // Two indices and no write index: nothing to roll.
    await same('POST', `/${alias}/_rollover`, undefined, status)
    // One index whose successor gets the alias from the template: refused.
    await same('DELETE', `/${alias}-2026.03.02`, undefined, (a) => a.status)
    await same('POST', `/${alias}/_rollover`, undefined, status)
    // A rolling write alias outside the template: rolled over, the old index stays behind the alias.
    const w = `${prefix}-w`
    await same(
      'PUT',
      `/${w}-000001`,
      { settings: { number_of_shards: 1, number_of_replicas: 0 }, aliases: { [w]: { is_write_index: true } } },
      (a) => a.status,
    )
    await same('POST', `/${w}/_rollover`, undefined, (a) => ({
      status: a.status,
      old: a.body.old_index,
      new: a.body.new_index,
      rolled: a.body.rolled_over,
    }))
    await same('GET', `/_alias/${w}`, undefined, (a) => a.body)
    // The same _id again in the new write index is not a conflict: ids are unique per index, not per alias.
    await same(
      'POST',
      '/_bulk',
      ndjson([
        [{ create: { _index: `${w}-000001`, _id: 'dup' } }, { a: 1 }],
        [{ create: { _index: w, _id: 'dup' } }, { a: 1 }],
      ]),
      (a) => a.body.items.map(item),
    )
  })

  test('write blocks: a write to a blocked index is a 403 cluster_block_exception item; read_only also refuses settings', async () => {
    const B = `${prefix}-blocked`
    await same('PUT', `/${B}`, { settings: { number_of_shards: 1, number_of_replicas: 0 }, mappings: MAPPINGS }, (a) => a.status)
    await same('POST', '/_bulk', ndjson([[{ create: { _index: B, _id: '1' } }, { k: 'a' }]]), (a) => a.body.errors)
    await same('PUT', `/${B}/_settings`, { 'index.blocks.write': true }, (a) => a.body)
    await same('GET', `/${B}/_settings/index.blocks.write?flat_settings=true`, undefined, (a) => a.body)
    const blocked = ndjson([
      [{ create: { _index: B, _id: '1' } }, { k: 'a' }],
      [{ create: { _index: B, _id: '2' } }, { k: 'b' }],
    ])
    await same('POST', '/_bulk', blocked, (a) =>
      a.body.items.map((e: Json) => ({ ...item(e), reason: (Object.values(e)[0] as Json).error?.reason })),
    )
    await same(
      'POST',
      '/_mget',
      {
        docs: [
          { _index: B, _id: '1' },
          { _index: B, _id: '2' },
        ],
      },
      (a) => a.body.docs.map((d: Json) => d.found),
    )
    await same('PUT', `/${B}/_settings`, { 'index.blocks.read_only': true }, (a) => a.status)
    await same('PUT', `/${B}/_settings`, { 'index.refresh_interval': '2s' }, status)
    await same('POST', '/_bulk', blocked, (a) =>
      a.body.items.map((e: Json) => ({ ...item(e), reason: (Object.values(e)[0] as Json).error?.reason })),
    )
    await same('PUT', `/${B}/_settings`, { 'index.blocks.read_only': false }, (a) => a.status)
    await same('PUT', `/${B}/_settings`, { 'index.blocks.write': false }, (a) => a.status)
    await same('POST', '/_bulk', ndjson([[{ create: { _index: B, _id: '2' } }, { k: 'b' }]]), (a) => a.body.items.map(item))
  })

  test('a body over http.max_content_length (100 MiB) is 413 with an empty body', async () => {
    const big = Buffer.alloc(101 * 1024 * 1024, 0x61)
    big.write('{"create":{"_index":"x"}}\n{"a":"', 0)
    big.write('"}\n', big.length - 3)
    await same('POST', '/_bulk', big, (a) => ({ status: a.status, body: a.body }))
  }, 60_000)

  test('a node without the Index Management plugin: no handler for _plugins/_ism, and its index settings are unknown', async () => {
    if ((await opensearchPlugins(real)).has('opensearch-index-management')) return
    const bare = await TestOpenSearch.start({ ism: false })
    try {
      for (const [method, path, body] of [
        ['GET', '/_plugins/_ism/policies/envoy-audit-retention', undefined],
        ['PUT', `/${prefix}-ism`, { settings: { 'plugins.index_state_management.rollover_alias': 'x' } }],
        ['PUT', `/${prefix}-ism2`, { settings: { index: { plugins: { index_state_management: { rollover_alias: 'x' } } } } }],
      ] as const) {
        const fake = await call(bare.url, method, path, body)
        const r = await call(real, method, path, body)
        expect(status(fake), `${method} ${path}`).toEqual(status(r))
      }
    } finally {
      await bare.close()
    }
  })
})
