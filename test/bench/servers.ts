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

export async function startChildServer(script: string, args: string[] = []): Promise<ChildServer> {
  const child = spawn(process.execPath, ['--import', 'tsx', `${ROOT}${script}`, ...args], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] })
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
