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
