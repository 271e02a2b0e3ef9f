/**
 * Progress of a long `ingest`, `parse` or `demo` on stderr. On a terminal: a bar with percentage and ETA
 * when the input's size is known (files; gzip counts compressed bytes read), redrawn on a timer so it
 * keeps moving between batches, and a phase text for steps that are not reading ("writing the store").
 * Without a terminal (a log, CI): one plain line every lineIntervalMs (10 s), so a long run is never
 * silent and the log holds no control characters. The terminal is restored (cursor shown, line wrap
 * back on) by stop() and, whatever else happens (an error, a signal, process.exit), at process exit.
 */
import { writeSync } from 'node:fs'
import { SingleBar } from 'cli-progress'
import { EnvoyAuditError } from '../errors.js'
import type { PipelineCounters } from '../pipeline/counters.js'
import type { FileSourceProgress } from '../sources/file-source.js'
import type { Source } from '../pipeline/component.js'

export interface ProgressOptions {
  /** The command, first word of every line. */
  label: string
  /** Where the input stands; the bar shows a percentage and an ETA only when bytesTotal is known. */
  source?: { progress(): FileSourceProgress }
  stream?: NodeJS.WriteStream
  /** Lines without a terminal: one every this many ms (0: none). */
  lineIntervalMs?: number
  /** Redraws of the bar on a terminal. */
  redrawMs?: number
  now?: () => number
}

export interface Progress {
  /** The latest counters (the pipeline's onBatch). */
  update(counters: PipelineCounters): void
  /** What the command is doing when it is not reading (undefined: reading). */
  phase(text: string | undefined): void
  /**
   * Work in flight that may take a while (a batch being stored): shown, with how long it has taken, once
   * it has lasted BUSY_SHOWN_AFTER_MS, so a fast run does not flicker. undefined: done.
   */
  busy(text: string | undefined): void
  /** A message of its own line (a warning), written above the bar on a terminal. */
  note(message: string): void
  /** Idempotent; restores the terminal. */
  stop(): void
}

export const PROGRESS_DEFAULTS = { lineIntervalMs: 10_000, redrawMs: 200 } as const
export const BUSY_SHOWN_AFTER_MS = 1000

/** Shows the cursor and turns line wrap back on: what the bar turned off. */
export const TERMINAL_RESTORE = '\x1b[?25h\x1b[?7h'

export interface ProgressState {
  records: number
  events: number
  deadLetters: number
  bytesRead: number | undefined
  bytesTotal: number | undefined
  elapsedMs: number
}

/** The numbers both displays show; pure, for tests. */
export function describeProgress(s: ProgressState): {
  pct: string | undefined
  rate: number
  eta: string | undefined
  size: string | undefined
} {
  const seconds = s.elapsedMs / 1000
  const rate = seconds > 0 ? Math.round(s.records / seconds) : 0
  if (s.bytesTotal === undefined || s.bytesRead === undefined || s.bytesTotal === 0)
    return { pct: undefined, rate, eta: undefined, size: undefined }
  const share = Math.min(1, s.bytesRead / s.bytesTotal)
  // The average over the whole run: steadier than a window when batches arrive in bursts.
  const eta = share > 0 && share < 1 && seconds >= 1 ? formatDuration((seconds * (1 - share)) / share) : undefined
  return { pct: `${Math.floor(share * 100)}%`, rate, eta, size: `${formatBytes(s.bytesRead)} of ${formatBytes(s.bytesTotal)}` }
}

/** The value of --progress-every. */
export function progressEverySeconds(value: string): number {
  const n = Number(value)
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 86_400)
    throw new EnvoyAuditError('EA_USAGE', `--progress-every must be a number of seconds from 0 to 86400, got "${value}"`)
  return n
}

export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds))
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`
  return `${(n / 1024 ** 3).toFixed(2)} GiB`
}

/** The line written without a terminal, e.g. `envoy-audit ingest: 45% (12.1 MiB of 26.9 MiB), 123456 records (20576/s), 3 dead letters, ETA 7s`. */
export function progressLine(label: string, s: ProgressState, phase?: string): string {
  const d = describeProgress(s)
  const parts = [
    ...(d.pct === undefined ? [] : [`${d.pct} (${d.size ?? ''})`]),
    `${s.records} records (${d.rate}/s)`,
    `${s.events} events`,
    `${s.deadLetters} dead letters`,
    d.eta === undefined ? `${formatDuration(s.elapsedMs / 1000)} elapsed` : `ETA ${d.eta}`,
  ]
  return `envoy-audit ${label}: ${parts.join(', ')}${phase === undefined ? '' : `; ${phase}`}`
}

export function startProgress(options: ProgressOptions): Progress {
  const stream = options.stream ?? process.stderr
  const now = options.now ?? (() => performance.now())
  const started = now()
  let counters: PipelineCounters | undefined
  let phase: string | undefined
  let busy: { text: string; since: number } | undefined
  let stopped = false
  /** The phase, or the slow work in flight with its duration. */
  const activity = (): string | undefined => {
    if (phase !== undefined) return phase
    if (busy === undefined) return undefined
    const ms = now() - busy.since
    return ms < BUSY_SHOWN_AFTER_MS ? undefined : `${busy.text} (${formatDuration(ms / 1000)})`
  }
  const setBusy = (text: string | undefined): void => {
    busy = text === undefined ? undefined : { text, since: now() }
  }

  const state = (): ProgressState => {
    const p = options.source?.progress()
    return {
      records: counters?.recordsIn ?? 0,
      events: counters?.eventsOut ?? 0,
      deadLetters: counters?.deadLettered ?? 0,
      bytesRead: p?.bytesRead,
      bytesTotal: p?.bytesTotal,
      elapsedMs: now() - started,
    }
  }

  if (stream.isTTY !== true) {
    const every = options.lineIntervalMs ?? PROGRESS_DEFAULTS.lineIntervalMs
    const timer = every > 0 ? setInterval(() => stream.write(progressLine(options.label, state(), activity()) + '\n'), every) : undefined
    timer?.unref()
    return {
      update: (c) => void (counters = c),
      phase: (text) => void (phase = text),
      busy: setBusy,
      note: (message) => void stream.write(`${message}\n`),
      stop() {
        stopped = true
        clearInterval(timer)
      },
    }
  }

  const bar = new SingleBar({
    stream,
    format: `${options.label} {bar} {text}`,
    barsize: 20,
    hideCursor: true,
    linewrap: false,
    clearOnComplete: true,
    noTTYOutput: false,
    fps: 1000 / (options.redrawMs ?? PROGRESS_DEFAULTS.redrawMs),
  })
  const draw = (): void => {
    const s = state()
    const d = describeProgress(s)
    const text: string[] = [
      ...(d.pct === undefined ? [] : [`${d.pct} of ${formatBytes(s.bytesTotal ?? 0)}`]),
      `${s.records} records`,
      `${d.rate} records/s`,
      `${s.deadLetters} dead letters`,
      ...(d.eta === undefined ? [formatDuration(s.elapsedMs / 1000)] : [`ETA ${d.eta}`]),
    ]
    const doing = activity()
    if (doing !== undefined) text.push(doing)
    bar.setTotal(s.bytesTotal ?? 1)
    bar.update(s.bytesTotal === undefined ? 0 : Math.min(s.bytesRead ?? 0, s.bytesTotal), { text: text.join(' | ') })
    // Drawn now, not at cli-progress' next throttled frame: draw() runs on our own timer already.
    bar.render()
  }
  // A synchronous write at exit: process.exit() and a fatal error do not wait for stream writes.
  const restoreAtExit = (): void => {
    if (stopped) return
    try {
      writeSync((stream as { fd?: number }).fd ?? 2, `\n${TERMINAL_RESTORE}`)
    } catch {
      // The terminal is gone: nothing left to restore.
    }
  }
  process.once('exit', restoreAtExit)
  bar.start(1, 0, { text: '' })
  draw()
  const timer = setInterval(draw, options.redrawMs ?? PROGRESS_DEFAULTS.redrawMs)
  timer.unref()
  return {
    update(c) {
      counters = c
    },
    phase(text) {
      phase = text
      if (!stopped) draw()
    },
    busy: setBusy,
    note(message) {
      if (stopped) return void stream.write(`${message}\n`)
      // Clear the bar's line, write the message on it, and draw the bar again below.
      stream.write(`\r\x1b[2K${message}\n`)
      draw()
      // The text may be unchanged, which cli-progress would not draw again (its typings omit the flag).
      ;(bar.render as (force?: boolean) => void).call(bar, true)
    },
    stop() {
      if (stopped) return
      stopped = true
      clearInterval(timer)
      process.off('exit', restoreAtExit)
      bar.stop()
      // cli-progress turns the cursor and line wrap back on only for what it turned off; say both.
      stream.write(TERMINAL_RESTORE)
    },
  }
}

/**
 * The same source, with each batch shown as work in flight while the pipeline handles it: when the
 * store takes seconds over a batch (DuckDB's index and call-table work grows with the store), the
 * display says so and counts the seconds instead of standing still.
 */
export function showBatches<S extends Source>(source: S, progress: Progress | undefined, verb: string): S {
  if (progress === undefined) return source
  let handed = 0
  const shown = Object.create(source) as S
  shown.run = (handler) =>
    source.run(async (records) => {
      const from = handed + 1
      handed += records.length
      progress.busy(`${verb} records ${from}-${handed}`)
      try {
        await handler(records)
      } finally {
        progress.busy(undefined)
      }
    })
  return shown
}
