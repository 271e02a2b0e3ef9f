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
 * chunk at a time (ChainWalk), sorted a range of positions at a time (ledger-order.ts); the events
 * and the findings rows are each scanned once in stored order, every event checked on its own
 * (hash, typed columns) and reduced to a narrow digest in a scratch database (verify-scratch.ts)
 * with the ledger's ids and hashes and the findings rows; there DuckDB matches them by event id
 * (verify-match.ts). A segment store is read from the files its catalog lists.
 */
import type { DuckDbStore } from '../store/duckdb-store.js'
import { FINDING_COLUMNS, STORED_EVENT_COLUMNS, type Column, type FindingRow } from '../store/duckdb-schema.js'
import { existsSync } from 'node:fs'
import { SegmentCatalog, eventFilesSql, quote, segmentsDirOf } from '../store/duckdb-segments.js'
import { LOW_MEMORY_ALLOCATOR, VerifyScratch } from '../store/verify-scratch.js'
import { excuseRetained } from './retention-cuts.js'
import { chunkCollector } from './verify-gc.js'
import { ledgerInChainOrder } from './ledger-order.js'
import { setAsideLateEvents } from './verify-live.js'
import type { IntegrityKey } from './config.js'
import { ChainWalk, emptyReport, storedDigest, type CheckpointEntry, type VerifyProgress, type VerifyReport } from './verify-core.js'
import { evRow, matchById, matchTables, type MatchTables } from './verify-match.js'

export type { VerifyIssue, VerifyProgress, VerifyReport } from './verify-core.js'

export interface DuckDbVerifyOptions {
  /** Where the scratch database goes (default: the system's temporary directory). */
  scratchDir?: string
  /** DuckDB's memory cap for the scratch database. */
  scratchMemoryLimit?: string
  /**
   * DuckDB's memory cap for the store (the CLI's read-only store): `tables` while verify reads its
   * tables (the ledger; a table store's events and findings), `segments` while it reads a segment
   * store's Parquet files. Not given: the store's limit is left as it is.
   */
  storeMemoryLimit?: { tables: string; segments: string }
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
  const segments = tables.has('store_segments') && store.path !== ':memory:'
  const limit = options.storeMemoryLimit
  await lowerStoreMemory(store, segments)
  // Between phases: what the previous phase cached (the ledger's blocks, a row group's pages) is
  // never read again, and setting the same or a higher limit would keep it. So drop it first.
  const storeLimit = async (which: 'tables' | 'segments'): Promise<void> => {
    if (limit === undefined) return
    await setting(store, 'memory_limit', EVICT_LIMIT)
    await setting(store, 'memory_limit', limit[which])
  }
  await storeLimit('tables')
  const scratch = await VerifyScratch.open({
    ...(options.scratchDir === undefined ? {} : { parent: options.scratchDir }),
    ...(options.scratchMemoryLimit === undefined ? {} : { memoryLimit: options.scratchMemoryLimit }),
  })
  try {
    const tablesOut = await matchTables(scratch)
    // 1. The ledger against its checkpoints, walked in chain order (sorted in the scratch database, not the store's).
    const walk = new ChainWalk(report, hasLedger ? await readCheckpoints(store) : [], key, anchors)
    if (hasLedger) {
      const total = await count(store, 'integrity_ledger')
      let read = 0
      onProgress({ phase: 'ledger', done: 0, total })
      const collect = chunkCollector()
      await scratch.phase('append')
      for await (const rows of store.stream(`SELECT event_id, stream, CAST(pos AS VARCHAR) AS pos, hash, chain FROM integrity_ledger`)) {
        collect()
        for (const r of rows)
          tablesOut.ledger.add([String(r.event_id), String(r.stream), String(r.pos), String(r.hash), String(r.chain), null])
        read += rows.length
        onProgress({ phase: 'ledger', done: read, total })
      }
      tablesOut.ledger.flush()
      await storeLimit('tables')
      await scratch.phase('query')
      for await (const rows of ledgerInChainOrder(scratch)) {
        collect()
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
    const source = await storedRelations(store, tables, report)
    if (segments) await storeLimit('segments')
    await scratch.phase('append')
    await scanEvents(store, source.events, tablesOut, onProgress)
    await scanFindings(store, source.findings, tablesOut, onProgress)
    await storeLimit('tables')
    await scratch.phase('query')
    // Ledgered events that a signed retention cut dropped are not deleted ones (retention-cuts.ts).
    await excuseRetained(store, scratch, report, key)
    // Events stored after the ledger was read (a writer is writing): set aside, not called inserted (verify-live.ts).
    await setAsideLateEvents(store, scratch, report)

    // 3. Matched by id: each id's digests, ledger entries and differing findings rows together.
    await matchById(scratch, report, onProgress)
  } finally {
    scratch.close()
  }
  report.ok = report.issues.length === 0
  return report
}

/**
 * verify only scans the store: one thread (each thread holds buffers of its own) and the allocator's
 * thresholds low. DuckDB keeps what a scan read in its buffer pool, up to its memory limit, for a
 * later query that never comes: a table's blocks (the ledger's, whatever the layout), and Parquet
 * file bytes in its external file cache (off here). Hence verify's two limits (storeMemoryLimit): a
 * small one for tables, read a block at a time, and a larger one only while the segments are read,
 * where a row group's document column is decompressed whole.
 * Refused (and not needed) when the store is read through a running writer.
 */
async function lowerStoreMemory(store: DuckDbStore, segments: boolean): Promise<void> {
  const settings: Record<string, string> = {
    threads: '1',
    ...LOW_MEMORY_ALLOCATOR,
    ...(segments ? { enable_external_file_cache: 'false' } : {}),
  }
  for (const [name, value] of Object.entries(settings)) await setting(store, name, value)
}

/** What the store's memory limit is lowered to for a moment, so that DuckDB evicts its cached blocks. */
const EVICT_LIMIT = '1MB'

const setting = (store: DuckDbStore, name: string, value: string): Promise<void> =>
  store.sql(`SET ${name} = '${value}'`).then(
    () => undefined,
    () => undefined,
  )

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

async function count(store: DuckDbStore, relation: string): Promise<number> {
  return Number((await store.sql(`SELECT count(*) AS n FROM ${relation}`)).rows[0]?.n ?? 0)
}

/**
 * What the events and findings are read from. The table layout: its tables. The segment layout: the
 * Parquet files its catalog (`store_segments`) lists, read directly rather than through the views:
 * the catalog is what a writer rebuilds the views from, and a segment whose files are gone must come
 * out as deleted events, where a view naming it fails. Typed as the views type them.
 */
async function storedRelations(
  store: DuckDbStore,
  tables: ReadonlySet<string>,
  report: VerifyReport,
): Promise<{ events: string; findings: string }> {
  if (!tables.has('store_segments') || store.path === ':memory:') return { events: 'events', findings: 'findings' }
  const dir = segmentsDirOf(store.path)
  // `*`: a catalog no writer has opened since segment formats were recorded has no `format` (its files are format 1).
  const { rows } = await store.sql(`SELECT *, epoch_ms(hour) AS hour_ms FROM store_segments s ORDER BY s.min_ts, s.name`)
  const ev: { path: string; format: number }[] = []
  const fi: string[] = []
  const missing: string[] = []
  const probe = new SegmentCatalog(dir, false)
  for (const r of rows) {
    const seg = { name: String(r.name), hourMs: Number(r.hour_ms) }
    const [e, f] = [probe.eventsFile(seg), probe.findingsFile(seg)]
    if (!existsSync(e) || !existsSync(f)) {
      missing.push(seg.name)
      continue
    }
    if (Number(r.events) > 0) ev.push({ path: e, format: r.format == null ? 1 : Number(r.format) })
    if (Number(r.findings) > 0) fi.push(f)
  }
  if (missing.length > 0)
    report.warnings.push(
      `${missing.length} segment(s) listed in the catalog have no files under ${dir} (${missing.slice(0, 3).join(', ')}${
        missing.length > 3 ? ', ...' : ''
      }): their events count as deleted`,
    )
  const relation = (files: string[], columns: readonly Column<never>[], json: boolean): string => {
    const cast = (c: string, t: string): string => (files.length === 0 ? `CAST(NULL AS ${t}) AS "${c}"` : `CAST("${c}" AS ${t}) AS "${c}"`)
    const select = [...columns.map((c) => cast(c.name, c.type)), ...(json ? [cast('event_json', 'VARCHAR')] : [])].join(', ')
    return files.length === 0 ? `(SELECT ${select} LIMIT 0)` : `(SELECT ${select} FROM read_parquet([${files.map(quote).join(', ')}]))`
  }
  return {
    events: `(${eventFilesSql(ev)})`,
    findings: relation(fi, FINDING_COLUMNS as readonly Column<never>[], false),
  }
}

/**
 * Every stored event, reduced to what the ledger check needs (its digest, the first typed column that
 * disagrees with its JSON, how many findings it holds) in `ev`, and its findings rows as the JSON
 * says they should be stored in `fx`. `n` tells two stored copies of one id apart.
 */
async function scanEvents(
  store: DuckDbStore,
  relation: string,
  tables: MatchTables,
  onProgress: (p: VerifyProgress) => void,
): Promise<void> {
  const { ev, fx } = tables
  const total = await count(store, relation)
  onProgress({ phase: 'events', done: 0, total })
  let n = 0
  // The added columns too: a cluster column that disagrees with the document would mislead every --cluster query.
  const select = STORED_EVENT_COLUMNS.map((c) => `${columnExpr(c)} AS "${c.name}"`).join(', ')
  const idAt = STORED_EVENT_COLUMNS.findIndex((c) => c.name === 'id')
  const jsonAt = STORED_EVENT_COLUMNS.length
  const collect = chunkCollector()
  // A row at a time out of DuckDB's chunk: only one row's values and parsed document are live at once.
  for await (const chunk of store.streamRows(`SELECT ${select}, event_json FROM ${relation}`)) {
    collect()
    for (let r = 0; r < chunk.rowCount; r++) {
      const row = chunk.row(r)
      const id = String(row[idAt])
      const parsed = storedDigest(String(row[jsonAt]))
      if (parsed === undefined) {
        ev.add(evRow(n++, id, undefined, undefined, 0))
        continue
      }
      const { event, digest } = parsed
      const findings = event.audit?.findings ?? []
      ev.add(evRow(n++, id, digest, mismatch(STORED_EVENT_COLUMNS, row, event), findings.length))
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
async function scanFindings(
  store: DuckDbStore,
  relation: string,
  tables: MatchTables,
  onProgress: (p: VerifyProgress) => void,
): Promise<void> {
  const { fa } = tables
  const total = await count(store, relation)
  onProgress({ phase: 'findings', done: 0, total })
  let done = 0
  const collect = chunkCollector()
  const idAt = FINDING_COLUMNS.findIndex((c) => c.name === 'event_id')
  const idxAt = FINDING_COLUMNS.findIndex((c) => c.name === 'idx')
  for await (const chunk of store.streamRows(
    `SELECT ${FINDING_COLUMNS.map((c) => `${columnExpr(c)} AS "${c.name}"`).join(', ')} FROM ${relation}`,
  )) {
    collect()
    for (let i = 0; i < chunk.rowCount; i++) {
      const r = chunk.row(i)
      fa.add([String(r[idAt]), Number(r[idxAt]), JSON.stringify(FINDING_COLUMNS.map((c, at) => got(c, r[at])))])
    }
    done += chunk.rowCount
    onProgress({ phase: 'findings', done, total })
  }
  fa.flush()
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
  // Nearly every string is well formed already: the round trip only for those that are not.
  return (s as unknown as { isWellFormed(): boolean }).isWellFormed() ? s : Buffer.from(s, 'utf8').toString('utf8')
}

/** `values`: the columns' stored values, in the order of `columns`. */
function mismatch<R>(columns: readonly Column<R>[], values: readonly unknown[], value: R): string | undefined {
  for (let i = 0; i < columns.length; i++) if (!same(columns[i]!, values[i], columns[i]!.get(value))) return columns[i]!.name
  return undefined
}
