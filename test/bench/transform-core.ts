/**
 * Transform core: parse → identity (SPIFFE) → AU-3 → detect → redaction → integrity hash → serialize
 * as an OpenSearch bulk body (the stages `envoy-audit run` builds with its defaults, and the exact
 * BulkOpBuilder the sink uses), over a realistic mix of Istio JSON and TEXT lines in
 * Fluent Bit and CRI envelopes (the demo mesh generator). Baseline in the same run, same lines:
 * JSON.parse + JSON.stringify (text lines, which JSON cannot parse, are stringified as a message).
 * Target: CPU ratio ≥ 0.30 with event.original kept; also printed with it off (parser.preserveOriginal).
 */
import { generateMeshTraffic } from '../../src/demo/mesh-traffic.js'
import { createParser } from '../../src/parse/index.js'
import { applyStages } from '../../src/pipeline/transforms.js'
import { createTransformMemo, createTransformStages } from '../../src/compose/transform-stages.js'
import { loadTransformsConfig } from '../../src/config/transforms.js'
import { BulkOpBuilder, bulkBody, type BulkOp } from '../../src/sinks/opensearch/documents.js'
import type { RawRecord } from '../../src/pipeline/component.js'
import { withRedaction } from '../../src/redact/redactor.js'
import { redactionConfigSchema } from '../../src/redact/config.js'
import { createHashStage } from '../../src/integrity/chain.js'
import { Session } from 'node:inspector/promises'
import { bestOf, emit } from './util.js'

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
  const batch = 2000

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
  const memo = createTransformMemo(loadTransformsConfig().memoEntries)
  const stages = [...withRedaction(createTransformStages(loadTransformsConfig(), memo), redactionConfigSchema.parse({})), createHashStage()]
  const builder = new BulkOpBuilder('envoy-audit-events', 'envoy-audit-findings', true)
  // parser.preserveOriginal: true is the default (event.original kept); false stores event.hash instead.
  const run = (preserveOriginal: boolean) => (): number => {
    const parser = createParser({ preserveOriginal })
    let bytes = 0
    for (let i = 0; i < records.length; i += batch) {
      const parsed = parser.parseBatch(records.slice(i, i + batch))
      const staged = applyStages(stages, parsed.events)
      const ops: BulkOp[] = []
      for (let j = 0; j < staged.events.length; j++) builder.appendOps(ops, staged.events[j]!, j, '2026.01.01')
      bytes += bulkBody(ops).length
    }
    return bytes
  }
  const pipeline = run(true)
  const pipelineNoOriginal = run(false)

  // Where the time goes: each step timed on its own over the same batches (µs per record), so a
  // change can be traced to the step it moved. Not part of the ratio.
  const breakdown = (): Record<string, number> => {
    const parser = createParser()
    const acc: Record<string, number> = {}
    const lap = (k: string, t0: bigint): void => {
      acc[k] = (acc[k] ?? 0) + Number(process.hrtime.bigint() - t0) / 1e3
    }
    for (let i = 0; i < records.length; i += batch) {
      let t0 = process.hrtime.bigint()
      let events = parser.parseBatch(records.slice(i, i + batch)).events
      lap('parse', t0)
      for (const stage of stages) {
        t0 = process.hrtime.bigint()
        events = stage.process(events).events
        lap(stage.name, t0)
      }
      t0 = process.hrtime.bigint()
      const ops: BulkOp[] = []
      for (let j = 0; j < events.length; j++) builder.appendOps(ops, events[j]!, j, '2026.01.01')
      bulkBody(ops)
      lap('bulk', t0)
    }
    for (const k of Object.keys(acc)) acc[k] = Number((acc[k]! / records.length).toFixed(2))
    return acc
  }

  const base = bestOf(baseline, rounds)
  const ours = bestOf(pipeline, rounds)
  const noOriginal = bestOf(pipelineNoOriginal, rounds)
  breakdown()
  // Bytes allocated per record (V8's sampling heap profiler, counting objects already collected):
  // nearly independent of machine load, so a change in allocation shows even when times are noise.
  const allocated = {
    baseline: await allocatedPerRecord(baseline, N),
    pipeline: await allocatedPerRecord(pipeline, N),
    pipelineNoOriginal: await allocatedPerRecord(pipelineNoOriginal, N),
  }
  const result = {
    bench: 'transform-core',
    records: N,
    jsonShare: Number((lines.filter((l) => l.includes('"start_time')).length / lines.length).toFixed(2)),
    baselineEventsPerSec: Math.round(N / base.seconds),
    pipelineEventsPerSec: Math.round(N / ours.seconds),
    ratio: Number((base.seconds / ours.seconds).toFixed(3)),
    // The same ratio in process CPU time: steadier when other work shares the machine.
    cpuRatio: Number((base.cpuSeconds / ours.cpuSeconds).toFixed(3)),
    // The same with parser.preserveOriginal false (event.hash instead of event.original).
    ratioNoOriginal: Number((base.seconds / noOriginal.seconds).toFixed(3)),
    cpuRatioNoOriginal: Number((base.cpuSeconds / noOriginal.cpuSeconds).toFixed(3)),
    target: 0.3,
    // Share of lookups the identity and findings memos answered (transforms.memoEntries).
    memoHitRate: {
      identity: Number((memo.identity.hits / Math.max(1, memo.identity.hits + memo.identity.misses)).toFixed(4)),
      findings: Number((memo.findings.hits / Math.max(1, memo.findings.hits + memo.findings.misses)).toFixed(4)),
    },
    allocatedBytesPerRecord: allocated,
    usPerRecord: {
      baseline: Number(((base.seconds * 1e6) / N).toFixed(2)),
      pipeline: Number(((ours.seconds * 1e6) / N).toFixed(2)),
      ...breakdown(),
    },
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
    run()
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
