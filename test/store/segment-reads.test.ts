/**
 * Reads a segment store answers from its catalog. The summary (events, first and last time in a
 * window) gives what counting the `events` view gives, for windows that take whole segments, cut
 * through them (mid-hour, at a millisecond inside a segment's range, at its exact first or last event),
 * hold nothing, or are unbounded on either side; for the writer, a reader of the file, and a reader
 * through the writer; and with a segment's files gone (left out, as the views leave it out). eventsAt
 * holds the same lines at the asked times as the view, from fewer files. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, test } from 'vitest'
import { ISO } from '../../src/store/duckdb-aggregates.js'
import { SegmentCatalog, segmentsDirOf } from '../../src/store/duckdb-segments.js'
import { DuckDbStore } from '../../src/store/duckdb-store.js'
import { catalogAnswers } from '../../src/store/segment-reads.js'
import type { StoreSummary, TimeRange } from '../../src/store/store.js'
import { makeEvent } from './event-fixtures.js'

const dir = mkdtempSync(join(tmpdir(), 'ea-seg-summary-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const H = Date.UTC(2026, 10, 20, 10)
const MIN = 60_000
const at = (ms: number): string => new Date(ms).toISOString()

/** What the events view says, the reference. */
async function viewSummary(store: DuckDbStore, range: TimeRange): Promise<StoreSummary> {
  const where: string[] = []
  const values: string[] = []
  if (range.since !== undefined) where.push(`ts >= CAST($${values.push(range.since)} AS TIMESTAMP)`)
  if (range.until !== undefined) where.push(`ts < CAST($${values.push(range.until)} AS TIMESTAMP)`)
  const [r] = (
    await store.sql(
      `SELECT count(*)::INTEGER AS n, ${ISO('min(ts)')} AS first, ${ISO('max(ts)')} AS last
        FROM events ${where.length ? `WHERE ${where.join(' AND ')}` : ''}`,
      values,
    )
  ).rows
  const out: StoreSummary = { events: Number(r!.n) }
  if (r!.first != null) out.firstSeen = String(r!.first)
  if (r!.last != null) out.lastSeen = String(r!.last)
  return out
}

/** Windows over three hours of events (10:00-12:59), several segments an hour. */
const RANGES: TimeRange[] = [
  {},
  { since: at(H) },
  { until: at(H + 90 * MIN) },
  { since: at(H + 60 * MIN), until: at(H + 120 * MIN) },
  { since: at(H + 17 * MIN + 30_000), until: at(H + 150 * MIN + 1) },
  { since: at(H + 5 * MIN), until: at(H + 5 * MIN + 1) },
  { since: at(H + 5 * MIN + 1), until: at(H + 170 * MIN) },
  { since: at(H - 24 * 60 * MIN), until: at(H - 60 * MIN) },
  { since: at(H + 300 * MIN) },
  { since: at(H + 61 * MIN), until: at(H + 62 * MIN) },
  { since: at(H + 30 * MIN), until: at(H + 30 * MIN) },
]

describe('segment store summary from the catalog', () => {
  test('equals the events view for every window, writer and readers, and leaves out a segment whose files are gone', async () => {
    const path = join(dir, 'summary.duckdb')
    const writer = new DuckDbStore({ path, layout: 'segments', callTables: false })
    await writer.start()
    try {
      // Batches of 30 events a minute apart, each batch spanning parts of one or two hours: several segments per hour.
      for (let b = 0; b < 6; b++)
        await writer.writeEvents(Array.from({ length: 30 }, (_, i) => makeEvent({ id: `s${b}-${i}`, ts: at(H + (b * 30 + i) * MIN) })))
      const segments = Number((await writer.sql('SELECT count(*)::INTEGER AS n FROM store_segments')).rows[0]!.n)
      expect(segments).toBeGreaterThanOrEqual(6)
      for (const range of RANGES) expect(await writer.summary(range), JSON.stringify(range)).toEqual(await viewSummary(writer, range))
      expect(await writer.summary()).toEqual({ events: 180, firstSeen: at(H), lastSeen: at(H + 179 * MIN) })

      const remote = new DuckDbStore({ path, readOnly: true })
      try {
        // Through the writer: it knows the layout from the catalog table, so it reads the summary from there.
        await remote.start()
        expect(remote.layout).toBe('segments')
        for (const range of RANGES) expect(await remote.summary(range), JSON.stringify(range)).toEqual(await viewSummary(remote, range))
      } finally {
        await remote.close()
      }
    } finally {
      await writer.close()
    }

    // A segment's files gone: the reader's views leave it out, and so does the summary.
    const reader = new DuckDbStore({ path, readOnly: true })
    try {
      const [gone] = (await reader.sql(`SELECT name, epoch_ms(hour) AS hour FROM store_segments ORDER BY min_ts LIMIT 1 OFFSET 2`)).rows
      const catalog = new SegmentCatalog(segmentsDirOf(path), false)
      const seg = { name: String(gone!.name), hourMs: Number(gone!.hour) }
      rmSync(catalog.eventsFile(seg))
      rmSync(catalog.findingsFile(seg))
    } finally {
      await reader.close()
    }
    const after = new DuckDbStore({ path, readOnly: true })
    try {
      const whole = await after.summary()
      expect(whole.events).toBeLessThan(180)
      for (const range of RANGES) expect(await after.summary(range), JSON.stringify(range)).toEqual(await viewSummary(after, range))
    } finally {
      await after.close()
    }
  }, 60_000)

  test('eventsAt: the lines stamped at given times, from the segments holding those times only', async () => {
    const path = join(dir, 'at.duckdb')
    const store = new DuckDbStore({ path, layout: 'segments', callTables: false })
    await store.start()
    try {
      for (let b = 0; b < 6; b++)
        await store.writeEvents(Array.from({ length: 30 }, (_, i) => makeEvent({ id: `a${b}-${i}`, ts: at(H + (b * 30 + i) * MIN) })))
      // Two lines at one time, in another batch (another segment of the same hour).
      await store.writeEvents([makeEvent({ id: 'twin', ts: at(H + 45 * MIN) })])
      const times = [at(H + 3 * MIN), at(H + 45 * MIN), at(H + 179 * MIN), at(H + 45 * MIN + 500), at(H - MIN)]
      const ids = async (rel: string): Promise<string[]> =>
        (
          await store.sql(
            `SELECT id FROM ${rel} WHERE ts IN (${times.map((_, i) => `CAST($${i + 1} AS TIMESTAMP)`).join(', ')}) ORDER BY id`,
            times,
          )
        ).rows.map((r) => String(r.id))
      const rel = await store.eventsAt(times)
      expect(await ids(rel)).toEqual(await ids('events'))
      expect(await ids(rel)).toEqual(['a0-3', 'a1-15', 'a5-29', 'twin'])
      const segments = Number((await store.sql('SELECT count(*)::INTEGER AS n FROM store_segments')).rows[0]!.n)
      const read = rel.match(/\.events\.parquet'/g)?.length ?? 0
      expect(read).toBeGreaterThan(0)
      expect(read).toBeLessThan(segments)
      expect(await store.eventsAt([])).not.toContain('parquet')
    } finally {
      await store.close()
    }
  })

  test('a cluster filter or a bound finer than a millisecond is left to the events view', () => {
    expect(catalogAnswers(undefined)).toBe(true)
    expect(catalogAnswers({ since: '2026-11-20T10:00:00.123Z' })).toBe(true)
    expect(catalogAnswers({ inClusters: ['east'] })).toBe(false)
    expect(catalogAnswers({ since: '2026-11-20T10:00:00.1234Z' })).toBe(false)
    expect(catalogAnswers({ until: '2026-11-20T10:00:00.000500Z' })).toBe(false)
  })
})
