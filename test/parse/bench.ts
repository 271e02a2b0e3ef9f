/**
 * Parser throughput against the target (>= 0.6x the speed of JSON.parse + JSON.stringify over the same
 * lines; for text lines the baseline is the Istio JSON lines of the fixture). Baseline and parser runs
 * alternate and the median ratio is reported, so load from other processes hits both sides alike.
 * Run: npx tsx test/parse/bench.ts   (not part of the test suite: timings are machine-dependent)
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { createParser } from '../../src/parse/index.js'
import type { RawRecord } from '../../src/pipeline/component.js'

const dir = fileURLToPath(new URL('../fixtures/envoy/', import.meta.url))
const all = readFileSync(`${dir}mixed-real-world.log`, 'utf8')
  .split('\n')
  .filter((l) => l.length > 0)
const json = all.filter((l) => (l.startsWith('{"authority"') || l.startsWith('{"upstream_local')) && l.endsWith('}'))
const text = all.filter((l) => l.startsWith('[20') && l.includes('" 200 '))
const N = 50_000
const ROUNDS = 9

function corpus(lines: string[]): RawRecord[] {
  const out: RawRecord[] = []
  for (let i = 0; i < N; i++)
    out.push({ value: Buffer.from(lines[i % lines.length]!), coords: { kind: 'kafka', topic: 't', partition: 0, offset: String(i) } })
  return out
}

function seconds(fn: () => void): number {
  const t0 = process.hrtime.bigint()
  fn()
  return Number(process.hrtime.bigint() - t0) / 1e9
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!

const jsonRecs = corpus(json)
const baseline = (): void => {
  for (const r of jsonRecs) JSON.stringify(JSON.parse((r.value as Buffer).toString('utf8')))
}

for (const [name, lines] of [
  ['istio-json', json],
  ['istio-text', text],
  ['mixed-real-world', all],
] as const) {
  const recs = corpus(lines)
  const parser = createParser()
  const parse = (): void => {
    for (let i = 0; i < recs.length; i += 1000) parser.parseBatch(recs.slice(i, i + 1000))
  }
  baseline()
  parse()
  const ratios: number[] = []
  const rates: number[] = []
  for (let r = 0; r < ROUNDS; r++) {
    const b = seconds(baseline)
    const p = seconds(parse)
    ratios.push(b / p)
    rates.push(N / p)
  }
  console.log(
    `${name}: median ${Math.round(median(rates)).toLocaleString('en-US')} rec/s, ratio to JSON.parse+stringify ${median(ratios).toFixed(2)} (${ROUNDS} alternating rounds of ${N})`,
  )
}
