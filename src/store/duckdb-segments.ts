/**
 * The segment layout of the embedded store (docs/store.md, "Segments"): events and findings are kept
 * in immutable Parquet files (zstd) written through DuckDB, one pair per flushed batch and hour of
 * event time, merged per hour by compaction; the DuckDB file keeps a small catalog (`store_segments`),
 * and `events` / `findings` are views over `read_parquet` of the files the catalog lists, so every
 * query reads the same names and columns as with the table layout.
 *
 * Order of a batch: the Parquet files are written under a temporary name, fsynced and renamed into
 * place; then one transaction adds them to the catalog and replaces the views (with the batch's
 * edge_facts rows and calls); the batch is acknowledged once that commits. A crash before the commit
 * leaves files the catalog does not name: removed when a writer next opens the store.
 *
 * Dedupe without a primary-key index: a batch's ids are checked against the segments whose time range
 * overlaps the batch's (event ids are derived from the line, so a replayed event has the same time),
 * reading only the id and ts columns of the row groups in that range; compaction keeps one row per id.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, statSync, unlinkSync } from 'node:fs'
import { join } from 'node:path'
import type { DuckDBConnection } from '@duckdb/node-api'
import { ADDED_EVENT_COLUMNS, EVENT_COLUMNS, FINDING_COLUMNS, addedColumnFromJson } from './duckdb-schema.js'
import { appendRows } from './duckdb-appender.js'
import { IdFilter } from './segment-ids.js'

export const STORE_LAYOUTS = ['table', 'segments'] as const
export type StoreLayout = (typeof STORE_LAYOUTS)[number]

const HOUR_MS = 3_600_000
/** Segments of one level and hour merged into one of the next level. */
export const COMPACT_FANIN = 16
/** Segments of this level or above are not merged further (about 512k events of one hour each). */
const MAX_LEVEL = 2
/**
 * Rows per Parquet row group: small enough that a batch's dedupe reads few ids beyond its time range,
 * and that a reader of the documents (verify) decompresses ~15 MB of them at a time, not ~60 MB at
 * 16,384 (docs/store.md).
 */
const ROW_GROUP_ROWS = 4_096
/** Files dropped by compaction or retention stay this long for queries that listed them before. */
const GRACE_MS = 60_000
/**
 * ... and longer while a reader connection opened before they were dropped is still open (a verify
 * names the files when it starts and reads them for minutes), up to this long: a connection held open
 * for days must not keep every replaced file.
 */
const HELD_MAX_MS = 6 * 3_600_000

/**
 * What an events file holds: 1, the typed columns and event_json (files written before the added
 * columns); 2, also every ADDED_EVENT_COLUMNS column. Every write is the current format; older files
 * are read with the added columns computed from their documents until the next writer rewrites them.
 */
export const SEGMENT_FORMAT = 2

export const SEGMENTS_DDL = [
  `CREATE TABLE IF NOT EXISTS store_segments (name VARCHAR PRIMARY KEY, hour TIMESTAMP NOT NULL,
  level INTEGER NOT NULL, events BIGINT NOT NULL, findings BIGINT NOT NULL, min_ts TIMESTAMP NOT NULL, max_ts TIMESTAMP NOT NULL,
  bytes BIGINT NOT NULL, format INTEGER DEFAULT 1)`,
  // A catalog from before `format`: its files are format 1.
  `ALTER TABLE store_segments ADD COLUMN IF NOT EXISTS format INTEGER DEFAULT 1`,
]

export interface Segment {
  name: string
  hourMs: number
  level: number
  events: number
  findings: number
  minMs: number
  maxMs: number
  bytes: number
  /** SEGMENT_FORMAT of its events file. */
  format: number
}

/** Where the segments of the store at `path` live (a directory next to the file). */
export function segmentsDirOf(path: string): string {
  return `${path.replace(/\.duckdb$/, '')}.segments`
}

const hourDir = (hourMs: number): string => new Date(hourMs).toISOString().slice(0, 13)
const iso = (ms: number): string => new Date(ms).toISOString()
/** A SQL string literal. */
export const quote = (s: string): string => `'${s.replaceAll("'", "''")}'`

/**
 * The typed columns as the table layout declares them, in its order: the views cast, so `sql` sees the
 * same types. `added`: where the added columns come from, the file (format 2) or its documents (format 1).
 */
const eventSelect = (added: 'file' | 'json'): string =>
  [
    ...EVENT_COLUMNS.map((c) => `CAST(${c.name} AS ${c.type}) AS ${c.name}`),
    'CAST(event_json AS VARCHAR) AS event_json',
    ...ADDED_EVENT_COLUMNS.map((c) => `${added === 'file' ? `CAST(${c.name} AS ${c.type})` : addedColumnFromJson(c)} AS ${c.name}`),
  ].join(', ')
const EVENT_SELECT = eventSelect('file')
const FINDING_SELECT = FINDING_COLUMNS.map((c) => `CAST(${c.name} AS ${c.type}) AS ${c.name}`).join(', ')
const EVENT_EMPTY = [
  ...EVENT_COLUMNS.map((c) => `CAST(NULL AS ${c.type}) AS ${c.name}`),
  'CAST(NULL AS VARCHAR) AS event_json',
  ...ADDED_EVENT_COLUMNS.map((c) => `CAST(NULL AS ${c.type}) AS ${c.name}`),
].join(', ')

/** The events of `files` (events files and their formats) as the `events` view's columns. */
export function eventFilesSql(files: readonly { path: string; format: number }[]): string {
  const list = (format: (f: number) => boolean): string =>
    files
      .filter((f) => format(f.format))
      .map((f) => quote(f.path))
      .join(', ')
  const current = list((f) => f >= SEGMENT_FORMAT)
  const older = list((f) => f < SEGMENT_FORMAT)
  const parts: string[] = []
  if (current !== '') parts.push(`SELECT ${EVENT_SELECT} FROM read_parquet([${current}])`)
  if (older !== '') parts.push(`SELECT ${eventSelect('json')} FROM read_parquet([${older}])`)
  return parts.length === 0 ? `SELECT ${EVENT_EMPTY} LIMIT 0` : parts.join(' UNION ALL ')
}
const FINDING_EMPTY = FINDING_COLUMNS.map((c) => `CAST(NULL AS ${c.type}) AS ${c.name}`).join(', ')

export class SegmentCatalog {
  readonly segments = new Map<string, Segment>()
  private seq = 0
  private readonly garbage: { path: string; at: number }[] = []
  /** The writer's filter of stored ids (load() fills it). */
  ids = new IdFilter()
  /**
   * Segments the catalog names whose files are gone (deleted by hand, a lost disk): left out of the
   * views, so the store still opens and `verify` reports their ledgered events as deleted.
   */
  readonly missing = new Set<string>()

  /** `durable`: fsync each file and its directory before the commit that names it (false for a scratch store). */
  constructor(
    readonly dir: string,
    private readonly durable = true,
  ) {}

  eventsFile(s: Pick<Segment, 'name' | 'hourMs'>): string {
    return join(this.dir, hourDir(s.hourMs), `${s.name}.events.parquet`)
  }

  findingsFile(s: Pick<Segment, 'name' | 'hourMs'>): string {
    return join(this.dir, hourDir(s.hourMs), `${s.name}.findings.parquet`)
  }

  /** Reads the catalog, removes files it does not name (a write that crashed before its commit). */
  async load(conn: DuckDBConnection, writer: boolean, warn: (message: string) => void): Promise<void> {
    const rows = (
      await conn.runAndReadAll(
        `SELECT name, epoch_ms(hour) AS hour, level, events, findings, epoch_ms(min_ts) AS min_ts, epoch_ms(max_ts) AS max_ts, bytes,
          ${(await hasFormat(conn)) ? 'format' : '1 AS format'} FROM store_segments`,
      )
    ).getRowObjects()
    this.segments.clear()
    for (const r of rows) {
      const s: Segment = {
        name: String(r.name),
        hourMs: Number(r.hour),
        level: Number(r.level),
        events: Number(r.events),
        findings: Number(r.findings),
        minMs: Number(r.min_ts),
        maxMs: Number(r.max_ts),
        bytes: Number(r.bytes),
        format: Number(r.format),
      }
      this.segments.set(s.name, s)
      const n = Number(s.name.split('-').pop())
      if (Number.isFinite(n) && n >= this.seq) this.seq = n + 1
      if (!existsSync(this.eventsFile(s)) || !existsSync(this.findingsFile(s))) this.missing.add(s.name)
    }
    if (this.missing.size > 0)
      warn(
        `${this.missing.size} segment(s) listed in the store's catalog are missing under ${this.dir} ` +
          `(${[...this.missing].slice(0, 3).join(', ')}${this.missing.size > 3 ? ', ...' : ''}): ` +
          'their events are left out, and verify reports them as deleted',
      )
    if (!writer) return
    mkdirSync(this.dir, { recursive: true })
    const named = new Set<string>()
    for (const s of this.segments.values()) named.add(this.eventsFile(s)).add(this.findingsFile(s))
    for (const hour of readdirSync(this.dir)) {
      const d = join(this.dir, hour)
      if (!statSync(d).isDirectory()) continue
      for (const f of readdirSync(d)) if (!named.has(join(d, f))) rmSync(join(d, f), { force: true })
      if (readdirSync(d).length === 0) rmSync(d, { recursive: true, force: true })
    }
    await this.fillIds(conn)
  }

  /** (Re)builds the id filter from every segment, streamed chunk by chunk, sized for twice what is stored. */
  async fillIds(conn: DuckDBConnection): Promise<void> {
    const files = this.present().filter((s) => s.events > 0)
    const stored = files.reduce((n, s) => n + s.events, 0)
    const ids = new IdFilter(stored * 2)
    if (files.length > 0) {
      const result = await conn.stream(`SELECT id FROM read_parquet([${files.map((s) => quote(this.eventsFile(s))).join(', ')}])`)
      for (let chunk = await result.fetchChunk(); chunk !== null && chunk.rowCount > 0; chunk = await result.fetchChunk())
        for (const id of chunk.getColumnValues(0)) ids.add(String(id))
    }
    this.ids = ids
  }

  nextName(level: number): string {
    return `l${level}-${String(this.seq++).padStart(10, '0')}`
  }

  /** The catalog's segments whose files are there. */
  private present(): Segment[] {
    return [...this.segments.values()].filter((s) => !this.missing.has(s.name))
  }

  /** The views every query reads: `events` and `findings` over the catalog's files (typed like the table layout). */
  viewsSql(): string[] {
    const all = this.present().sort((a, b) => a.minMs - b.minMs)
    const ev = all.filter((s) => s.events > 0)
    const fi = all.filter((s) => s.findings > 0)
    const events = eventFilesSql(ev.map((s) => ({ path: this.eventsFile(s), format: s.format })))
    const findings =
      fi.length === 0
        ? `SELECT ${FINDING_EMPTY} LIMIT 0`
        : `SELECT ${FINDING_SELECT} FROM read_parquet([${fi.map((s) => quote(this.findingsFile(s))).join(', ')}])`
    return [`CREATE OR REPLACE VIEW events AS ${events}`, `CREATE OR REPLACE VIEW findings AS ${findings}`]
  }

  /**
   * The ids among `candidates` (ids the filter may have seen) already stored: first in the segments
   * whose time range overlaps [minMs, maxMs], where a replayed line is (its id and time both come from
   * the line); the rest, false positives or an id stored at another time (a line without a start time
   * is timed when read), in every segment.
   */
  async storedIds(conn: DuckDBConnection, candidates: readonly string[], minMs: number, maxMs: number): Promise<Set<string>> {
    const found = new Set<string>()
    if (candidates.length === 0) return found
    const near = this.present().filter((s) => s.events > 0 && s.minMs <= maxMs && s.maxMs >= minMs)
    const far = this.present().filter((s) => s.events > 0 && !(s.minMs <= maxMs && s.maxMs >= minMs))
    await stageIds(conn, candidates)
    try {
      if (near.length > 0) {
        const reader = await conn.runAndReadAll(
          `SELECT id FROM read_parquet([${near.map((s) => quote(this.eventsFile(s))).join(', ')}])
            WHERE ts >= CAST($1 AS TIMESTAMP) AND ts <= CAST($2 AS TIMESTAMP) AND id IN (SELECT id FROM seg_ids)`,
          [iso(minMs), iso(maxMs)],
        )
        for (const [id] of reader.getRows()) found.add(String(id))
      }
      if (found.size < candidates.length && far.length > 0) {
        if (found.size > 0)
          await stageIds(
            conn,
            candidates.filter((id) => !found.has(id)),
          )
        const reader = await conn.runAndReadAll(
          `SELECT id FROM read_parquet([${far.map((s) => quote(this.eventsFile(s))).join(', ')}]) WHERE id IN (SELECT id FROM seg_ids)`,
        )
        for (const [id] of reader.getRows()) found.add(String(id))
      }
    } finally {
      await conn.run('DROP TABLE IF EXISTS seg_ids')
    }
    return found
  }

  /**
   * Writes one segment from `eventsSql` / `findingsSql` (SELECTs of the segment's rows): each file to a
   * temporary name, fsynced, renamed into place. The caller then records it with `addSql` in the
   * transaction that acknowledges it.
   */
  async write(
    conn: DuckDBConnection,
    level: number,
    hourMs: number,
    eventsSql: string,
    findingsSql: string,
    known?: { events: number; minMs: number; maxMs: number },
  ): Promise<Segment> {
    const name = this.nextName(level)
    const seg: Segment = { name, hourMs, level, events: 0, findings: 0, minMs: 0, maxMs: 0, bytes: 0, format: SEGMENT_FORMAT }
    const dir = join(this.dir, hourDir(hourMs))
    mkdirSync(dir, { recursive: true })
    const ev = this.eventsFile(seg)
    const fi = this.findingsFile(seg)
    const options = `(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE ${ROW_GROUP_ROWS})`
    if (known === undefined) {
      const stats = (
        await conn.runAndReadAll(`SELECT count(*)::BIGINT AS n, epoch_ms(min(ts)) AS lo, epoch_ms(max(ts)) AS hi FROM (${eventsSql})`)
      ).getRowObjects()[0]!
      known = { events: Number(stats.n), minMs: Number(stats.lo ?? hourMs), maxMs: Number(stats.hi ?? hourMs) }
    }
    Object.assign(seg, known)
    // Written in the order the rows come (a batch's arrival order; a merge's files in time order):
    // sorting costs about as much as compressing, and a sort of a merge holds all its documents.
    await conn.run(`COPY (${eventsSql}) TO ${quote(`${ev}.tmp`)} ${options}`)
    const written = await conn.run(`COPY (${findingsSql}) TO ${quote(`${fi}.tmp`)} ${options}`)
    seg.findings = Number(written.rowsChanged)
    for (const f of [ev, fi]) {
      if (this.durable) syncFile(`${f}.tmp`)
      renameSync(`${f}.tmp`, f)
      seg.bytes += statSync(f).size
    }
    if (this.durable) syncFile(dir)
    return seg
  }

  addSql(seg: Segment): string {
    return `INSERT INTO store_segments VALUES (${quote(seg.name)}, make_timestamp(${seg.hourMs * 1000}), ${seg.level}, ${seg.events},
      ${seg.findings}, make_timestamp(${seg.minMs * 1000}), make_timestamp(${seg.maxMs * 1000}), ${seg.bytes}, ${seg.format})`
  }

  /** After the commit that added `added` and removed `removed`. */
  committed(added: readonly Segment[], removed: readonly Segment[]): void {
    for (const s of added) this.segments.set(s.name, s)
    const now = Date.now()
    for (const s of removed) {
      this.segments.delete(s.name)
      this.garbage.push({ path: this.eventsFile(s), at: now }, { path: this.findingsFile(s), at: now })
    }
  }

  /** Removes at once the files of segments whose commit failed (no view ever named them). */
  discard(segments: readonly Segment[]): void {
    for (const s of segments) {
      this.segments.delete(s.name)
      for (const path of [this.eventsFile(s), this.findingsFile(s)]) rmSync(path, { force: true })
    }
  }

  /**
   * Removes files dropped at least GRACE_MS ago, except those dropped after `oldestReader` (when the
   * oldest reader connection still open was accepted) for up to HELD_MAX_MS; all of them when `all`
   * (the writer is closing, its readers are gone).
   */
  collect(all = false, oldestReader?: number): void {
    const now = Date.now()
    const cutoff = now - GRACE_MS
    const held = (at: number) => oldestReader !== undefined && oldestReader <= at && at > now - HELD_MAX_MS
    while (this.garbage.length > 0 && (all || (this.garbage[0]!.at <= cutoff && !held(this.garbage[0]!.at)))) {
      const { path } = this.garbage.shift()!
      try {
        unlinkSync(path)
      } catch {
        // Already gone.
      }
    }
  }

  /** The hours with at least COMPACT_FANIN segments of one level: what the next compaction merges. */
  compactable(): Segment[][] {
    const groups = new Map<string, Segment[]>()
    for (const s of this.present()) {
      if (s.level >= MAX_LEVEL) continue
      const key = `${s.hourMs}/${s.level}`
      const g = groups.get(key)
      if (g === undefined) groups.set(key, [s])
      else g.push(s)
    }
    return [...groups.values()].filter((g) => g.length >= COMPACT_FANIN)
  }

  /**
   * Writes the merge of `group` (one hour, one level) as one segment of the next level, one row per id.
   * The files are copied in the order of their time ranges, each in its own order, as a stream: a
   * DISTINCT ON or an ORDER BY over the whole rows holds every document of the group in DuckDB's memory
   * at once (16 segments of 5,000 events ran the store's 1 GB out of memory). Ids are checked on the id
   * column alone; a second copy of an id (writes dedupe, so only a planted or damaged segment has one)
   * is dropped by its file and row number, keeping the copy in the earliest file.
   */
  async merge(conn: DuckDBConnection, group: readonly Segment[]): Promise<Segment> {
    const ordered = [...group].sort((a, b) => a.minMs - b.minMs || a.name.localeCompare(b.name))
    // Every file is of the current format: the writer rewrites older ones when it opens the store, before any merge.
    const ev = ordered.filter((s) => s.events > 0).map((s) => this.eventsFile(s))
    const fi = ordered.filter((s) => s.findings > 0).map((s) => this.findingsFile(s))
    const level = Math.max(...group.map((s) => s.level)) + 1
    const eventsSql = ev.length === 0 ? `SELECT ${EVENT_EMPTY} LIMIT 0` : await onceEach(conn, ev, 'id', EVENT_SELECT, 'merge_drop_events')
    const findingsSql =
      fi.length === 0 ? `SELECT ${FINDING_EMPTY} LIMIT 0` : await onceEach(conn, fi, 'event_id, idx', FINDING_SELECT, 'merge_drop_findings')
    try {
      return await this.write(conn, level, group[0]!.hourMs, eventsSql, findingsSql)
    } finally {
      await conn.run('DROP TABLE IF EXISTS merge_drop_events')
      await conn.run('DROP TABLE IF EXISTS merge_drop_findings')
    }
  }

  /** The segments whose events file is of an older format (written before the added columns). */
  older(): Segment[] {
    return this.present().filter((s) => s.format < SEGMENT_FORMAT)
  }

  /** Writes `seg` again in the current format, same hour and level: the added columns read from its documents. */
  async rewrite(conn: DuckDBConnection, seg: Segment): Promise<Segment> {
    const eventsSql =
      seg.events === 0 ? `SELECT ${EVENT_EMPTY} LIMIT 0` : `SELECT ${eventSelect('json')} FROM read_parquet(${quote(this.eventsFile(seg))})`
    const findingsSql =
      seg.findings === 0
        ? `SELECT ${FINDING_EMPTY} LIMIT 0`
        : `SELECT ${FINDING_SELECT} FROM read_parquet(${quote(this.findingsFile(seg))})`
    return this.write(conn, seg.level, seg.hourMs, eventsSql, findingsSql, { events: seg.events, minMs: seg.minMs, maxMs: seg.maxMs })
  }

  /** Whole hours ending at or before `cutoffMs`: what retention drops. */
  expired(cutoffMs: number): Segment[] {
    return [...this.segments.values()].filter((s) => s.hourMs + HOUR_MS <= cutoffMs)
  }

  /** Removes the hour directories left empty. */
  tidy(): void {
    if (!existsSync(this.dir)) return
    for (const hour of readdirSync(this.dir)) {
      const d = join(this.dir, hour)
      try {
        if (statSync(d).isDirectory() && readdirSync(d).length === 0) rmSync(d, { recursive: true, force: true })
      } catch {
        // Raced with another removal.
      }
    }
  }
}

/**
 * A SELECT of `columns` over `files` in their order, one row per `key`: the rows of a key seen in an
 * earlier file or row are left out. The repeats are found on the key columns alone (into the temp
 * table `drop`, usually empty), so the documents stream through without being held.
 */
async function onceEach(conn: DuckDBConnection, files: readonly string[], key: string, columns: string, drop: string): Promise<string> {
  const list = `[${files.map(quote).join(', ')}]`
  await conn.run(`CREATE OR REPLACE TEMP TABLE ${drop} AS SELECT filename AS f, file_row_number AS r
    FROM read_parquet(${list}, filename = true, file_row_number = true)
    QUALIFY row_number() OVER (PARTITION BY ${key} ORDER BY list_position(${list}, filename), file_row_number) > 1`)
  const repeats = Number((await conn.runAndReadAll(`SELECT count(*) FROM ${drop}`)).getRows()[0]![0])
  if (repeats === 0) return `SELECT ${columns} FROM read_parquet(${list})`
  return `SELECT ${columns} FROM read_parquet(${list}, filename = true, file_row_number = true) p
    WHERE NOT EXISTS (SELECT 1 FROM ${drop} d WHERE d.f = p.filename AND d.r = p.file_row_number)`
}

/** Whether the catalog has the `format` column (a reader of a store no writer has opened since may lack it). */
async function hasFormat(conn: DuckDBConnection): Promise<boolean> {
  return (await conn.runAndReadAll(FORMAT_COLUMN_SQL)).getRows()[0]?.[0] === 1
}

/** 1 when the catalog has the `format` column, else 0. */
export const FORMAT_COLUMN_SQL = `SELECT count(*)::INTEGER AS n FROM information_schema.columns
  WHERE table_name = 'store_segments' AND column_name = 'format'`

/** Fills the temp table `seg_ids` with `ids` (the batch's, for storedIds). */
async function stageIds(conn: DuckDBConnection, ids: Iterable<string>): Promise<void> {
  await conn.run('CREATE OR REPLACE TEMP TABLE seg_ids (id VARCHAR)')
  await appendRows(conn, 'seg_ids', (appender) => {
    for (const id of ids) {
      appender.appendVarchar(id)
      appender.endRow()
    }
  })
}

export const hourOf = (ms: number): number => Math.floor(ms / HOUR_MS) * HOUR_MS

function syncFile(path: string): void {
  const fd = openSync(path, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}
