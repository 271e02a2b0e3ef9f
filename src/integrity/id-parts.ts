/**
 * Statements over every event id of the scratch database (joins, anti joins, counts per id) run a
 * part of the ids at a time, split by a hash of the id. DuckDB's hash tables for them did not fit
 * verify's scratch limit at store scale: at 48 MB a full outer join of 3M events with their ledger
 * entries, and a GROUP BY or anti join over 10M ids, ran out of memory, where 1M fitted. Equal ids
 * fall in the same part, so a statement's result over one part is exact on its own, and the parts'
 * results together are the whole statement's.
 */
import type { VerifyScratch } from '../store/verify-scratch.js'

/** Ids per part: 500k narrow rows per side fitted the 48 MB default with room to spare. */
export const ID_PART_ROWS = 500_000

/** How many parts the largest of these scratch tables needs. */
export async function idPartCount(scratch: VerifyScratch, tables: readonly string[], partRows = ID_PART_ROWS): Promise<number> {
  const [row] = await scratch.all(`SELECT greatest(${tables.map((t) => `(SELECT count(*) FROM ${t})`).join(', ')}, 0) AS n`)
  return Math.max(1, Math.ceil(Number(row?.n ?? 0) / partRows))
}

/** SQL that holds where `column` (an id) is in part `p` of `parts`; DuckDB hashes NULL like a value, the coalesce is a guard. */
export const inPart = (column: string, parts: number, p: number): string => `coalesce(hash(${column}) % ${parts}, 0) = ${p}`

export const partsOf = (parts: number): number[] => Array.from({ length: parts }, (_, i) => i)

/**
 * Removes the rows of `table` whose `column` is an id in `ids` (a table with an `id` column), by
 * writing the kept rows to a new table. Not a DELETE: DuckDB holds a DELETE's bookkeeping in memory
 * for every stretch of rows it touches, and 2,500 deletions spread over a 10M-row table ran the 48 MB
 * scratch out of memory where an INSERT of the whole table did not. Row order is not kept; verify
 * orders what it reads.
 */
export async function removeIds(scratch: VerifyScratch, table: string, column: string, ids: string, partRows?: number): Promise<void> {
  const parts = await idPartCount(scratch, [table, ids], partRows)
  await scratch.run(`CREATE TABLE ${table}_kept AS FROM ${table} LIMIT 0`)
  for (const p of partsOf(parts))
    await scratch.run(`INSERT INTO ${table}_kept SELECT * FROM ${table} t WHERE ${inPart(`t.${column}`, parts, p)}
      AND NOT EXISTS (SELECT 1 FROM ${ids} x WHERE ${inPart('x.id', parts, p)} AND x.id = t.${column})`)
  await scratch.run(`DROP TABLE ${table}`)
  await scratch.run(`ALTER TABLE ${table}_kept RENAME TO ${table}`)
}
