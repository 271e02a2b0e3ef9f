/**
 * The events `policy check` and `policy recommend --store` read from the embedded store: all of them
 * unless --limit says otherwise, newest first, in pages (keyset on ts and id), so memory holds one page
 * whatever the store holds. What was read is counted against what the store holds, so a limit never
 * passes for the whole store.
 */
import { EnvoyAuditError } from '../errors.js'
import type { AuditEvent } from '../generated/types.js'
import { type DuckDbStore, openStoreForReading } from '../store/duckdb-store.js'

export const STORE_PAGE = 2000

export interface StoreRead {
  path: string
  /** Most events to read; undefined reads them all. */
  limit?: number
  /** Events in the store when it was opened. */
  total: number
  /** Events handed out so far. */
  read: number
  store: DuckDbStore
}

/** `--limit N`: a positive integer, or undefined (no limit). */
export function limitOption(text: string | undefined): number | undefined {
  if (text === undefined) return undefined
  const n = Number(text)
  if (!Number.isInteger(n) || n < 1) throw new EnvoyAuditError('EA_USAGE', `--limit must be a positive integer, got "${text}"`)
  return n
}

export async function openStoreRead(path: string, limit: number | undefined, memoryLimit?: string): Promise<StoreRead> {
  const store = await openStoreForReading(path, memoryLimit === undefined ? {} : { memoryLimit })
  try {
    const [row] = (await store.sql('SELECT count(*)::BIGINT::VARCHAR AS n FROM events')).rows
    return { path, total: Number(row?.n ?? 0), read: 0, store, ...(limit === undefined ? {} : { limit }) }
  } catch (err) {
    await store.close()
    throw err
  }
}

/** Yields pages newest first until the store or the limit runs out; closes the store when done. */
export async function* storeEvents(r: StoreRead, pageSize: number = STORE_PAGE): AsyncGenerator<AuditEvent[]> {
  try {
    let after: { us: string; id: string } | undefined
    for (;;) {
      const want = Math.min(pageSize, (r.limit ?? Number.POSITIVE_INFINITY) - r.read)
      if (want <= 0) return
      const where = after === undefined ? '' : 'WHERE ts < make_timestamp($1::BIGINT) OR (ts = make_timestamp($1::BIGINT) AND id < $2)'
      const values = after === undefined ? [want] : [after.us, after.id, want]
      const page = (
        await r.store.sql(
          `SELECT event_json, epoch_us(ts)::VARCHAR AS us, id FROM events ${where} ORDER BY ts DESC, id DESC LIMIT $${values.length}`,
          values,
        )
      ).rows
      if (page.length === 0) return
      r.read += page.length
      const last = page[page.length - 1]!
      after = { us: String(last.us), id: String(last.id) }
      yield page.map((row) => JSON.parse(String(row.event_json)) as AuditEvent)
      if (page.length < want) return
    }
  } finally {
    await r.store.close()
  }
}

/** "all 250,000 events of STORE", or "the newest 100,000 of 250,000 events of STORE (--limit 100000)". */
export function describeRead(r: StoreRead): string {
  const n = (x: number): string => x.toLocaleString('en-US')
  if (r.read >= r.total) return `all ${n(r.total)} events of ${r.path}`
  return `the newest ${n(r.read)} of ${n(r.total)} events of ${r.path}${r.limit === undefined ? '' : ` (--limit ${r.limit})`}`
}
