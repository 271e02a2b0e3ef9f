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

/** One machine-readable summary line per benchmark, so results can be compared over time. */
export function emit(result: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify({ ...result, node: process.version, at: new Date().toISOString() }) + '\n')
}
