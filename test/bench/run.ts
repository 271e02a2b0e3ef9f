/**
 * `npm run bench`: every benchmark in turn, each printing one JSON summary line (compare over time)
 * with its baseline measured in the same run. Not part of `npm test`: timings on shared machines are
 * only meaningful as ratios. Run one: `npm run bench -- transform-core`.
 */
const BENCHES: Record<string, () => Promise<{ main: () => Promise<unknown> }>> = {
  'transform-core': () => import('./transform-core.js'),
  'end-to-end': () => import('./end-to-end.js'),
  memory: () => import('./memory.js'),
  'store-ingest': () => import('./store-ingest.js'),
  'store-scale': () => import('./store-scale.js'),
  'ingest-scale': () => import('./ingest-scale.js'),
  hunt: () => import('./hunt-bench.js'),
  'opensearch-ledger': () => import('./opensearch-ledger.js'),
  'sink-faults': () => import('./sink-faults.js'),
  'cli-startup': () => import('./cli-startup.js'),
  'parse-cli': () => import('./parse-cli.js'),
  'transform-workers': () => import('./transform-workers.js'),
  'verify-store': () => import('./verify-store.js'),
  'verify-opensearch': () => import('./verify-opensearch.js'),
  'verify-match': () => import('./verify-match.js'),
}

const only = process.argv.slice(2)
for (const [name, load] of Object.entries(BENCHES)) {
  if (only.length > 0 && !only.includes(name)) continue
  process.stderr.write(`bench: ${name}\n`)
  await (await load()).main()
}
