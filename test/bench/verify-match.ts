/**
 * verify's match by event id at size, without a store: the scratch tables as verify's scans leave
 * them (ledger entries, stored-event digests, findings rows as the JSON says and as stored), filled
 * by SQL for N events, with one event inserted, one deleted, one modified, a second stored copy and a
 * differing findings row planted; then matchById under the default scratch limit. Each size runs in
 * a child process of its own, which reports its peak RSS (VmHWM) after the fill and after the match;
 * the bench prints the peak's growth from the smallest to the largest size (the target: it does not
 * grow with the store) and fails if the planted changes are not all found. Filling by SQL takes
 * about a minute for 10M events, where verify's own scan of a 10M store takes most of an hour.
 *
 *   npm run bench -- verify-match
 *   BENCH_MATCH_EVENTS=1000000,10000000 node --import tsx test/bench/verify-match.ts
 */
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { emptyReport } from '../../src/integrity/verify-core.js'
import { matchById, matchTables } from '../../src/integrity/verify-match.js'
import { VerifyScratch } from '../../src/store/verify-scratch.js'
import { emit } from './util.js'

const SIZES = (process.env.BENCH_MATCH_EVENTS ?? '300000,3000000').split(',').map(Number)
const PLANTED = ['deleted:ev-20', 'inserted:ev-10', 'inserted:ev-50', 'modified:ev-30', 'modified:ev-40']

const peakMb = (): number => Math.round(Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]) / 1024)

/** One size, in this process: fill, match, report. */
async function child(n: number): Promise<void> {
  const scratch = await VerifyScratch.open()
  try {
    await matchTables(scratch)
    const t0 = Date.now()
    // As long as the store's ids (22 characters): DuckDB keeps strings of up to 12 bytes inline, and
    // 'ev-<i>' alone fitted the old copies-per-id GROUP BY where real ids ran it out of memory.
    const id = `('ev-' || i || '-' || substr(md5(i::VARCHAR), 1, 14))`
    const hash = `sha256(${id})`
    await scratch.phase('append')
    await scratch.run(
      `INSERT INTO ledger SELECT ${id}, 'stream-a', i, ${hash}, ${hash}, 1700000000000 + i FROM range(${n}) t(i) WHERE i <> 10`,
    )
    await scratch.run(`INSERT INTO ev SELECT i, ${id}, true, CASE WHEN i = 30 THEN 'x' ELSE ${hash} END, NULL, ${hash}, ${id}, NULL,
      CASE WHEN i % 5 < 2 THEN 1 ELSE 0 END FROM range(${n}) t(i) WHERE i <> 20`)
    await scratch.run(`INSERT INTO ev SELECT ${n}, ${id}, true, ${hash}, NULL, ${hash}, ${id}, NULL, 0 FROM range(50, 51) t(i)`)
    const row = (edited: string) => `'["plaintext","' || ${id} || '","' || ${edited} || '"]'`
    await scratch.run(`INSERT INTO fx SELECT ${id}, 0, ${row(hash)} FROM range(${n}) t(i) WHERE i % 5 < 2 AND i <> 20`)
    await scratch.run(`INSERT INTO fa SELECT ${id}, 0, ${row(`CASE WHEN i = 40 THEN 'edited' ELSE ${hash} END`)} FROM range(${n}) t(i)
      WHERE i % 5 < 2 AND i <> 20`)
    const fillSeconds = (Date.now() - t0) / 1000
    const peakAfterFillMb = peakMb()
    await scratch.phase('query')
    const t1 = Date.now()
    const report = emptyReport()
    await matchById(scratch, report, () => undefined, { compareFindings: true })
    const ids = report.issues.map((i) => `${i.kind}:${i.id.replace(/-[0-9a-f]{14}$/, '')}`).sort()
    process.stdout.write(
      JSON.stringify({ events: n, fillSeconds, matchSeconds: (Date.now() - t1) / 1000, peakAfterFillMb, peakRssMb: peakMb(), found: ids }) +
        '\n',
    )
  } finally {
    scratch.close()
  }
}

export async function main(): Promise<void> {
  const runs = []
  for (const n of SIZES) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], {
      env: { ...process.env, BENCH_MATCH_CHILD: String(n) },
      encoding: 'utf8',
      maxBuffer: 1 << 20,
    })
    if (r.status !== 0) throw new Error(`verify-match bench: ${n} events failed (exit ${r.status}): ${r.stderr.slice(-2000)}`)
    const run = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { found: string[]; peakRssMb: number }
    if (JSON.stringify(run.found) !== JSON.stringify(PLANTED))
      throw new Error(`verify-match bench: ${n} events: found ${run.found.join(' ')}, planted ${PLANTED.join(' ')}`)
    process.stderr.write(`verify-match: ${JSON.stringify(run)}\n`)
    runs.push(run)
  }
  emit({
    bench: 'verify-match',
    runs,
    peakGrowth: Number((runs.at(-1)!.peakRssMb / runs[0]!.peakRssMb).toFixed(3)),
  })
}

const childSize = process.env.BENCH_MATCH_CHILD
if (childSize !== undefined) await child(Number(childSize))
else if (process.argv[1] === fileURLToPath(import.meta.url)) await main()
