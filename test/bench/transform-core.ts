/**
 * Transform core: parse → identity (SPIFFE) → AU-3 → detect → serialize as an OpenSearch bulk body
 * (the exact BulkOpBuilder the sink uses), over a realistic mix of Istio JSON and TEXT lines in
 * Fluent Bit and CRI envelopes (the demo mesh generator). Baseline in the same run, same lines:
 * JSON.parse + JSON.stringify (text lines, which JSON cannot parse, are stringified as a message).
 * Target: ratio ≥ 0.6.
 */
import { generateMeshTraffic } from '../../src/demo/mesh-traffic.js'
import { createParser } from '../../src/parse/index.js'
import { applyStages, createTransformStages } from '../../src/pipeline/transforms.js'
import { loadTransformsConfig } from '../../src/config/transforms.js'
import { BulkOpBuilder, bulkBody, type BulkOp } from '../../src/sinks/opensearch/documents.js'
import type { RawRecord } from '../../src/pipeline/component.js'
import { bestOf, emit } from './util.js'

export async function main(): Promise<Record<string, unknown>> {
  const traffic = generateMeshTraffic({ seed: 1, sessions: 3000, noise: false })
  const lines = traffic.lines.map((l) => l.text)
  const N = Math.max(lines.length, 100_000)
  const records: RawRecord[] = []
  for (let i = 0; i < N; i++) {
    records.push({ value: Buffer.from(lines[i % lines.length] as string), coords: { kind: 'kafka', topic: 'envoy', partition: 0, offset: String(i) } })
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

  const stages = createTransformStages(loadTransformsConfig())
  const builder = new BulkOpBuilder('envoy-audit-events', 'envoy-audit-findings', true)
  const pipeline = (): number => {
    const parser = createParser()
    let bytes = 0
    for (let i = 0; i < records.length; i += batch) {
      const parsed = parser.parseBatch(records.slice(i, i + batch))
      const staged = applyStages(stages, parsed.events)
      const ops: BulkOp[] = []
      for (let j = 0; j < staged.events.length; j++) builder.appendOps(ops, staged.events[j]!, j)
      bytes += bulkBody(ops).length
    }
    return bytes
  }

  const base = bestOf(baseline, 5)
  const ours = bestOf(pipeline, 5)
  const result = {
    bench: 'transform-core',
    records: N,
    jsonShare: Number((lines.filter((l) => l.includes('"start_time')).length / lines.length).toFixed(2)),
    baselineEventsPerSec: Math.round(N / base.seconds),
    pipelineEventsPerSec: Math.round(N / ours.seconds),
    ratio: Number((base.seconds / ours.seconds).toFixed(3)),
    target: 0.6,
  }
  emit(result)
  return result
}

if (import.meta.url === `file://${process.argv[1]}`) await main()
