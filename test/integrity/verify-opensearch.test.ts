/**
 * How `verify --opensearch` reads the indices, against the wire-compatible test server (a test double,
 * not OpenSearch; test/integrity/opensearch-real.test.ts runs verify against the real node): through
 * points in time paged with search_after, released at the end, and through scrolls where the cluster
 * refuses a point in time. The report is the same either way.
 */
import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import type { Client } from '@opensearch-project/opensearch'
import { TestOpenSearch } from '../support/opensearch-server/index.js'
import { client, DEFAULT_NAMES, ingestFile, KEY, kinds, verify, writer } from './opensearch-harness.js'
import { verifyOpenSearch } from '../../src/integrity/verify-opensearch.js'

let srv: TestOpenSearch
let c: Client
beforeEach(async () => {
  srv = await TestOpenSearch.start()
  c = await client(srv.url)
  await ingestFile(writer(c))
  srv.requests.length = 0
})
afterEach(async () => {
  await c.close()
  await srv.close()
})

const opened = (): number => srv.requests.filter((r) => r.method === 'POST' && /\/_search\/point_in_time$/.test(r.path)).length
const scrolled = (): number => srv.requests.filter((r) => r.query.scroll !== undefined || r.path.startsWith('/_search/scroll')).length
const pitSearches = (): number =>
  srv.requests.filter(
    (r) => r.path === '/_search' && r.body.length > 0 && (JSON.parse(r.body.toString()) as { pit?: unknown }).pit !== undefined,
  ).length

describe('verify --opensearch reads', () => {
  test('every target through a point in time paged with search_after, no scroll; every PIT released', async () => {
    const r = await verify(c)
    expect(r.ok).toBe(true)
    expect(r.events).toBeGreaterThan(7)
    // Ledger (two queries), checkpoints, heads, findings, events.
    expect(opened()).toBe(6)
    // Pages of 7: more searches than points in time.
    expect(pitSearches()).toBeGreaterThan(opened())
    expect(scrolled()).toBe(0)
    const live = await c.transport.request({ method: 'GET', path: '/_search/point_in_time/_all' })
    expect((live.body as { pits: unknown[] }).pits).toEqual([])
  })

  test('a second copy of an event under one _id in another index behind the alias is read (pages sorted on _doc, then index)', async () => {
    const victim = srv.docs('envoy-audit-events-*')[3]!
    await c.bulk({ body: [{ index: { _index: 'envoy-audit-events-planted', _id: victim._id } }, victim._source], refresh: true } as never)
    expect(srv.docs('envoy-audit-events-*').filter((d) => d._id === victim._id)).toHaveLength(2)
    // Pages of one document: a page boundary falls between the two copies.
    expect(kinds(await verifyOpenSearch(c, { ...DEFAULT_NAMES, key: KEY, pageSize: 1 }))).toEqual([`inserted:${victim._id}`])
  })

  test('where the cluster refuses a point in time (400, as before OpenSearch 2.4), through scrolls: the same report', async () => {
    const before = await verify(c)
    srv.requests.length = 0
    srv.faults.failRequests(/^POST \/[^ ]*_search\/point_in_time/, 400, 100)
    const r = await verify(c)
    expect(scrolled()).toBeGreaterThan(0)
    expect(pitSearches()).toBe(0)
    expect(r).toEqual(before)
  })

  test('indices without findings documents (the sink writing none): intact, findings not compared', async () => {
    for (const index of srv.state.resolve('envoy-audit-findings-*')) index.docs.clear()
    const r = await verify(c)
    expect(r.issues).toEqual([])
    expect(r.warnings.some((w) => /there are no findings documents/.test(w))).toBe(true)
  })

  test('a point in time that fails otherwise (503) fails verify instead of reading something else', async () => {
    srv.faults.failRequests(/^POST \/[^ ]*_search\/point_in_time/, 503, 100)
    await expect(verify(c)).rejects.toThrow()
  })
})
