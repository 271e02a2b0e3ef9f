import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { cliEntry, REPO_ROOT } from './cli.js'

/** A CLI child that is still running: its input stays open, its output is read as it comes. */
export interface LiveCli {
  child: ChildProcess
  stdout(): string
  stderr(): string
  write(text: string): void
  /** Resolves when the predicate holds on the output so far (stdout + stderr); rejects after timeoutMs. */
  waitFor(pred: (out: string) => boolean, timeoutMs?: number): Promise<void>
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

function live(command: string, args: string[], env?: NodeJS.ProcessEnv): LiveCli {
  const child = spawn(command, args, { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] })
  const out: Buffer[] = []
  const err: Buffer[] = []
  child.stdout?.on('data', (d: Buffer) => out.push(d))
  child.stderr?.on('data', (d: Buffer) => err.push(d))
  child.stdin?.on('error', () => undefined)
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  )
  const text = (b: Buffer[]) => Buffer.concat(b).toString('utf8')
  return {
    child,
    stdout: () => text(out),
    stderr: () => text(err),
    write: (t) => void child.stdin?.write(t),
    async waitFor(pred, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs
      while (!pred(text(out) + text(err))) {
        if (Date.now() > deadline) throw new Error(`timed out waiting; output so far:\n${text(out)}\n${text(err)}`)
        if (child.exitCode !== null) throw new Error(`exited ${child.exitCode} while waiting; output:\n${text(out)}\n${text(err)}`)
        await new Promise((r) => setTimeout(r, 20))
      }
    },
    exited,
  }
}

/** The CLI with pipes for stdin, stdout and stderr (no terminal). */
export function liveCli(args: string[], env?: NodeJS.ProcessEnv): LiveCli {
  return live(process.execPath, [...cliEntry(), ...args], env)
}

const shellQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`

/**
 * The CLI on a pseudo-terminal (util-linux `script`): stdin, stdout and stderr are the terminal, as for
 * a person; what is written to `write` is typed (a "\x03" is Ctrl-C, delivered as SIGINT by the
 * terminal), and stdout() is everything the terminal showed. The exit code is the CLI's (`script -e`).
 */
export function ptyCli(args: string[], env?: NodeJS.ProcessEnv): LiveCli {
  const command = [process.execPath, ...cliEntry(), ...args].map(shellQuote).join(' ')
  return live('script', ['-qfec', `stty cols 200; exec ${command}`, '/dev/null'], env)
}

/** util-linux `script` is there to give the CLI a terminal. */
export function hasScript(): boolean {
  return spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0
}
