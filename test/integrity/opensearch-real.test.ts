/**
 * The OpenSearch ledger against a real cluster, when one is given: OPENSEARCH_URL (and
 * OPENSEARCH_USERNAME/OPENSEARCH_PASSWORD, OPENSEARCH_INSECURE=1 for a self-signed test cluster).
 * Everything is created under a unique prefix through `setup`'s own code and deleted afterwards.
 * Without OPENSEARCH_URL the suite is skipped, and says so (npm run services:up starts a real node).
 */
import { test, expect, beforeAll, afterAll, vi } from 'vitest'
import { describeOpenSearch, opensearchUrl as url } from '../helpers/real-servers.js'
import type { Client } from '@opensearch-project/opensearch'
import { createOpenSearchClient, loadConnectionConfig } from '../../src/connections/opensearch.js'
import { loadLifecycleConfig } from '../../src/lifecycle/config.js'
import { runSetup } from '../../src/lifecycle/setup.js'
import { templateName } from '../../src/lifecycle/index-template.js'
import { ensureIntegrityIndices } from '../../src/integrity/opensearch-indices.js'
import { ingestFile, kinds, verify, writer, type Names } from './opensearch-harness.js'
import { verifyOpenSearch } from '../../src/integrity/verify-opensearch.js'

describeOpenSearch('integrity ledger', () => {
  const prefix = `ea-it-${Date.now().toString(36)}`
  const names: Names = { eventsAlias: `${prefix}-events`, findingsAlias: `${prefix}-findings`, indexPrefix: `${prefix}-integrity` }
  const lifecycle = loadLifecycleConfig({
    eventsAlias: names.eventsAlias,
    findingsAlias: names.findingsAlias,
    policyId: `${prefix}-retention`,
    replicas: 0,
    refreshInterval: '1s',
  })
  let c: Client

  beforeAll(async () => {
    const username = process.env.OPENSEARCH_USERNAME || undefined
    c = await createOpenSearchClient(
      loadConnectionConfig({
        node: url,
        username,
        password: username === undefined ? undefined : process.env.OPENSEARCH_PASSWORD,
        insecure: process.env.OPENSEARCH_INSECURE === '1',
      }),
      { maxRetries: 3 },
    )
    await runSetup(c, lifecycle)
    await ensureIntegrityIndices(c, names.indexPrefix, { replicas: 0 })
  }, 60_000)
  afterAll(async () => {
    if (c === undefined) return
    const indices = Object.keys((await c.indices.get({ index: `${prefix}-*` }).catch(() => ({ body: {} }))).body as object)
    if (indices.length > 0) await c.indices.delete({ index: indices.join(',') }).catch(() => undefined)
    for (const alias of [names.eventsAlias, names.findingsAlias])
      await c.indices.deleteIndexTemplate({ name: templateName(alias) }).catch(() => undefined)
    await c.transport.request({ method: 'DELETE', path: `/_plugins/_ism/policies/${lifecycle.policyId}` }).catch(() => undefined)
    await c.close()
  }, 60_000)

  test('ledgered through setup-made indices, verified intact, then a deleted event is found', async () => {
    await ingestFile(writer(c, undefined, names))
    const intact = await verify(c, undefined, names)
    expect(intact.issues).toEqual([])
    expect(intact.events).toBeGreaterThan(15)
    expect(intact.ledgered).toBe(intact.events)
    const hits = (await c.search({ index: `${names.eventsAlias}*`, body: { size: 1, query: { match_all: {} } } as never })).body as {
      hits: { hits: { _index: string; _id: string }[] }
    }
    const victim = hits.hits.hits[0]!
    await c.delete({ index: victim._index, id: victim._id, refresh: true } as never)
    expect(kinds(await verify(c, undefined, names))).toEqual([`deleted:${victim._id}`])
  }, 120_000)

  test('verify reads through points in time, a page boundary between two copies of one _id in two indices included', async () => {
    const hits = (await c.search({ index: `${names.eventsAlias}*`, body: { size: 1, query: { match_all: {} } } as never })).body as {
      hits: { hits: { _index: string; _id: string; _source: object }[] }
    }
    const victim = hits.hits.hits[0]!
    await c.index({ index: `${names.eventsAlias}-planted`, id: victim._id, body: victim._source, refresh: true } as never)
    const pits = vi.spyOn(c, 'createPit')
    const scrolls = vi.spyOn(c, 'scroll')
    try {
      // Pages of one document: every hit is a page boundary.
      const r = await verifyOpenSearch(c, { ...names, key: undefined, pageSize: 1 })
      // The event the test above deleted is still deleted; the planted copy is the one insertion.
      expect(r.counts.inserted).toBe(1)
      expect(r.issues.find((i) => i.kind === 'inserted')?.id).toBe(victim._id)
      expect(pits).toHaveBeenCalled()
      expect(scrolls).not.toHaveBeenCalled()
    } finally {
      pits.mockRestore()
      scrolls.mockRestore()
    }
  }, 120_000)
})
