/**
 * Moving a batch of events into the DuckDB store's tables with the appender.
 *
 * Each batch also appends its edge_facts rows (src/store/duckdb-schema.ts) and matches its calls
 * (src/store/duckdb-calls.ts) in the same transaction.
 * Two ways, tried in this order by DuckDbStore.writeEvents:
 * - direct: the appenders write straight into `events` and `findings` inside one transaction. The
 *   primary keys reject a batch that holds an already stored id (a replay) or the same id twice, and
 *   the transaction is rolled back whole, so nothing of a failed batch remains. This is the normal
 *   case and costs one copy of the data.
 * - staged: the appenders fill key-less temp tables, and one INSERT ... ON CONFLICT DO NOTHING per
 *   table moves the rows not stored yet. Two copies of the data and an anti-join, but it accepts
 *   replays: used after a direct batch was refused, and for as long as batches keep holding stored
 *   events (a replay usually spans many batches).
 */
import { DuckDBTimestampValue, LIST, VARCHAR } from '@duckdb/node-api'
import type { DuckDBAppender, DuckDBConnection } from '@duckdb/node-api'
import type { AuditEvent } from '../schema/audit-event.js'
import { ADDED_EVENT_COLUMNS, EVENT_COLUMNS, FINDING_COLUMNS, edgeFactRows, stagingDdl } from './duckdb-schema.js'
import { appendCalls } from './duckdb-calls.js'
import { appendRows } from './duckdb-appender.js'
import type { Column, FindingRow } from './duckdb-schema.js'

export interface StoredRow {
  event: AuditEvent
  /** The event as stored in event_json. */
  json: string
}

/**
 * Appends the batch into `events` and `findings` in one transaction (with its edge_facts rows, its
 * calls unless `calls` is false: the store keeps no per-call tables, and `companionSql`: the moves of
 * its staged ledger rows). Resolves true when committed,
 * false when DuckDB refused it (a key already stored or repeated in the batch, or any other append
 * error): then the transaction is rolled back and the caller retries the batch staged.
 */
export async function appendDirect(
  conn: DuckDBConnection,
  rows: readonly StoredRow[],
  calls = true,
  companionSql: readonly string[] = [],
): Promise<boolean> {
  await conn.run('BEGIN TRANSACTION')
  let eventAppender: DuckDBAppender | undefined
  let findingAppender: DuckDBAppender | undefined
  try {
    eventAppender = await conn.createAppender('events')
    findingAppender = await conn.createAppender('findings')
    appendBatch(eventAppender, findingAppender, rows)
    eventAppender.flushSync()
    findingAppender.flushSync()
    eventAppender.closeSync()
    findingAppender.closeSync()
    eventAppender = findingAppender = undefined
    await appendEdgeFacts(conn, rows)
    if (calls) await appendBatchCalls(conn, rows)
    for (const sql of companionSql) await conn.run(sql)
    await conn.run('COMMIT')
    return true
  } catch {
    // A refused appender keeps its rows and cannot close (the transaction is aborted). Its rows are
    // discarded first: otherwise its native destructor flushes them again whenever it is collected,
    // into whatever transaction the connection has open then, and aborts that one.
    for (const appender of [eventAppender, findingAppender]) {
      try {
        appender?.clear()
        appender?.closeSync()
      } catch {
        /* already failed: nothing left to flush */
      }
    }
    await conn.run('ROLLBACK').catch(() => undefined)
    return false
  }
}

/**
 * Appends into the staging tables and moves what is not stored yet; resolves the number of events
 * newly stored. Throws DuckDB's error when the move fails (the transaction is rolled back).
 */
export async function appendStaged(
  conn: DuckDBConnection,
  rows: readonly StoredRow[],
  calls = true,
  companionSql: readonly string[] = [],
): Promise<number> {
  try {
    const eventAppender = await conn.createAppender('stage_events')
    const findingAppender = await conn.createAppender('stage_findings')
    try {
      appendBatch(eventAppender, findingAppender, rows)
      eventAppender.flushSync()
      findingAppender.flushSync()
    } finally {
      eventAppender.closeSync()
      findingAppender.closeSync()
    }
    await conn.run('BEGIN TRANSACTION')
    try {
      // Findings first, and only for events not stored yet: their key includes the event id.
      await conn.run(`INSERT INTO findings SELECT DISTINCT ON (event_id, idx) s.* FROM stage_findings s
        WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.id = s.event_id) ON CONFLICT DO NOTHING`)
      const moved = await conn.run('INSERT INTO events SELECT DISTINCT ON (id) * FROM stage_events ON CONFLICT DO NOTHING')
      // For every event of the batch, stored before or not: only the earliest time per fact group is read.
      await appendEdgeFacts(conn, rows)
      // Also for a replay: a batch's call rows are recomputed from the stored lines, so this changes nothing then.
      if (calls) await appendBatchCalls(conn, rows)
      for (const sql of companionSql) await conn.run(sql)
      await conn.run('COMMIT')
      return moved.rowsChanged
    } catch (err) {
      await conn.run('ROLLBACK').catch(() => undefined)
      throw err
    }
  } finally {
    // Recreated, not emptied: DELETE only marks rows, and the temp tables would keep every batch's
    // memory. Also after a failed append, whose closing appenders may have flushed part of the batch.
    for (const ddl of stagingDdl()) await conn.run(ddl)
  }
}

/** The batch's edge_facts rows (src/store/duckdb-schema.ts), inside the caller's transaction. */
async function appendEdgeFacts(conn: DuckDBConnection, rows: readonly StoredRow[]): Promise<void> {
  const groups = edgeFactRows(rows.map((r) => r.event))
  if (groups.length === 0) return
  await appendRows(conn, 'edge_facts', (appender) => {
    for (const g of groups) {
      appender.appendTimestamp(new DuckDBTimestampValue(BigInt(g.hourMs) * 1000n))
      appender.appendBoolean(g.srv)
      for (const fact of g.facts) {
        if (fact === null) appender.appendNull()
        else appender.appendVarchar(fact)
      }
      appender.appendTimestamp(new DuckDBTimestampValue(BigInt(g.firstMs) * 1000n))
      appender.endRow()
    }
  })
}

/**
 * The batch's calls (src/store/duckdb-calls.ts), inside the caller's transaction. `own`: a relation
 * holding the batch's rows in the events columns (the segment writer's `seg_rows`), read for the
 * batch's own lines instead of `events`.
 */
export async function appendBatchCalls(conn: DuckDBConnection, rows: readonly StoredRow[], own?: string): Promise<void> {
  let minMs = Infinity
  let maxMs = -Infinity
  const ids: string[] = []
  for (const { event } of rows) {
    const ms = Date.parse(event['@timestamp'])
    if (!Number.isFinite(ms)) continue
    if (ms < minMs) minMs = ms
    if (ms > maxMs) maxMs = ms
    ids.push(event.event.id)
  }
  await appendCalls(conn, ids, minMs, maxMs, own)
}

function appendBatch(eventAppender: DuckDBAppender, findingAppender: DuckDBAppender, rows: readonly StoredRow[]): void {
  for (const { event, json } of rows) {
    appendRow(eventAppender, EVENT_COLUMNS, event)
    eventAppender.appendVarchar(json)
    appendRow(eventAppender, ADDED_EVENT_COLUMNS, event)
    eventAppender.endRow()
    const findings = event.audit.findings ?? []
    for (let index = 0; index < findings.length; index++) {
      const row: FindingRow = { eventId: event.event.id, ts: event['@timestamp'], index, finding: findings[index]! }
      appendRow(findingAppender, FINDING_COLUMNS, row)
      findingAppender.endRow()
    }
  }
}

const VARCHAR_LIST = LIST(VARCHAR)

function appendRow<Row>(appender: DuckDBAppender, columns: readonly Column<Row>[], row: Row): void {
  for (const column of columns) {
    const value = column.get(row)
    if (value === undefined || value === null) {
      appender.appendNull()
      continue
    }
    switch (column.type) {
      case 'VARCHAR':
        appender.appendVarchar(String(value))
        break
      case 'INTEGER':
      case 'BIGINT':
        if (typeof value === 'number' && Number.isSafeInteger(value)) {
          if (column.type === 'INTEGER' && Math.abs(value) <= 2_147_483_647) appender.appendInteger(value)
          else if (column.type === 'BIGINT') appender.appendBigInt(BigInt(value))
          else appender.appendNull()
        } else appender.appendNull()
        break
      case 'BOOLEAN':
        appender.appendBoolean(value === true)
        break
      case 'TIMESTAMP': {
        const ms = Date.parse(String(value))
        if (Number.isFinite(ms)) appender.appendTimestamp(new DuckDBTimestampValue(BigInt(ms) * 1000n))
        else appender.appendNull()
        break
      }
      case 'VARCHAR[]':
        appender.appendList(Array.isArray(value) ? value.map(String) : [], VARCHAR_LIST)
        break
    }
  }
}
