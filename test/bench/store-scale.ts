/**
 * The embedded store as a new user meets it, through the built CLI: `ingest` of N realistic lines (the
 * demo mesh generator, N/5 sessions over two hours), then `verify --store`, `hunt` and `flows` on the
 * result, each its own process under /usr/bin/time (wall seconds and peak RSS). Prints events/s, bytes
 * of store per event and per input line, and the readers' times. Baseline in the same run: `parse` of
 * the same file to NDJSON (the pipeline without the store), so the store's share of `ingest` shows as
 * a ratio. Size with BENCH_SCALE_LINES (100k); BENCH_SCALE_KEEP=1 keeps the directory and prints it;
 * BENCH_SCALE_LAYOUT=segments ingests with `--layout segments` (docs/store.md).
 * Targets (docs/store.md): ingest >= 50k events/s, <= 1 KB/event on disk, verify bounded memory.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateMeshTraffic } from '../../src/demo/mesh-traffic.js'
import { buildDist } from '../helpers/build-dist.js'
import { REPO_ROOT } from '../helpers/cli.js'
import { emit } from './util.js'

const LINES = Number(process.env.BENCH_SCALE_LINES ?? 100_000)
const LAYOUT = process.env.BENCH_SCALE_LAYOUT ?? 'table'
const CLI = join(REPO_ROOT, 'dist/src/cli/main.js')

interface Timed {
  seconds: number
  rssMb: number
  stderr: string
}

/** One CLI process under GNU time: its wall time and peak resident set; a non-zero exit throws unless allowed. */
function timed(args: string[], allowFail = false): Timed {
  const r = spawnSync('/usr/bin/time', ['-f', 'BENCH_TIME %e %M', process.execPath, CLI, ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  })
  if (r.status !== 0 && !allowFail) throw new Error(`envoy-audit ${args[0]} exited ${r.status}: ${r.stderr.slice(-800)}`)
  const m = /BENCH_TIME ([\d.]+) (\d+)/.exec(r.stderr)
  if (m === null) throw new Error(`no timing in: ${r.stderr.slice(-500)}`)
  return { seconds: Number(m[1]), rssMb: Math.round(Number(m[2]) / 1024), stderr: r.stderr }
}

function diskBytes(path: string): number {
  const s = statSync(path)
  if (!s.isDirectory()) return s.size
  return readdirSync(path).reduce((sum, name) => sum + diskBytes(join(path, name)), 0)
}

function realisticLines(n: number): string[] {
  const lines: string[] = []
  for (let seed = 1; lines.length < n; seed++) {
    const start = new Date(Date.parse('2026-11-20T00:00:00Z') + (seed - 1) * 7_200_000).toISOString()
    const traffic = generateMeshTraffic({ seed, start, durationMinutes: 120, sessions: Math.min(20_000, Math.ceil(n / 5)), noise: false })
    for (const l of traffic.lines) lines.push(l.text)
  }
  return lines.slice(0, n)
}

export async function main(): Promise<void> {
  buildDist({ root: REPO_ROOT, src: `${REPO_ROOT}src`, outDir: `${REPO_ROOT}dist` })
  const dir = mkdtempSync(join(tmpdir(), 'ea-store-scale-'))
  try {
    const input = join(dir, 'input.log')
    const text = realisticLines(LINES).join('\n') + '\n'
    writeFileSync(input, text)
    const inputBytes = Buffer.byteLength(text)
    const parse = timed(['parse', input, '-q', '--dlq', join(dir, 'parse-dlq.ndjson')])
    const storeDir = join(dir, 'store')
    const store = join(storeDir, 'audit.duckdb')
    const ingest = timed(['ingest', input, '--store', store, '-q', '--layout', LAYOUT])
    rmSync(join(storeDir, 'dead-letters.ndjson'), { force: true })
    rmSync(join(storeDir, 'file-positions.json'), { force: true })
    const storeBytes = diskBytes(storeDir)
    // A store written by ingest has no ledger: verify reads every event, then says there is nothing to check (exit 1).
    const verify = timed(['verify', '--store', store], true)
    const hunt = timed(['hunt', '--store', store, '--from', 'frontend', '--since', '2026-11-20T00:00:00Z', '--json'])
    const flows = timed(['flows', '--store', store, '--since', '2026-11-20T00:00:00Z', '--json'])
    emit({
      bench: 'store-scale',
      lines: LINES,
      layout: LAYOUT,
      inputBytesPerLine: Math.round(inputBytes / LINES),
      ingest: { seconds: ingest.seconds, eventsPerSecond: Math.round(LINES / ingest.seconds), rssMb: ingest.rssMb },
      baselineParse: { seconds: parse.seconds, linesPerSecond: Math.round(LINES / parse.seconds), rssMb: parse.rssMb },
      ratio: Number((parse.seconds / ingest.seconds).toFixed(3)),
      storeBytesPerEvent: Math.round(storeBytes / LINES),
      storeToInput: Number((storeBytes / inputBytes).toFixed(2)),
      verify: { seconds: verify.seconds, rssMb: verify.rssMb },
      hunt: { seconds: hunt.seconds, rssMb: hunt.rssMb },
      flows: { seconds: flows.seconds, rssMb: flows.rssMb },
    })
  } finally {
    if (process.env.BENCH_SCALE_KEEP === '1') process.stderr.write(`kept ${dir}\n`)
    else rmSync(dir, { recursive: true, force: true })
  }
}
