/**
 * Replays on a real node. `_id` is unique per index, not per alias: with a rolling
 * write alias, a replay after the alias rolled over wrote every replayed event a second time into the
 * new index. The sink now picks each document's index from its own @timestamp, so a replay always meets
 * the first copy. Also: a replay into an index that turned read-only (ISM warm, index.blocks.write).
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
import type { AuditEvent } from '../../../src/schema/audit-event.js'
import { deniedEvent, okEvent } from './fixtures.js'

const DAY = 86_400_000
const BASE = Date.parse('2026-03-01T10:00:00.000Z')
const N = 10_000

/** N events over three UTC days, one in 20 denied (with a finding document). */
function events(): AuditEvent[] {
  return Array.from({ length: N }, (_, i) =>
    i % 20 === 0 ? deniedEvent(i, BASE + (i % 3) * DAY - i * 1000) : okEvent(i, BASE + (i % 3) * DAY - i * 1000),
  )
}

describeOpenSearch('replays do not duplicate documents', () => {
  const prefix = `ea-replay-${randomBytes(4).toString('hex')}`
  const lifecycle = loadLifecycleConfig({
    eventsAlias: `${prefix}-events`,
    findingsAlias: `${prefix}-findings`,
    policyId: `${prefix}-retention`,
    replicas: 0,
  })
  const sinkConfig = loadSinkConfig({ eventsAlias: lifecycle.eventsAlias, findingsAlias: lifecycle.findingsAlias, flushIntervalMs: 5 })
  let client: Client

  beforeAll(async () => {
    client = await createOpenSearchClient(loadConnectionConfig({ node: url }), { maxRetries: 3 })
    await runSetup(client, lifecycle)
  })

  afterAll(async () => {
    if (client === undefined) return
    const indices = Object.keys((await client.indices.get({ index: `${prefix}-*` }, { ignore: [404] })).body ?? {})
    for (const index of indices) await client.indices.putSettings({ index, body: { 'index.blocks.write': false } }).catch(() => undefined)
    await client.indices.delete({ index: `${prefix}-*` }, { ignore: [404] }).catch(() => undefined)
    for (const alias of [lifecycle.eventsAlias, lifecycle.findingsAlias])
      await client.indices.deleteIndexTemplate({ name: templateName(alias) }, { ignore: [404] }).catch(() => undefined)
    await client.transport
      .request({ method: 'DELETE', path: `/_plugins/_ism/policies/${lifecycle.policyId}` }, { ignore: [400, 404] })
      .catch(() => undefined)
    await client.close()
  })

  async function writeAll(all: AuditEvent[]): Promise<OpenSearchSink> {
    const sink = new OpenSearchSink({ client, config: sinkConfig })
    await sink.start()
    const results = await Promise.all(
      Array.from({ length: Math.ceil(all.length / 1000) }, (_, b) => sink.write(all.slice(b * 1000, (b + 1) * 1000))),
    )
    await sink.close()
    expect(results.flatMap((r) => r.rejected.map((x) => `${x.event.event.id} ${x.code} ${x.message}`))).toEqual([])
    return sink
  }

  /** Documents per event.id that occur more than once, and the total, after a refresh. */
  async function duplicates(alias: string): Promise<{ total: number; duplicated: number }> {
    await client.indices.refresh({ index: alias })
    // The client's types leave out a terms aggregation's `field`, which OpenSearch requires.
    const dup = { terms: { field: 'event.id', min_doc_count: 2, size: 10_000 } } as never
    const res = await client.search({ index: alias, body: { size: 0, track_total_hits: true, aggs: { dup } } })
    const body = res.body as unknown as { hits: { total: { value: number } }; aggregations: { dup: { buckets: unknown[] } } }
    return { total: body.hits.total.value, duplicated: body.aggregations.dup.buckets.length }
  }

  test(`${N} events, a rollover of the alias's write index (if it has one), a replay of all: 0 duplicates by event.id`, async () => {
    const all = events()
    await writeAll(all)
    // What ISM's rollover action does on a rolling write alias. The alias now only reads: there is nothing to roll.
    for (const alias of [lifecycle.eventsAlias, lifecycle.findingsAlias]) {
      const view = (await client.indices.getAlias({ name: alias })).body as Record<
        string,
        { aliases: Record<string, { is_write_index?: boolean }> }
      >
      if (Object.values(view).some((v) => v.aliases[alias]?.is_write_index === true)) await client.indices.rollover({ alias })
      else await expect(client.indices.rollover({ alias })).rejects.toMatchObject({ statusCode: 400 })
    }
    const replay = await writeAll(all)
    const findings = all.filter((e) => e.event.action === 'denied').length
    expect(replay.stats.duplicates).toBe(N + findings)
    expect(await duplicates(lifecycle.eventsAlias)).toEqual({ total: N, duplicated: 0 })
    expect(await duplicates(lifecycle.findingsAlias)).toEqual({ total: findings, duplicated: 0 })
  })

  test('a replay into a read-only index is acknowledged; an event that was never written there is dead-lettered', async () => {
    const at = (i: number) => BASE + 5 * DAY - i * 1000
    const day = [okEvent(900_001, at(900_001)), okEvent(900_002, at(900_002))]
    await writeAll(day)
    const bucket = (await client.indices.get({ index: `${lifecycle.eventsAlias}-*` })).body as Record<string, unknown>
    const index = Object.keys(bucket).find((name) => name.endsWith('2026.03.06'))!
    expect(index).toBeDefined()
    await client.indices.putSettings({ index, body: { 'index.blocks.write': true } })
    const sink = new OpenSearchSink({ client, config: sinkConfig })
    await sink.start()
    const late = okEvent(900_003, at(900_003))
    const result = await sink.write([...day, late])
    await sink.close()
    expect(result.rejected.map((r) => [r.event.event.id, r.code])).toEqual([[late.event.id, 'EA_SINK_INDEX_READ_ONLY']])
    expect(result.rejected[0]!.message).toContain(index)
    expect(result.rejected[0]!.message).toContain('cluster_block_exception')
    expect(sink.stats.duplicates).toBe(2)
    await client.indices.putSettings({ index, body: { 'index.blocks.write': false } })
  })
})
