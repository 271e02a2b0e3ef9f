/**
 * `ingest` at volume, through the built CLI as a user runs it (not a side loader): N realistic lines
 * (the demo mesh generator, up to 100k lines per two hours of traffic, so 10M lines span about eight
 * days) written to a file chunk by chunk, then `ingest` of that file into a fresh store, then `hunt`
 * and `flows` over all of it, each its own process under /usr/bin/time (wall, CPU user + system, peak
 * RSS). Prints events/s, CPU µs per event, store bytes per event and the readers' times.
 * Baseline in the same run: `parse` of the same file to NDJSON (the pipeline without the store); at
 * the largest sizes BENCH_INGEST_BASELINE=0 skips it.
 * Size with BENCH_INGEST_LINES (200k; the issue's target is 10M); BENCH_INGEST_LAYOUT (segments) picks
 * the layout; BENCH_INGEST_DIR puts the input and the store there instead of the system temp directory
 * (10M lines are about 14 GB of input); BENCH_INGEST_KEEP=1 keeps them and prints where.
 * BENCH_INGEST_STREAM=1 writes no input file: the generated lines go straight to `ingest -` (its stdin),
 * chunk by chunk with backpressure, so 10M lines need no 14 GB of disk (no `parse` baseline then).
 * BENCH_INGEST_BEFORE=<another checkout, built> also runs that checkout's `ingest` on the same input,
 * before this one's, back to back: the before/after pair of a change (`before` in the output).
 * Targets (docs/store.md): ingest >= 50k events/s end to end, <= 1 KB per event, hunt/flows < 2 s.
 */
import { spawn, spawnSync } from 'node:child_process'
import { closeSync, mkdtempSync, openSync, readdirSync, rmSync, statSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateMeshTraffic } from '../../src/demo/mesh-traffic.js'
import { buildDist } from '../helpers/build-dist.js'
import { REPO_ROOT } from '../helpers/cli.js'
import { emit } from './util.js'

const LINES = Number(process.env.BENCH_INGEST_LINES ?? 200_000)
const LAYOUT = process.env.BENCH_INGEST_LAYOUT ?? 'segments'
const STREAM = process.env.BENCH_INGEST_STREAM === '1'
const BASELINE = process.env.BENCH_INGEST_BASELINE !== '0' && !STREAM
const CLI = join(REPO_ROOT, 'dist/src/cli/main.js')
const BEFORE = process.env.BENCH_INGEST_BEFORE
const START = '2026-11-20T00:00:00Z'
/** Lines per two-hour chunk of generated traffic (20k sessions fan out to about 100k lines). */
const SESSIONS_PER_CHUNK = 20_000

interface Timed {
  seconds: number
  cpuSeconds: number
  rssMb: number
}

/** One CLI process under GNU time: wall, CPU and peak resident set; a non-zero exit throws. */
function timed(args: string[], cli = CLI): Timed {
  const r = spawnSync('/usr/bin/time', ['-f', 'BENCH_TIME %e %U %S %M', process.execPath, cli, ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  })
  if (r.status !== 0) throw new Error(`envoy-audit ${args[0]} exited ${r.status}: ${r.stderr.slice(-800)}`)
  const m = /BENCH_TIME ([\d.]+) ([\d.]+) ([\d.]+) (\d+)/.exec(r.stderr)
  if (m === null) throw new Error(`no timing in: ${r.stderr.slice(-500)}`)
  return { seconds: Number(m[1]), cpuSeconds: Number(m[2]) + Number(m[3]), rssMb: Math.round(Number(m[4]) / 1024) }
}

/** timed(), with the child's stdin fed by `feed` (backpressure honoured); resolves once the child exits. */
async function timedStream(args: string[], feed: (write: (text: string) => Promise<void>) => Promise<void>): Promise<Timed> {
  const child = spawn('/usr/bin/time', ['-f', 'BENCH_TIME %e %U %S %M', process.execPath, CLI, ...args], {
    stdio: ['pipe', 'ignore', 'pipe'],
  })
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (d: string) => void (stderr = (stderr + d).slice(-64 * 1024)))
  let gone = false
  const exited = new Promise<number | null>((resolve) =>
    child.on('close', (code) => {
      gone = true
      resolve(code)
    }),
  )
  // A child that dies mid-stream closes its stdin: stop feeding and report its exit and stderr, not EPIPE.
  child.stdin.on('error', () => undefined)
  class ChildGone extends Error {}
  const write = (text: string): Promise<void> => {
    if (gone || child.stdin.destroyed) return Promise.reject(new ChildGone())
    if (child.stdin.write(text)) return Promise.resolve()
    return new Promise((resolve, reject) => {
      child.stdin.once('drain', () => resolve())
      void exited.then(() => reject(new ChildGone()))
    })
  }
  try {
    await feed(write)
  } catch (err) {
    if (!(err instanceof ChildGone)) throw err
  }
  child.stdin.end()
  const code = await exited
  if (code !== 0) throw new Error(`envoy-audit ${args[0]} exited ${code}: ${stderr.slice(-800)}`)
  const m = /BENCH_TIME ([\d.]+) ([\d.]+) ([\d.]+) (\d+)/.exec(stderr)
  if (m === null) throw new Error(`no timing in: ${stderr.slice(-500)}`)
  return { seconds: Number(m[1]), cpuSeconds: Number(m[2]) + Number(m[3]), rssMb: Math.round(Number(m[4]) / 1024) }
}

function diskBytes(path: string): number {
  const s = statSync(path)
  if (!s.isDirectory()) return s.size
  return readdirSync(path).reduce((sum, name) => sum + diskBytes(join(path, name)), 0)
}

/** The `n` generated lines, one two-hour chunk of text at a time (the whole input never sits in memory). */
function* chunks(n: number): Generator<{ text: string; lines: number }> {
  let written = 0
  for (let seed = 1; written < n; seed++) {
    const start = new Date(Date.parse(START) + (seed - 1) * 7_200_000).toISOString()
    const sessions = Math.min(SESSIONS_PER_CHUNK, Math.ceil(n / 5))
    const lines = generateMeshTraffic({ seed, start, durationMinutes: 120, sessions, noise: false }).lines
    const take = lines.slice(0, n - written).map((l) => l.text)
    written += take.length
    yield { text: take.join('\n') + '\n', lines: written }
  }
}

/** Writes `n` generated lines to `path`; returns its bytes. */
function writeLines(path: string, n: number): number {
  const fd = openSync(path, 'w')
  let bytes = 0
  try {
    for (const { text } of chunks(n)) bytes += writeSync(fd, text)
  } finally {
    closeSync(fd)
  }
  return bytes
}

const note = (m: string): void => void process.stderr.write(`ingest-scale: ${m} (${new Date().toISOString()})\n`)

export async function main(): Promise<void> {
  buildDist({ root: REPO_ROOT, src: `${REPO_ROOT}src`, outDir: `${REPO_ROOT}dist` })
  const dir = mkdtempSync(join(process.env.BENCH_INGEST_DIR ?? tmpdir(), 'ea-ingest-scale-'))
  try {
    const input = join(dir, 'input.log')
    let inputBytes = STREAM ? 0 : writeLines(input, LINES)
    if (!STREAM) note(`${LINES} lines, ${inputBytes} bytes written to ${input}`)
    // parse writes its NDJSON to stdout, which timed() discards.
    const parse = BASELINE ? timed(['parse', input, '-q', '--dlq', join(dir, 'parse-dlq.ndjson')]) : undefined
    if (parse !== undefined) note(`parse baseline ${parse.seconds} s`)
    let before: Timed | undefined
    if (BEFORE !== undefined) {
      const beforeDir = join(dir, 'store-before')
      before = timed(
        ['ingest', input, '--store', join(beforeDir, 'audit.duckdb'), '-q', '--layout', LAYOUT],
        join(BEFORE, 'dist/src/cli/main.js'),
      )
      note(`before: ingest ${before.seconds} s`)
      rmSync(beforeDir, { recursive: true, force: true })
    }
    const storeDir = join(dir, 'store')
    const store = join(storeDir, 'audit.duckdb')
    const args = ['--store', store, '-q', '--layout', LAYOUT]
    const ingest = STREAM
      ? await timedStream(['ingest', '-', ...args], async (write) => {
          let chunk = 0
          for (const { text, lines } of chunks(LINES)) {
            inputBytes += Buffer.byteLength(text)
            await write(text)
            if (++chunk % 10 === 0) note(`${lines} lines streamed to ingest`)
          }
        })
      : timed(['ingest', input, ...args])
    note(`ingest ${ingest.seconds} s`)
    rmSync(join(storeDir, 'dead-letters.ndjson'), { force: true })
    rmSync(join(storeDir, 'file-positions.json'), { force: true })
    const storeBytes = diskBytes(storeDir)
    const hunt = timed(['hunt', '--store', store, '--from', 'frontend', '--since', START, '--json'])
    const flows = timed(['flows', '--store', store, '--since', START, '--json'])
    emit({
      bench: 'ingest-scale',
      lines: LINES,
      layout: LAYOUT,
      input: STREAM ? 'stdin, streamed' : 'file',
      inputBytesPerLine: Math.round(inputBytes / LINES),
      ingest: {
        seconds: ingest.seconds,
        eventsPerSecond: Math.round(LINES / ingest.seconds),
        cpuMicrosPerEvent: Math.round((ingest.cpuSeconds * 1e6) / LINES),
        peakRssMb: ingest.rssMb,
      },
      ...(before === undefined
        ? {}
        : {
            before: {
              checkout: BEFORE,
              seconds: before.seconds,
              eventsPerSecond: Math.round(LINES / before.seconds),
              cpuMicrosPerEvent: Math.round((before.cpuSeconds * 1e6) / LINES),
              peakRssMb: before.rssMb,
            },
          }),
      ...(parse === undefined
        ? {}
        : {
            baselineParse: {
              seconds: parse.seconds,
              linesPerSecond: Math.round(LINES / parse.seconds),
              cpuMicrosPerLine: Math.round((parse.cpuSeconds * 1e6) / LINES),
              peakRssMb: parse.rssMb,
            },
            ratio: Number((parse.seconds / ingest.seconds).toFixed(3)),
            cpuRatio: Number((parse.cpuSeconds / ingest.cpuSeconds).toFixed(3)),
          }),
      storeBytesPerEvent: Math.round(storeBytes / LINES),
      storeToInput: Number((storeBytes / inputBytes).toFixed(2)),
      hunt: { seconds: hunt.seconds, peakRssMb: hunt.rssMb },
      flows: { seconds: flows.seconds, peakRssMb: flows.rssMb },
      targets: { eventsPerSecond: 50_000, bytesPerEvent: 1024, huntSeconds: 2 },
    })
  } finally {
    if (process.env.BENCH_INGEST_KEEP === '1') note(`kept ${dir}`)
    else rmSync(dir, { recursive: true, force: true })
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main()
