/**
 * Transform worker threads (transforms.workers): the same input gives the same sink calls, byte for
 * byte, the same dead letters and the same counts with workers as without; a worker killed while it
 * holds slices loses and duplicates nothing (the slices are parsed on the main thread); CRI partial
 * lines are joined as without workers.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { afterEach, describe, expect, test } from 'vitest'
import { buildPipeline } from '../../src/compose/pipeline.js'
import type { DeadLetterSink, RawRecord, Sink } from '../../src/pipeline/component.js'
import { createBatchHandler } from '../../src/pipeline/runner.js'
import { TransformPool, type ReplyShape } from '../../src/pipeline/worker-pool.js'
import { compileEventSerializer, type AuditEvent } from '../../src/schema/audit-event.js'
import { BulkOpBuilder, bulkBody, type BulkOp } from '../../src/sinks/opensearch/documents.js'
import { storedBytes } from '../../src/schema/stored-document.js'
import { buildProcessing, type ProcessingConfig } from '../../src/compose/stages.js'
import { originalBytes } from '../../src/pipeline/dead-letter.js'
import { generateMeshTraffic } from '../../src/demo/mesh-traffic.js'
import { resolveWorkers, loadTransformsConfig } from '../../src/config/transforms.js'
import { GOOD, JUNK } from '../compose/lines.js'

const SCRIPT = new URL('../../src/compose/transform-worker.ts', import.meta.url)
const serialize = compileEventSerializer()

/** Demo lines as Kafka records of partition 0, junk and one CRI line split in three records among them. */
function records(count: number): RawRecord[] {
  const lines = generateMeshTraffic({ seed: 11, sessions: 400, noise: false }).lines.map((l) => l.text)
  const out: RawRecord[] = []
  const whole = GOOD(7)
  const cri = (flag: string, text: string): string => `2022-07-22T12:24:12.325744791Z stdout ${flag} ${text}`
  for (let i = 0; out.length < count; i++) {
    let value: string | Buffer = Buffer.from(lines[i % lines.length] as string)
    if (i % 97 === 13) value = JUNK(i)
    // A partial line whose final part opens the next slice (slices of 50) and the next batch (of 150):
    // a worker handed that slice alone would take the F line for a whole one.
    if (i === 148) value = cri('P', whole.slice(0, 30))
    if (i === 149) value = cri('P', whole.slice(30, 60))
    if (i === 150) value = Buffer.from(cri('F', whole.slice(60)))
    out.push({ value, coords: { kind: 'kafka', topic: 'envoy', partition: 0, offset: String(i) }, key: Buffer.from('pod-a') })
  }
  return out
}

interface Output {
  writes: string[][]
  deadLetters: string[]
  counters: unknown
  stages: Record<string, number[]>
}

const pools: TransformPool[] = []
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()))
})

async function startPool(size: number, processing: ProcessingConfig, reply?: ReplyShape): Promise<TransformPool> {
  const pool = new TransformPool({ script: SCRIPT, workerData: { processing, reply }, size })
  pools.push(pool)
  await pool.start()
  expect(pool.ready()).toBe(size)
  return pool
}

/**
 * Runs `batches` through one handler, all handed over at once as the Kafka source does, and returns
 * what the sink and the dead-letter output received, in order. `during` runs once every batch is handed over.
 */
async function run(
  batches: RawRecord[][],
  processing: ProcessingConfig,
  pool?: TransformPool,
  during?: () => Promise<unknown>,
  encode: (events: AuditEvent[]) => string[] = (events) => events.map((e) => storedBytes(e, serialize).toString('utf8')),
  sinkReads?: ReplyShape,
): Promise<Output> {
  const out: Output = { writes: [], deadLetters: [], counters: undefined, stages: {} }
  const sink: Sink = {
    name: 'memory',
    start: async () => undefined,
    close: async () => undefined,
    async write(events) {
      out.writes.push(encode(events))
      // Acknowledged later than it was called: the next batch's write is called meanwhile, as with a real sink.
      await new Promise((r) => setTimeout(r, 5))
      return { rejected: [] }
    },
  }
  const dlq: DeadLetterSink = {
    start: async () => undefined,
    close: async () => undefined,
    write: async (dls) =>
      void out.deadLetters.push(
        ...dls.map((d) => `${d.id} ${d.reason} ${d.stage} ${JSON.stringify(d.source)} ${originalBytes(d).toString('base64')}`),
      ),
  }
  const { parser, stages, redactDeadLetters } = buildProcessing(processing)
  const handler = createBatchHandler({
    parser,
    stages,
    sink,
    deadLetters: dlq,
    microBatch: 50,
    ...(sinkReads === undefined ? {} : { sinkReads }),
    ...(redactDeadLetters === undefined ? {} : { redactDeadLetters }),
    ...(pool === undefined ? {} : { workers: pool }),
  })
  const acked = batches.map((b) => handler(b))
  await during?.()
  await Promise.all(acked)
  out.counters = handler.counters.toJSON()
  for (const [name, c] of handler.counters.stages) out.stages[name] = [c.in, c.out, c.deadLettered]
  return out
}

function split(all: RawRecord[], size: number): RawRecord[][] {
  const out: RawRecord[][] = []
  for (let i = 0; i < all.length; i += size) out.push(all.slice(i, i + size))
  return out
}

describe('transform workers', () => {
  const processing: ProcessingConfig = { integrity: { enabled: true } }

  test('workers 0 and 2 give byte-identical sink writes in the same order, the same dead letters and the same counts', async () => {
    // Batches of three slices on two workers: a later batch's slices often finish before an earlier one's.
    const batches = split(records(1200), 150)
    const inline = await run(batches, processing)
    const pool = await startPool(2, processing)
    let during: ReturnType<TransformPool['stats']> | undefined
    const threaded = await run(batches, processing, pool, async () => (during = pool.stats()))
    // While the batches were in flight, both workers held slices: what /metrics shows as busy and queued.
    expect(during?.busy).toBe(2)
    expect(during?.queued).toBeGreaterThan(2)
    expect([pool.stats().busy, pool.stats().queued]).toEqual([0, 0])
    expect(threaded.writes).toEqual(inline.writes)
    expect(threaded.deadLetters).toEqual(inline.deadLetters)
    expect(threaded.counters).toEqual(inline.counters)
    expect(threaded.stages).toEqual(inline.stages)
    // The workers did the work, and handed back the slices that held part of the CRI line.
    const stats = pool.stats()
    expect(stats.answered).toBeGreaterThan(10)
    expect(stats.redone).toBeGreaterThan(0)
    // What was compared is real: every record is an event or a dead letter, the CRI line joined.
    expect(inline.writes.flat().length + inline.deadLetters.length + 2).toBe(1200)
    expect(inline.writes.flat().some((d) => d.includes('/api/items/7?'))).toBe(true)
    expect(inline.deadLetters.length).toBeGreaterThan(5)
  }, 120_000)

  test('sinkReads stored: the same bulk bodies, dead letters and counts; events without findings reach the sink stored', async () => {
    const builder = new BulkOpBuilder('envoy-audit-events', 'envoy-audit-findings', true)
    const shapes = { whole: 0, slim: 0, findings: 0 }
    const bulk = (events: AuditEvent[]): string[] => {
      const ops: BulkOp[] = []
      for (let i = 0; i < events.length; i++) {
        const e = events[i]!
        if (e.audit.findings?.length) shapes.findings++
        if (e.mesh === undefined && e.event.original === undefined) shapes.slim++
        else shapes.whole++
        builder.appendOps(ops, e, i, '2026.01.01')
        // A retry builds the operations again: the stored form gives the same document, never a serialization of its few fields.
        if (i === 0) builder.appendOps([], e, i, '2026.01.01')
      }
      return [bulkBody(ops).toString('utf8')]
    }
    const batches = split(records(1500), 150)
    const whole = await run(batches, processing, undefined, undefined, bulk)
    expect(shapes.slim).toBe(0)
    const before = { ...shapes }
    const stored = await run(batches, processing, undefined, undefined, bulk, 'stored')
    expect(stored.writes).toEqual(whole.writes)
    expect(stored.deadLetters).toEqual(whole.deadLetters)
    expect(stored.counters).toEqual(whole.counters)
    expect(stored.stages).toEqual(whole.stages)
    // Main thread: every event without findings went as its stored form (but one joined from CRI parts).
    expect(shapes.slim).toBeGreaterThanOrEqual(before.whole - before.findings - 1)
    expect(shapes.slim).toBeGreaterThan(500)
    expect(shapes.findings - before.findings).toBe(before.findings)
    // Workers replying in the same form, the runner told so: the same bodies again.
    const pool = await startPool(2, processing, 'stored')
    const threaded = await run(batches, processing, pool, undefined, bulk, 'stored')
    expect(threaded.writes).toEqual(whole.writes)
    expect(threaded.deadLetters).toEqual(whole.deadLetters)
    expect(whole.writes.join('').includes('envoy-audit-findings')).toBe(true)
  }, 120_000)

  test('reply shape stored: the bulk bodies of no workers; events without findings cross as document and routing only', async () => {
    const builder = new BulkOpBuilder('envoy-audit-events', 'envoy-audit-findings', true)
    const shapes = { whole: 0, slim: 0, findings: 0 }
    // What the OpenSearch sink sends for each write (event and findings documents), and what each event held.
    const bulk = (events: AuditEvent[]): string[] => {
      const ops: BulkOp[] = []
      for (let i = 0; i < events.length; i++) {
        const e = events[i]!
        if (e.audit.findings?.length) shapes.findings++
        if (e.mesh === undefined && e.event.original === undefined) shapes.slim++
        else shapes.whole++
        builder.appendOps(ops, e, i, '2026.01.01')
      }
      return [bulkBody(ops).toString('utf8')]
    }
    const all = records(1500)
    const batches = split(all, 150)
    const inline = await run(batches, processing, undefined, undefined, bulk)
    expect(shapes.slim).toBe(0)
    const pool = await startPool(2, processing, 'stored')
    const before = { ...shapes }
    const threaded = await run(batches, processing, pool, undefined, bulk)
    expect(threaded.writes).toEqual(inline.writes)
    expect(threaded.deadLetters).toEqual(inline.deadLetters)
    expect(threaded.counters).toEqual(inline.counters)
    // The workers answered most slices with slim events; events with findings came whole (their findings documents are in the bodies).
    expect(pool.stats().answered).toBeGreaterThan(10)
    expect(shapes.slim).toBeGreaterThan(500)
    expect(shapes.findings - before.findings).toBe(before.findings)
    expect(before.findings).toBeGreaterThan(0)
    expect(inline.writes.join('').includes('envoy-audit-findings')).toBe(true)
  }, 120_000)

  test('a worker killed while it holds slices: the slices are parsed on the main thread, nothing lost or duplicated', async () => {
    const batches = split(records(2000), 1000)
    const inline = await run(batches, processing)
    const pool = await startPool(2, processing)
    const victim = pool.threads()[0]!
    const threaded = await run(batches, processing, pool, () => victim.terminate())
    expect(threaded.writes).toEqual(inline.writes)
    expect(threaded.deadLetters).toEqual(inline.deadLetters)
    expect(threaded.counters).toEqual(inline.counters)
    const ids = threaded.writes.flat().map((d) => (JSON.parse(d) as { event: { id: string } }).event.id)
    expect(new Set(ids).size).toBe(ids.length)
    // The dead worker was replaced, and the other one answered its share; the slices it held were
    // counted as unanswered, and every slice was answered, handed back or parsed again, once.
    const stats = pool.stats()
    expect(stats.restarts).toBe(1)
    expect(stats.crashes).toBe(1)
    expect(stats.answered).toBeGreaterThan(0)
    expect(stats.unanswered).toBeGreaterThan(0)
    expect(stats.answered + stats.redone + stats.unanswered).toBe(2000 / 50)
    expect([stats.busy, stats.queued]).toEqual([0, 0])
  }, 120_000)

  test('transforms.workers: auto takes the free cores less the main thread, capped; 0 or a number as given; errors name the path', () => {
    expect(loadTransformsConfig({}).workers).toBe(0)
    expect(resolveWorkers('auto', 1, 0)).toBe(0)
    expect(resolveWorkers('auto', 2, 0.1)).toBe(1)
    expect(resolveWorkers('auto', 2, 1.6)).toBe(0)
    expect(resolveWorkers('auto', 2, 20)).toBe(0)
    expect(resolveWorkers('auto', 64, 0)).toBe(4)
    expect(resolveWorkers(0, 64, 0)).toBe(0)
    expect(resolveWorkers(3, 1, 9)).toBe(3)
    expect(() => loadTransformsConfig({ workers: -1 })).toThrow(/transforms\.workers/)
    expect(() => loadTransformsConfig({ workers: 'many' })).toThrow(/transforms\.workers/)
    expect(() => loadTransformsConfig({ workers: 1.5 })).toThrow(/transforms\.workers/)
  })
})

describe('transforms.workers through buildPipeline', () => {
  /** A file of demo lines and junk through `parse`'s pipeline to an NDJSON file: the file's bytes, the dead letters, the counts. */
  async function parseFile(file: string, dir: string, workers: number, format: 'canonical' | 'ocsf'): Promise<Output & { out: string }> {
    const out = join(dir, `out-${workers}-${format}.ndjson`)
    const dlq = join(dir, `dlq-${workers}-${format}.ndjson`)
    const pipeline = buildPipeline(
      {
        source: { kind: 'file', file: { paths: [file] } },
        sink: { kind: 'ndjson', ndjson: { path: out, format } },
        deadLetter: { kind: 'file', path: dlq },
        transforms: { workers, microBatch: 64 },
      },
      { env: {}, warn: () => undefined, stdout: new PassThrough() },
    )
    expect(pipeline.workers).toBe(workers)
    const counters = await pipeline.run()
    const deadLetters = readFileSync(dlq, 'utf8')
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => {
        const d = JSON.parse(l) as Record<string, unknown>
        delete d.at
        return JSON.stringify(d)
      })
    return { writes: [], deadLetters, counters: counters.toJSON(), stages: {}, out: readFileSync(out, 'utf8') }
  }

  test('a file to the NDJSON sink, canonical and OCSF: the same bytes, dead letters and counts with 2 workers as with none', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ea-workers-'))
    try {
      const file = join(dir, 'access.log')
      writeFileSync(
        file,
        `${records(3000)
          .map((r) => r.value.toString())
          .join('\n')}\n`,
      )
      for (const format of ['canonical', 'ocsf'] as const) {
        const none = await parseFile(file, dir, 0, format)
        const two = await parseFile(file, dir, 2, format)
        expect(two.out).toBe(none.out)
        expect(two.deadLetters).toEqual(none.deadLetters)
        expect(two.counters).toEqual(none.counters)
        expect(none.out.split('\n').length).toBeGreaterThan(2500)
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 120_000)
})
