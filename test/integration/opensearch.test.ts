/**
 * Against a real OpenSearch, when OPENSEARCH_URL is set (OPENSEARCH_USERNAME / OPENSEARCH_PASSWORD,
 * OPENSEARCH_CA for a private CA, OPENSEARCH_INSECURE=1 for a throwaway self-signed cluster). Everything
 * is created under a random prefix and deleted afterwards. Without OPENSEARCH_URL the suite is skipped.
 * npm run services:up starts a real node on loopback.
 */
import { afterAll, beforeAll, expect, test } from 'vitest'
import { describeOpenSearch, opensearchPlugins, opensearchUrl as url } from '../helpers/real-servers.js'
import { randomBytes } from 'node:crypto'
import type { Client } from '@opensearch-project/opensearch'
import { createOpenSearchClient, loadConnectionConfig } from '../../src/connections/opensearch.js'
import { loadSinkConfig } from '../../src/sinks/opensearch/config.js'
import { OpenSearchSink } from '../../src/sinks/opensearch/sink.js'
import { loadLifecycleConfig } from '../../src/lifecycle/config.js'
import { runSetup } from '../../src/lifecycle/setup.js'
import { templateName } from '../../src/lifecycle/index-template.js'
import { OpenSearchStore } from '../../src/store/opensearch-store.js'
import { deniedEvent, okEvent } from '../sinks/opensearch/fixtures.js'

describeOpenSearch('sink, setup and store', () => {
  const prefix = `envoy-audit-it-${randomBytes(4).toString('hex')}`
  const lifecycle = loadLifecycleConfig({
    eventsAlias: `${prefix}-events`,
    findingsAlias: `${prefix}-findings`,
    policyId: `${prefix}-retention`,
    replicas: 0,
  })
  let client: Client

  beforeAll(async () => {
    const connection = loadConnectionConfig({
      node: url,
      username: process.env.OPENSEARCH_USERNAME || undefined,
      password: process.env.OPENSEARCH_PASSWORD || undefined,
      caFile: process.env.OPENSEARCH_CA || undefined,
      insecure: process.env.OPENSEARCH_INSECURE === '1',
    })
    client = await createOpenSearchClient(connection, { maxRetries: 3 })
  })

  afterAll(async () => {
    if (client === undefined) return
    await client.indices.delete({ index: `${prefix}-*` }, { ignore: [404] }).catch(() => undefined)
    for (const alias of [lifecycle.eventsAlias, lifecycle.findingsAlias]) {
      await client.indices.deleteIndexTemplate({ name: templateName(alias) }, { ignore: [404] }).catch(() => undefined)
    }
    await client.transport
      .request({ method: 'DELETE', path: `/_plugins/_ism/policies/${lifecycle.policyId}` }, { ignore: [404] })
      .catch(() => undefined)
    await client.close()
  })

  test('setup is idempotent; without the ISM plugin its step says retention is not enforced', async () => {
    const ism = (await opensearchPlugins(url!)).has('opensearch-index-management')
    const policy = ism ? 'created' : 'skipped'
    const first = await runSetup(client, lifecycle)
    expect(first.map((s) => s.action)).toEqual([policy, 'created', 'created', 'created', 'created'])
    if (!ism) expect(first[0]).toMatchObject({ missing: 'ism', detail: expect.stringContaining('retention is NOT enforced') })
    // Nothing ISM-specific reached the templates: the node accepted them and created the first period indices from them.
    const second = await runSetup(client, lifecycle)
    expect(second.map((s) => s.action)).toEqual([ism ? 'unchanged' : 'skipped', 'unchanged', 'unchanged', 'unchanged', 'unchanged'])
    const changed = await runSetup(client, { ...lifecycle, deleteAfterDays: 400, shards: 2 })
    expect(changed.map((s) => s.action)).toEqual([ism ? 'updated' : 'skipped', 'updated', 'updated', 'unchanged', 'unchanged'])
  })

  test('sink writes, replays without duplicates, rejects a mapping error; the store reads it back', async () => {
    const sink = new OpenSearchSink({
      client,
      config: loadSinkConfig({ eventsAlias: lifecycle.eventsAlias, findingsAlias: lifecycle.findingsAlias, flushIntervalMs: 1 }),
    })
    await sink.start()
    const events = [okEvent(1), okEvent(2), deniedEvent(1)]
    expect((await sink.write(events)).rejected).toEqual([])
    expect((await sink.write(events)).rejected).toEqual([])
    const bad = okEvent(3)
    bad.source = { ip: 'not-an-ip' }
    const r = await sink.write([bad])
    expect(r.rejected.map((x) => x.code)).toEqual(['EA_SINK_MAPPING'])
    await sink.close()
    await client.indices.refresh({ index: `${prefix}-*` })
    const store = new OpenSearchStore({ client, config: { eventsIndex: lifecycle.eventsAlias, findingsIndex: lifecycle.findingsAlias } })
    await store.start()
    expect((await store.summary()).events).toBe(3)
    expect(await store.findingCounts()).toEqual([
      { code: 'authz_denied', severity: 'medium', control: 'AC-3', count: 1 },
      { code: 'authz_denied', severity: 'medium', control: 'AC-6', count: 1 },
    ])
    const edges = await store.edges()
    expect(edges.map((e) => [e.source, e.destination, e.count, e.denied])).toEqual([
      ['spiffe://cluster.local/ns/bar/sa/sleep', 'productpage.foo.svc.cluster.local', 1, 1],
      ['foo/sleep', 'httpbin.foo.svc.cluster.local', 2, 0],
    ])
    expect((await store.coverage('namespace'))[0]).toMatchObject({ key: 'foo', events: 3, inbound: 1, inboundMtls: 1 })
    await store.close()
  })
})
