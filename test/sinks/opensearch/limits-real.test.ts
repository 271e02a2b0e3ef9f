/**
 * The write path at the limits a real node enforces: real mapping errors
 * in a partly failing bulk, a document over http.max_content_length (413 with an empty body), and an
 * `_id` over 512 bytes (which the node refuses for the whole request).
 */
import { afterAll, beforeAll, expect, test } from 'vitest'
import { randomBytes } from 'node:crypto'
import type { Client } from '@opensearch-project/opensearch'
import { describeOpenSearch, opensearchUrl as url } from '../../helpers/real-servers.js'
import { createOpenSearchClient, loadConnectionConfig } from '../../../src/connections/opensearch.js'
import { loadSinkConfig } from '../../../src/sinks/opensearch/config.js'
import { OpenSearchSink } from '../../../src/sinks/opensearch/sink.js'
import { loadLifecycleConfig } from '../../../src/lifecycle/config.js'
import { runSetup } from '../../../src/lifecycle/setup.js'
import { templateName } from '../../../src/lifecycle/index-template.js'
import { deniedEvent, okEvent } from './fixtures.js'

describeOpenSearch('sink limits', () => {
  const prefix = `ea-limits-${randomBytes(4).toString('hex')}`
  const lifecycle = loadLifecycleConfig({
    eventsAlias: `${prefix}-events`,
    findingsAlias: `${prefix}-findings`,
    policyId: `${prefix}-retention`,
    replicas: 0,
  })
  const config = loadSinkConfig({ eventsAlias: lifecycle.eventsAlias, findingsAlias: lifecycle.findingsAlias, flushIntervalMs: 1 })
  let client: Client

  beforeAll(async () => {
    client = await createOpenSearchClient(loadConnectionConfig({ node: url }), { maxRetries: 0 })
    await runSetup(client, lifecycle)
  })

  afterAll(async () => {
    if (client === undefined) return
    await client.indices.delete({ index: `${prefix}-*` }, { ignore: [404] }).catch(() => undefined)
    for (const alias of [lifecycle.eventsAlias, lifecycle.findingsAlias])
      await client.indices.deleteIndexTemplate({ name: templateName(alias) }, { ignore: [404] }).catch(() => undefined)
    await client.close()
  })

  async function count(): Promise<number> {
    await client.indices.refresh({ index: lifecycle.eventsAlias })
    return (await client.count({ index: lifecycle.eventsAlias })).body.count
  }

  test("a bulk where some items fail the strict mapping: those are rejected with the node's reason, the rest acknowledged", async () => {
    const sink = new OpenSearchSink({ client, config })
    await sink.start()
    const badIp = okEvent(2)
    badIp.source = { ip: 'not-an-ip' }
    const badFinding = deniedEvent(3)
    badFinding.destination = { ip: '999.1.1.1' }
    const events = [okEvent(1), badIp, deniedEvent(1), badFinding, okEvent(4)]
    const result = await sink.write(events)
    await sink.close()
    expect(result.rejected.map((r) => [r.event.event.id, r.code])).toEqual([
      ['ok-000002', 'EA_SINK_MAPPING'],
      ['denied-000003', 'EA_SINK_MAPPING'],
    ])
    expect(result.rejected[0]!.message).toMatch(/400 mapper_parsing_exception: failed to parse field \[source\.ip\] of type \[ip\]/)
    expect(result.rejected[1]!.message).toMatch(/destination\.ip/)
    expect(result.rejected[0]!.event).toBe(badIp)
    expect(await count()).toBe(3)
  })

  test('a document larger than http.max_content_length (413, empty body) is EA_SINK_TOO_LARGE; the others of its write are indexed', async () => {
    const sink = new OpenSearchSink({ client, config })
    await sink.start()
    const huge = okEvent(10)
    huge.user_agent = { original: 'x'.repeat(101 * 1024 * 1024) }
    const result = await sink.write([okEvent(11), huge, okEvent(12)])
    await sink.close()
    expect(result.rejected.map((r) => [r.event.event.id, r.code])).toEqual([['ok-000010', 'EA_SINK_TOO_LARGE']])
    expect(result.rejected[0]!.message).toContain('HTTP 413')
    await client.indices.refresh({ index: lifecycle.eventsAlias })
    const ids = (
      await client.search({
        index: lifecycle.eventsAlias,
        body: { size: 10, query: { terms: { 'event.id': ['ok-000010', 'ok-000011', 'ok-000012'] } } },
      })
    ).body.hits.hits
      .map((h) => h._id)
      .sort()
    expect(ids).toEqual(['ok-000011', 'ok-000012'])
  }, 60_000)

  test('an _id over 512 bytes fails a whole bulk request on the node; the sink refuses it alone, before sending', async () => {
    const long = 'é'.repeat(257)
    const raw = `${JSON.stringify({ create: { _index: `${lifecycle.eventsAlias}-2020.11.25`, _id: 'short' } })}\n${JSON.stringify(okEvent(20))}\n${JSON.stringify({ create: { _index: `${lifecycle.eventsAlias}-2020.11.25`, _id: long } })}\n${JSON.stringify(okEvent(21))}\n`
    await expect(client.bulk({ body: raw as never })).rejects.toMatchObject({
      statusCode: 400,
      body: {
        error: {
          type: 'action_request_validation_exception',
          reason: expect.stringContaining('must be no longer than 512 bytes but was: 514'),
        },
      },
    })
    const sink = new OpenSearchSink({ client, config })
    await sink.start()
    const tooLong = okEvent(21)
    tooLong.event.id = long
    const result = await sink.write([okEvent(20), tooLong])
    await sink.close()
    expect(result.rejected.map((r) => r.code)).toEqual(['EA_SINK_ID_TOO_LONG'])
    await client.indices.refresh({ index: lifecycle.eventsAlias })
    expect((await client.count({ index: lifecycle.eventsAlias, body: { query: { term: { 'event.id': 'ok-000020' } } } })).body.count).toBe(
      1,
    )
  })
})
