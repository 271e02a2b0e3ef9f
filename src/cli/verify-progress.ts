/**
 * Progress of `verify` on stderr: one plain line every N seconds (`--progress-every`), from a timer, so
 * a long step that yields no rows (DuckDB sorting the store before the first one, an OpenSearch page
 * in flight) still shows the command is alive and how long the step has taken.
 */
import type { VerifyProgress } from '../integrity/verify-core.js'
import { formatDuration } from './progress.js'

const count = (n: number): string => n.toLocaleString('en-US')

/** The line for one moment; pure, for tests. `phaseMs`: time since the phase began, `rate` per second over it. */
export function verifyProgressLine(p: VerifyProgress, phaseMs: number, elapsedMs: number): string {
  const what =
    p.phase === 'matching' && p.done === 0
      ? `matching events, ledger entries and findings by id (${formatDuration(phaseMs / 1000)})`
      : `${p.phase}: ${count(p.done)}${p.total === undefined ? '' : ` of ${count(p.total)}`} rows checked (${count(
          phaseMs > 0 ? Math.round((p.done * 1000) / phaseMs) : 0,
        )}/s)`
  return `envoy-audit verify: ${what}, ${formatDuration(elapsedMs / 1000)} elapsed`
}

/** Starts the timer; returns the callback verify feeds and a stop function (idempotent). */
export function startVerifyProgress(
  everySeconds: number,
  stream: NodeJS.WritableStream = process.stderr,
  now: () => number = () => performance.now(),
): { update: (p: VerifyProgress) => void; stop: () => void } {
  const started = now()
  let latest: VerifyProgress | undefined
  let phaseSince = started
  if (everySeconds <= 0) return { update: () => undefined, stop: () => undefined }
  const timer = setInterval(() => {
    if (latest !== undefined) stream.write(`${verifyProgressLine(latest, now() - phaseSince, now() - started)}\n`)
  }, everySeconds * 1000)
  timer.unref()
  return {
    update(p) {
      if (p.phase !== latest?.phase) phaseSince = now()
      latest = p
    },
    stop: () => clearInterval(timer),
  }
}
