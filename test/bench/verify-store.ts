/**
 * `verify --store` at size: for each layout in BENCH_VERIFY_LAYOUTS (default table,segments) and each
 * size in BENCH_VERIFY_ROWS (default 100000,1000000; add 10000000 when the disk and the hour allow),
 * an intact store of that many events (verify-store-fixture.ts:
 * copies of one realistic event with two findings, each with its right hash, ledgered and
 * checkpointed), verified by the built CLI under /usr/bin/time: wall seconds, peak RSS, events/s. The
 * baseline, measured in the same run: raw JSON.parse + JSON.stringify of the same stored documents,
 * a share of the work verify does per event (it parses, re-serializes and hashes each one). The
 * target (docs/store.md): the peak does not grow with the store, and stays under 300 MB at 10M.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { DuckDBInstance } from '@duckdb/node-api'
import { buildDist } from '../helpers/build-dist.js'
import { REPO_ROOT } from '../helpers/cli.js'
import { buildVerifyStore } from '../integrity/verify-store-fixture.js'
import { segmentsDirOf, type StoreLayout } from '../../src/store/duckdb-segments.js'
import { emit } from './util.js'

const SIZES = (process.env.BENCH_VERIFY_ROWS ?? '100000,1000000').split(',').map(Number)
const LAYOUTS = (process.env.BENCH_VERIFY_LAYOUTS ?? 'table,segments').split(',') as StoreLayout[]
const CLI = join(REPO_ROOT, 'dist/src/cli/main.js')

/** Parse + stringify of the store's stored documents, a chunk at a time: events/s. */
async function baseline(path: string): Promise<number> {
  const instance = await DuckDBInstance.create(path, { access_mode: 'READ_ONLY' })
  const conn = await instance.connect()
  try {
    const result = await conn.stream(`SELECT event_json FROM events LIMIT 200000`)
    const docs: string[] = []
    for await (const rows of result.yieldRowObjectJson()) for (const r of rows) docs.push(String(r.event_json))
    const t0 = process.hrtime.bigint()
    let bytes = 0
    for (const d of docs) bytes += JSON.stringify(JSON.parse(d)).length
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9
    return bytes > 0 ? Math.round(docs.length / seconds) : 0
  } finally {
    conn.closeSync()
    instance.closeSync()
  }
}

export async function main(): Promise<void> {
  buildDist({ root: REPO_ROOT, src: `${REPO_ROOT}src`, outDir: `${REPO_ROOT}dist` })
  const dir = mkdtempSync(join(tmpdir(), 'ea-verify-bench-'))
  const runs: Record<string, unknown>[] = []
  try {
    for (const layout of LAYOUTS)
      for (const n of SIZES) {
        const path = join(dir, `verify-${layout}-${n}.duckdb`)
        const b0 = Date.now()
        await buildVerifyStore(path, n, layout)
        const buildSeconds = (Date.now() - b0) / 1000
        const r = spawnSync(
          '/usr/bin/time',
          ['-f', 'BENCH_TIME %e %M', process.execPath, CLI, 'verify', '--store', path, '--progress-every', '60'],
          {
            stdio: ['ignore', 'pipe', 'pipe'],
            encoding: 'utf8',
            maxBuffer: 64 * 1024 * 1024,
          },
        )
        const m = /BENCH_TIME ([\d.]+) (\d+)/.exec(r.stderr)
        if (r.status !== 0 || m === null) throw new Error(`verify exited ${r.status}: ${r.stderr.slice(-800)}`)
        const seconds = Number(m[1])
        const baselinePerSecond = await baseline(path)
        const run = {
          layout,
          loadAverage: loadavg().map((l) => Number(l.toFixed(2))),
          events: n,
          seconds,
          peakRssMb: Math.round(Number(m[2]) / 1024),
          eventsPerSecond: Math.round(n / seconds),
          baselineParseStringifyPerSecond: baselinePerSecond,
          ratioToBaseline: Number((n / seconds / baselinePerSecond).toFixed(4)),
          buildSeconds,
        }
        process.stderr.write(`verify-store: ${JSON.stringify(run)}\n`)
        runs.push(run)
        rmSync(path, { force: true })
        rmSync(segmentsDirOf(path), { recursive: true, force: true })
      }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  // Per layout: the largest store's peak over the smallest's.
  const peakGrowth = Object.fromEntries(
    LAYOUTS.map((layout) => {
      const peaks = runs.filter((r) => r.layout === layout).map((r) => Number(r.peakRssMb))
      return [layout, peaks.length > 1 ? Number((Math.max(...peaks) / peaks[0]!).toFixed(3)) : 1]
    }),
  )
  emit({ bench: 'verify-store', runs, peakGrowth })
}
