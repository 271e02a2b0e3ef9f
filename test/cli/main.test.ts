import { spawn } from 'node:child_process'
import { Command } from 'commander'
import { describe, expect, test } from 'vitest'
import { registerCommands } from '../../src/cli/commands.js'
import { cliEntry, REPO_ROOT } from '../helpers/cli.js'

/** Runs the CLI with its stdout read by nobody: the pipe is closed before the child writes (`… | head`). */
function runWithClosedStdout(args: string[], input = ''): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...cliEntry(), ...args], { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'] })
    child.stdout.destroy()
    const err: Buffer[] = []
    child.stderr.on('data', (d: Buffer) => err.push(d))
    child.stdin.on('error', () => undefined)
    child.stdin.end(input)
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stderr: Buffer.concat(err).toString('utf8') })
    })
  })
}

/** Every command path (`report`, `config defaults`, `policy eval`, ...), as registered. */
async function commandPaths(): Promise<string[][]> {
  const program = new Command('envoy-audit')
  await registerCommands(program)
  const paths: string[][] = []
  const walk = (cmd: Command, prefix: string[]): void => {
    for (const sub of cmd.commands) {
      paths.push([...prefix, sub.name()])
      walk(sub, [...prefix, sub.name()])
    }
  }
  walk(program, [])
  return paths
}

async function inBatches<T, R>(items: T[], size: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = []
  for (let i = 0; i < items.length; i += size) out.push(...(await Promise.all(items.slice(i, i + size).map(fn))))
  return out
}

describe('a reader that goes away (`envoy-audit … | head`)', () => {
  test('--help of the program and of every command exits 0 without an EPIPE trace', async () => {
    const paths = [[], ...(await commandPaths())]
    expect(paths.length).toBeGreaterThan(12)
    const results = await inBatches(paths, 3, async (p) => ({ p: p.join(' '), ...(await runWithClosedStdout([...p, '--help'])) }))
    for (const r of results) expect({ command: r.p, code: r.code, stderr: r.stderr }).toEqual({ command: r.p, code: 0, stderr: '' })
  }, 180_000)

  test('parse stops quietly with exit 0 when its event stream is no longer read', async () => {
    const line =
      '[2022-07-22T12:24:12.945Z] "GET /ratings/0 HTTP/1.1" 403 - rbac_access_denied_matched_policy[none] - "-" 0 19 0 - "-" "curl/7.79.1" "abc" "ratings:9080" "-" inbound|9080|| - 10.1.1.5:9080 10.1.1.9:40000 - -'
    const r = await runWithClosedStdout(['parse', '-q', '--dlq', '/dev/null'], `${line}\n`.repeat(5000))
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
  }, 60_000)

  test('config defaults (a plain process.stdout.write) exits 0 quietly too', async () => {
    const r = await runWithClosedStdout(['config', 'defaults'])
    expect(r).toEqual({ code: 0, stderr: '' })
  }, 60_000)
})
