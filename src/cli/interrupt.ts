/**
 * Ctrl-C (SIGINT) and SIGTERM for the finite commands (`ingest`, `parse`): the first stops reading and
 * lets the pipeline finish the batch in flight, so everything read is stored or dead-lettered and the
 * command can say what it stored; a second one exits at once. Either way the terminal is restored:
 * Node's default signal handling would end the process without running any cleanup.
 */
import { TERMINAL_RESTORE } from './progress.js'

export interface Interrupts {
  /** The signal that stopped the command, if one did. */
  readonly signal: NodeJS.Signals | undefined
  dispose(): void
}

/** Exit status of a command stopped by a signal: 128 + the signal number, as shells report it. */
export function signalExitCode(signal: NodeJS.Signals): number {
  return signal === 'SIGTERM' ? 143 : 130
}

export function handleInterrupts(stop: () => void, options: { stream?: NodeJS.WriteStream; label: string }): Interrupts {
  const stream = options.stream ?? process.stderr
  let signal: NodeJS.Signals | undefined
  const onSignal = (s: NodeJS.Signals): void => {
    if (signal !== undefined) {
      if (stream.isTTY === true) stream.write(TERMINAL_RESTORE)
      stream.write(`\nenvoy-audit ${options.label}: ${s} again: exiting now; the batch in flight is not stored\n`)
      process.exit(signalExitCode(s))
    }
    signal = s
    stop()
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  return {
    get signal() {
      return signal
    },
    dispose() {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    },
  }
}
