/**
 * `envoy-audit verify --store`: checks the embedded store against its integrity ledger.
 *
 *  1. The ledger against the checkpoints (and heads exported earlier): each stream's chain is
 *     recomputed from its genesis; at every checkpoint the recomputed head and count must equal the
 *     checkpoint's, and its MAC must verify with the key. A mismatch means ledger rows in (previous
 *     checkpoint, this one] were altered, added or removed.
 *  2. The events against the ledger: every stored event's hash is recomputed from its stored JSON;
 *     an event whose id the ledger lacks was inserted, one whose hash differs was modified, a ledger
 *     entry without its event was deleted. The typed columns (what SQL queries read) and the findings
 *     rows must agree with the stored JSON, or the row was modified behind the JSON's back.
 *
 * In memory that does not grow with the store: the ledger is walked in (stream, position) order a
 * chunk at a time (ChainWalk); the events and the findings rows are each scanned once in stored order,
 * every event checked on its own (hash, typed columns) and reduced to a narrow digest in a scratch
 * database (verify-scratch.ts) with the ledger's ids and hashes and the findings rows; there DuckDB
 * matches them by event id, and the matches come back in id order, one id at a time.
 */
import type { DuckDbStore } from '../store/duckdb-store.js'
import { EVENT_COLUMNS, FINDING_COLUMNS, type Column, type FindingRow } from '../store/duckdb-schema.js'
import { VerifyScratch } from '../store/verify-scratch.js'
import { excuseRetained } from './retention-cuts.js'
import type { IntegrityKey } from './config.js'
import {
  addIssue,
  ChainWalk,
  emptyReport,
  judgeStored,
  storedDigest,
  type CheckpointEntry,
  type LedgerRef,
  type VerifyProgress,
  type VerifyReport,
} from './verify-core.js'

export type { VerifyIssue, VerifyProgress, VerifyReport } from './verify-core.js'

type Row = Record<string, unknown>

export interface DuckDbVerifyOptions {
  /** Where the scratch database goes (default: the system's temporary directory). */
  scratchDir?: string
  /** DuckDB's memory cap for the scratch database. */
  scratchMemoryLimit?: string
}

/** `anchors`: heads exported earlier (`verify --heads`), checked against the recomputed chains. */
export async function verifyDuckDbStore(
  store: DuckDbStore,
  key: IntegrityKey | undefined,
  anchors: readonly CheckpointEntry[] = [],
  onProgress: (p: VerifyProgress) => void = () => undefined,
  options: DuckDbVerifyOptions = {},
): Promise<VerifyReport> {
  const report = emptyReport()
  const tables = new Set((await store.sql(`SELECT table_name FROM information_schema.tables`)).rows.map((r) => String(r.table_name)))
  const hasLedger = tables.has('integrity_ledger') && tables.has('integrity_checkpoints')
  if (!hasLedger) {
    report.hasLedger = false
    report.warnings.push(
      'this store has no integrity ledger (written with integrity disabled or by a version without it): every event counts as inserted',
    )
  }
  const scratch = await VerifyScratch.open({
    ...(options.scratchDir === undefined ? {} : { parent: options.scratchDir }),
    ...(options.scratchMemoryLimit === undefined ? {} : { memoryLimit: options.scratchMemoryLimit }),
  })
  try {
    // 1. The ledger against its checkpoints, walked in chain order (sorted in the scratch database, not the store's).
    const ledger = await scratch.table('ledger', [
      ['event_id', 'VARCHAR'],
      ['stream', 'VARCHAR'],
      ['pos', 'BIGINT'],
      ['hash', 'VARCHAR'],
      ['chain', 'VARCHAR'],
    ])
    const walk = new ChainWalk(report, hasLedger ? await readCheckpoints(store) : [], key, anchors)
    if (hasLedger) {
      const total = await count(store, 'integrity_ledger')
      let read = 0
      onProgress({ phase: 'ledger', done: 0, total })
      for await (const rows of store.stream(`SELECT event_id, stream, CAST(pos AS VARCHAR) AS pos, hash, chain FROM integrity_ledger`)) {
        for (const r of rows) ledger.add([String(r.event_id), String(r.stream), String(r.pos), String(r.hash), String(r.chain)])
        read += rows.length
        onProgress({ phase: 'ledger', done: read, total })
      }
      ledger.flush()
      for await (const rows of scratch.stream(
        `SELECT stream, CAST(pos AS VARCHAR) AS pos, event_id, hash, chain FROM ledger l ORDER BY l.stream, l.pos`,
      )) {
        for (const r of rows)
          walk.entry({
            stream: String(r.stream),
            pos: String(r.pos),
            event_id: String(r.event_id),
            hash: String(r.hash),
            chain: String(r.chain),
          })
        onProgress({ phase: 'chain', done: report.ledgered, total })
      }
    }
    walk.finish()

    // 2. Each event on its own (JSON, hash, typed columns), and the findings rows, in stored order.
    await scanEvents(store, scratch, onProgress)
    await scanFindings(store, scratch, onProgress)
    // Ledgered events that a signed retention cut dropped are not deleted ones (retention-cuts.ts).
    await excuseRetained(store, scratch, report, key)

    // 3. Matched by id: each id's digests, ledger entries and differing findings rows together.
    onProgress({ phase: 'matching', done: 0, total: undefined })
    const group = new IdGroup()
    let done = 0
    for await (const rows of scratch.stream(MATCH_SQL)) {
      for (const row of rows) {
        const id = String(row.k)
        if (group.id !== id) {
          judgeGroup(report, group)
          group.reset(id)
        }
        group.add(row)
      }
      done += rows.length
      onProgress({ phase: 'matching', done, total: undefined })
    }
    judgeGroup(report, group)
  } finally {
    scratch.close()
  }
  report.ok = report.issues.length === 0
  return report
}

async function readCheckpoints(store: DuckDbStore): Promise<CheckpointEntry[]> {
  const { rows } = await store.sql(
    `SELECT stream, CAST(pos AS VARCHAR) AS pos, CAST(count AS VARCHAR) AS count, head, key_id, mac FROM integrity_checkpoints c ORDER BY c.stream, c.pos`,
  )
  return rows.map((c) => ({
    stream: String(c.stream),
    pos: String(c.pos),
    count: String(c.count),
    head: String(c.head),
    key_id: c.key_id === null ? null : String(c.key_id),
    mac: c.mac === null ? null : String(c.mac),
  }))
}

async function count(store: DuckDbStore, table: string): Promise<number> {
  return Number((await store.sql(`SELECT count(*) AS n FROM ${table}`)).rows[0]?.n ?? 0)
}

/**
 * Every stored event, reduced to what the ledger check needs (its digest, the first typed column that
 * disagrees with its JSON, how many findings it holds) in `ev`, and its findings rows as the JSON
 * says they should be stored in `fx`. `n` tells two stored copies of one id apart.
 */
async function scanEvents(store: DuckDbStore, scratch: VerifyScratch, onProgress: (p: VerifyProgress) => void): Promise<void> {
  const ev = await scratch.table('ev', [
    ['n', 'BIGINT'],
    ['id', 'VARCHAR'],
    ['valid', 'BOOLEAN'],
    ['h', 'VARCHAR'],
    ['lh', 'VARCHAR'],
    ['ah', 'VARCHAR'],
    ['jid', 'VARCHAR'],
    ['col', 'VARCHAR'],
    ['nf', 'INTEGER'],
  ])
  const fx = await scratch.table('fx', [
    ['event_id', 'VARCHAR'],
    ['idx', 'INTEGER'],
    ['row', 'VARCHAR'],
  ])
  const total = await count(store, 'events')
  onProgress({ phase: 'events', done: 0, total })
  let n = 0
  const select = EVENT_COLUMNS.map((c) => `${columnExpr(c)} AS "${c.name}"`).join(', ')
  for await (const rows of store.stream(`SELECT ${select}, event_json FROM events`)) {
    for (const row of rows) {
      const id = String(row.id)
      const parsed = storedDigest(String(row.event_json))
      if (parsed === undefined) {
        ev.add([n++, id, false, null, null, null, null, null, 0])
        continue
      }
      const { event, digest: d } = parsed
      const findings = event.audit?.findings ?? []
      ev.add([
        n++,
        id,
        true,
        d.hash,
        d.legacy ?? null,
        d.auditHash ?? null,
        d.eventId ?? null,
        mismatch(EVENT_COLUMNS, row, event) ?? null,
        findings.length,
      ])
      for (let i = 0; i < findings.length; i++) {
        const fr: FindingRow = { eventId: event.event.id, ts: event['@timestamp'], index: i, finding: findings[i]! }
        fx.add([id, i, JSON.stringify(FINDING_COLUMNS.map((c) => wanted(c, c.get(fr))))])
      }
    }
    onProgress({ phase: 'events', done: n, total })
  }
  ev.flush()
  fx.flush()
}

/** The findings rows as stored, normalised like `fx` so that equal means agreeing. */
async function scanFindings(store: DuckDbStore, scratch: VerifyScratch, onProgress: (p: VerifyProgress) => void): Promise<void> {
  const fa = await scratch.table('fa', [
    ['event_id', 'VARCHAR'],
    ['idx', 'INTEGER'],
    ['row', 'VARCHAR'],
  ])
  const total = await count(store, 'findings')
  onProgress({ phase: 'findings', done: 0, total })
  let done = 0
  for await (const rows of store.stream(
    `SELECT ${FINDING_COLUMNS.map((c) => `${columnExpr(c)} AS "${c.name}"`).join(', ')} FROM findings`,
  )) {
    for (const r of rows) fa.add([String(r.event_id), Number(r.idx), JSON.stringify(FINDING_COLUMNS.map((c) => got(c, r[c.name])))])
    done += rows.length
    onProgress({ phase: 'findings', done, total })
  }
  fa.flush()
}

const EVENTS = 0
const FINDINGS = 1

/**
 * Every id's stored copies joined with its ledger entries (either side may be missing), and the
 * findings rows that differ from what the stored JSON says (missing, extra or different), ordered by
 * id so that each id's rows come together; ledger entries in (stream, position) order.
 */
const MATCH_SQL = `SELECT * FROM (
    SELECT coalesce(e.id, l.event_id) AS k, ${EVENTS} AS src, e.n, e.valid, e.h, e.lh, e.ah, e.jid, e.col, e.nf,
      l.stream AS l_stream, CAST(l.pos AS VARCHAR) AS l_pos, l.pos AS l_order, l.hash AS l_hash
    FROM ev e FULL OUTER JOIN ledger l ON l.event_id = e.id
    UNION ALL BY NAME
    SELECT coalesce(x.event_id, a.event_id) AS k, ${FINDINGS} AS src, coalesce(x.idx, a.idx) AS f_idx, x.row AS f_want, a.row AS f_got
    FROM fx x FULL OUTER JOIN fa a ON a.event_id = x.event_id AND a.idx = x.idx
    WHERE x.row IS DISTINCT FROM a.row
  ) ORDER BY k, src, l_stream, l_order, f_idx, n`

/** The match rows of one id. */
class IdGroup {
  id: string | undefined
  events = new Map<string, Row>()
  /** Ledger entries by stream and position (a stored duplicate repeats them), in chain order. */
  ledger = new Map<string, Row>()
  findings: Row[] = []

  reset(id: string): void {
    this.id = id
    this.events = new Map()
    this.ledger = new Map()
    this.findings = []
  }

  add(row: Row): void {
    if (Number(row.src) === FINDINGS) return void this.findings.push(row)
    if (row.n !== null && row.n !== undefined) this.events.set(String(row.n), row)
    if (row.l_stream !== null && row.l_stream !== undefined) this.ledger.set(`${String(row.l_stream)}@${String(row.l_pos)}`, row)
  }
}

function judgeGroup(report: VerifyReport, g: IdGroup): void {
  if (g.id === undefined) return
  const id = g.id
  // The last entry in (stream, position) order names where it was ledgered; every distinct hash is accepted.
  const entries = [...g.ledger.values()]
  const last = entries.at(-1)
  const entry: LedgerRef | undefined =
    last === undefined ? undefined : { hash: String(last.l_hash), stream: String(last.l_stream), pos: String(last.l_pos) }
  if (entry !== undefined) {
    const hashes = new Set(entries.map((r) => String(r.l_hash)))
    if (hashes.size > 1) entry.hashes = hashes
  }
  if (g.events.size === 0) {
    if (entry !== undefined)
      addIssue(report, { kind: 'deleted', id, detail: `ledgered at ${entry.stream} @ ${entry.pos}, missing from the store` })
    // Findings left behind by a deleted event are part of that deletion, already reported.
    else if (g.findings.some((f) => f.f_got !== null))
      addIssue(report, { kind: 'inserted', id, detail: 'findings rows for an event that is not stored' })
    return
  }
  for (const e of g.events.values()) {
    report.events++
    const digest = e.valid === true ? { hash: String(e.h), legacy: opt(e.lh), auditHash: opt(e.ah), eventId: opt(e.jid) } : undefined
    if (!judgeStored(report, id, digest, entry)) continue
    if (e.col !== null && e.col !== undefined)
      addIssue(report, { kind: 'modified', id, detail: `column ${String(e.col)} differs from the stored event` })
    else {
      const f = findingsMismatch(Number(e.nf), g.findings)
      if (f !== undefined) addIssue(report, { kind: 'modified', id, detail: f })
    }
  }
}

const opt = (v: unknown): string | undefined => (v === null || v === undefined ? undefined : String(v))

/** The differing findings rows of an intact event, as the first problem a row-by-row comparison meets. */
function findingsMismatch(expected: number, diffs: readonly Row[]): string | undefined {
  if (diffs.length === 0) return undefined
  const missing = diffs.filter((d) => d.f_got === null).length
  const extra = diffs.filter((d) => d.f_want === null).length
  const stored = expected - missing + extra
  if (stored !== expected) return `${stored} findings rows for ${expected} findings`
  const first = diffs[0]!
  if (first.f_want === null || first.f_got === null) return `findings row ${String(first.f_idx)} is not one of the stored event's findings`
  const want = JSON.parse(String(first.f_want)) as unknown[]
  const have = JSON.parse(String(first.f_got)) as unknown[]
  const col = FINDING_COLUMNS.findIndex((_, i) => JSON.stringify(want[i]) !== JSON.stringify(have[i]))
  return `findings row ${String(first.f_idx)} column ${FINDING_COLUMNS[col]?.name ?? '?'} differs from the stored event`
}

/** A findings value as the store's appender would have written it, in the form `got` gives DuckDB's (see same()). */
function wanted<R>(c: Column<R>, value: unknown): unknown {
  if (value === undefined || value === null) return null
  switch (c.type) {
    case 'VARCHAR':
      return wellFormed(String(value))
    case 'INTEGER':
    case 'BIGINT':
      return typeof value === 'number' && Number.isSafeInteger(value) && (c.type === 'BIGINT' || Math.abs(value) <= 2_147_483_647)
        ? value
        : null
    case 'BOOLEAN':
      return value === true
    case 'TIMESTAMP': {
      const ms = Date.parse(String(value))
      return Number.isFinite(ms) ? ms : null
    }
    case 'VARCHAR[]':
      return Array.isArray(value) ? value.map((v) => wellFormed(String(v))) : []
  }
}

/** A stored findings value (DuckDB's JSON form, timestamps as epoch ms) in the form `wanted` gives. */
function got<R>(c: Column<R>, v: unknown): unknown {
  if (v === undefined || v === null) return null
  switch (c.type) {
    case 'INTEGER':
    case 'BIGINT':
    case 'TIMESTAMP':
      return Number(v)
    default:
      return v
  }
}

/** Timestamps compared as epoch milliseconds, everything else in DuckDB's JSON form. */
function columnExpr<R>(c: Column<R>, table = ''): string {
  return c.type === 'TIMESTAMP' ? `epoch_ms(${table}"${c.name}")` : `${table}"${c.name}"`
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
