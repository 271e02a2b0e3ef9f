/**
 * Test servers in child processes for benchmarks, so their work does not share the measured event
 * loop. They are the project's wire-compatible test servers, not Kafka or OpenSearch.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { cpuSeconds as procCpu, rssMb as procRss } from '../support/proc-stats.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

export interface ChildServer {
  port: number
  child: ChildProcess
  stop(): Promise<void>
}

/** SERVER_NODE_ARGS adds node flags to the test servers, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`. */
export async function startChildServer(script: string, args: string[] = []): Promise<ChildServer> {
  const nodeArgs = (process.env.SERVER_NODE_ARGS ?? '').split(' ').filter((a) => a !== '')
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', `${ROOT}${script}`, ...args], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
  })
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

/** Resident set size in whole MiB, 0 when the process is gone (for peak tracking). */
export function rssMb(pid: number): number {
  return Math.round(procRss(pid) ?? 0)
}

/** CPU seconds used so far, 0 when the process is gone. */
export function cpuSeconds(pid: number): number {
  return procCpu(pid) ?? 0
}
