#!/usr/bin/env node
/**
 * The only place that exits the process. Commands live in their own modules, listed in
 * src/cli/commands.ts; they throw EnvoyAuditError for usage and I/O problems, and this file
 * turns that into a message on stderr and an exit code. Only the module of the command named on the
 * command line is imported (`--help` and `--version` import none), so startup stays fast.
 */
import { Command, CommanderError } from 'commander'
import { EnvoyAuditError } from '../errors.js'
import { commandNamed, registerCommands } from './commands.js'
import { packageVersion } from './version.js'

/** The program with the command that `argv` names loaded (every command when argv is omitted). */
export async function buildProgram(argv?: readonly string[]): Promise<Command> {
  const program = new Command('envoy-audit')
    .description(
      'Turns Istio/Envoy access logs into NIST 800-53 audit evidence (AU-3 completeness, SPIFFE identities, ' +
        'plaintext and unauthorized-flow findings), indexed into OpenSearch or an embedded DuckDB store.\n' +
        'Start with `npx envoy-audit demo`; `npx envoy-audit <command> --help` documents each command.',
    )
    .version(packageVersion(), '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
  const named = argv === undefined ? undefined : commandNamed(argv.slice(2))
  await registerCommands(program, argv === undefined ? undefined : named === undefined ? [] : [named])
  return program
}

/** An error caused, at any depth, by the reader of stdout/stderr going away (`… | head`). */
function isBrokenPipe(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 10; e = e.cause, depth++) {
    if ((e as NodeJS.ErrnoException).code === 'EPIPE') return true
  }
  return false
}

/**
 * `envoy-audit <command> | head` closes the pipe while we write: that is the reader saying it has seen
 * enough, not a failure, so every command stops at once and quietly with exit 0 (as `--help | head`
 * expects). Without a listener Node throws the EPIPE as an unhandled 'error' event with a stack trace.
 * process.exit still runs the 'exit' hooks (the progress display restores the terminal there).
 */
function exitQuietlyOnBrokenPipe(stream: NodeJS.WriteStream): void {
  stream.on('error', (err) => {
    if (isBrokenPipe(err)) process.exit(0)
    if (stream !== process.stderr) process.stderr.write(`envoy-audit: cannot write stdout: ${err.message} [EA_IO]\n`)
    process.exit(1)
  })
}

async function main(argv: string[]): Promise<number> {
  exitQuietlyOnBrokenPipe(process.stdout)
  exitQuietlyOnBrokenPipe(process.stderr)
  const program = await buildProgram(argv)
  try {
    await program.parseAsync(argv)
    return typeof process.exitCode === 'number' ? process.exitCode : 0
  } catch (err) {
    // A command that awaited its writes (parse's event stream) fails with the EPIPE as its cause.
    if (isBrokenPipe(err)) return 0
    if (err instanceof CommanderError) {
      // Commander has already printed its message. Help and version are normal exits; anything else
      // it reports (unknown option, invalid choice, missing argument) is a usage error.
      return err.exitCode === 0 ? 0 : 2
    }
    if (err instanceof EnvoyAuditError) {
      process.stderr.write(`envoy-audit: ${err.message} [${err.code}]\n`)
      return err.code === 'EA_USAGE' || err.code === 'EA_CONFIG_INVALID' ? 2 : 1
    }
    process.stderr.write(`envoy-audit: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
    return 1
  }
}

main(process.argv).then(
  (code) => {
    process.exitCode = code
  },
  (err: unknown) => {
    process.stderr.write(`envoy-audit: ${String(err)}\n`)
    process.exitCode = 1
  },
)
