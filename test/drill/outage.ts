/**
 * The long outage drill for `npm run drill`: 40 000 records over 4 partitions, each fault phase 20 s
 * (DRILL_OUTAGE_RECORDS, DRILL_OUTAGE_PHASE_MS override). Prints one JSON line; ok when every
 * invariant of test/drill/outage-drill.ts holds.
 */
import { runOutageDrill } from './outage-drill.js'

export async function outageDrill(): Promise<boolean> {
  const started = Date.now()
  const r = await runOutageDrill({
    records: Number(process.env.DRILL_OUTAGE_RECORDS ?? 40_000),
    partitions: 4,
    phaseMs: Number(process.env.DRILL_OUTAGE_PHASE_MS ?? 20_000),
    log: (l) => process.stderr.write(`drill outage: ${l}\n`),
  })
  const ok =
    r.integrity.startsWith('INTACT') &&
    r.earlyCommits === 0 &&
    r.missing === 0 &&
    r.unexpectedInIndex === 0 &&
    r.indexed === r.expectedIndexed &&
    r.fullyCommitted &&
    r.rssMaxMb < 1024
  const { stderrTail, ...shown } = r
  console.log(
    JSON.stringify({ drill: 'outage', ok, seconds: Math.round((Date.now() - started) / 1000), ...shown, ...(ok ? {} : { stderrTail }) }),
  )
  return ok
}
