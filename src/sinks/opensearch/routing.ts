/**
 * Which concrete index a document goes to. `_id` is unique per index, not per alias: with a rolling
 * write alias, a replay after a rollover (crash, rebalance, --from-beginning, DLQ re-drive) wrote the
 * same event again into the new index. So the index is chosen from the event itself, the UTC period of
 * its @timestamp (`<alias>-YYYY.MM.DD` by default), and a replay always meets its first copy and gets
 * the 409 that makes it a no-op. Findings go by the time of the event they belong to. The aliases stay
 * for reading: the index templates attach them to every such index.
 *
 * Every index the sink can name is bounded: a @timestamp that is missing or not a date, or whose year is
 * outside 1970-9999, names none (the event is dead-lettered, always, so it can never have been indexed);
 * one dated more than `maxFutureHours` ahead of the clock, or more than `maxPastDays` behind it when that
 * is set, is not written (only looked up: a replay of something written earlier is still acknowledged).
 * The window depends on the clock, the index does not: an event is only ever written to one index.
 */

export type Granularity = 'hour' | 'day' | 'month'

const HOUR = 3_600_000
export const GRANULARITY_MS: Readonly<Record<Granularity, number>> = { hour: HOUR, day: 24 * HOUR, month: 31 * 24 * HOUR }

const ISO_UTC = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):\d{2}(?::\d{2}(?:\.\d+)?)?Z$/
const MIN_MS = Date.UTC(1970, 0, 1)
const MAX_MS = Date.UTC(10_000, 0, 1)

export interface EventTime {
  /** Epoch milliseconds. */
  ms: number
  /** The index name suffix for the configured granularity, e.g. `2026.03.01`. */
  suffix: string
}

function suffixOf(y: string, m: string, d: string, h: string, g: Granularity): string {
  if (g === 'month') return `${y}.${m}`
  if (g === 'day') return `${y}.${m}.${d}`
  return `${y}.${m}.${d}.${h}`
}

/** The time and index suffix of a @timestamp, or a reason why it names no index. */
export function eventTime(ts: unknown, g: Granularity): EventTime | { problem: string } {
  if (typeof ts !== 'string' || ts === '') return { problem: '@timestamp is missing' }
  const ms = Date.parse(ts)
  if (Number.isNaN(ms)) return { problem: `@timestamp ${JSON.stringify(ts.slice(0, 64))} is not a date` }
  if (ms < MIN_MS || ms >= MAX_MS) return { problem: `@timestamp ${ts.slice(0, 64)} is outside the years 1970-9999` }
  // The common shape (the parser's toISOString) needs no re-formatting; offsets are converted to UTC.
  const m = ISO_UTC.exec(ts) ?? ISO_UTC.exec(new Date(ms).toISOString())!
  return { ms, suffix: suffixOf(m[1]!, m[2]!, m[3]!, m[4]!, g) }
}

export interface TimeWindow {
  maxFutureHours: number
  maxPastDays: number
}

/** Why an event at `ms` may not create an index now, or undefined when it may. 0 turns a side off. */
export function outsideWindow(ms: number, now: number, w: TimeWindow): string | undefined {
  if (w.maxFutureHours > 0 && ms > now + w.maxFutureHours * HOUR) {
    return `@timestamp ${new Date(ms).toISOString()} is more than ${w.maxFutureHours}h ahead of the clock (maxFutureHours)`
  }
  if (w.maxPastDays > 0 && ms < now - w.maxPastDays * 24 * HOUR) {
    return `@timestamp ${new Date(ms).toISOString()} is more than ${w.maxPastDays} days old (maxPastDays)`
  }
  return undefined
}

/** OpenSearch's limit on `_id`, in UTF-8 bytes; a longer one fails the whole bulk request with 400. */
export const MAX_ID_BYTES = 512

export function idTooLong(id: string): boolean {
  return id.length > MAX_ID_BYTES / 3 && Buffer.byteLength(id, 'utf8') > MAX_ID_BYTES
}

/**
 * A bulk item refused because its index blocks writes: ISM's read_only action and `index.blocks.write`
 * (FORBIDDEN/8) or `index.blocks.read_only` (FORBIDDEN/5) answer 403 cluster_block_exception. The
 * flood-stage disk block (read_only_allow_delete) is transient and answers 429 on 2.x: not this.
 */
export function isWriteBlocked(status: number, error: { type?: string; reason?: string } | string | undefined): boolean {
  if (status !== 403 || error === undefined || typeof error === 'string' || error.type !== 'cluster_block_exception') return false
  const reason = error.reason ?? ''
  return /index write \(api\)|index read-only \(api\)/.test(reason) && !/allow.delete/.test(reason)
}
