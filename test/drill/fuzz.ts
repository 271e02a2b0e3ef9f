/**
 * The long fuzz run for `npm run drill`: the structure-aware generators of fuzz-pipeline.ts for
 * DRILL_FUZZ_SECONDS (default 120) in rounds of fast-check runs, a fresh seed per round (printed, so a
 * failure is replayable with DRILL_FUZZ_SEED). Prints one JSON line.
 */
import fc from 'fast-check'
import { batchArb, checkBatch } from './fuzz-pipeline.js'

export async function fuzzDrill(): Promise<boolean> {
  const budgetMs = Number(process.env.DRILL_FUZZ_SECONDS ?? 120) * 1000
  const started = Date.now()
  let seed = Number(process.env.DRILL_FUZZ_SEED ?? Date.now() % 1_000_000)
  let runs = 0
  let rounds = 0
  let failure: string | undefined
  while (Date.now() - started < budgetMs && failure === undefined) {
    const result = await fc.check(fc.asyncProperty(batchArb, checkBatch), { numRuns: 500, seed })
    runs += result.numRuns
    rounds++
    if (result.failed) failure = `seed ${seed}: ${String(result.errorInstance ?? result.counterexample).slice(0, 2000)}`
    else seed++
  }
  const ok = failure === undefined
  console.log(
    JSON.stringify({
      drill: 'fuzz',
      ok,
      seconds: Math.round((Date.now() - started) / 1000),
      batches: runs,
      rounds,
      lastSeed: seed,
      ...(ok ? {} : { failure }),
    }),
  )
  return ok
}
