/**
 * The scratch database's `ledger` rows in chain order (stream, then position), for the chain walk of
 * both verifies. One `ORDER BY` over the whole ledger needs memory that grows with it: at 10M entries
 * DuckDB's sort ran out of a 48 MB limit where 1M entries fit. So each stream is cut into position
 * ranges of about WINDOW entries and each range is sorted on its own: the memory a sort needs is
 * bounded by the range, whatever the ledger's size. The cuts come from DuckDB's approximate quantile
 * (a t-digest over every position, in bounded memory; its reservoir_quantile only sampled the first
 * positions of a ledger stored in order) and the ranges between them are exact, so a cut that lands
 * badly only makes one range larger; a position far from the others (a planted row) cannot make the
 * number of ranges grow. Many rows at one position (a forged ledger) still make one large range.
 */
import { quote } from '../store/duckdb-segments.js'
import type { VerifyScratch } from '../store/verify-scratch.js'

/** Entries a range holds, about: sorted within verify's default scratch limit with room to spare. */
export const WINDOW = 500_000

/** What each row holds: a ledger entry as the chain walk reads it. */
export const ENTRY_COLUMNS = 'stream, CAST(pos AS VARCHAR) AS pos, event_id, hash, chain'

/**
 * The ledger's rows (ENTRY_COLUMNS), a chunk at a time, ordered by stream (NULL last), position
 * (NULL last), then `tieBreak` (a list of columns, or empty for none).
 */
export async function* ledgerInChainOrder(
  scratch: VerifyScratch,
  tieBreak = '',
  window = WINDOW,
): AsyncGenerator<Record<string, unknown>[]> {
  const tie = tieBreak === '' ? '' : `, ${tieBreak}`
  const groups = await scratch.all(`SELECT stream, count(pos)::BIGINT AS n FROM ledger GROUP BY stream ORDER BY stream NULLS LAST`)
  for (const g of groups) {
    const inStream = g.stream === null ? 'stream IS NULL' : `stream = ${quote(String(g.stream))}`
    const n = Number(g.n)
    const cuts = n > window ? await cutsOf(scratch, inStream, Math.ceil(n / window)) : []
    const bounds = [null, ...cuts, null]
    for (let i = 0; i + 1 < bounds.length; i++) {
      const lo = bounds[i] === null ? '' : ` AND pos >= ${bounds[i]}`
      const hi = bounds[i + 1] === null ? '' : ` AND pos < ${bounds[i + 1]}`
      yield* scratch.stream(`SELECT ${ENTRY_COLUMNS} FROM ledger l WHERE ${inStream} AND pos IS NOT NULL${lo}${hi} ORDER BY l.pos${tie}`)
    }
    yield* scratch.stream(
      `SELECT ${ENTRY_COLUMNS} FROM ledger l WHERE ${inStream} AND pos IS NULL${tie === '' ? '' : ` ORDER BY ${tieBreak}`}`,
    )
  }
}

/** `parts - 1` distinct positions (fewer where they coincide) that cut a stream into about equal parts, ascending. */
export async function cutsOf(scratch: VerifyScratch, inStream: string, parts: number): Promise<string[]> {
  const qs = Array.from({ length: parts - 1 }, (_, i) => (i + 1) / parts)
  const [row] = await scratch.all(
    `SELECT list_distinct(approx_quantile(pos, [${qs.join(', ')}]))::VARCHAR[] AS cuts FROM ledger WHERE ${inStream}`,
  )
  const cuts = (row?.cuts as string[] | null | undefined) ?? []
  return [...new Set(cuts)]
    .map(BigInt)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    .map(String)
}
