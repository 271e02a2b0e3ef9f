/**
 * CLI startup: how long `envoy-audit --help`, `--version` and a few commands take to start, run from
 * dist/ with plain node as a user runs the installed package. Baselines in the same run: `node -e 0`
 * (node itself), the same node loading every command module (what `--help` cost before main.ts loaded
 * only the command it runs), and `parse --help` through tsx from the sources (what a CLI test paid
 * per process before the tests ran dist/, less the other command modules it loaded then). Best wall time of BENCH_CLI_ROUNDS runs after a warm-up, and
 * the CPU time (user + system) of the children, which other load on the machine inflates far less.
 */
import { spawnSync } from 'node:child_process'
import { buildDist } from '../helpers/build-dist.js'
import { REPO_ROOT } from '../helpers/cli.js'
import { childrenCpuSeconds, emit } from './util.js'

function time(args: string[], rounds: number): { seconds: number; cpuSeconds: number } {
  const once = (): { seconds: number; cpuSeconds: number } => {
    const c0 = childrenCpuSeconds()
    const t0 = process.hrtime.bigint()
    const r = spawnSync(process.execPath, args, { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' })
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9
    if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited ${r.status}: ${r.stderr}`)
    return { seconds, cpuSeconds: childrenCpuSeconds() - c0 }
  }
  once()
  let best = { seconds: Infinity, cpuSeconds: Infinity }
  for (let i = 0; i < rounds; i++) {
    const t = once()
    best = { seconds: Math.min(best.seconds, t.seconds), cpuSeconds: Math.min(best.cpuSeconds, t.cpuSeconds) }
  }
  return best
}

export async function main(): Promise<Record<string, unknown>> {
  const rounds = Number(process.env.BENCH_CLI_ROUNDS ?? 7)
  buildDist({ root: REPO_ROOT, src: `${REPO_ROOT}src`, outDir: `${REPO_ROOT}dist` })
  const cli = `${REPO_ROOT}dist/src/cli/main.js`
  const everyCommand =
    `const { COMMANDS } = await import(${JSON.stringify(`${REPO_ROOT}dist/src/cli/commands.js`)});` +
    `const { Command } = await import('commander'); const p = new Command('x');` +
    'for (const e of COMMANDS) if (!p.commands.some((c) => c.name() === e.name)) (await e.load())(p)'
  const cases: Record<string, string[]> = {
    'node -e 0': ['-e', '0'],
    '--help': [cli, '--help'],
    '--version': [cli, '--version'],
    'every command module loaded': ['--input-type=module', '-e', everyCommand],
    'parse --help': [cli, 'parse', '--help'],
    'parse --help through tsx': ['--import', 'tsx', `${REPO_ROOT}src/cli/main.ts`, 'parse', '--help'],
    'config defaults': [cli, 'config', 'defaults'],
    'ingest --help': [cli, 'ingest', '--help'],
    'run --help': [cli, 'run', '--help'],
  }
  const results: Record<string, { seconds: number; cpuSeconds: number }> = {}
  for (const [name, args] of Object.entries(cases)) {
    const t = time(args, rounds)
    results[name] = { seconds: Number(t.seconds.toFixed(3)), cpuSeconds: Number(t.cpuSeconds.toFixed(2)) }
    process.stderr.write(`${name.padEnd(32)} ${t.seconds.toFixed(3)} s wall, ${t.cpuSeconds.toFixed(2)} s CPU\n`)
  }
  const summary = { bench: 'cli-startup', rounds, results, target: '--help and --version under 0.3 s' }
  emit(summary)
  return summary
}

if (import.meta.url === `file://${process.argv[1]}`) await main()
