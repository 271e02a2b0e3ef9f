/**
 * Test servers in child processes for benchmarks, so their work does not share the measured event
 * loop. They are the project's wire-compatible test servers, not Kafka or OpenSearch.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { readFileSync } from 'node:fs'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

export interface ChildServer {
  port: number
  child: ChildProcess
  stop(): Promise<void>
}

/** SERVER_NODE_ARGS adds node flags to the test servers, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`. */
export async function startChildServer(script: string, args: string[] = []): Promise<ChildServer> {
  const nodeArgs = (process.env.SERVER_NODE_ARGS ?? '').split(' ').filter((a) => a !== '')
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', `${ROOT}${script}`, ...args], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] })
  const line = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)))
    createInterface({ input: child.stdout! }).once('line', resolve)
  })
  const { port } = JSON.parse(line) as { port: number }
  return {
    port,
    child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve()
        child.once('exit', () => resolve())
        child.kill('SIGTERM')
      }),
  }
}

/** Peak resident set size of a process so far, from /proc (Linux). */
export function rssMb(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0)
    return Math.round(kb / 1024)
  } catch {
    return 0
  }
}

/**
 * CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat (Linux; fields 14 and
 * 15 in clock ticks of 1/100 s). Per-process CPU splits an end-to-end run's cost between envoy-audit
 * and the test servers that share the machine with it, and is steadier than wall time under load.
 */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name (field 2) may contain spaces; the fields after it start past the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return 0
  }
}
