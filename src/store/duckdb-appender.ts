import type { DuckDBAppender, DuckDBConnection } from '@duckdb/node-api'

/**
 * Appends rows to `table` inside the caller's transaction and closes the appender. On failure the
 * rows are dropped before the error goes up: an appender closed with rows still buffered would flush
 * them into whatever transaction comes next (a refused batch must leave nothing behind).
 */
export async function appendRows(conn: DuckDBConnection, table: string, fill: (appender: DuckDBAppender) => void): Promise<void> {
  const appender = await conn.createAppender(table)
  try {
    fill(appender)
    appender.flushSync()
    appender.closeSync()
  } catch (err) {
    try {
      appender.clear()
      appender.closeSync()
    } catch {
      /* already failed */
    }
    throw err
  }
}

/** A column of rows given as values: VARCHAR or BIGINT, null for an absent value. */
export interface InsertColumn {
  name: string
  type: 'VARCHAR' | 'BIGINT'
}

/**
 * Rows committed in the same transaction as a batch of events: the integrity ledger's entries and
 * checkpoints. In one commit, a writer killed at any moment leaves either both or neither, never
 * events that `verify` would call inserted (or ledger entries it would call deleted).
 */
export interface CompanionRows {
  table: string
  columns: readonly InsertColumn[]
  rows: readonly (readonly (string | number | null | undefined)[])[]
}

/**
 * Fills the temp table `stage` (created anew, key-less) with `rows` through the appender: a VALUES
 * list of bound parameters costs DuckDB an order of magnitude more per row to bind and plan
 * (docs/performance.md, "Ingest profile").
 */
async function stageRows(
  conn: DuckDBConnection,
  stage: string,
  columns: readonly InsertColumn[],
  rows: CompanionRows['rows'],
): Promise<void> {
  await conn.run(`CREATE OR REPLACE TEMP TABLE ${stage} (${columns.map((c) => `${c.name} ${c.type}`).join(', ')})`)
  await appendRows(conn, stage, (appender) => {
    for (const row of rows) {
      for (let i = 0; i < columns.length; i++) {
        const value = row[i]
        if (value === undefined || value === null) appender.appendNull()
        else if (columns[i]!.type === 'BIGINT') appender.appendBigInt(BigInt(value))
        else appender.appendVarchar(String(value))
      }
      appender.endRow()
    }
  })
}

/**
 * Stages each companion table's rows outside any transaction and returns the statements that move
 * them, to run inside the batch's transaction, and the ones that drop the stages afterwards.
 */
export async function stageCompanions(
  conn: DuckDBConnection,
  companions: readonly CompanionRows[],
): Promise<{ insert: string[]; drop: string[] }> {
  const insert: string[] = []
  const drop: string[] = []
  for (const [i, c] of companions.entries()) {
    if (c.rows.length === 0) continue
    const stage = `stage_companion_${i}`
    drop.push(`DROP TABLE IF EXISTS ${stage}`)
    await stageRows(conn, stage, c.columns, c.rows)
    insert.push(`INSERT INTO ${c.table} SELECT * FROM ${stage} ON CONFLICT DO NOTHING`)
  }
  return { insert, drop }
}
