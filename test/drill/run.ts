/**
 * `npm run drill`: the long reliability drills, not part of `npm test`.
 * - crash: 20+ SIGKILLs of `envoy-audit run` at random points over a Kafka → OpenSearch stream, then
 *   `verify --opensearch` must find the integrity ledger INTACT (runCrashDrill throws otherwise).
 * - outage: OpenSearch 503/429 and refusing connections, Kafka connections dropped, DLQ failing (test/drill/outage.ts).
 * - fuzz: the full record path under structure-aware fuzzing for DRILL_FUZZ_SECONDS (test/drill/fuzz.ts).
 * Prints one JSON line per drill and exits non-zero if any invariant fails.
 */
import { runCrashDrill } from '../support/crash-drill.js'
import { outageDrill } from './outage.js'
import { fuzzDrill } from './fuzz.js'

const kills = Number(process.env.DRILL_KILLS ?? 20)
const records = Number(process.env.DRILL_RECORDS ?? 400_000)
const started = Date.now()
const r = await runCrashDrill({
  records,
  partitions: 4,
  kills,
  minKillAfterMs: 0,
  maxKillAfterMs: 1000,
  seed: Number(process.env.DRILL_SEED ?? Date.now() % 100_000),
  log: (l) => process.stderr.write(`drill: ${l}\n`),
})
const ok = r.integrity.startsWith('INTACT') && r.killsMidStream === r.kills && r.unexpectedInIndex === 0 && r.missing === 0 && r.indexed === r.expectedIndexed && r.deadLettered >= 0
console.log(JSON.stringify({ drill: 'crash', ok, seconds: Math.round((Date.now() - started) / 1000), ...r }))
process.exitCode = ok ? 0 : 1

const outageOk = await outageDrill()
const fuzzOk = await fuzzDrill()
if (!outageOk || !fuzzOk) process.exitCode = 1
