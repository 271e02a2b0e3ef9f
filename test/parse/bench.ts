/**
 * Parser throughput against the target (>= 0.6x of JSON.parse + JSON.stringify over the same lines).
 * Run: npx tsx test/parse/bench.ts   (not part of the test suite: timings are machine-dependent)
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { createParser } from '../../src/parse/index.js'
import type { RawRecord } from '../../src/pipeline/component.js'

const dir = fileURLToPath(new URL('../fixtures/envoy/', import.meta.url))
const all = readFileSync(`${dir}mixed-real-world.log`, 'utf8').split('\n').filter((l) => l.length > 0)
const json = all.filter((l) => (l.startsWith('{"authority"') || l.startsWith('{"upstream_local')) && l.endsWith('}'))
const text = all.filter((l) => l.startsWith('[20') && l.includes('" 200 '))
const N = 100_000

function corpus(lines: string[]): RawRecord[] {
  const out: RawRecord[] = []
  for (let i = 0; i < N; i++) out.push({ value: Buffer.from(lines[i % lines.length]!), coords: { kind: 'kafka', topic: 't', partition: 0, offset: String(i) } })
  return out
}

/** Best of `rounds` runs after a warm-up: the least disturbed measurement on a shared machine. */
function time(fn: () => void, rounds = 5): number {
  fn()
  let best = Infinity
  for (let i = 0; i < rounds; i++) {
    const t0 = process.hrtime.bigint()
    fn()
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9)
  }
  return best
}

for (const [name, lines] of [['istio-json', json], ['istio-text', text]] as const) {
  const recs = corpus(lines)
  const jsonRecs = corpus(json)
  const baseline = time(() => {
    for (const r of jsonRecs) JSON.stringify(JSON.parse((r.value as Buffer).toString('utf8')))
  })
  const parser = createParser()
  let events = 0
  const parse = time(() => {
    events = 0
    for (let i = 0; i < recs.length; i += 1000) events += parser.parseBatch(recs.slice(i, i + 1000)).events.length
  })
  console.log(
    `${name}: ${Math.round(N / parse).toLocaleString()} rec/s parse (${events} events) vs ${Math.round(N / baseline).toLocaleString()} rec/s JSON.parse+stringify of Istio JSON lines -> ratio ${(baseline / parse).toFixed(2)}`,
  )
}
