/** The runner's per-stage counts: what each stage was handed, passed on and dead-lettered, over acknowledged batches. */
import { describe, expect, test } from 'vitest'
import type { DeadLetterSink, RawRecord, Sink, TransformStage } from '../../src/pipeline/component.js'
import { createBatchHandler, DEFAULT_MICRO_BATCH } from '../../src/pipeline/runner.js'
import { compileEventSerializer } from '../../src/schema/audit-event.js'
import { storedJson } from '../../src/schema/stored-document.js'
import { pipelineFromOptions } from '../../src/cli/pipeline-options.js'
import { buildProcessing } from '../../src/compose/stages.js'
import { originalBytes } from '../../src/pipeline/dead-letter.js'
import { applyStages, perEventStage } from '../../src/pipeline/transforms.js'
import { createParser } from '../../src/parse/index.js'
import { GOOD, JUNK } from '../compose/lines.js'
import { generateMeshTraffic } from '../../src/demo/mesh-traffic.js'

const record = (value: string, line: number): RawRecord => ({
  value,
  coords: { kind: 'file', file: 'a.log', line, offset: String(line * 1000) },
})

describe('per-stage counts', () => {
  test('parse, each stage and the sink count in, out and dead-lettered; a failed batch is not counted', async () => {
    const dropSecond: TransformStage = perEventStage('picky', (e) => {
      if (e.url?.path === '/api/items/1') throw new Error('no')
    })
    let failNext = false
    const sink: Sink = {
      name: 'memory',
      start: async () => undefined,
      close: async () => undefined,
      async write(events) {
        if (failNext) throw new Error('down')
        return { rejected: events.slice(0, 1).map((event) => ({ event, code: 'EA_SINK_MAPPING' as const, message: 'mapping' })) }
      },
    }
    const dlq: DeadLetterSink = { start: async () => undefined, close: async () => undefined, write: async () => undefined }
    const handler = createBatchHandler({ parser: createParser(), stages: [dropSecond], sink, deadLetters: dlq })
    const records = [record(GOOD(0), 1), record(GOOD(1), 2), record(GOOD(2), 3), record(JUNK(0), 4)]
    await handler(records)
    const counts = Object.fromEntries([...handler.counters.stages].map(([k, v]) => [k, [v.in, v.out, v.deadLettered]]))
    expect(counts).toEqual({ parse: [4, 3, 1], picky: [3, 2, 1], sink: [2, 1, 1] })
    expect([...handler.counters.stages.keys()]).toEqual(['parse', 'picky', 'sink'])
    expect(handler.counters.stages.get('parse')!.seconds).toBeGreaterThan(0)

    failNext = true
    await expect(handler(records)).rejects.toThrow('down')
    expect(handler.counters.stages.get('parse')!.in).toBe(4)
  })
})

describe('micro-batches', () => {
  const serialize = compileEventSerializer()
  const cri = (flag: 'P' | 'F', text: string, line: number): RawRecord => ({
    value: `2022-07-22T12:24:12.325744791Z stdout ${flag} ${text}`,
    coords: { kind: 'file', file: 'c.log', line, offset: String(line * 1000) },
  })

  /** Everything the sink and the dead-letter output received for one source batch, as text. */
  async function run(microBatch: number, records: RawRecord[]): Promise<{ writes: number; events: string[]; deadLetters: string[] }> {
    const events: string[] = []
    const deadLetters: string[] = []
    let writes = 0
    const sink: Sink = {
      name: 'memory',
      start: async () => undefined,
      close: async () => undefined,
      async write(batch) {
        writes++
        for (const e of batch) events.push(storedJson(e, serialize))
        return { rejected: [] }
      },
    }
    const dlq: DeadLetterSink = {
      start: async () => undefined,
      close: async () => undefined,
      write: async (dls) => void deadLetters.push(...dls.map((d) => `${d.reason}:${originalBytes(d).toString('base64')}`)),
    }
    const { parser, stages } = pipelineFromOptions({ format: 'auto' })
    const handler = createBatchHandler({ parser, stages, sink, deadLetters: dlq, microBatch })
    await handler(records)
    expect(handler.counters.stages.get('parse')!.in).toBe(records.length)
    return { writes, events, deadLetters }
  }

  test('slices give the events and dead letters of one pass, one sink write per batch, partial lines joined across slices', async () => {
    const whole = GOOD(7)
    const records = [
      ...Array.from({ length: 9 }, (_, i) => record(i % 4 === 3 ? JUNK(i) : GOOD(i), i + 1)),
      // One CRI line split in two records that land in different slices of 5.
      cri('P', whole.slice(0, 40), 10),
      cri('F', whole.slice(40), 11),
      ...Array.from({ length: 6 }, (_, i) => record(GOOD(20 + i), 12 + i)),
    ]
    const one = await run(1000, records)
    for (const size of [1, 2, 5]) {
      const sliced = await run(size, records)
      expect(sliced.writes).toBe(1)
      expect(sliced.events).toEqual(one.events)
      expect(sliced.deadLetters).toEqual(one.deadLetters)
    }
    expect(one.events.some((e) => e.includes(JSON.stringify(whole).slice(1, 30)))).toBe(true)
    expect(one.deadLetters.length).toBeGreaterThan(0)
  })

  test('the default is 250 records, and the run config can change it (transforms.microBatch)', () => {
    expect(DEFAULT_MICRO_BATCH).toBe(250)
    expect(buildProcessing({}).microBatch).toBe(250)
    expect(buildProcessing({ transforms: { microBatch: 64 } }).microBatch).toBe(64)
    expect(() => buildProcessing({ transforms: { microBatch: 0 } })).toThrow(/transforms\.microBatch/)
  })
})

describe('sinkReads stored', () => {
  const cri = (flag: 'P' | 'F', text: string, line: number): RawRecord => ({
    value: `2022-07-22T12:24:12.325744791Z stdout ${flag} ${text}`,
    coords: { kind: 'file', file: 'c.log', line, offset: String(line * 1000) },
  })

  /** A sink refusing every event; what the dead-letter output got, and the events as the sink saw them. */
  async function rejectAll(sinkReads: 'events' | 'stored', records: RawRecord[]): Promise<{ dls: string[]; whole: number }> {
    const dls: string[] = []
    let whole = 0
    const sink: Sink = {
      name: 'refusing',
      start: async () => undefined,
      close: async () => undefined,
      async write(events) {
        for (const e of events) if (e.event.original !== undefined) whole++
        return { rejected: events.map((event) => ({ event, code: 'EA_SINK_MAPPING' as const, message: 'mapping' })) }
      },
    }
    const dlq: DeadLetterSink = {
      start: async () => undefined,
      close: async () => undefined,
      write: async (batch) => {
        for (const d of batch) {
          const bytes = originalBytes(d).toString('utf8')
          dls.push(
            `${d.id} ${d.reason} ${d.stage} ${d.event_id} ${JSON.stringify(d.source)} ${bytes} parts:${JSON.stringify(d.parts ?? [])}`,
          )
        }
      },
    }
    const { parser, stages } = buildProcessing({ integrity: { enabled: true } })
    const handler = createBatchHandler({ parser, stages, sink, deadLetters: dlq, microBatch: 3, sinkReads })
    await handler(records)
    return { dls, whole }
  }

  test('a sink rejection dead-letters the same bytes, CRI parts included, as with whole events', async () => {
    const demo = generateMeshTraffic({ seed: 3, sessions: 20, noise: false }).lines.map((l) => l.text)
    // The line joined from CRI parts: a demo CRI line whose event has no findings (one with findings stays whole anyway).
    const criPrefix = /^\S+ stdout F /
    const joined = demo
      .filter((l) => criPrefix.test(l))
      .map((l) => l.replace(criPrefix, ''))
      .find((log) => {
        const { parser, stages } = buildProcessing({})
        const events = applyStages(stages, parser.parseBatch([record(log, 1)]).events).events
        return events.length === 1 && (events[0]!.audit.findings ?? []).length === 0
      })!
    const records = [
      ...Array.from({ length: 30 }, (_, i) => record(demo[i]!, i + 1)),
      cri('P', joined.slice(0, 40), 31),
      cri('F', joined.slice(40), 32),
      record(demo[40]!, 33),
    ]
    const whole = await rejectAll('events', records)
    const stored = await rejectAll('stored', records)
    // The event joined from CRI parts is dead-lettered with every part: it reached the sink whole.
    expect(stored.dls).toEqual(whole.dls)
    expect(whole.dls).toHaveLength(32)
    expect(whole.dls.filter((d) => !d.endsWith('parts:[]'))).toHaveLength(1)
    // The stored forms carry no event.original: most events reached the sink in that form.
    expect(whole.whole).toBe(32)
    expect(stored.whole).toBeLessThan(16)
  })
})
