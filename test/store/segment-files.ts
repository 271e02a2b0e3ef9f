/**
 * Tampering with a segment store behind its back, as tests of `verify` need: the `events` and
 * `findings` views cannot be written, so rows are removed by rewriting the Parquet files, and a store
 * is copied whole (the DuckDB file and its segments directory).
 */
import { cpSync, existsSync, readdirSync, renameSync } from 'node:fs'
import { join } from 'node:path'
import { DuckDBInstance } from '@duckdb/node-api'
import { segmentsDirOf } from '../../src/store/duckdb-segments.js'

/** Every segment file of one kind under the store at `path`. */
export function segmentFiles(path: string, kind: 'events' | 'findings' = 'events'): string[] {
  const root = segmentsDirOf(path)
  if (!existsSync(root)) return []
  return readdirSync(root).flatMap((hour) =>
    readdirSync(join(root, hour))
      .filter((f) => f.endsWith(`.${kind}.parquet`))
      .map((f) => join(root, hour, f)),
  )
}

/** Rewrites each events segment file without the rows `where` (SQL over its columns) matches; resolves how many went. */
export async function deleteSegmentRows(path: string, where: string): Promise<number> {
  const duck = await DuckDBInstance.create(':memory:')
  const conn = await duck.connect()
  let removed = 0
  try {
    for (const file of segmentFiles(path)) {
      const f = `'${file.replaceAll("'", "''")}'`
      const n = Number((await conn.runAndReadAll(`SELECT count(*) FROM read_parquet(${f}) WHERE ${where}`)).getRows()[0]![0])
      if (n === 0) continue
      await conn.run(`COPY (SELECT * FROM read_parquet(${f}) WHERE NOT (${where})) TO '${file}.new' (FORMAT parquet, COMPRESSION zstd)`)
      renameSync(`${file}.new`, file)
      removed += n
    }
  } finally {
    conn.closeSync()
    duck.closeSync()
  }
  return removed
}

/** Copies a store (its DuckDB file and, when it has one, its segments directory) to `to`. */
export function copyStore(from: string, to: string): void {
  cpSync(from, to)
  if (existsSync(segmentsDirOf(from))) cpSync(segmentsDirOf(from), segmentsDirOf(to), { recursive: true })
}
