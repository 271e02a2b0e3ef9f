/**
 * Reads of a segment store that the segment catalog (`store_segments`: each segment's event count and
 * time range) narrows to a few files, where a query over the `events` view reads a column of every
 * segment file, a cost that grows with the store:
 * - the summary (how many events in a window, first and last time), which `hunt` asked three times
 *   and `flows` twice: a segment wholly inside the window counts as its row says; only the segments
 *   the window cuts through (those of the hours at its two ends) are read, and only their time column;
 * - the lines stamped at given times (a hunt's witness calls): only the segments whose time range
 *   holds one of them.
 */
import { existsSync } from 'node:fs'
import { ISO } from './duckdb-aggregates.js'
import { FORMAT_COLUMN_SQL, SegmentCatalog, eventFilesSql, quote } from './duckdb-segments.js'
import type { StoreSummary, TimeRange } from './store.js'

type Query = (text: string, values: (string | number)[]) => Promise<Record<string, unknown>[]>

/**
 * Whether the catalog can answer for `range`: not for a cluster filter (the catalog has no clusters),
 * nor for bounds finer than a millisecond (the catalog's times are whole milliseconds).
 */
export function catalogAnswers(range: TimeRange | undefined): boolean {
  if ((range?.inClusters?.length ?? 0) > 0) return false
  return [range?.since, range?.until].every((b) => b === undefined || !/\.\d{4,}/.test(b))
}

/**
 * The summary of [range.since, range.until) over the segments in `dir`. A segment whose files are gone
 * is left out, as the views leave it out. `query` runs SQL on the store (through its writer or not).
 */
export async function segmentSummary(query: Query, dir: string, range: TimeRange | undefined): Promise<StoreSummary> {
  const values: string[] = []
  const bind = (b: string | undefined): string | undefined => (b === undefined ? undefined : `CAST($${values.push(b)} AS TIMESTAMP)`)
  const since = bind(range?.since)
  const until = bind(range?.until)
  // Overlaps the window; inside it when both ends are. The catalog's times floor the stored ones to the
  // millisecond, which decides the same as the stored times for millisecond bounds.
  const after = since === undefined ? undefined : `max_ts >= ${since}`
  const before = until === undefined ? undefined : `min_ts < ${until}`
  const startsIn = since === undefined ? 'true' : `min_ts >= ${since}`
  const endsIn = until === undefined ? 'true' : `max_ts < ${until}`
  const rows = await query(
    `SELECT name, epoch_ms(hour) AS hour, events, ${ISO('min_ts')} AS first, ${ISO('max_ts')} AS last, ${startsIn} AND ${endsIn} AS inside
      FROM store_segments WHERE ${['events > 0', after, before].filter((c) => c !== undefined).join(' AND ')}`,
    values,
  )
  const catalog = new SegmentCatalog(dir, false)
  const out: StoreSummary = { events: 0 }
  const widen = (first: unknown, last: unknown): void => {
    if (first != null && (out.firstSeen === undefined || String(first) < out.firstSeen)) out.firstSeen = String(first)
    if (last != null && (out.lastSeen === undefined || String(last) > out.lastSeen)) out.lastSeen = String(last)
  }
  const cut: string[] = []
  for (const r of rows) {
    const file = catalog.eventsFile({ name: String(r.name), hourMs: Number(r.hour) })
    if (!existsSync(file)) continue
    if (r.inside === true) {
      out.events += Number(r.events)
      widen(r.first, r.last)
    } else cut.push(file)
  }
  if (cut.length > 0) {
    const clause = [since === undefined ? undefined : `ts >= ${since}`, until === undefined ? undefined : `ts < ${until}`].filter(
      (c) => c !== undefined,
    )
    const [r] = await query(
      `SELECT count(*)::BIGINT AS events, ${ISO('min(ts)')} AS first, ${ISO('max(ts)')} AS last
        FROM (SELECT CAST(ts AS TIMESTAMP) AS ts FROM read_parquet([${cut.map(quote).join(', ')}]))
        ${clause.length === 0 ? '' : `WHERE ${clause.join(' AND ')}`}`,
      values,
    )
    out.events += Number(r?.events ?? 0)
    widen(r?.first, r?.last)
  }
  return out
}

/**
 * A relation with the `events` view's columns holding every stored line stamped at one of `times`
 * (whole milliseconds): the catalog's segments whose time range holds one of them. A segment whose
 * files are gone is left out, as the views leave it out.
 */
export async function segmentEventsAt(query: Query, dir: string, times: readonly string[]): Promise<string> {
  if (times.length === 0) return `(${eventFilesSql([])})`
  // A catalog no writer has opened since `format` existed lacks the column: its files are format 1.
  const [f] = await query(FORMAT_COLUMN_SQL, [])
  const rows = await query(
    `SELECT DISTINCT s.name, epoch_ms(s.hour) AS hour, ${Number(f?.n) === 1 ? 's.format' : '1'} AS format FROM store_segments s
      JOIN (VALUES ${times.map((_, i) => `(CAST($${i + 1} AS TIMESTAMP))`).join(', ')}) q(t) ON q.t >= s.min_ts AND q.t <= s.max_ts
      WHERE s.events > 0`,
    [...times],
  )
  const catalog = new SegmentCatalog(dir, false)
  const files: { path: string; format: number }[] = []
  for (const r of rows) {
    const path = catalog.eventsFile({ name: String(r.name), hourMs: Number(r.hour) })
    if (existsSync(path)) files.push({ path, format: Number(r.format) })
  }
  return `(${eventFilesSql(files)})`
}
