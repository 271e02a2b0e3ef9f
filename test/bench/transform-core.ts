/**
 * Transform core: parse → identity (SPIFFE) → AU-3 → detect → redaction → integrity hash → serialize
 * as an OpenSearch bulk body (the stages `envoy-audit run` builds with its defaults, driven by the
 * runner's batch handler in source batches of 2,000, into a sink that builds the body with the exact
 * BulkOpBuilder the OpenSearch sink uses), over a realistic mix of Istio JSON and TEXT lines in
 * Fluent Bit and CRI envelopes (the demo mesh generator). Baseline in the same run, same lines:
 * JSON.parse + JSON.stringify (text lines, which JSON cannot parse, are stringified as a message).
 * Target: CPU ratio ≥ 0.30 with event.original kept; also printed with it off (parser.preserveOriginal).
 *
 * BENCH_BEFORE=<another build's dist/> loads that build's pipeline into the same process and times it
 * in the same rounds, alternating with this one: a before/after pair that a shared machine's load
 * moves together. Rounds print to stderr with their garbage collection (scavenges and their time).
 */
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { GCProfiler } from 'node:v8'
import { generateMeshTraffic } from '../../src/demo/mesh-traffic.js'
import * as parseModule from '../../src/parse/index.js'
import * as stagesModule from '../../src/compose/transform-stages.js'
import * as transformsConfigModule from '../../src/config/transforms.js'
import * as documentsModule from '../../src/sinks/opensearch/documents.js'
import * as redactorModule from '../../src/redact/redactor.js'
import * as redactConfigModule from '../../src/redact/config.js'
import * as chainModule from '../../src/integrity/chain.js'
import * as runnerModule from '../../src/pipeline/runner.js'
import type { DeadLetterSink, RawRecord, Sink } from '../../src/pipeline/component.js'
import type { BulkOp } from '../../src/sinks/opensearch/documents.js'
import type { AuditEvent } from '../../src/schema/audit-event.js'
import type { TransformMemo } from '../../src/compose/transform-stages.js'
import { Session } from 'node:inspector/promises'
import { emit } from './util.js'

/** Another build's dist/ (inside a checkout with node_modules): its pipeline timed in the same rounds as this one. */
const BEFORE = process.env.BENCH_BEFORE

/** The modules the pipeline is built from: this checkout's sources, or another build's (BENCH_BEFORE). */
interface Build {
  parse: typeof parseModule
  stages: typeof stagesModule
  transformsConfig: typeof transformsConfigModule
  documents: typeof documentsModule
  redactor: typeof redactorModule
  redactConfig: typeof redactConfigModule
  chain: typeof chainModule
  runner: typeof runnerModule
}

const current: Build = {
  parse: parseModule,
  stages: stagesModule,
  transformsConfig: transformsConfigModule,
  documents: documentsModule,
  redactor: redactorModule,
  redactConfig: redactConfigModule,
  chain: chainModule,
  runner: runnerModule,
}

async function loadBuild(dist: string): Promise<Build> {
  const load = (path: string): Promise<any> => import(pathToFileURL(join(dist, 'src', path)).href)
  return {
    parse: await load('parse/index.js'),
    stages: await load('compose/transform-stages.js'),
    transformsConfig: await load('config/transforms.js'),
    documents: await load('sinks/opensearch/documents.js'),
    redactor: await load('redact/redactor.js'),
    redactConfig: await load('redact/config.js'),
    chain: await load('integrity/chain.js'),
    runner: await load('pipeline/runner.js'),
  }
}

/**
 * The pipeline as `run` drives it with its defaults: source batches of 2,000 through the runner's batch
 * handler (its micro-batches through the parser and the stages), into a sink that builds the OpenSearch
 * bulk body with the sink's own BulkOpBuilder and answers at once. Resolves to the bulk bytes.
 */
function pipelineOf(b: Build, records: RawRecord[], preserveOriginal: boolean, memo: TransformMemo): () => Promise<number> {
  const config = b.transformsConfig.loadTransformsConfig()
  const stages = [
    ...b.redactor.withRedaction(b.stages.createTransformStages(config, memo), b.redactConfig.redactionConfigSchema.parse({})),
    b.chain.createHashStage(),
  ]
  const builder = new b.documents.BulkOpBuilder('envoy-audit-events', 'envoy-audit-findings', true)
  let bytes = 0
  const sink: Sink = {
    name: 'bulk-body',
    start: async () => undefined,
    close: async () => undefined,
    async write(events: AuditEvent[]) {
      const ops: BulkOp[] = []
      for (let j = 0; j < events.length; j++) builder.appendOps(ops, events[j]!, j, '2026.01.01')
      bytes += b.documents.bulkBody(ops).length
      return { rejected: [] }
    },
  }
  const deadLetters: DeadLetterSink = { start: async () => undefined, close: async () => undefined, write: async () => undefined }
  return async () => {
    bytes = 0
    // parser.preserveOriginal: true is the default (event.original kept); false stores event.hash instead.
    const handler = b.runner.createBatchHandler({
      parser: b.parse.createParser({ preserveOriginal }),
      stages,
      sink,
      deadLetters,
      // What the OpenSearch sink reads (src/compose/sinks.ts); a build without the option ignores it.
      sinkReads: 'stored',
    } as Parameters<typeof runnerModule.createBatchHandler>[0])
    for (let i = 0; i < records.length; i += BATCH) await handler(records.slice(i, i + BATCH))
    return bytes
  }
}

const BATCH = 2000

/** Garbage collection while a run was timed: V8's young-generation (scavenge) and full collections. */
interface GcTime {
  scavenges: number
  scavengeMs: number
  markCompacts: number
  markCompactMs: number
  /** What the scavenges moved to the old generation (old and large-object spaces grew by): what outlived its micro-batch. */
  promotedBytes: number
}

interface Timed {
  seconds: number
  cpuSeconds: number
  gc: GcTime
}

const oldBytes = (h: { heapSpaceStatistics: { spaceName: string; spaceUsedSize: number }[] }): number => {
  let n = 0
  for (const space of h.heapSpaceStatistics)
    if (space.spaceName === 'old_space' || space.spaceName === 'large_object_space') n += space.spaceUsedSize
  return n
}

/** V8's own record of each collection (GCProfiler: cost in µs per collection), started and stopped around the run. */
async function timed(fn: () => unknown): Promise<Timed> {
  const profiler = new GCProfiler()
  profiler.start()
  const c0 = process.cpuUsage()
  const t0 = process.hrtime.bigint()
  await fn()
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9
  const c = process.cpuUsage(c0)
  const gc: GcTime = { scavenges: 0, scavengeMs: 0, markCompacts: 0, markCompactMs: 0, promotedBytes: 0 }
  for (const s of profiler.stop().statistics) {
    if (s.gcType === 'Scavenge' || s.gcType === 'MinorMarkCompact') {
      gc.scavenges++
      gc.scavengeMs += s.cost / 1000
      gc.promotedBytes += Math.max(0, oldBytes(s.afterGC) - oldBytes(s.beforeGC))
    } else if (s.gcType === 'MarkSweepCompact') {
      gc.markCompacts++
      gc.markCompactMs += s.cost / 1000
    }
  }
  return { seconds, cpuSeconds: (c.user + c.system) / 1e6, gc }
}

export async function main(): Promise<Record<string, unknown>> {
  const traffic = generateMeshTraffic({ seed: 1, sessions: 3000, noise: false })
  const lines = traffic.lines.map((l) => l.text)
  // BENCH_RECORDS and BENCH_ROUNDS shorten a run while iterating; the defaults are what docs/performance.md reports.
  const N = Math.max(lines.length, Number(process.env.BENCH_RECORDS ?? 100_000))
  const rounds = Number(process.env.BENCH_ROUNDS ?? 5)
  const records: RawRecord[] = []
  for (let i = 0; i < N; i++) {
    records.push({
      value: Buffer.from(lines[i % lines.length] as string),
      coords: { kind: 'kafka', topic: 'envoy', partition: 0, offset: String(i) },
    })
  }

  const baseline = (): number => {
    let bytes = 0
    for (const r of records) {
      const s = (r.value as Buffer).toString('utf8')
      let out: string
      try {
        out = JSON.stringify(JSON.parse(s))
      } catch {
        out = JSON.stringify({ message: s })
      }
      bytes += out.length
    }
    return bytes
  }

  // As src/service/service.ts composes them with the default config.
  const memo = current.stages.createTransformMemo(current.transformsConfig.loadTransformsConfig().memoEntries)
  const before = BEFORE === undefined || BEFORE === '' ? undefined : await loadBuild(BEFORE)
  const cases: Record<string, () => unknown> = {
    baseline,
    pipeline: pipelineOf(current, records, true, memo),
    pipelineNoOriginal: pipelineOf(current, records, false, memo),
  }
  if (before !== undefined) {
    const beforeMemo = before.stages.createTransformMemo(before.transformsConfig.loadTransformsConfig().memoEntries)
    cases.before = pipelineOf(before, records, true, beforeMemo)
  }

  // Where the time goes: each step timed on its own over the same batches (µs per record), so a
  // change can be traced to the step it moved. Not part of the ratio.
  const stages = [
    ...redactorModule.withRedaction(
      stagesModule.createTransformStages(transformsConfigModule.loadTransformsConfig(), memo),
      redactConfigModule.redactionConfigSchema.parse({}),
    ),
    chainModule.createHashStage(),
  ]
  const builder = new documentsModule.BulkOpBuilder('envoy-audit-events', 'envoy-audit-findings', true)
  const breakdown = (): Record<string, number> => {
    const parser = parseModule.createParser()
    const acc: Record<string, number> = {}
    const lap = (k: string, t0: bigint): void => {
      acc[k] = (acc[k] ?? 0) + Number(process.hrtime.bigint() - t0) / 1e3
    }
    for (let i = 0; i < records.length; i += BATCH) {
      let t0 = process.hrtime.bigint()
      let events = parser.parseBatch(records.slice(i, i + BATCH)).events
      lap('parse', t0)
      for (const stage of stages) {
        t0 = process.hrtime.bigint()
        events = stage.process(events).events
        lap(stage.name, t0)
      }
      t0 = process.hrtime.bigint()
      const ops: BulkOp[] = []
      for (let j = 0; j < events.length; j++) builder.appendOps(ops, events[j]!, j, '2026.01.01')
      documentsModule.bulkBody(ops)
      lap('bulk', t0)
    }
    for (const k of Object.keys(acc)) acc[k] = Number((acc[k]! / records.length).toFixed(2))
    return acc
  }

  // One warm-up of each, then rounds in turn (before and after alternate, so both see the same load);
  // per case the best wall time and the best CPU time, with the collections of the best-CPU round.
  for (const fn of Object.values(cases)) await fn()
  const best: Record<string, Timed> = {}
  for (let round = 0; round < rounds; round++) {
    for (const [name, fn] of Object.entries(cases)) {
      const t = await timed(fn)
      const g = t.gc
      const gc =
        `${g.scavenges} scavenges ${g.scavengeMs.toFixed(0)} ms (promoted ${(g.promotedBytes / 1e6).toFixed(0)} MB), ` +
        `${g.markCompacts} mark-compacts ${g.markCompactMs.toFixed(0)} ms`
      process.stderr.write(`${name.padEnd(18)} ${t.seconds.toFixed(2)} s wall, ${t.cpuSeconds.toFixed(2)} s CPU, ${gc}\n`)
      const b = best[name]
      best[name] =
        b === undefined
          ? t
          : {
              seconds: Math.min(b.seconds, t.seconds),
              cpuSeconds: Math.min(b.cpuSeconds, t.cpuSeconds),
              gc: t.cpuSeconds < b.cpuSeconds ? t.gc : b.gc,
            }
    }
  }
  breakdown()
  // Bytes allocated per record (V8's sampling heap profiler, counting objects already collected):
  // nearly independent of machine load, so a change in allocation shows even when times are noise.
  const allocated: Record<string, number> = {}
  for (const [name, fn] of Object.entries(cases)) allocated[name] = await allocatedPerRecord(fn, N)
  const base = best.baseline!
  const ratios = (name: string): { ratio: number; cpuRatio: number } => ({
    ratio: Number((base.seconds / best[name]!.seconds).toFixed(3)),
    cpuRatio: Number((base.cpuSeconds / best[name]!.cpuSeconds).toFixed(3)),
  })
  const us = (s: number): number => Number(((s * 1e6) / N).toFixed(2))
  const gcOf = (name: string): Record<string, number> => {
    const g = best[name]!.gc
    return {
      scavenges: g.scavenges,
      scavengeMs: Math.round(g.scavengeMs),
      markCompacts: g.markCompacts,
      markCompactMs: Math.round(g.markCompactMs),
      promotedBytesPerRecord: Math.round(g.promotedBytes / N),
    }
  }
  const noOriginal = ratios('pipelineNoOriginal')
  const result = {
    bench: 'transform-core',
    records: N,
    jsonShare: Number((lines.filter((l) => l.includes('"start_time')).length / lines.length).toFixed(2)),
    baselineEventsPerSec: Math.round(N / base.seconds),
    pipelineEventsPerSec: Math.round(N / best.pipeline!.seconds),
    ...ratios('pipeline'),
    // ratio is in wall time; cpuRatio in process CPU time, steadier when other work shares the machine.
    // The same with parser.preserveOriginal false (event.hash instead of event.original).
    ratioNoOriginal: noOriginal.ratio,
    cpuRatioNoOriginal: noOriginal.cpuRatio,
    target: 0.3,
    // Share of lookups the identity and findings memos answered (transforms.memoEntries).
    memoHitRate: {
      identity: Number((memo.identity.hits / Math.max(1, memo.identity.hits + memo.identity.misses)).toFixed(4)),
      findings: Number((memo.findings.hits / Math.max(1, memo.findings.hits + memo.findings.misses)).toFixed(4)),
    },
    allocatedBytesPerRecord: allocated,
    gc: Object.fromEntries(Object.keys(best).map((name) => [name, gcOf(name)])),
    usPerRecord: {
      baseline: us(base.seconds),
      pipeline: us(best.pipeline!.seconds),
      ...breakdown(),
    },
    cpuUsPerRecord: Object.fromEntries(Object.entries(best).map(([name, t]) => [name, us(t.cpuSeconds)])),
    ...(best.before === undefined
      ? {}
      : { before: { dist: BEFORE, ...ratios('before'), gc: gcOf('before'), allocatedBytesPerRecord: allocated.before } }),
  }
  emit(result)
  return result
}

async function allocatedPerRecord(run: () => unknown, records: number): Promise<number> {
  const session = new Session()
  session.connect()
  try {
    await session.post('HeapProfiler.startSampling', {
      samplingInterval: 8192,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    } as object)
    await run()
    const { profile } = (await session.post('HeapProfiler.stopSampling')) as { profile: { head: SamplingNode } }
    const total = (n: SamplingNode): number => n.children.reduce((sum, c) => sum + total(c), n.selfSize)
    return Math.round(total(profile.head) / records)
  } finally {
    session.disconnect()
  }
}

interface SamplingNode {
  selfSize: number
  children: SamplingNode[]
}

if (import.meta.url === `file://${process.argv[1]}`) await main()
