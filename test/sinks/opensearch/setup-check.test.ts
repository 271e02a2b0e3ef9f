/**
 * The sink's start-time check that `envoy-audit setup` ran (src/sinks/opensearch/setup-check.ts): `run`
 * requires setup's index templates and refuses to start without them, before any write could auto-create
 * a period index with dynamic mappings; a role that may not read templates only gets a warning.
 * Decided on the real node (templates missing, then installed by setup) and, for the faults a real node
 * does not produce on demand (403, no answer), on the test server.
 */
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import type { Client } from '@opensearch-project/opensearch'
import { describeOpenSearch, opensearchUrl } from '../../helpers/real-servers.js'
import { createOpenSearchClient, loadConnectionConfig } from '../../../src/connections/opensearch.js'
import { loadSinkConfig } from '../../../src/sinks/opensearch/config.js'
import { OpenSearchSink } from '../../../src/sinks/opensearch/sink.js'
import { loadLifecycleConfig } from '../../../src/lifecycle/config.js'
import { runSetup } from '../../../src/lifecycle/setup.js'
import { templateName } from '../../../src/lifecycle/index-template.js'
import { TestOpenSearch } from '../../support/opensearch-server/index.js'
import { okEvent } from './fixtures.js'

function warnings(): { warn(obj: object, msg: string): void; lines: string[] } {
  const lines: string[] = []
  return { lines, warn: (_o, m) => void lines.push(m) }
}

describe('setup check at start (test server)', () => {
  let os: TestOpenSearch
  let client: Client
  beforeAll(async () => {
    os = await TestOpenSearch.start()
    client = await createOpenSearchClient(loadConnectionConfig({ node: os.url }))
  })
  afterAll(async () => {
    await client?.close()
    await os?.close()
  })

  test('templates missing and required: start() refuses with EA_SINK_NOT_SET_UP naming both, and nothing is written', async () => {
    const sink = new OpenSearchSink({
      client,
      config: loadSinkConfig({ eventsAlias: 'a1-events', findingsAlias: 'a1-findings' }),
      requireTemplates: true,
    })
    const err = (await sink.start().catch((e: unknown) => e)) as Error & { code: string }
    expect(err.code).toBe('EA_SINK_NOT_SET_UP')
    expect(err.message).toContain('no index template a1-events-template, a1-findings-template: run envoy-audit setup first')
    expect(err.message).toContain('set sink.opensearch.requireSetup: false')
    await sink.close()
    expect(os.requests.filter((r) => r.path.includes('_bulk'))).toHaveLength(0)
  })

  test('not required (library use): a warning per missing template, and the sink starts', async () => {
    const log = warnings()
    const sink = new OpenSearchSink({
      client,
      config: loadSinkConfig({ eventsAlias: 'a2-events', findingsAlias: 'a2-findings' }),
      logger: log,
    })
    await sink.start()
    await sink.close()
    expect(log.lines).toEqual([
      expect.stringContaining('no index template a2-events-template'),
      expect.stringContaining('no index template a2-findings-template'),
    ])
  })

  test('a role that may not read templates (403): a warning, and the sink starts even when required', async () => {
    os.faults.failRequests(/^HEAD \/_index_template\//, 403, 1)
    const log = warnings()
    const sink = new OpenSearchSink({
      client,
      config: loadSinkConfig({ eventsAlias: 'a3-events', findingsAlias: 'a3-findings' }),
      requireTemplates: true,
      logger: log,
    })
    await sink.start()
    await sink.close()
    expect(log.lines).toEqual([expect.stringMatching(/cannot check that setup's index templates exist \(HTTP 403\); starting anyway/)])
  })

  test('a cluster that does not answer: required, start() fails with EA_SINK_UNAVAILABLE after the check timeout', async () => {
    const down = await TestOpenSearch.start()
    const url = down.url
    await down.close()
    const c = await createOpenSearchClient(loadConnectionConfig({ node: url }))
    try {
      const sink = new OpenSearchSink({ client: c, config: loadSinkConfig({}), requireTemplates: true })
      const t0 = Date.now()
      const err = (await sink.start().catch((e: unknown) => e)) as Error & { code: string }
      expect(err.code).toBe('EA_SINK_UNAVAILABLE')
      expect(err.message).toMatch(/no answer when checking setup's index templates at start, for 10000 ms: ConnectionError/)
      expect(Date.now() - t0).toBeGreaterThanOrEqual(9_000)
      await sink.close()
    } finally {
      await c.close()
    }
  }, 20_000)
})

describeOpenSearch('setup check at start', () => {
  const prefix = `ea-setupcheck-${randomBytes(4).toString('hex')}`
  const lifecycle = loadLifecycleConfig({
    eventsAlias: `${prefix}-events`,
    findingsAlias: `${prefix}-findings`,
    policyId: `${prefix}-retention`,
    replicas: 0,
  })
  const sinkConfig = loadSinkConfig({ eventsAlias: lifecycle.eventsAlias, findingsAlias: lifecycle.findingsAlias, flushIntervalMs: 1 })
  let client: Client

  beforeAll(async () => {
    client = await createOpenSearchClient(loadConnectionConfig({ node: opensearchUrl! }), { maxRetries: 3 })
  })
  afterAll(async () => {
    if (client === undefined) return
    await client.indices.delete({ index: `${prefix}-*` }, { ignore: [404] }).catch(() => undefined)
    for (const alias of [lifecycle.eventsAlias, lifecycle.findingsAlias])
      await client.indices.deleteIndexTemplate({ name: templateName(alias) }, { ignore: [404] }).catch(() => undefined)
    await client.transport
      .request({ method: 'DELETE', path: `/_plugins/_ism/policies/${lifecycle.policyId}` }, { ignore: [400, 404] })
      .catch(() => undefined)
    await client.close()
  })

  test('before setup the sink refuses to start and creates no index; after setup it starts and its indices are read through the alias', async () => {
    const before = new OpenSearchSink({ client, config: sinkConfig, requireTemplates: true })
    await expect(before.start()).rejects.toMatchObject({
      code: 'EA_SINK_NOT_SET_UP',
      message: expect.stringContaining(
        `no index template ${lifecycle.eventsAlias}-template, ${lifecycle.findingsAlias}-template: run envoy-audit setup first`,
      ),
    })
    await before.close()
    expect((await client.cat.indices({ index: `${prefix}-*`, format: 'json' }, { ignore: [404] })).body).toEqual([])

    await runSetup(client, lifecycle)
    const after = new OpenSearchSink({ client, config: sinkConfig, requireTemplates: true })
    await after.start()
    expect((await after.write([okEvent(1)])).rejected).toEqual([])
    await after.close()
    await client.indices.refresh({ index: lifecycle.eventsAlias })
    expect((await client.count({ index: lifecycle.eventsAlias })).body.count).toBe(1)
  })
})
