/**
 * The matching half of `verify`, shared by both stores: the ledger entries, a digest of every stored
 * event and the findings rows (as the stored events say they should be, and as stored) go to a scratch
 * database (verify-scratch.ts) as narrow rows; there DuckDB matches them by event id. Memory does not
 * grow with the store: DuckDB joins within its memory limit and spills beyond it, and only the ids
 * that are not plainly intact (an event with exactly its ledgered hash, typed columns and findings
 * rows that agree, one stored copy) come back, sorted by id, to be judged one id at a time by the
 * same rules as before (judgeStored in verify-core.ts). An intact store returns no rows at all.
 */
import { chunkCollector } from './verify-gc.js'
import { idPartCount, inPart, partsOf } from './id-parts.js'
import { FINDING_COLUMNS } from '../store/duckdb-schema.js'
import type { ScratchTable, VerifyScratch } from '../store/verify-scratch.js'
import { addIssue, judgeStored, type LedgerRef, type StoredDigest, type VerifyProgress, type VerifyReport } from './verify-core.js'

type Row = Record<string, unknown>

export interface MatchTables {
  /** event_id, stream, pos, hash, chain, ts (epoch ms of the event's @timestamp as ledgered, or null). */
  ledger: ScratchTable
  /** Per stored copy: n (scan order), id, valid, h, lh, ah, jid, col (first differing column or detail), nf (findings in the JSON). */
  ev: ScratchTable
  /** Findings rows as the stored JSON says they should be: event_id, idx, row (normalised). */
  fx: ScratchTable
  /** Findings rows as stored, normalised alike. */
  fa: ScratchTable
}

export async function matchTables(scratch: VerifyScratch): Promise<MatchTables> {
  return {
    ledger: await scratch.table('ledger', [
      ['event_id', 'VARCHAR'],
      ['stream', 'VARCHAR'],
      ['pos', 'BIGINT'],
      ['hash', 'VARCHAR'],
      ['chain', 'VARCHAR'],
      ['ts', 'BIGINT'],
    ]),
    ev: await scratch.table('ev', [
      ['n', 'BIGINT'],
      ['id', 'VARCHAR'],
      ['valid', 'BOOLEAN'],
      ['h', 'VARCHAR'],
      ['lh', 'VARCHAR'],
      ['ah', 'VARCHAR'],
      ['jid', 'VARCHAR'],
      ['col', 'VARCHAR'],
      ['nf', 'INTEGER'],
    ]),
    fx: await scratch.table('fx', [
      ['event_id', 'VARCHAR'],
      ['idx', 'INTEGER'],
      ['row', 'VARCHAR'],
    ]),
    fa: await scratch.table('fa', [
      ['event_id', 'VARCHAR'],
      ['idx', 'INTEGER'],
      ['row', 'VARCHAR'],
    ]),
  }
}

/** One stored copy's ev row. `n` numbers the copies in scan order; `problem` overrides the typed-column check's name. */
export function evRow(n: number, id: string, digest: StoredDigest | undefined, problem: string | undefined, findings: number) {
  return digest === undefined
    ? [n, id, false, null, null, null, null, null, 0]
    : [n, id, true, digest.hash, digest.legacy ?? null, digest.auditHash ?? null, digest.eventId ?? null, problem ?? null, findings]
}

export interface MatchOptions {
  /** Ids per part of the statements by id (id-parts.ts); tests use small parts. */
  partRows?: number
  /** Ledgered events missing from the store whose ts is before this (epoch ms) count as expired, not deleted. */
  expiredBefore?: number
  /** What the deleted finding says the event is missing from. */
  storeName?: string
  /** A typed-column problem (ev.col) as a finding's detail. */
  describeColumn?: (col: string) => string
  /** False when the store holds no findings rows at all (OpenSearch without findings documents): they are not compared. */
  compareFindings?: boolean
}

const EVENTS = 0
const FINDINGS = 1

/**
 * Ids that are not plainly intact: a side missing, an invalid or differing digest, a typed column that
 * disagrees, more than one stored copy, or a findings row that differs from what the JSON says. One
 * statement each, not a UNION: DuckDB keeps the hash tables of all the union's joins until it ends,
 * and together they ran past the scratch's memory limit where each alone fits. An id may be listed
 * twice; MATCH_SQL reads the table through semi joins, which do not repeat rows.
 *
 * The findings rows are compared by their SHA-256, computed below the join: a hash join keeps its
 * build side's columns in memory, and OpenSearch's rows are whole findings documents (~2 KB each),
 * which ran the 64 MB scratch out of memory at ~95k events. Only a suspect id's rows are read whole
 * again (MATCH_SQL).
 */
const SUSPECT_SQL = (findings: boolean, parts: number): string[] => [
  'CREATE TABLE suspect (k VARCHAR)',
  ...partsOf(parts).map(
    (p) => `INSERT INTO suspect SELECT coalesce(e.id, l.event_id)
    FROM (SELECT * FROM ev WHERE ${inPart('id', parts, p)}) e
    FULL OUTER JOIN (SELECT * FROM ledger WHERE ${inPart('event_id', parts, p)}) l ON l.event_id = e.id
    WHERE e.id IS NULL OR l.event_id IS NULL OR NOT e.valid OR e.col IS NOT NULL OR e.h <> l.hash
      OR e.ah IS DISTINCT FROM e.h OR e.jid IS DISTINCT FROM e.id`,
  ),
  ...partsOf(parts).map((p) => `INSERT INTO suspect SELECT id FROM ev WHERE ${inPart('id', parts, p)} GROUP BY id HAVING count(*) > 1`),
  ...(findings
    ? partsOf(parts).map(
        (p) => `INSERT INTO suspect SELECT coalesce(x.event_id, a.event_id)
    FROM ${ROW_DIGESTS('fx', inPart('event_id', parts, p))} x FULL OUTER JOIN ${ROW_DIGESTS('fa', inPart('event_id', parts, p))} a
    ON a.event_id = x.event_id AND a.idx = x.idx WHERE x.rh IS DISTINCT FROM a.rh`,
      )
    : []),
]

const ROW_DIGESTS = (table: 'fx' | 'fa', part: string): string => `(SELECT event_id, idx, sha256(row) AS rh FROM ${table} WHERE ${part})`

/**
 * Every suspect id's stored copies joined with its ledger entries (either side may be missing), and the
 * findings rows that differ from what the stored JSON says, ordered by id so that each id's rows come
 * together; ledger entries in (stream, position) order.
 */
const MATCH_SQL = (findings: boolean) => `SELECT * FROM (
    SELECT coalesce(e.id, l.event_id) AS k, ${EVENTS} AS src, e.n, e.valid, e.h, e.lh, e.ah, e.jid, e.col, e.nf,
      l.stream AS l_stream, CAST(l.pos AS VARCHAR) AS l_pos, l.pos AS l_order, l.hash AS l_hash, l.ts AS l_ts
    FROM (SELECT * FROM ev SEMI JOIN suspect s ON ev.id = s.k) e
    FULL OUTER JOIN (SELECT * FROM ledger SEMI JOIN suspect s ON ledger.event_id = s.k) l ON l.event_id = e.id
    ${
      findings
        ? `UNION ALL BY NAME
    SELECT coalesce(x.event_id, a.event_id) AS k, ${FINDINGS} AS src, coalesce(x.idx, a.idx) AS f_idx, x.row AS f_want, a.row AS f_got
    FROM (SELECT * FROM fx SEMI JOIN suspect s ON fx.event_id = s.k) x
    FULL OUTER JOIN (SELECT * FROM fa SEMI JOIN suspect s ON fa.event_id = s.k) a ON a.event_id = x.event_id AND a.idx = x.idx
    WHERE x.row IS DISTINCT FROM a.row`
        : ''
    }
  ) ORDER BY k, src, l_stream, l_order, ${findings ? 'f_idx, ' : ''}n`

/** Matches what `tables` received (flushed) by id and adds the findings to the report. */
export async function matchById(
  scratch: VerifyScratch,
  report: VerifyReport,
  onProgress: (p: VerifyProgress) => void,
  options: MatchOptions = {},
): Promise<void> {
  const findings = options.compareFindings !== false
  onProgress({ phase: 'matching', done: 0, total: undefined })
  report.events = Number((await scratch.all(`SELECT count(*) AS n FROM ev`))[0]?.n ?? 0)
  const parts = await idPartCount(scratch, ['ev', 'ledger', 'fx', 'fa'], options.partRows)
  for (const sql of SUSPECT_SQL(findings, parts)) await scratch.run(sql)
  const group = new IdGroup()
  let done = 0
  const collect = chunkCollector()
  for await (const rows of scratch.stream(MATCH_SQL(findings))) {
    collect()
    for (const row of rows) {
      const id = String(row.k)
      if (group.id !== id) {
        judgeGroup(report, group, options)
        group.reset(id)
      }
      group.add(row)
    }
    done += rows.length
    onProgress({ phase: 'matching', done, total: undefined })
  }
  judgeGroup(report, group, options)
}

/** The match rows of one id. */
class IdGroup {
  id: string | undefined
  /** Stored copies by scan order. */
  events = new Map<string, Row>()
  /** Ledger entries by stream and position (each stored copy repeats them), in chain order. */
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

function judgeGroup(report: VerifyReport, g: IdGroup, options: MatchOptions): void {
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
    if (entry !== undefined) {
      // Not NaN-safe by accident: an entry without a valid ts is never taken as expired.
      const ts = last!.l_ts === null || last!.l_ts === undefined ? Number.NaN : Number(last!.l_ts)
      if (options.expiredBefore !== undefined && ts < options.expiredBefore) report.expired = (report.expired ?? 0) + 1
      else
        addIssue(report, {
          kind: 'deleted',
          id,
          detail: `ledgered at ${entry.stream} @ ${entry.pos}, missing from ${options.storeName ?? 'the store'}`,
        })
    }
    // Findings left behind by a deleted event are part of that deletion, already reported.
    else if (g.findings.some((f) => f.f_got !== null && f.f_got !== undefined))
      addIssue(report, { kind: 'inserted', id, detail: 'findings for an event that is not stored' })
    return
  }
  let first = true
  for (const e of g.events.values()) {
    // One id is stored once (the table's key, the segments' dedupe, the sink's _id): a second copy was added.
    if (!first) {
      addIssue(report, { kind: 'inserted', id, detail: 'a second stored copy of this event' })
      continue
    }
    first = false
    const digest = e.valid === true ? { hash: String(e.h), legacy: opt(e.lh), auditHash: opt(e.ah), eventId: opt(e.jid) } : undefined
    if (!judgeStored(report, id, digest, entry)) continue
    if (e.col !== null && e.col !== undefined)
      addIssue(report, { kind: 'modified', id, detail: (options.describeColumn ?? columnDetail)(String(e.col)) })
    else {
      const f = findingsMismatch(Number(e.nf), g.findings)
      if (f !== undefined) addIssue(report, { kind: 'modified', id, detail: f })
    }
  }
}

const columnDetail = (col: string): string => `column ${col} differs from the stored event`

const opt = (v: unknown): string | undefined => (v === null || v === undefined ? undefined : String(v))

/** The differing findings rows of an intact event, as the first problem a row-by-row comparison meets. */
function findingsMismatch(expected: number, diffs: readonly Row[]): string | undefined {
  if (diffs.length === 0) return undefined
  const isNull = (v: unknown): boolean => v === null || v === undefined
  const missing = diffs.filter((d) => isNull(d.f_got)).length
  const extra = diffs.filter((d) => isNull(d.f_want)).length
  const stored = expected - missing + extra
  if (stored !== expected) return `${stored} findings rows for ${expected} findings`
  const first = diffs[0]!
  if (isNull(first.f_want) || isNull(first.f_got)) return `findings row ${String(first.f_idx)} is not one of the stored event's findings`
  const want = JSON.parse(String(first.f_want)) as unknown
  const have = JSON.parse(String(first.f_got)) as unknown
  if (!Array.isArray(want) || !Array.isArray(have)) return `findings row ${String(first.f_idx)} differs from the stored event`
  const col = FINDING_COLUMNS.findIndex((_, i) => JSON.stringify(want[i]) !== JSON.stringify(have[i]))
  return `findings row ${String(first.f_idx)} column ${FINDING_COLUMNS[col]?.name ?? '?'} differs from the stored event`
}
