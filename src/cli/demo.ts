import type { Command } from 'commander'
import { EnvoyAuditError } from '../errors.js'
import { DEFAULT_STORE_PATH } from '../store/duckdb-store.js'
import { MESH_TRAFFIC_DEFAULTS } from '../demo/mesh-traffic.js'
import { demoSummary, runDemo } from '../demo/run-demo.js'
import { processingConfigFromOptions } from './pipeline-options.js'
import { startProgress } from './progress.js'

interface DemoCliOptions {
  store: string
  out: string
  seed: string
  sessions: string
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('simulate an Istio mesh with planted incidents, ingest its logs, and write the evidence report')
    .option('--store <path>', 'DuckDB store file', DEFAULT_STORE_PATH)
    .option('--out <dir>', 'directory for the generated logs and the report', 'out')
    .option('--seed <n>', 'PRNG seed: the same seed gives the same logs and numbers', String(MESH_TRAFFIC_DEFAULTS.seed))
    .option('--sessions <n>', 'user sessions to simulate', String(MESH_TRAFFIC_DEFAULTS.sessions))
    .action(async (opts: DemoCliOptions) => {
      const seed = integer('--seed', opts.seed, 0, 2 ** 32 - 1)
      const sessions = integer('--sessions', opts.sessions, 0, 1_000_000)
      // A bar on a terminal only: the demo's own summary is its log.
      const progress = process.stderr.isTTY === true ? startProgress({ label: 'demo' }) : undefined
      try {
        const result = await runDemo({
          storePath: opts.store,
          outDir: opts.out,
          traffic: { seed, sessions },
          processing: processingConfigFromOptions({ format: 'auto' }),
          ...(progress === undefined ? {} : { onBatch: progress.update }),
        })
        progress?.stop()
        process.stdout.write(demoSummary(result, opts.store))
        if (result.incidents.some((i) => !i.found)) process.exitCode = 1
      } finally {
        progress?.stop()
      }
    })
}

function integer(name: string, value: string, min: number, max: number): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < min || n > max)
    throw new EnvoyAuditError('EA_USAGE', `${name} must be an integer from ${min} to ${max}, got "${value}"`)
  return n
}
