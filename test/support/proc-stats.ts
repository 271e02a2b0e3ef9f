/**
 * Resource use of another process, read from /proc (Linux), for the benchmarks and drills that watch
 * envoy-audit and the test servers from outside. `undefined` when the process is gone or /proc is
 * not there, so a caller never mistakes a missing sample for a zero.
 */
import { readFileSync } from 'node:fs'

/** Resident set size in MiB (VmRSS), unrounded. */
export function rssMb(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m === null ? undefined : Number(m[1]) / 1024
  } catch {
    return undefined
  }
}

/**
 * CPU seconds (user + system) used so far, from /proc/<pid>/stat fields 14 and 15 (clock ticks of
 * 1/100 s). Splits an end-to-end run's cost between processes sharing the machine, and is steadier
 * than wall time under load.
 */
export function cpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name (field 2) may contain spaces; the fields after it start past the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return undefined
  }
}
