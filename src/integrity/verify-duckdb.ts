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
import { genesis, hashStoredEvent, link, macMatches } from './chain.js'

export interface VerifyIssue {
  kind: 'deleted' | 'modified' | 'inserted' | 'chain'
  /** Event id, or the stream for chain issues. */
  id: string
  detail: string
}

export interface VerifyReport {
  ok: boolean
  /** False when the store has no integrity tables at all (written by `ingest`, or with integrity off). */
  hasLedger: boolean
  events: number
  ledgered: number
  streams: number
  checkpoints: number
  /** Checkpoints whose MAC was verified with the key. */
  signedVerified: number
  /** Ledger entries after the last checkpoint of their stream: not yet covered by a signed head. */
  unsignedTail: number
  warnings: string[]
  issues: VerifyIssue[]
  counts: { deleted: number; modified: number; inserted: number; chain: number }
  /** The latest head per stream: record them outside the store to detect tail truncation later. */
  heads: { stream: string; pos: string; count: number; head: string }[]
}

const MAX_LISTED = 1000

export async function verifyDuckDbStore(store: DuckDbStore, key: IntegrityKey | undefined): Promise<VerifyReport> {
  const report: VerifyReport = {
    ok: true, hasLedger: true, events: 0, ledgered: 0, streams: 0, checkpoints: 0, signedVerified: 0, unsignedTail: 0,
    warnings: [], issues: [], counts: { deleted: 0, modified: 0, inserted: 0, chain: 0 }, heads: [],
  }
  const issue = (i: VerifyIssue): void => {
    report.counts[i.kind]++
    if (report.issues.length < MAX_LISTED) report.issues.push(i)
  }
  const tables = new Set((await store.sql(`SELECT table_name FROM information_schema.tables`)).rows.map((r) => String(r.table_name)))
  if (!tables.has('integrity_ledger') || !tables.has('integrity_checkpoints')) {
    report.hasLedger = false
    report.warnings.push('this store has no integrity ledger (written with integrity disabled or by a version without it): every event counts as inserted')
  }
  const ledger = tables.has('integrity_ledger')
    ? (await store.sql(`SELECT stream, CAST(pos AS VARCHAR) AS pos, event_id, hash, chain FROM integrity_ledger l ORDER BY l.stream, l.pos`)).rows
    : []
  const checkpoints = tables.has('integrity_checkpoints')
    ? (await store.sql(`SELECT stream, CAST(pos AS VARCHAR) AS pos, CAST(count AS VARCHAR) AS count, head, key_id, mac FROM integrity_checkpoints c ORDER BY c.stream, c.pos`)).rows
    : []
  report.ledgered = ledger.length
  report.checkpoints = checkpoints.length

  // 1. Ledger against checkpoints.
  const cpByStream = new Map<string, Record<string, unknown>[]>()
  for (const c of checkpoints) {
    const s = String(c.stream)
    cpByStream.set(s, [...(cpByStream.get(s) ?? []), c])
  }
  const ledgerByStream = new Map<string, Record<string, unknown>[]>()
  for (const r of ledger) {
    const s = String(r.stream)
    let list = ledgerByStream.get(s)
    if (list === undefined) ledgerByStream.set(s, (list = []))
    list.push(r)
  }
  const streams = new Set([...ledgerByStream.keys(), ...cpByStream.keys()])
  report.streams = streams.size
  let unsignedSeen = false
  for (const stream of streams) {
    const entries = ledgerByStream.get(stream) ?? []
    const cps = cpByStream.get(stream) ?? []
    let head = genesis(stream)
    let i = 0
    let prevPos = '-1'
    for (const cp of cps) {
      const cpPos = BigInt(String(cp.pos))
      while (i < entries.length && BigInt(String(entries[i]!.pos)) <= cpPos) {
        const e = entries[i]!
        head = link(head, String(e.event_id), String(e.hash))
        i++
      }
      const fields = { stream, pos: String(cp.pos), count: i, head }
      const range = `ledger positions (${prevPos}, ${String(cp.pos)}]`
      if (head !== cp.head || String(i) !== String(cp.count)) {
        issue({ kind: 'chain', id: stream, detail: `checkpoint at ${String(cp.pos)} does not match the recomputed chain (${i} entries vs ${String(cp.count)} signed): ${range} were altered, added or removed` })
      }
      if (key !== undefined) {
        if (typeof cp.mac !== 'string' || cp.mac === '') issue({ kind: 'chain', id: stream, detail: `checkpoint at ${String(cp.pos)} is not signed although a key is configured` })
        else if (!macMatches(key, { ...fields, count: Number(cp.count), head: String(cp.head) }, cp.mac)) {
          issue({ kind: 'chain', id: stream, detail: `checkpoint at ${String(cp.pos)} has an invalid MAC (forged, or signed with another key: key id ${String(cp.key_id)} vs ${key.id})` })
        } else report.signedVerified++
      } else if (typeof cp.mac === 'string' && cp.mac !== '') unsignedSeen = true
      prevPos = String(cp.pos)
    }
    report.unsignedTail += entries.length - i
    // The ledger's own chain column: the first row where it disagrees pinpoints an edit before any checkpoint catches it.
    let h = genesis(stream)
    for (const e of entries) {
      h = link(h, String(e.event_id), String(e.hash))
      if (h !== e.chain) {
        issue({ kind: 'chain', id: stream, detail: `ledger chain breaks at position ${String(e.pos)} (event ${String(e.event_id)})` })
        break
      }
    }
    const last = cps.at(-1)
    if (last !== undefined) report.heads.push({ stream, pos: String(last.pos), count: Number(last.count), head: String(last.head) })
  }
  if (unsignedSeen) report.warnings.push('checkpoints are signed but no key was given (--key-file or ENVOY_AUDIT_INTEGRITY_KEY): MACs not checked')
  if (checkpoints.length > 0 && checkpoints.every((c) => c.mac === null)) {
    report.warnings.push('checkpoints are unsigned (no integrity key when written): an attacker with write access could rebuild the chain')
  }

  // 2. Events against the ledger.
  const byId = new Map<string, { hash: string; stream: string; pos: string }>()
  for (const r of ledger) byId.set(String(r.event_id), { hash: String(r.hash), stream: String(r.stream), pos: String(r.pos) })
  const seen = new Set<string>()
  const select = EVENT_COLUMNS.map(columnSql).join(', ')
  const { rows } = await store.sql(`SELECT ${select}, event_json FROM events`)
  report.events = rows.length
  const findingsByEvent = await findingRows(store)
  for (const row of rows) {
    const id = String(row.id)
    seen.add(id)
    const entry = byId.get(id)
    let stored: AuditEvent
    let hash: string
    try {
      stored = JSON.parse(String(row.event_json)) as AuditEvent
      hash = hashStoredEvent(String(row.event_json))
    } catch {
      issue({ kind: entry === undefined ? 'inserted' : 'modified', id, detail: 'event_json is not valid JSON' })
      continue
    }
    if (entry === undefined) {
      issue({ kind: 'inserted', id, detail: 'stored event has no ledger entry' })
      continue
    }
    if (hash !== entry.hash) issue({ kind: 'modified', id, detail: `event_json hash differs from the ledger (${entry.stream} @ ${entry.pos})` })
    else if (stored.audit?.hash !== entry.hash) issue({ kind: 'modified', id, detail: 'audit.hash differs from the ledger' })
    else if (stored.event?.id !== id) issue({ kind: 'modified', id, detail: `event_json belongs to event ${String(stored.event?.id)}` })
    else {
      const col = mismatch(EVENT_COLUMNS, row, stored)
      if (col !== undefined) issue({ kind: 'modified', id, detail: `column ${col} differs from the stored event` })
      else {
        const f = findingsMismatch(stored, findingsByEvent.get(id) ?? [])
        if (f !== undefined) issue({ kind: 'modified', id, detail: f })
      }
    }
    findingsByEvent.delete(id)
  }
  for (const [id, entry] of byId) if (!seen.has(id)) issue({ kind: 'deleted', id, detail: `ledgered at ${entry.stream} @ ${entry.pos}, missing from the store` })
  // Findings left behind by a deleted event are part of that deletion, already reported.
  for (const id of findingsByEvent.keys()) if (!byId.has(id)) issue({ kind: 'inserted', id, detail: 'findings rows for an event that is not stored' })
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
