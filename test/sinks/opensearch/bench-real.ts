/**
 * What the period indices cost on a real node: bulk throughput of the sink writing through the earlier
 * rolling write alias (`<alias>` over `<alias>-000001`) against writing period indices, with the events
 * of a run falling in one day in time order (live traffic), or interleaved over seven days or 24 hourly
 * indices so that every bulk writes to 7 or 24 indices (the worst case). Not a vitest file: `OPENSEARCH_URL=http://127.0.0.1:9200 npx tsx test/sinks/opensearch/bench-real.ts
 * [events] [mode ...]`, modes alias, day-1, day-7, hour-24 (default: all, twice, interleaved). Everything
 * is made under a random prefix and deleted afterwards; replicas 0, one shard, the template's 5s refresh.
 */
import { randomBytes } from 'node:crypto'
import type { Client } from '@opensearch-project/opensearch'
import { createOpenSearchClient, loadConnectionConfig } from '../../../src/connections/opensearch.js'
import { loadSinkConfig } from '../../../src/sinks/opensearch/config.js'
import { OpenSearchSink } from '../../../src/sinks/opensearch/sink.js'
import { loadLifecycleConfig } from '../../../src/lifecycle/config.js'
import { runSetup } from '../../../src/lifecycle/setup.js'
import { templateName } from '../../../src/lifecycle/index-template.js'
import { deniedEvent, okEvent } from './fixtures.js'

type Mode = 'alias' | 'day-1' | 'day-7' | 'hour-24'
const url = process.env.OPENSEARCH_URL
if (url === undefined || url === '') throw new Error('set OPENSEARCH_URL (npm run services:up)')
const total = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 100_000)
const asked = process.argv.slice(2).filter((a) => /^(alias|day-1|day-7|hour-24)$/.test(a)) as Mode[]
const modes: Mode[] = asked.length > 0 ? asked : ['alias', 'day-1', 'day-7', 'hour-24', 'hour-24', 'day-7', 'day-1', 'alias']
const batch = 2000
const BASE = Date.parse('2026-03-01T00:00:00Z')

async function run(client: Client, mode: Mode, n: number): Promise<Record<string, unknown>> {
  const prefix = `ea-bench-${randomBytes(3).toString('hex')}`
  const lifecycle = loadLifecycleConfig({
    eventsAlias: `${prefix}-events`,
    findingsAlias: `${prefix}-findings`,
    policyId: `${prefix}-retention`,
    replicas: 0,
  })
  const granularity = mode === 'hour-24' ? 'hour' : 'day'
  const sink = new OpenSearchSink({
    client,
    config: loadSinkConfig({
      eventsAlias: lifecycle.eventsAlias,
      findingsAlias: lifecycle.findingsAlias,
      indexGranularity: granularity,
      flushBytes: 5 * 1024 * 1024,
      concurrency: 2,
    }),
  })
  try {
    await runSetup(client, lifecycle, BASE)
    if (mode === 'alias') {
      // The earlier layout: one write index behind each alias, and every action line names the alias.
      for (const alias of [lifecycle.eventsAlias, lifecycle.findingsAlias]) {
        await client.indices.deleteIndexTemplate({ name: templateName(alias) })
        await client.indices.delete({ index: `${alias}-*` })
        const t = loadLifecycleConfig({ eventsAlias: lifecycle.eventsAlias, findingsAlias: lifecycle.findingsAlias, replicas: 0 })
        const { eventsTemplate, findingsTemplate } = await import('../../../src/lifecycle/index-template.js')
        const tpl = alias === lifecycle.eventsAlias ? eventsTemplate(t) : findingsTemplate(t)
        await client.indices.putIndexTemplate({
          name: templateName(alias),
          body: { ...tpl, template: { settings: tpl.template.settings, mappings: tpl.template.mappings } } as never,
        })
        await client.indices.create({ index: `${alias}-000001`, body: { aliases: { [alias]: { is_write_index: true } } } })
      }
      const builder = (sink as unknown as { builder: { prefixFor: (s: string) => unknown } }).builder
      const fixed = {
        eventsIndex: `${lifecycle.eventsAlias}-000001`,
        findingsIndex: `${lifecycle.findingsAlias}-000001`,
        events: `{"create":{"_index":${JSON.stringify(lifecycle.eventsAlias)},"_id":`,
        findings: `{"create":{"_index":${JSON.stringify(lifecycle.findingsAlias)},"_id":`,
      }
      builder.prefixFor = () => fixed
    }
    // Live traffic: one day in time order. day-7 and hour-24: every bulk spans 7 (or 24) indices, the worst case (a replay is mostly in time order).
    const at = (i: number): number =>
      (mode === 'day-7'
        ? BASE + (i % 7) * 86_400_000
        : mode === 'hour-24'
          ? BASE + (i % 24) * 3_600_000
          : BASE + Math.floor((i / n) * 86_000_000)) -
      i * 1000 +
      (i % 1000)
    const events = Array.from({ length: n }, (_, i) => (i % 20 === 0 ? deniedEvent(i, at(i)) : okEvent(i, at(i))))
    await sink.start()
    const cpu0 = process.cpuUsage()
    const t0 = process.hrtime.bigint()
    const writes: Promise<{ rejected: unknown[] }>[] = []
    let rejected = 0
    for (let i = 0; i < n; i += batch) {
      writes.push(sink.write(events.slice(i, i + batch)))
      if (writes.length >= 4) rejected += (await writes.shift()!).rejected.length
    }
    for (const w of writes) rejected += (await w).rejected.length
    await sink.close()
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9
    const cpu = process.cpuUsage(cpu0)
    await client.indices.refresh({ index: lifecycle.eventsAlias })
    const indices = Object.keys((await client.indices.get({ index: `${lifecycle.eventsAlias}-*` })).body).length
    const count = (await client.count({ index: lifecycle.eventsAlias })).body.count
    return {
      mode,
      events: n,
      rejected,
      stored: count,
      eventIndices: indices,
      seconds: +seconds.toFixed(2),
      eventsPerSecond: Math.round(n / seconds),
      clientCpuMicrosPerEvent: +((cpu.user + cpu.system) / n).toFixed(1),
      bulkRequests: sink.stats.bulkRequests,
    }
  } finally {
    await client.indices.delete({ index: `${prefix}-*` }, { ignore: [404] }).catch(() => undefined)
    for (const alias of [lifecycle.eventsAlias, lifecycle.findingsAlias])
      await client.indices.deleteIndexTemplate({ name: templateName(alias) }, { ignore: [404] }).catch(() => undefined)
  }
}

const client = await createOpenSearchClient(loadConnectionConfig({ node: url }), { maxRetries: 0 })
try {
  await run(client, 'day-1', 4000) // warm-up: JIT, connections, the node's own caches
  for (const mode of modes) console.log(JSON.stringify(await run(client, mode, total)))
} finally {
  await client.close()
}
