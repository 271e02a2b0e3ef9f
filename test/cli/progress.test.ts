import { spawnSync } from 'node:child_process'
import { Writable } from 'node:stream'
import { describe, expect, test } from 'vitest'
import { describeProgress, formatDuration, progressLine, showBatches, startProgress, TERMINAL_RESTORE } from '../../src/cli/progress.js'
import { PipelineCounters } from '../../src/pipeline/counters.js'
import type { Source } from '../../src/pipeline/component.js'
import { REPO_ROOT } from '../helpers/cli.js'

/** A stream that records what is written, with isTTY as asked. */
function fakeStream(isTTY: boolean): NodeJS.WriteStream & { text: () => string } {
  const chunks: string[] = []
  const w = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString())
      cb()
    },
  }) as unknown as NodeJS.WriteStream & { text: () => string }
  Object.assign(w, { isTTY, columns: 160, text: () => chunks.join('') })
  return w
}

const counters = (records: number, events = records, dead = 0): PipelineCounters =>
  Object.assign(new PipelineCounters(), { recordsIn: records, eventsOut: events, deadLettered: dead })
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('progress numbers', () => {
  test('percentage and ETA come from the bytes read against the total, the rate from records', () => {
    const d = describeProgress({
      records: 30_000,
      events: 29_000,
      deadLetters: 1000,
      bytesRead: 25 * 1024 ** 2,
      bytesTotal: 100 * 1024 ** 2,
      elapsedMs: 10_000,
    })
    expect(d).toEqual({ pct: '25%', rate: 3000, eta: '30s', size: '25.0 MiB of 100.0 MiB' })
  })

  test('no percentage or ETA when the size is unknown (a pipe), and none yet in the first second', () => {
    expect(
      describeProgress({ records: 10, events: 10, deadLetters: 0, bytesRead: 500, bytesTotal: undefined, elapsedMs: 5000 }),
    ).toMatchObject({ pct: undefined, eta: undefined, rate: 2 })
    expect(describeProgress({ records: 10, events: 10, deadLetters: 0, bytesRead: 500, bytesTotal: 1000, elapsedMs: 500 })).toMatchObject({
      pct: '50%',
      eta: undefined,
    })
  })

  test('durations read as a person says them', () => {
    expect([formatDuration(7), formatDuration(72), formatDuration(3725)]).toEqual(['7s', '1m 12s', '1h 02m'])
  })

  test('the plain line names percentage, size, records, rate, dead letters and ETA, and what is in flight', () => {
    const line = progressLine(
      'ingest',
      { records: 500, events: 480, deadLetters: 20, bytesRead: 512, bytesTotal: 2048, elapsedMs: 2000 },
      'storing records 1-500 (3s)',
    )
    expect(line).toBe(
      'envoy-audit ingest: 25% (512 B of 2.0 KiB), 500 records (250/s), 480 events, 20 dead letters, ETA 6s; storing records 1-500 (3s)',
    )
  })
})

describe('progress display', () => {
  test('without a terminal: one plain line per interval, no control characters, nothing after stop()', async () => {
    const stream = fakeStream(false)
    const p = startProgress({ label: 'parse', stream, lineIntervalMs: 40, source: { progress: () => ({ bytesRead: 10, bytesTotal: 40 }) } })
    p.update(counters(7))
    await sleep(150)
    p.stop()
    const lines = stream.text().trim().split('\n')
    expect(lines.length).toBeGreaterThanOrEqual(2)
    for (const l of lines) expect(l).toMatch(/^envoy-audit parse: 25% \(10 B of 40 B\), 7 records \(\d+\/s\), 7 events, 0 dead letters/)
    expect(stream.text()).not.toContain('\x1b')
    const before = stream.text()
    await sleep(100)
    expect(stream.text()).toBe(before)
  })

  test('on a terminal: a bar with percentage and ETA that keeps redrawing while a batch is slow, and the terminal restored by stop()', async () => {
    const stream = fakeStream(true)
    let read = 0
    const p = startProgress({ label: 'ingest', stream, redrawMs: 30, source: { progress: () => ({ bytesRead: read, bytesTotal: 1000 }) } })
    read = 400
    p.update(counters(4000))
    p.busy('storing records 4001-6000')
    await sleep(1300)
    const during = stream.text()
    expect(during).toContain('\x1b[?25l') // cursor hidden
    expect(during).toMatch(
      /ingest \S+ 40% of 1000 B \| 4000 records \| \d+ records\/s \| 0 dead letters \| ETA \d+s \| storing records 4001-6000 \(1s\)/,
    )
    p.stop()
    expect(stream.text().endsWith(TERMINAL_RESTORE)).toBe(true)
  })

  test('a terminal left by process.exit() without stop() gets its cursor and line wrap back', () => {
    const script = `
      import { startProgress } from './src/cli/progress.ts'
      Object.defineProperty(process.stderr, 'isTTY', { value: true })
      startProgress({ label: 'ingest' })
      setTimeout(() => process.exit(3), 50)`
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: REPO_ROOT, encoding: 'utf8' })
    expect(r.status).toBe(3)
    expect(r.stderr).toContain('\x1b[?25l')
    expect(r.stderr.endsWith(TERMINAL_RESTORE)).toBe(true)
  })

  test('showBatches marks each batch as work in flight and clears it when the batch is done', async () => {
    const marks: (string | undefined)[] = []
    const progress = {
      update: () => undefined,
      phase: () => undefined,
      stop: () => undefined,
      note: () => undefined,
      busy: (t: string | undefined) => void marks.push(t),
    }
    const source: Source = {
      start: async () => undefined,
      close: async () => undefined,
      run: async (handler) => {
        await handler([
          { value: 'a', coords: {} },
          { value: 'b', coords: {} },
        ])
        await handler([{ value: 'c', coords: {} }])
      },
    }
    await showBatches(source, progress, 'storing').run(async () => undefined)
    expect(marks).toEqual(['storing records 1-2', undefined, 'storing records 3-3', undefined])
  })
})
