import { execFileSync } from 'node:child_process'
import { appendFileSync, readFileSync } from 'node:fs'
import { availableParallelism, loadavg } from 'node:os'

/**
 * Best of `rounds` timed runs after one warm-up: the least disturbed measurement on a shared machine.
 * Also the process CPU time of the least disturbed run (user + system, GC threads included), which
 * other load on the machine inflates far less than wall time: on these 2-core machines a test run in
 * another session doubles wall times while CPU times move by a few percent.
 */
export function bestOf<T>(fn: () => T, rounds: number): { seconds: number; cpuSeconds: number; value: T } {
  let value = fn()
  let best = Infinity
  let bestCpu = Infinity
  for (let i = 0; i < rounds; i++) {
    const c0 = process.cpuUsage()
    const t0 = process.hrtime.bigint()
    value = fn()
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9)
    const c = process.cpuUsage(c0)
    bestCpu = Math.min(bestCpu, (c.user + c.system) / 1e6)
  }
  return { seconds: best, cpuSeconds: bestCpu, value }
}

/**
 * One machine-readable summary line per benchmark, so results can be compared over time: with the
 * commit it measured and the machine's load average (on a shared machine the load explains most of
 * the difference between two runs of the same code). BENCH_HISTORY=FILE also appends the line to
 * FILE, which `npx tsx test/bench/compare.ts FILE` reads.
 */
export function emit(result: Record<string, unknown>): void {
  const line = JSON.stringify({ ...result, ...runContext(), node: process.version, at: new Date().toISOString() })
  process.stdout.write(line + '\n')
  const history = process.env.BENCH_HISTORY
  if (history !== undefined && history !== '') appendFileSync(history, line + '\n')
}

/**
 * The checkout's commit when the benchmark started (this module's import): a benchmark that runs for
 * an hour reports what it built and ran, even if the checkout moves meanwhile.
 */
const CHECKOUT = checkoutState()

function checkoutState(): { commit: string; dirty: boolean } {
  let commit = 'unknown'
  let dirty = false
  try {
    commit = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
    dirty =
      execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim() !== ''
  } catch {
    // not a git checkout (a packed tarball): the commit stays unknown
  }
  return { commit, dirty }
}

function runContext(): { commit: string; dirty: boolean; cpus: number; loadAverage: number } {
  return { ...CHECKOUT, cpus: availableParallelism(), loadAverage: Number(loadavg()[0]!.toFixed(2)) }
}

/** CPU seconds used by this process's waited-for children so far (Linux /proc; NaN elsewhere). */
export function childrenCpuSeconds(): number {
  try {
    // Fields after the command name (which may hold spaces): cutime and cstime are fields 16 and 17.
    const stat = readFileSync('/proc/self/stat', 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[13]) + Number(fields[14])) / 100
  } catch {
    return Number.NaN
  }
}
