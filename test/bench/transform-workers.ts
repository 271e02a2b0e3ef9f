/**
 * How far worker threads could take the transform core on this machine: the transform-core pipeline
 * (parse → identity → AU-3 → detect → redaction → integrity hash → OpenSearch bulk body, the stages `run`
 * builds by default) over the same demo records, in batches of 2,000, run three ways in the same run:
 * inline on the main thread, and on 1 and 2 worker threads fed in turn (each batch goes to a worker as
 * one Buffer of lines and comes back as its bulk body Buffer, both transferred, so the main thread only
 * slices and posts, as a Kafka-fed main thread would). Prints events/s of each and the ratio of 2
 * workers to inline: the ceiling worker threads can give `run` here, before any acknowledgement or
 * ledger work. Worth judging only with a free core (the load average is printed with it).
 *
 * Then the same records through the runner itself (createBatchHandler) and the real TransformPool, as
 * `run` drives them: batches of 2,000 records, four handed over at once as the Kafka source does, to a
 * sink that builds the OpenSearch bulk body on the main thread. Three ways: no workers, 2 workers
 * answering with whole events (reply `events`, what every sink may read), 2 workers answering with
 * what the OpenSearch sink reads (reply `stored`: the stored documents and a few fields). Prints
 * events/s and the main thread's busy milliseconds per batch (event-loop utilization): what the
 * replies cost the thread that also runs Kafka, the acknowledgements and the ledger.
 */
import { Worker } from 'node:worker_threads'
import { isMainThread, parentPort } from 'node:worker_threads'
import { availableParallelism, loadavg } from 'node:os'
import { generateMeshTraffic } from '../../src/demo/mesh-traffic.js'
import { createParser } from '../../src/parse/index.js'
import { applyStages } from '../../src/pipeline/transforms.js'
import { createTransformStages } from '../../src/compose/transform-stages.js'
import { loadTransformsConfig } from '../../src/config/transforms.js'
import { BulkOpBuilder, bulkBody, type BulkOp } from '../../src/sinks/opensearch/documents.js'
import type { RawRecord } from '../../src/pipeline/component.js'
import { withRedaction } from '../../src/redact/redactor.js'
import { redactionConfigSchema } from '../../src/redact/config.js'
import { createHashStage } from '../../src/integrity/chain.js'
import { emit } from './util.js'
import { createBatchHandler } from '../../src/pipeline/runner.js'
import { TransformPool, type ReplyShape } from '../../src/pipeline/worker-pool.js'
import { buildProcessing, type ProcessingConfig } from '../../src/compose/stages.js'
import type { Sink } from '../../src/pipeline/component.js'

const RECORDS = Number(process.env.BENCH_WORKERS_RECORDS ?? 100_000)
const BATCH = 2000

/** One batch: lines joined by '\n' in a Buffer, and the offset of the first record (its Kafka offset here). */
interface Job {
  id: number
  lines: ArrayBuffer
  first: number
}

function transformer(): (lines: Buffer, first: number) => Buffer {
  const stages = [...withRedaction(createTransformStages(loadTransformsConfig()), redactionConfigSchema.parse({})), createHashStage()]
  const builder = new BulkOpBuilder('envoy-audit-events', 'envoy-audit-findings', true)
  const parser = createParser()
  return (lines, first) => {
    const records: RawRecord[] = []
    let start = 0
    for (let i = 0; start < lines.length; i++) {
      let end = lines.indexOf(0x0a, start)
      if (end < 0) end = lines.length
      records.push({
        value: lines.subarray(start, end),
        coords: { kind: 'kafka', topic: 'envoy', partition: 0, offset: String(first + i) },
      })
      start = end + 1
    }
    const staged = applyStages(stages, parser.parseBatch(records).events)
    const ops: BulkOp[] = []
    for (let j = 0; j < staged.events.length; j++) builder.appendOps(ops, staged.events[j]!, j, '2026.01.01')
    return bulkBody(ops)
  }
}

if (!isMainThread) {
  const run = transformer()
  parentPort!.on('message', (job: Job) => {
    const body = run(Buffer.from(job.lines), job.first)
    const out = body.buffer.slice(body.byteOffset, body.byteOffset + body.length) as ArrayBuffer
    parentPort!.postMessage({ id: job.id, body: out }, [out])
  })
}

function batches(lines: string[]): Buffer[] {
  const out: Buffer[] = []
  for (let i = 0; i < RECORDS; i += BATCH) {
    const part: string[] = []
    for (let j = i; j < Math.min(RECORDS, i + BATCH); j++) part.push(lines[j % lines.length]!)
    out.push(Buffer.from(part.join('\n')))
  }
  return out
}

async function onWorkers(n: number, input: Buffer[]): Promise<{ seconds: number; bytes: number }> {
  // tsx's loader is per thread: each worker registers it, then loads this file.
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'))
  const boot = `import { register } from ${tsx}; register(); await import(${JSON.stringify(import.meta.url)})`
  const workers = Array.from({ length: n }, () => new Worker(new URL(`data:text/javascript,${encodeURIComponent(boot)}`)))
  try {
    // Warm-up: each worker compiles its code on a first batch before the clock starts.
    await Promise.all(workers.map((w) => roundTrip(w, input[0]!, 0, -1)))
    const t0 = process.hrtime.bigint()
    // Two batches in flight per worker, the next batch to whichever worker returns first.
    let next = 0
    let bytes = 0
    const pump = async (w: Worker): Promise<void> => {
      while (next < input.length) {
        const id = next++
        bytes += await roundTrip(w, input[id]!, id * BATCH, id)
      }
    }
    await Promise.all(workers.flatMap((w) => [pump(w), pump(w)]))
    return { seconds: Number(process.hrtime.bigint() - t0) / 1e9, bytes }
  } finally {
    await Promise.all(workers.map((w) => w.terminate()))
  }
}

function roundTrip(w: Worker, lines: Buffer, first: number, id: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const copy = lines.buffer.slice(lines.byteOffset, lines.byteOffset + lines.length) as ArrayBuffer
    const onMessage = (m: { id: number; body: ArrayBuffer }): void => {
      if (m.id !== id) return
      w.off('message', onMessage)
      w.off('error', reject)
      resolve(m.body.byteLength)
    }
    w.on('message', onMessage)
    w.once('error', reject)
    w.postMessage({ id, lines: copy, first } satisfies Job, [copy])
  })
}

const PROCESSING: ProcessingConfig = { integrity: { enabled: true } }

/** The source batches as the Kafka source hands them over: RawRecords with Buffer values. */
function rawBatches(lines: string[]): RawRecord[][] {
  const out: RawRecord[][] = []
  for (let i = 0; i < RECORDS; i += BATCH) {
    const batch: RawRecord[] = []
    for (let j = i; j < Math.min(RECORDS, i + BATCH); j++)
      batch.push({
        value: Buffer.from(lines[j % lines.length]!),
        coords: { kind: 'kafka', topic: 'envoy', partition: j % 4, offset: String(j) },
      })
    out.push(batch)
  }
  return out
}

/** A sink that builds the bulk body on the calling thread, as the OpenSearch sink does, and sends nothing. */
function bulkSink(): Sink & { bytes: number } {
  const builder = new BulkOpBuilder('envoy-audit-events', 'envoy-audit-findings', true)
  const sink = {
    name: 'bulk',
    bytes: 0,
    start: async () => undefined,
    close: async () => undefined,
    async write(events: Parameters<Sink['write']>[0]) {
      const ops: BulkOp[] = []
      for (let j = 0; j < events.length; j++) builder.appendOps(ops, events[j]!, j, '2026.01.01')
      sink.bytes += bulkBody(ops).length
      return { rejected: [] }
    },
  }
  return sink
}

/** The runner over every batch, `inFlight` handed over at once; the main thread's busy ms per batch. */
async function throughRunner(
  input: RawRecord[][],
  reply?: ReplyShape,
): Promise<{ seconds: number; mainMsPerBatch: number; bytes: number }> {
  const { parser, stages } = buildProcessing(PROCESSING)
  const pool =
    reply === undefined
      ? undefined
      : new TransformPool({
          script: new URL('../../src/compose/transform-worker.ts', import.meta.url),
          workerData: { processing: PROCESSING, reply },
          size: 2,
        })
  await pool?.start()
  try {
    const sink = bulkSink()
    const handler = createBatchHandler({
      parser,
      stages,
      sink,
      deadLetters: { start: async () => undefined, close: async () => undefined, write: async () => undefined },
      ...(pool === undefined ? {} : { workers: pool }),
    })
    // Warm-up: the workers and the main thread compile their code on a first batch before the clock starts.
    await Promise.all([handler(input[0]!), handler(input[1] ?? input[0]!)])
    const elu0 = performance.eventLoopUtilization()
    const t0 = process.hrtime.bigint()
    let next = 0
    const pump = async (): Promise<void> => {
      while (next < input.length) await handler(input[next++]!)
    }
    await Promise.all([pump(), pump(), pump(), pump()])
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9
    const elu = performance.eventLoopUtilization(elu0)
    return { seconds, mainMsPerBatch: elu.active / input.length, bytes: sink.bytes }
  } finally {
    await pool?.close()
  }
}

export async function main(): Promise<Record<string, unknown>> {
  const lines = generateMeshTraffic({ seed: 1, sessions: 3000, noise: false }).lines.map((l) => l.text)
  const input = batches(lines)
  const load0 = loadavg()[0]!
  const inline = (): { seconds: number; bytes: number } => {
    const run = transformer()
    run(input[0]!, 0)
    const t0 = process.hrtime.bigint()
    let bytes = 0
    for (let i = 0; i < input.length; i++) bytes += run(input[i]!, i * BATCH).length
    return { seconds: Number(process.hrtime.bigint() - t0) / 1e9, bytes }
  }
  const best: Record<string, number> = { inline: Infinity, workers1: Infinity, workers2: Infinity }
  for (let round = 0; round < 2; round++) {
    best.inline = Math.min(best.inline!, inline().seconds)
    best.workers1 = Math.min(best.workers1!, (await onWorkers(1, input)).seconds)
    best.workers2 = Math.min(best.workers2!, (await onWorkers(2, input)).seconds)
  }
  const raw = rawBatches(lines)
  const runner: Record<string, { seconds: number; mainMsPerBatch: number }> = {}
  for (let round = 0; round < 2; round++) {
    for (const [name, reply] of [
      ['inline', undefined],
      ['events', 'events'],
      ['stored', 'stored'],
    ] as const) {
      const r = await throughRunner(raw, reply)
      const b = runner[name]
      runner[name] = {
        seconds: Math.min(b?.seconds ?? Infinity, r.seconds),
        mainMsPerBatch: Math.min(b?.mainMsPerBatch ?? Infinity, r.mainMsPerBatch),
      }
    }
  }
  const perSec = (s: number): number => Math.round(RECORDS / s)
  const result = {
    bench: 'transform-workers',
    records: RECORDS,
    eventsPerSec: { inline: perSec(best.inline!), workers1: perSec(best.workers1!), workers2: perSec(best.workers2!) },
    workers2VsInline: Number((best.inline! / best.workers2!).toFixed(2)),
    // The runner and the real pool, 2 workers; main thread busy ms per batch of 2,000.
    runner: Object.fromEntries(
      Object.entries(runner).map(([k, v]) => [k, { eventsPerSec: perSec(v.seconds), mainMsPerBatch: Number(v.mainMsPerBatch.toFixed(1)) }]),
    ),
    target: 1.6,
    loadAverageAtStart: Number(load0.toFixed(2)),
    cores: availableParallelism(),
  }
  emit(result)
  return result
}

if (isMainThread && import.meta.url === `file://${process.argv[1]}`) await main()
