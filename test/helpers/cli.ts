import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { buildDist } from './build-dist.js'

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))

let built = false

/**
 * The node arguments that start the CLI: the built dist/src/cli/main.js, brought up to date with src/
 * on first use in a test file (test/setup/build-dist.ts does it once before the workers start).
 * EA_TEST_CLI=src runs the sources through tsx instead, as the tests did before (to compare timings).
 */
export function cliEntry(): string[] {
  if (process.env.EA_TEST_CLI === 'src') return ['--import', 'tsx', `${REPO_ROOT}src/cli/main.ts`]
  if (!built) {
    buildDist({ root: REPO_ROOT, src: `${REPO_ROOT}src`, outDir: `${REPO_ROOT}dist` })
    built = true
  }
  return [`${REPO_ROOT}dist/src/cli/main.js`]
}

export interface CliResult {
  code: number | null
  stdout: string
  stderr: string
}

/**
 * Runs the real CLI entry point (the built src/cli/main.ts, see cliEntry) in a child process, so tests
 * exercise argument parsing, exit codes and stdout/stderr exactly as a user sees them.
 */
export function runCli(
  args: string[],
  options: { input?: string | Buffer; cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...cliEntry(), ...args], {
      cwd: options.cwd ?? REPO_ROOT,
      env: { ...process.env, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on('data', (d: Buffer) => out.push(d))
    child.stderr.on('data', (d: Buffer) => err.push(d))
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') })
    })
    child.stdin.end(options.input ?? '')
  })
}
