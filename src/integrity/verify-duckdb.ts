/**
 * `envoy-audit verify --store`: checks the embedded store against its integrity ledger.
 *
 *  1. The ledger against the checkpoints: each stream's chain is recomputed from its genesis; at
 *     every checkpoint the recomputed head and count must equal the checkpoint's, and its MAC must
 *     verify with the key. A mismatch means ledger rows in (previous checkpoint, this one] were
 *     altered, added or removed.
 *  2. The events against the ledger: every stored event's hash is recomputed from its stored JSON;
 *     an event whose id the ledger lacks was inserted, one whose hash differs was modified, a ledger
 *     entry without its event was deleted. The typed columns (what SQL queries read) and the findings
 *     rows must agree with the stored JSON, or the row was modified behind the JSON's back.
 *
 * Holds the ledger and one pass over the events in memory: fine for the embedded store's sizes.
 */
import type { AuditEvent, Finding } from '../generated/types.js'
import type { DuckDbStore } from '../store/duckdb-store.js'
import { EVENT_COLUMNS, FINDING_COLUMNS, type Column, type FindingRow } from '../store/duckdb-schema.js'
import type { IntegrityKey } from './config.js'
import {
  addIssue,
  checkChains,
  checkStoredEvent,
  emptyReport,
  ledgerIndex,
  type CheckpointEntry,
  type LedgerEntry,
  type VerifyReport,
} from './verify-core.js'

export type { VerifyIssue, VerifyReport } from './verify-core.js'

/** `anchors`: heads exported earlier (`verify --heads`), checked against the recomputed chains. */
export async function verifyDuckDbStore(
  store: DuckDbStore,
  key: IntegrityKey | undefined,
  anchors: readonly CheckpointEntry[] = [],
): Promise<VerifyReport> {
  const report = emptyReport()
  const tables = new Set((await store.sql(`SELECT table_name FROM information_schema.tables`)).rows.map((r) => String(r.table_name)))
  if (!tables.has('integrity_ledger') || !tables.has('integrity_checkpoints')) {
    report.hasLedger = false
    report.warnings.push(
      'this store has no integrity ledger (written with integrity disabled or by a version without it): every event counts as inserted',
    )
  }
  const ledger: LedgerEntry[] = tables.has('integrity_ledger')
    ? (
        await store.sql(
          `SELECT stream, CAST(pos AS VARCHAR) AS pos, event_id, hash, chain FROM integrity_ledger l ORDER BY l.stream, l.pos`,
        )
      ).rows.map((r) => ({
        stream: String(r.stream),
        pos: String(r.pos),
        event_id: String(r.event_id),
        hash: String(r.hash),
        chain: String(r.chain),
      }))
    : []
  const checkpoints: CheckpointEntry[] = tables.has('integrity_checkpoints')
    ? (
        await store.sql(
          `SELECT stream, CAST(pos AS VARCHAR) AS pos, CAST(count AS VARCHAR) AS count, head, key_id, mac FROM integrity_checkpoints c ORDER BY c.stream, c.pos`,
        )
      ).rows.map((c) => ({
        stream: String(c.stream),
        pos: String(c.pos),
        count: String(c.count),
        head: String(c.head),
        key_id: c.key_id === null ? null : String(c.key_id),
        mac: c.mac === null ? null : String(c.mac),
      }))
    : []

  // 1. Ledger against checkpoints.
  checkChains(report, ledger, checkpoints, key, anchors)

  // 2. Events against the ledger.
  const byId = ledgerIndex(ledger)
  const seen = new Set<string>()
  const select = EVENT_COLUMNS.map(columnSql).join(', ')
  const { rows } = await store.sql(`SELECT ${select}, event_json FROM events`)
  report.events = rows.length
  const findingsByEvent = await findingRows(store)
  for (const row of rows) {
    const id = String(row.id)
    seen.add(id)
    const stored = checkStoredEvent(report, id, String(row.event_json), byId.get(id))
    if (stored !== undefined) {
      const col = mismatch(EVENT_COLUMNS, row, stored)
      if (col !== undefined) addIssue(report, { kind: 'modified', id, detail: `column ${col} differs from the stored event` })
      else {
        const f = findingsMismatch(stored, findingsByEvent.get(id) ?? [])
        if (f !== undefined) addIssue(report, { kind: 'modified', id, detail: f })
      }
    }
    findingsByEvent.delete(id)
  }
  for (const [id, entry] of byId)
    if (!seen.has(id))
      addIssue(report, { kind: 'deleted', id, detail: `ledgered at ${entry.stream} @ ${entry.pos}, missing from the store` })
  // Findings left behind by a deleted event are part of that deletion, already reported.
  for (const id of findingsByEvent.keys())
    if (!byId.has(id)) addIssue(report, { kind: 'inserted', id, detail: 'findings rows for an event that is not stored' })
  report.ok = report.issues.length === 0
  return report
}

/** Timestamps compared as epoch milliseconds, everything else in DuckDB's JSON form. */
function columnSql<R>(c: Column<R>): string {
  return c.type === 'TIMESTAMP' ? `epoch_ms("${c.name}") AS "${c.name}"` : `"${c.name}"`
}

/** Normalises what the store's appender would have written for a value, and what DuckDB returned. */
function same<R>(c: Column<R>, got: unknown, value: unknown): boolean {
  if (value === undefined || value === null) return got === null || got === undefined
  switch (c.type) {
    case 'VARCHAR':
      return got === wellFormed(String(value))
    case 'INTEGER':
    case 'BIGINT': {
      const ok = typeof value === 'number' && Number.isSafeInteger(value) && (c.type === 'BIGINT' || Math.abs(value) <= 2_147_483_647)
      return ok ? got !== null && Number(got) === value : got === null
    }
    case 'BOOLEAN':
      return got === (value === true)
    case 'TIMESTAMP': {
      const ms = Date.parse(String(value))
      return Number.isFinite(ms) ? got !== null && Number(got) === ms : got === null
    }
    case 'VARCHAR[]': {
      const want = Array.isArray(value) ? value.map((v) => wellFormed(String(v))) : []
      return Array.isArray(got) && got.length === want.length && got.every((g, i) => g === want[i])
    }
  }
}

/** What a VARCHAR holds: the UTF-8 encoding replaces a lone surrogate with U+FFFD, as the store's appender did. */
function wellFormed(s: string): string {
  return Buffer.from(s, 'utf8').toString('utf8')
}

function mismatch<R>(columns: readonly Column<R>[], row: Record<string, unknown>, value: R): string | undefined {
  for (const c of columns) if (!same(c, row[c.name], c.get(value))) return c.name
  return undefined
}

async function findingRows(store: DuckDbStore): Promise<Map<string, Record<string, unknown>[]>> {
  const { rows } = await store.sql(`SELECT ${FINDING_COLUMNS.map(columnSql).join(', ')} FROM findings ORDER BY event_id, idx`)
  const out = new Map<string, Record<string, unknown>[]>()
  for (const r of rows) {
    const id = String(r.event_id)
    let list = out.get(id)
    if (list === undefined) out.set(id, (list = []))
    list.push(r)
  }
  return out
}

function findingsMismatch(event: AuditEvent, rows: Record<string, unknown>[]): string | undefined {
  const findings: Finding[] = event.audit?.findings ?? []
  if (rows.length !== findings.length) return `${rows.length} findings rows for ${findings.length} findings`
  for (let i = 0; i < rows.length; i++) {
    const fr: FindingRow = { eventId: event.event.id, ts: event['@timestamp'], index: i, finding: findings[i]! }
    const col = mismatch(FINDING_COLUMNS, rows[i]!, fr)
    if (col !== undefined) return `findings row ${i} column ${col} differs from the stored event`
  }
  return undefined
}
