/**
 * Every path that reads what it just wrote, on the real node. Search is near-real-time:
 * a document is seen by search and _count only after a refresh. Here every index is made with
 * refresh_interval -1, so nothing becomes searchable by itself and each path passes only through its own
 * refresh: verify right after the writer, a writer that finds the leftovers of one that died, and the
 * OpenSearch store querying right after writing. (With the default 1s the same failures are a race.)
 */
import { afterAll, beforeAll, expect, test } from 'vitest'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { Client } from '@opensearch-project/opensearch'
import { describeOpenSearch, opensearchUrl as url } from '../helpers/real-servers.js'
import { createOpenSearchClient, loadConnectionConfig } from '../../src/connections/opensearch.js'
import { loadLifecycleConfig } from '../../src/lifecycle/config.js'
import { runSetup } from '../../src/lifecycle/setup.js'
import { templateName } from '../../src/lifecycle/index-template.js'
import { ensureIntegrityIndices, integrityIndices } from '../../src/integrity/opensearch-indices.js'
import { OpenSearchStore } from '../../src/store/opensearch-store.js'
import { FIXTURE, kafkaRecords } from './harness.js'
import { handlerFor, ingestFile, KEY, verify, writer, type Names } from './opensearch-harness.js'
import { deniedEvent, okEvent } from '../sinks/opensearch/fixtures.js'

const LINES = readFileSync(FIXTURE, 'utf8')
  .split('\n')
  .filter((l) => l !== '')

describeOpenSearch('read-after-write: each path refreshes what it reads', () => {
  const prefix = `ea-nrt-${randomBytes(4).toString('hex')}`
  let c: Client

  async function prepare(tag: string): Promise<Names> {
    const names: Names = {
      eventsAlias: `${prefix}-${tag}-events`,
      findingsAlias: `${prefix}-${tag}-findings`,
      indexPrefix: `${prefix}-${tag}-integrity`,
    }
    await runSetup(
      c,
      loadLifecycleConfig({
        eventsAlias: names.eventsAlias,
        findingsAlias: names.findingsAlias,
        policyId: `${prefix}-retention`,
        replicas: 0,
        refreshInterval: '-1',
      }),
    )
    await ensureIntegrityIndices(c, names.indexPrefix, { replicas: 0 })
    const ix = integrityIndices(names.indexPrefix)
    await c.indices.putSettings({ index: [ix.ledger, ix.checkpoints, ix.heads].join(','), body: { 'index.refresh_interval': '-1' } })
    return names
  }

  beforeAll(async () => {
    c = await createOpenSearchClient(loadConnectionConfig({ node: url }), { maxRetries: 3 })
  })

  afterAll(async () => {
    if (c === undefined) return
    await c.indices.delete({ index: `${prefix}-*` }, { ignore: [404] }).catch(() => undefined)
    const templates =
      ((await c.indices.getIndexTemplate({ name: `${prefix}-*` }, { ignore: [404] })).body as { index_templates?: { name: string }[] })
        .index_templates ?? []
    for (const t of templates) await c.indices.deleteIndexTemplate({ name: t.name }).catch(() => undefined)
    await c.close()
  })

  test('without a refresh the node does not show a write to search (what the paths below must handle)', async () => {
    const names = await prepare('raw')
    await c.bulk({
      body: `${JSON.stringify({ create: { _index: `${names.eventsAlias}-2020.11.25`, _id: 'x' } })}\n${JSON.stringify(okEvent(0))}\n` as never,
    })
    expect((await c.count({ index: names.eventsAlias })).body.count).toBe(0)
    expect(
      ((await c.mget({ index: `${names.eventsAlias}-2020.11.25`, body: { ids: ['x'] } })).body as { docs: { found: boolean }[] }).docs[0]!
        .found,
    ).toBe(true)
    await c.indices.refresh({ index: names.eventsAlias })
    expect((await c.count({ index: names.eventsAlias })).body.count).toBe(1)
  })

  test('verify right after the writer sees every event and ledger entry: INTACT', async () => {
    const names = await prepare('verify')
    await ingestFile(writer(c, KEY, names))
    const r = await verify(c, KEY, names)
    expect(r.issues).toEqual([])
    expect(r.events).toBeGreaterThan(15)
    expect(r.ledgered).toBe(r.events)
  })

  test('a writer finds the ledger blocks a writer that died a moment ago left beyond the head, and does not write them again', async () => {
    const names = await prepare('tails')
    const partition = kafkaRecords(LINES, 1)[0]!
    const a = writer(c, KEY, names)
    await a.sink.start()
    await handlerFor(a)(partition.slice(0, 8))
    // A dies after writing its blocks for 8..20 but before its head update: put the head back where it was.
    const ix = integrityIndices(names.indexPrefix)
    await c.indices.refresh({ index: ix.heads })
    const saved = (
      (await c.search({ index: ix.heads, body: { size: 10 } })).body as { hits: { hits: { _id: string; _source: unknown }[] } }
    ).hits.hits
    expect(saved).toHaveLength(1)
    await handlerFor(a)(partition.slice(8, 20))
    await a.sink.close()
    for (const h of saved) await c.index({ index: ix.heads, id: h._id, body: h._source as never })

    const b = writer(c, KEY, names)
    await b.sink.start()
    await handlerFor(b)(partition.slice(8, 13))
    expect(b.ledger.stats.blocks).toBe(0)
    await handlerFor(b)(partition.slice(13, 29))
    await b.sink.close()
    expect(b.ledger.stats.epochs).toBe(0)
    const r = await verify(c, KEY, names)
    expect(r.issues).toEqual([])
    expect(r.warnings.join('\n')).not.toMatch(/two documents/)
    expect(r.ledgered).toBe(r.events)
  })

  test('the OpenSearch store queries right after writing and sees what it wrote', async () => {
    const names = await prepare('store')
    const store = new OpenSearchStore({
      client: c,
      config: { eventsIndex: names.eventsAlias, findingsIndex: names.findingsAlias },
      sink: { eventsAlias: names.eventsAlias, findingsAlias: names.findingsAlias, flushIntervalMs: 1 },
    })
    await store.start()
    expect((await store.writeEvents([okEvent(1), okEvent(2), deniedEvent(1)])).rejected).toEqual([])
    expect((await store.summary()).events).toBe(3)
    expect((await store.findingCounts()).map((f) => f.count)).toEqual([1, 1])
    await store.close()
  })
})
