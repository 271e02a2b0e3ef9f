/** Best of `rounds` timed runs after one warm-up: the least disturbed measurement on a shared machine. */
export function bestOf<T>(fn: () => T, rounds: number): { seconds: number; value: T } {
  let value = fn()
  let best = Infinity
  for (let i = 0; i < rounds; i++) {
    const t0 = process.hrtime.bigint()
    value = fn()
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9)
  }
  return { seconds: best, value }
}

/** One machine-readable summary line per benchmark, so results can be compared over time. */
export function emit(result: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify({ ...result, node: process.version, at: new Date().toISOString() }) + '\n')
}
