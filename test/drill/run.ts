/**
 * `npm run drill [-- NAME... | GROUP] [options]`: the long reliability drills, not part of `npm test`.
 * Each prints one JSON line with its counts; the exit code is 1 when any count is wrong, 2 when a drill
 * cannot run (e.g. no real servers for a real-* drill).
 *
 * Against the project's test servers (test/support), for faults a real server cannot produce on demand:
 * - crash: 20+ SIGKILLs of `envoy-audit run` over a Kafka → OpenSearch stream, then `verify --opensearch`
 *   must find the integrity ledger INTACT (DRILL_KILLS, DRILL_RECORDS, DRILL_SEED).
 * - crash-workers: the same with transforms.workers (DRILL_WORKERS, default 2): every incarnation must
 *   say it ran the worker threads.
 * - outage: OpenSearch 503/429 and refusing connections, Kafka connections dropped, DLQ failing (outage.ts).
 * - fuzz: the full record path under structure-aware fuzzing for DRILL_FUZZ_SECONDS (fuzz.ts).
 * Against real Kafka and OpenSearch (`npm run services:up`; real-scenarios.ts), while a producer keeps
 * sending demo mesh lines: real-sigkill, real-kafka-restart, real-opensearch-restart, real-rebalance.
 *
 * Groups: `test-servers` (crash, crash-workers, outage, fuzz), `real` (the four real-* drills). With no name, every
 * drill runs; the real ones are skipped with a message when no real server is configured, unless
 * EA_REQUIRE_REAL_SERVERS=1.
 */
import { parseArgs } from 'node:util'
import { DrillSetupError, realEnv } from './real-env.js'
import { runRealDrill, type RealOptions } from './real-drill.js'
import { REAL_DRILLS } from './real-scenarios.js'

async function crashDrill(workers?: number): Promise<boolean> {
  const { runCrashDrill } = await import('../support/crash-drill.js')
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
    ...(workers === undefined ? {} : { workers }),
    log: (l) => process.stderr.write(`drill: ${l}\n`),
  })
  const ok =
    r.integrity.startsWith('INTACT') &&
    r.killsMidStream === r.kills &&
    r.unexpectedInIndex === 0 &&
    r.missing === 0 &&
    r.indexed === r.expectedIndexed &&
    r.deadLettered >= 0 &&
    (workers === undefined || r.withWorkers === kills + 1)
  console.log(
    JSON.stringify({
      drill: workers === undefined ? 'crash' : 'crash-workers',
      ok,
      seconds: Math.round((Date.now() - started) / 1000),
      ...r,
    }),
  )
  return ok
}

// Loaded when run, so that a real-* drill does not load the test servers at all.
const TEST_SERVER_DRILLS: Record<string, () => Promise<boolean>> = {
  crash: () => crashDrill(),
  'crash-workers': () => crashDrill(Number(process.env.DRILL_WORKERS ?? 2)),
  outage: async () => (await import('./outage.js')).outageDrill(),
  fuzz: async () => (await import('./fuzz.js')).fuzzDrill(),
}
const REAL_NAMES = REAL_DRILLS.map((d) => d.name)
const GROUPS: Record<string, string[]> = { 'test-servers': Object.keys(TEST_SERVER_DRILLS), real: REAL_NAMES }

const USAGE = `usage: npm run drill -- [NAME|GROUP ...] [options]
drills: ${[...Object.keys(TEST_SERVER_DRILLS), ...REAL_NAMES].join(', ')}; groups: ${Object.keys(GROUPS).join(', ')}
real-* options (defaults in brackets):
  --rate N           lines produced per second [300]
  --partitions N     source topic partitions [4]
  --kills N          real-sigkill: SIGKILLs [20]
  --restarts N       real-kafka-restart / real-opensearch-restart: restarts, alternating signals [2]
  --cycles N         real-rebalance: join/leave cycles, alternating SIGTERM/SIGKILL leaves [2]
  --run-seconds N    streaming between two faults [15]
  --down-seconds N   a stopped server stays down [5]
  --drain-seconds N  longest wait for the backlog after the producer stops [300]
  --seed N           traffic and kill timing [time-based, printed]
  --keep             keep the drill's topics, group and indices
real-* drills need real Kafka and OpenSearch: npm run services:up (or KAFKA_BROKERS and OPENSEARCH_URL);
the restart drills stop and start the servers recorded in EA_SERVICES_DIR (default .services/), so give
them servers of their own, e.g. EA_SERVICES_DIR=$PWD/.services-drill EA_KAFKA_PORT=19092 EA_OPENSEARCH_PORT=19200.`

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      rate: { type: 'string' },
      partitions: { type: 'string' },
      kills: { type: 'string' },
      restarts: { type: 'string' },
      cycles: { type: 'string' },
      'run-seconds': { type: 'string' },
      'down-seconds': { type: 'string' },
      'drain-seconds': { type: 'string' },
      seed: { type: 'string' },
      keep: { type: 'boolean' },
      list: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help === true || values.list === true) {
    console.log(USAGE)
    return 0
  }
  const int = (name: keyof typeof values, dflt: number, min: number): number => {
    const v = values[name]
    if (v === undefined) return dflt
    const n = Number(v)
    if (!Number.isInteger(n) || n < min) throw new DrillSetupError(`--${name}: expected an integer >= ${min}, got ${String(v)}`)
    return n
  }
  const opts: RealOptions = {
    rate: int('rate', 300, 1),
    partitions: int('partitions', 4, 1),
    kills: int('kills', 20, 1),
    restarts: int('restarts', 2, 1),
    cycles: int('cycles', 2, 1),
    runSeconds: int('run-seconds', 15, 1),
    downSeconds: int('down-seconds', 5, 0),
    drainSeconds: int('drain-seconds', 300, 10),
    seed: int('seed', Number(process.env.DRILL_SEED ?? Date.now() % 100_000), 0),
    keep: values.keep === true,
    log: (l) => process.stderr.write(`drill ${l}\n`),
  }
  const names =
    positionals.length === 0 ? [...Object.keys(TEST_SERVER_DRILLS), ...REAL_NAMES] : positionals.flatMap((p) => GROUPS[p] ?? [p])
  const unknown = names.filter((n) => TEST_SERVER_DRILLS[n] === undefined && !REAL_NAMES.includes(n))
  if (unknown.length > 0) throw new DrillSetupError(`unknown drill ${unknown.join(', ')}\n${USAGE}`)
  const wantsReal = names.some((n) => REAL_NAMES.includes(n))
  if (wantsReal) {
    try {
      realEnv()
    } catch (err) {
      // Asked for by name, or required: a missing server is an error. In the everything-run: a notice.
      if (positionals.length > 0 || process.env.EA_REQUIRE_REAL_SERVERS === '1') throw err
      process.stderr.write(`drill: skipping ${REAL_NAMES.join(', ')}: ${(err as Error).message}\n`)
      names.splice(0, names.length, ...names.filter((n) => !REAL_NAMES.includes(n)))
    }
  }
  if (wantsReal) process.stderr.write(`drill: real-* seed ${opts.seed} (replay with --seed ${opts.seed})\n`)
  let failed = 0
  for (const name of names) {
    const test = TEST_SERVER_DRILLS[name]
    const ok =
      test !== undefined
        ? await test()
        : await runRealDrill(
            REAL_DRILLS.find((d) => d.name === name)!,
            opts,
          )
    if (!ok) failed++
  }
  return failed === 0 ? 0 : 1
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(err instanceof DrillSetupError ? `drill: ${err.message}` : (err.stack ?? err.message))
    process.exit(2)
  },
)
