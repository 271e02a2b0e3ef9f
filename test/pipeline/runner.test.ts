/** The runner's per-stage counts: what each stage was handed, passed on and dead-lettered, over acknowledged batches. */
import { describe, expect, test } from 'vitest'
import type { DeadLetterSink, RawRecord, Sink, TransformStage } from '../../src/pipeline/component.js'
import { createBatchHandler } from '../../src/pipeline/runner.js'
import { perEventStage } from '../../src/pipeline/transforms.js'
import { createParser } from '../../src/parse/index.js'
import { GOOD, JUNK } from '../compose/lines.js'

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
