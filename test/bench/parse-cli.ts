/**
 * The `parse` command end to end: `envoy-audit parse FILE > /dev/null` from dist/ with plain node (as the
 * installed package runs), over a file of demo mesh lines (Istio JSON and TEXT in Fluent Bit and CRI
 * envelopes, 300k lines by default). Baseline in the same run, alternating with it: a node process that
 * reads the same file and writes JSON.stringify(JSON.parse(line)) for each line (a TEXT line, which JSON
 * cannot parse, is stringified as a message), also to /dev/null. Best wall time and best CPU time (user +
 * system of the child, GC threads included) of the rounds; the CPU ratio is the steadier one on a shared
 * machine. Target: ratio ≥ 0.30.
 */
import { spawnSync } from 'node:child_process'
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateMeshTraffic } from '../../src/demo/mesh-traffic.js'
import { buildDist } from '../helpers/build-dist.js'
import { REPO_ROOT } from '../helpers/cli.js'
import { childrenCpuSeconds, emit } from './util.js'

const LINES = Number(process.env.BENCH_PARSE_LINES ?? 300_000)
const ROUNDS = Number(process.env.BENCH_PARSE_ROUNDS ?? 3)
/** Another build's CLI (its dist/src/cli/main.js, inside a checkout with node_modules), timed in the same rounds: before/after pairs. */
const BEFORE = process.env.BENCH_PARSE_BEFORE

/** Reads FILE in 1 MiB pieces, one JSON.parse + JSON.stringify per line, output written in 1 MiB pieces. */
const BASELINE = `
import { openSync, readSync, writeSync } from 'node:fs'
const fd = openSync(process.argv[1], 'r')
const buf = Buffer.allocUnsafe(1 << 20)
let rest = ''
let out = []
let outLength = 0
const line = (s) => {
  let o
  try { o = JSON.stringify(JSON.parse(s)) } catch { o = JSON.stringify({ message: s }) }
  out.push(o)
  outLength += o.length + 1
  if (outLength > 1 << 20) { writeSync(1, out.join('\\n') + '\\n'); out = []; outLength = 0 }
}
for (;;) {
  const n = readSync(fd, buf, 0, buf.length, null)
  if (n === 0) break
  const lines = (rest + buf.toString('utf8', 0, n)).split('\\n')
  rest = lines.pop()
  for (const s of lines) line(s)
}
if (rest !== '') line(rest)
if (out.length > 0) writeSync(1, out.join('\\n') + '\\n')
`

function run(args: string[]): { seconds: number; cpuSeconds: number } {
  const devNull = openSync('/dev/null', 'w')
  try {
    const c0 = childrenCpuSeconds()
    const t0 = process.hrtime.bigint()
    const r = spawnSync(process.execPath, args, { cwd: REPO_ROOT, stdio: ['ignore', devNull, 'pipe'], encoding: 'utf8' })
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9
    if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited ${r.status}: ${r.stderr}`)
    return { seconds, cpuSeconds: childrenCpuSeconds() - c0 }
  } finally {
    closeSync(devNull)
  }
}

export async function main(): Promise<Record<string, unknown>> {
  buildDist({ root: REPO_ROOT, src: `${REPO_ROOT}src`, outDir: `${REPO_ROOT}dist` })
  const dir = mkdtempSync(join(tmpdir(), 'ea-bench-parse-'))
  try {
    const lines = generateMeshTraffic({ seed: 7, sessions: 20_000, noise: false }).lines.map((l) => l.text)
    const file = join(dir, 'mesh.log')
    const text: string[] = []
    for (let i = 0; i < LINES; i++) text.push(lines[i % lines.length]!)
    writeFileSync(file, text.join('\n') + '\n')
    const parseArgs = ['parse', '-q', '--dlq', join(dir, 'dlq.ndjson'), file]
    const cases: Record<string, string[]> = {
      baseline: ['--input-type=module', '-e', BASELINE, file],
      parse: [`${REPO_ROOT}dist/src/cli/main.js`, ...parseArgs],
      ...(BEFORE === undefined || BEFORE === '' ? {} : { before: [BEFORE, ...parseArgs] }),
    }
    const best: Record<string, { seconds: number; cpuSeconds: number }> = {}
    for (let round = 0; round < ROUNDS; round++) {
      for (const name of Object.keys(cases)) {
        const t = run(cases[name]!)
        process.stderr.write(`${name.padEnd(9)} ${t.seconds.toFixed(2)} s wall, ${t.cpuSeconds.toFixed(2)} s CPU\n`)
        const b = best[name] ?? t
        best[name] = { seconds: Math.min(b.seconds, t.seconds), cpuSeconds: Math.min(b.cpuSeconds, t.cpuSeconds) }
      }
    }
    const us = (s: number): number => Number(((s * 1e6) / LINES).toFixed(2))
    const base = best.baseline!
    const ratios = (name: string): { ratio: number; cpuRatio: number } => ({
      ratio: Number((base.seconds / best[name]!.seconds).toFixed(3)),
      cpuRatio: Number((base.cpuSeconds / best[name]!.cpuSeconds).toFixed(3)),
    })
    const result = {
      bench: 'parse-cli',
      lines: LINES,
      rounds: ROUNDS,
      jsonShare: Number((text.filter((l) => l.includes('"start_time')).length / LINES).toFixed(2)),
      usPerRecord: Object.fromEntries(Object.entries(best).map(([name, t]) => [name, { wall: us(t.seconds), cpu: us(t.cpuSeconds) }])),
      ...ratios('parse'),
      ...(best.before === undefined ? {} : { before: { ...ratios('before'), cli: BEFORE } }),
      target: 0.3,
    }
    emit(result)
    return result
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main()
