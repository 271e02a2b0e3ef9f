/**
 * The embedded store: one DuckDB file (default `.envoy-audit/audit.duckdb`) that is both a pipeline
 * Sink and the AuditStore the report queries. A batch is appended straight into the tables in one
 * transaction, and retried through staging tables and INSERT ... ON CONFLICT DO NOTHING when the
 * primary key refuses it (src/store/duckdb-append.ts): re-ingesting the same input (same deterministic
 * event ids) stores nothing twice, and only a replay pays for the second copy.
 */
import { loadConfigSection } from '../config/validate.js'
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { DuckDBInstance, JsonDuckDBValueConverter } from '@duckdb/node-api'
import type { DuckDBConnection, DuckDBVector } from '@duckdb/node-api'
import { z } from 'zod'
import { EnvoyAuditError } from '../errors.js'
import { SCHEMA_VERSION, compileEventSerializer } from '../schema/audit-event.js'
import { storedJson } from '../schema/stored-document.js'
import type { AuditEvent, Serializer } from '../schema/audit-event.js'
import type { Sink, SinkRejection, SinkWriteResult } from '../pipeline/component.js'
import type {
  AuditStore,
  CoverageDimension,
  FindingCodeRow,
  CoverageRow,
  EdgeQuery,
  EdgeRow,
  EgressRow,
  EventQuery,
  FindingCountRow,
  StoreSummary,
  TimeRange,
} from './store.js'
import {
  EDGE_FACTS,
  addColumnsSql,
  edgeFactsBackfillSql,
  flowsViewDdl,
  missingAddedColumns,
  readerEventsViewSql,
  schemaDdl,
  stagingDdl,
} from './duckdb-schema.js'
import { type ReaderClient, type ReaderServer, WriterGoneError, connectReader, serveReaders } from './duckdb-readers.js'
import { appendBatchCalls, appendDirect, appendStaged } from './duckdb-append.js'
import { type CompanionRows, appendRows, stageCompanions } from './duckdb-appender.js'
import { SEGMENT_ROWS_SQL, STAGE_DOCS_DDL, parseableDocument, segmentEventsSql, segmentFindingsSql } from './segment-rows.js'
import { STORE_LAYOUTS, SEGMENTS_DDL, SegmentCatalog, type Segment, type StoreLayout, hourOf, segmentsDirOf } from './duckdb-segments.js'
import { recordCut, type CutSigner } from '../integrity/retention-cuts.js'
import { catalogAnswers, segmentEventsAt, segmentSummary } from './segment-reads.js'
import { CALL_TABLES, CALLS_VERSION, callsBackfillSql, callsDdl } from './duckdb-calls.js'
import type { StoredRow } from './duckdb-append.js'
import {
  ISO,
  CLUSTER_KEY,
  NAMESPACE_KEY,
  REPORTER_KEY,
  findingCodesBySql,
  SOURCE_KEY,
  WORKLOAD_KEY,
  Where,
  coverageSql,
  EDGE_ORDER,
  edgeGroupsSql,
  edgesSql,
  egressSql,
  findingCountsSql,
} from './duckdb-aggregates.js'

export const DEFAULT_STORE_PATH = '.envoy-audit/audit.duckdb'

export type { CompanionRows, InsertColumn } from './duckdb-appender.js'

/** The checkpointThreshold of each layout when the config sets none. */
export const CHECKPOINT_THRESHOLD: Record<StoreLayout, string> = { table: '256MB', segments: '64MB' }

const SIZE = /^\d+(\.\d+)?\s*(KB|MB|GB|KiB|MiB|GiB)$/i

export const duckDbStoreConfigSchema = z
  .object({
    /** File path, or ':memory:' for tests. Relative paths resolve against the working directory. */
    path: z.string().min(1).default(DEFAULT_STORE_PATH),
    /** Upper bound for `events()` drill-down when the caller gives no limit. */
    defaultEventLimit: z.number().int().min(1).max(1_000_000).default(1000),
    /** Upper bound for `edges()` when the caller gives no limit. */
    defaultEdgeLimit: z.number().int().min(1).max(1_000_000).default(1000),
    /** DuckDB worker threads; 0 lets DuckDB pick (all cores). */
    threads: z.number().int().min(0).max(256).default(0),
    /** DuckDB's memory cap (its own default is 80% of RAM, too much for a CLI next to other work). */
    memoryLimit: z.string().regex(SIZE, 'must be a size like 512MB or 2GB').default('1GB'),
    /**
     * Write-ahead log size that triggers a checkpoint (DuckDB's default is 16MB). Unset: 256MB for the
     * table layout, whose checkpoints rewrite the growing row group and the primary-key index (at 16MB a
     * bulk ingest spent most of its time checkpointing); 64MB for the segment layout, whose tables
     * (ledger, edge_facts, call tables) keep every row committed since the last checkpoint in memory,
     * and a checkpoint of a log that large doubled the writer's memory (docs/performance.md, "Ingest
     * profile"). A larger log costs only a longer replay after a crash; every commit is durable in it.
     */
    checkpointThreshold: z.string().regex(SIZE, 'must be a size like 256MB or 1GB').optional(),
    /**
     * Match each batch's calls into the per-call tables `hunt` and `flows` read (src/store/duckdb-calls.ts):
     * fast hunts over large stores, paid at ingest, and the per-batch cost grows with the lines stored
     * within five minutes of the batch and the calls of its hours (docs/hunt.md, "Ingest cost"). false
     * drops the tables and hunts match calls at query time instead; true builds them (once, from the
     * stored events) if they are missing. Unset keeps what the store last used (a new store: true).
     */
    callTables: z.boolean().optional(),
    /**
     * Open for queries only (`sql`, `report`, `hunt`, `flows`, `policy`, `verify`): through the writer
     * when one holds the store (src/store/duckdb-readers.ts), else the file opened read-only. Writes fail.
     */
    readOnly: z.boolean().default(false),
    /** A writer serves readers on a Unix socket next to the store while it holds it open. */
    serveReaders: z.boolean().default(true),
    /** How long opening waits for the file's lock held by another process (a reader, or a writer stopping). */
    lockTimeoutMs: z.number().int().min(0).max(600_000).default(30_000),
    /**
     * Physical layout of events and findings (docs/store.md): `table` keeps them in DuckDB tables with a
     * primary key; `segments` in immutable zstd Parquet files per hour next to the store, behind the
     * same `events` / `findings` views. Unset keeps what the store has (a new store: segments, a
     * ':memory:' one table; ENVOY_AUDIT_STORE_LAYOUT overrides both); `segments` on a table store
     * migrates it once when a writer opens it.
     */
    layout: z.enum(STORE_LAYOUTS).optional(),
    /**
     * Segment layout only: AU-11 retention in days. Whole hours older than this are dropped (their
     * files, their edge_facts and per-call rows) when a writer opens the store and hourly while it
     * writes. 0 keeps everything.
     */
    retentionDays: z.number().int().min(0).max(36_500).default(0),
  })
  .strict()

export type DuckDbStoreConfig = z.input<typeof duckDbStoreConfigSchema>

/** Ingest counters since start(): `inserted` excludes events that were already stored. */
export interface DuckDbWriteStats {
  received: number
  inserted: number
  rejected: number
}

export interface SqlResult {
  columns: string[]
  /** DuckDB type of each column, e.g. BIGINT, VARCHAR[]. */
  types: string[]
  /** Values in DuckDB's JSON form: 64-bit integers and decimals come as strings, so nothing loses precision. */
  rows: Record<string, unknown>[]
}

export class DuckDbStore implements AuditStore, Sink {
  readonly kind = 'duckdb' as const
  readonly name = 'duckdb'
  readonly path: string
  readonly stats: DuckDbWriteStats = { received: 0, inserted: 0, rejected: 0 }
  private readonly config: Readonly<z.output<typeof duckDbStoreConfigSchema>>
  private readonly serialize: Serializer<AuditEvent>
  private instance: DuckDBInstance | undefined
  private conn: DuckDBConnection | undefined
  private starting: Promise<void> | undefined
  private closed = false
  private callTablesOn = true
  private layoutInUse: StoreLayout = 'table'
  /** store_meta `call_tables_version` as opened (a writer makes it CALLS_VERSION at open). */
  private callTablesVersion: string | undefined
  private catalog: SegmentCatalog | undefined
  /** The temporary segment directory of a ':memory:' store with the segment layout, removed at close. */
  private scratchDir: string | undefined
  private retentionCheckedMs = 0
  /** Signs retention cuts as they are recorded; set by the ledger, which holds the key. */
  cutSigner: CutSigner | undefined
  /** The edge aggregate snapshotEdges() made, while it is in use. */
  private edgeSnapshot: { key: string; generation: number } | undefined
  /** Counts the connections this store opened as a reader (see connectReaderOrFile). */
  private generation = 0
  /** Set when a reader queries through the writer holding the store. */
  private remote: ReaderClient | undefined
  private readers: ReaderServer | undefined

  /** The physical layout in use (after start()). */
  get layout(): StoreLayout {
    return this.layoutInUse
  }

  /** Whether batches fill the per-call tables (after start(): the config, else what the store last used). */
  get callTables(): boolean {
    return this.callTablesOn
  }

  /**
   * Whether the call tables can be read as they are: kept, and built by this version's match
   * (CALLS_VERSION). A writer rebuilds older ones when it opens the store; a reader before that cannot
   * read them (they lack columns) and matches calls at query time instead.
   */
  get callTablesCurrent(): boolean {
    return this.callTablesOn && this.callTablesVersion === CALLS_VERSION
  }
  /** The last staged batch held stored events: the next ones probably do too (see writeEvents). */
  private replaying = false
  /** One statement sequence at a time: the appender and the transaction share a connection. */
  private queue: Promise<unknown> = Promise.resolve()

  constructor(config: DuckDbStoreConfig = {}) {
    this.config = loadConfigSection(duckDbStoreConfigSchema, config, 'store')
    this.path = this.config.path === ':memory:' ? ':memory:' : resolve(this.config.path)
    this.serialize = compileEventSerializer()
  }

  start(): Promise<void> {
    this.starting ??= this.open()
    return this.starting
  }

  private async open(): Promise<void> {
    try {
      if (this.config.readOnly) return await this.openReader()
      if (this.path !== ':memory:') mkdirSync(dirname(this.path), { recursive: true })
      this.instance = await this.waitForLock(() => DuckDBInstance.create(this.path, this.options()))
      this.conn = await this.instance.connect()
      await this.migrate()
      if (this.path !== ':memory:' && this.config.serveReaders)
        this.readers = await serveReaders(
          this.instance,
          this.path,
          (m) => process.stderr.write(`envoy-audit: warning: ${m}\n`),
          this.layoutInUse === 'segments' ? [segmentsDirOf(this.path)] : [],
        )
    } catch (err) {
      if (err instanceof EnvoyAuditError) throw err
      throw new EnvoyAuditError('EA_IO', `cannot open the DuckDB store at ${this.path}: ${messageOf(err)}`, { cause: err })
    }
  }

  private options(extra: Record<string, string> = {}): Record<string, string> {
    // TIMESTAMP columns hold UTC wall time (no ICU needed); never fetch extensions over the network.
    const options: Record<string, string> = {
      autoinstall_known_extensions: 'false',
      memory_limit: this.config.memoryLimit,
      checkpoint_threshold: this.config.checkpointThreshold ?? CHECKPOINT_THRESHOLD.table,
      ...extra,
    }
    if (this.config.threads > 0) options.threads = String(this.config.threads)
    return options
  }

  /**
   * A reader: through the writer when one serves the store, else the file read-only (DuckDB refuses
   * every write, temporary tables aside). A writer starting or stopping meanwhile holds the lock for a
   * moment: asked again until lockTimeoutMs.
   */
  private async openReader(): Promise<void> {
    if (this.path === ':memory:') throw new EnvoyAuditError('EA_USAGE', 'a read-only store needs a file')
    await this.connectReaderOrFile()
    const meta = new Map(
      (
        await this.query(`SELECT key, value FROM store_meta WHERE key IN ('call_tables', 'call_tables_version')`).catch(() => ({
          rows: [],
        }))
      ).rows.map((r) => [String(r.key), String(r.value)]),
    )
    const tables = await this.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'`)
    const names = new Set(tables.rows.map((r) => String(r.table_name)))
    for (const needed of ['events', 'findings', 'edge_facts', 'store_meta'])
      if (!names.has(needed))
        throw new EnvoyAuditError(
          'EA_IO',
          `${this.path} lacks the ${needed} table (written by an older version, or not an envoy-audit store): ` +
            `upgrade it once with \`envoy-audit ingest --store ${this.path} /dev/null\``,
        )
    this.callTablesOn = names.has('calls') && meta.get('call_tables') !== 'off'
    this.callTablesVersion = meta.get('call_tables_version')
    // Through a writer too (segmentViewsHere sets it for a reader of the file).
    if (names.has('store_segments')) this.layoutInUse = 'segments'
  }

  private async connectReaderOrFile(): Promise<void> {
    // A new connection: what the old one held for this process (edge_snapshot) is gone.
    this.generation++
    const deadline = Date.now() + this.config.lockTimeoutMs
    for (;;) {
      this.remote = await connectReader(this.path)
      if (this.remote !== undefined) return
      try {
        // A query command reads each segment file about once: DuckDB's cache of file blocks would
        // only keep them in memory up to the limit (report at 1M events: 368-388 MB with it, 318-328 without).
        this.instance = await DuckDBInstance.create(
          this.path,
          this.options({ access_mode: 'READ_ONLY', enable_external_file_cache: 'false' }),
        )
        this.conn = await this.instance.connect()
        await this.segmentViewsHere()
        await this.addedColumnsHere()
        return
      } catch (err) {
        if (!isLockError(err) || Date.now() >= deadline) throw err
        await sleep(100)
      }
    }
  }

  /**
   * A reader of a segment store without its writer: the stored views name the segment files where the
   * writer last saw them, so a store copied or moved with its segments directory would read the old
   * files (or none). Temporary views over the catalog's files next to this path shadow them for this
   * connection (DuckDB resolves the temp schema first, also inside `flows`).
   */
  private async segmentViewsHere(): Promise<void> {
    const conn = this.conn!
    const found = await conn.runAndReadAll(
      `SELECT count(*)::INTEGER FROM information_schema.tables WHERE table_schema = 'main' AND table_name = 'store_segments'`,
    )
    if (found.getRows()[0]?.[0] !== 1) return
    const catalog = new SegmentCatalog(segmentsDirOf(this.path), false)
    await catalog.load(conn, false, (m) => process.stderr.write(`envoy-audit: warning: ${m}\n`))
    for (const ddl of catalog.viewsSql()) await conn.run(ddl.replace(/^CREATE OR REPLACE VIEW/, 'CREATE OR REPLACE TEMP VIEW'))
    this.layoutInUse = 'segments'
  }

  /**
   * A reader of a table store no writer has opened since the added columns (src/store/duckdb-schema.ts,
   * ADDED_EVENT_COLUMNS): a temporary `events` computing them from the documents, and the `flows` view
   * over it, for this connection. A segment store's views (segmentViewsHere) already read each file's format.
   */
  private async addedColumnsHere(): Promise<void> {
    const conn = this.conn!
    if (this.layoutInUse !== 'segments') {
      const missing = missingAddedColumns(await this.eventsTableColumns())
      if (missing.length === 0) return
      const database = String((await conn.runAndReadAll('SELECT current_database()')).getRows()[0]![0])
      await conn.run(readerEventsViewSql(missing, database))
    }
    await conn.run(flowsViewDdl().replace(/^CREATE OR REPLACE VIEW/, 'CREATE OR REPLACE TEMP VIEW'))
  }

  /** The columns of the `events` base table (none when `events` is a view or absent). */
  private async eventsTableColumns(): Promise<Set<string>> {
    const reader = await this.conn!.runAndReadAll(
      `SELECT c.column_name FROM information_schema.columns c JOIN information_schema.tables t USING (table_schema, table_name)
        WHERE c.table_schema = 'main' AND c.table_name = 'events' AND t.table_type = 'BASE TABLE'`,
    )
    return new Set(reader.getRows().map((r) => String(r[0])))
  }

  /** Creates what is missing: tables of a new store, and what later versions added to an older one. */
  private async migrate(): Promise<void> {
    const conn = this.conn!
    const hadFacts = await this.hasTable('edge_facts')
    const hadCalls = await this.hasTable('calls')
    const hasSegments = await this.hasTable('store_segments')
    const hasEvents = await this.hasTable('events')
    const wanted = this.config.layout
    if (hasSegments && wanted === 'table')
      throw new EnvoyAuditError('EA_USAGE', `${this.path} uses the segment layout: a segment store is not converted back to tables`)
    this.layoutInUse = hasSegments ? 'segments' : hasEvents ? (wanted ?? 'table') : (wanted ?? defaultLayout(this.path))
    const tableColumns = await this.eventsTableColumns()
    if (tableColumns.size > 0) {
      // A table store from before the added columns: filled once, before anything reads them (or moves them into segments).
      const statements = addColumnsSql(missingAddedColumns(tableColumns))
      if (statements.length > 0) {
        await conn.run('BEGIN TRANSACTION')
        for (const statement of statements) await conn.run(statement)
        await conn.run('COMMIT')
      }
    }
    if (this.layoutInUse === 'segments') await this.openSegments(hasEvents && !hasSegments)
    else for (const ddl of schemaDdl()) await conn.run(ddl)
    for (const ddl of stagingDdl()) await conn.run(ddl)
    // A store written before edge_facts existed: one pass over its events, once.
    if (!hadFacts) await conn.run(edgeFactsBackfillSql())
    const recorded = (await conn.runAndReadAll(`SELECT value FROM store_meta WHERE key = 'call_tables'`)).getRows()[0]?.[0]
    this.callTablesOn = this.config.callTables ?? (recorded === undefined ? true : recorded === 'on')
    if (!this.callTablesOn) {
      // Dropped, not left stale: a hunt reading tables that later batches did not fill would miss calls.
      for (const table of CALL_TABLES) await conn.run(`DROP TABLE IF EXISTS ${table}`)
    }
    const version = (await conn.runAndReadAll(`SELECT value FROM store_meta WHERE key = 'call_tables_version'`)).getRows()[0]?.[0]
    if (this.callTablesOn) {
      // An older match's tables may lack columns (CALLS_VERSION): made anew, then backfilled below.
      if (hadCalls && version !== CALLS_VERSION) for (const table of CALL_TABLES) await conn.run(`DROP TABLE IF EXISTS ${table}`)
      for (const ddl of callsDdl()) await conn.run(ddl)
    }
    if (this.callTablesOn && (!hadCalls || recorded === 'off' || version !== CALLS_VERSION)) {
      // Missing (a store written before them, or with them off) or built by an older match (CALLS_VERSION):
      // built from the stored events, in one transaction.
      await conn.run('BEGIN TRANSACTION')
      for (const statement of callsBackfillSql()) await conn.run(statement)
      await conn.run('COMMIT')
    }
    await conn.run(`INSERT INTO store_meta VALUES ('call_tables', $1) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, [
      this.callTablesOn ? 'on' : 'off',
    ])
    if (this.callTablesOn) {
      await conn.run(`INSERT INTO store_meta VALUES ('call_tables_version', $1) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, [
        CALLS_VERSION,
      ])
      this.callTablesVersion = CALLS_VERSION
    }
    // Recorded once, at creation: a later version reading an older file knows what it is looking at.
    await conn.run(`INSERT INTO store_meta VALUES ('event_schema_version', $1) ON CONFLICT DO NOTHING`, [String(SCHEMA_VERSION)])
    await conn.run(`INSERT INTO store_meta VALUES ('layout', $1) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, [
      this.layoutInUse,
    ])
    if (this.layoutInUse === 'segments') {
      if (this.config.checkpointThreshold === undefined) await conn.run(`SET checkpoint_threshold = '${CHECKPOINT_THRESHOLD.segments}'`)
      await this.applyRetention()
    }
  }

  /**
   * The segment layout at open: the catalog and the views over its files; a table store's events and
   * findings moved into segments first (one per hour), in the transaction that drops the tables.
   */
  private async openSegments(fromTables: boolean): Promise<void> {
    const conn = this.conn!
    let dir: string
    if (this.path === ':memory:') dir = this.scratchDir = mkdtempSync(join(tmpdir(), 'envoy-audit-segments-'))
    else dir = segmentsDirOf(this.path)
    const catalog = (this.catalog = new SegmentCatalog(dir, this.scratchDir === undefined))
    for (const ddl of SEGMENTS_DDL) await conn.run(ddl)
    await conn.run(`CREATE TABLE IF NOT EXISTS store_meta (key VARCHAR PRIMARY KEY, value VARCHAR)`)
    await catalog.load(conn, true, (m) => process.stderr.write(`envoy-audit: warning: ${m}\n`))
    if (fromTables) {
      const hours = (await conn.runAndReadAll(`SELECT DISTINCT epoch_ms(date_trunc('hour', ts)) FROM events ORDER BY 1`)).getRows()
      const added: Segment[] = []
      for (const [h] of hours) {
        const hourMs = Number(h)
        const range = `ts >= make_timestamp(${hourMs * 1000}) AND ts < make_timestamp(${(hourMs + 3_600_000) * 1000})`
        added.push(await catalog.write(conn, 9, hourMs, `SELECT * FROM events WHERE ${range}`, `SELECT * FROM findings WHERE ${range}`))
      }
      await conn.run('BEGIN TRANSACTION')
      await conn.run('DROP VIEW IF EXISTS flows')
      await conn.run('DROP TABLE findings')
      await conn.run('DROP TABLE events')
      for (const seg of added) await conn.run(catalog.addSql(seg))
      catalog.committed(added, [])
      for (const ddl of catalog.viewsSql()) await conn.run(ddl)
      await conn.run(flowsViewDdl())
      await conn.run('COMMIT')
      await catalog.fillIds(conn)
    } else {
      for (const ddl of catalog.viewsSql()) await conn.run(ddl)
      await conn.run(flowsViewDdl())
      await this.upgradeSegments(conn, catalog)
    }
    for (const ddl of schemaDdl().slice(3)) await conn.run(ddl)
  }

  /** Retries `open` while another process holds the file's lock (readers hold it shared for the length of a query command). */
  private async waitForLock<T>(open: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.config.lockTimeoutMs
    for (;;) {
      try {
        return await open()
      } catch (err) {
        if (!isLockError(err) || Date.now() >= deadline) throw err
        await sleep(100)
      }
    }
  }

  private async hasTable(name: string): Promise<boolean> {
    const reader = await this.conn!.runAndReadAll(
      `SELECT count(*)::INTEGER FROM information_schema.tables WHERE table_schema = 'main' AND table_name = $1`,
      [name],
    )
    return reader.getRows()[0]?.[0] === 1
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.queue.catch(() => undefined)
    await this.readers?.close()
    this.readers = undefined
    this.remote?.close()
    this.remote = undefined
    this.conn?.closeSync()
    this.instance?.closeSync()
    this.conn = undefined
    this.instance = undefined
    this.catalog?.collect(true)
    this.catalog?.tidy()
    if (this.scratchDir !== undefined) rmSync(this.scratchDir, { recursive: true, force: true })
  }

  write(events: AuditEvent[]): Promise<SinkWriteResult> {
    return this.writeEvents(events)
  }

  /**
   * Stores a batch. `companions` (the integrity ledger's rows for the events this store accepts, see
   * `unstorable`) are committed in the batch's own transaction, also when every event was stored
   * before (a replay) and nothing else is written.
   */
  writeEvents(events: AuditEvent[], companions: readonly CompanionRows[] = []): Promise<SinkWriteResult> {
    if (this.config.readOnly)
      return Promise.reject(new EnvoyAuditError('EA_USAGE', 'the store was opened read-only: only ingest and run write'))
    return this.exclusive(async (conn) => {
      const rejected: SinkRejection[] = []
      const accepted: StoredRow[] = []
      for (const event of events) {
        const problem = unstorable(event)
        if (problem !== undefined) rejected.push({ event, code: 'EA_SINK_MAPPING', message: problem })
        // The string the integrity stage made while hashing, when it ran: one serialization per event.
        else accepted.push({ event, json: storedJson(event, this.serialize) })
      }
      this.stats.received += events.length
      this.stats.rejected += rejected.length
      const staged = await stageCompanions(conn, companions).catch((err: unknown) => {
        throw new EnvoyAuditError('EA_SINK_UNAVAILABLE', `staging the ledger rows failed: ${messageOf(err)}`, { cause: err })
      })
      try {
        if (accepted.length === 0) await commitAlone(conn, staged.insert)
        else if (this.catalog !== undefined) {
          try {
            this.stats.inserted += await this.writeSegment(conn, this.catalog, accepted, staged.insert)
          } catch (err) {
            if (err instanceof EnvoyAuditError) throw err
            throw new EnvoyAuditError('EA_SINK_UNAVAILABLE', `writing a store segment failed: ${messageOf(err)}`, { cause: err })
          }
        } else if (!this.replaying && (await appendDirect(conn, accepted, this.callTablesOn, staged.insert))) {
          this.stats.inserted += accepted.length
        } else {
          let moved: number
          try {
            moved = await appendStaged(conn, accepted, this.callTablesOn, staged.insert)
          } catch (err) {
            throw new EnvoyAuditError('EA_SINK_UNAVAILABLE', `DuckDB insert failed: ${messageOf(err)}`, { cause: err })
          }
          this.stats.inserted += moved
          // A replay spans many batches: stay on the staged path until a batch is all new again.
          this.replaying = moved < accepted.length
        }
      } finally {
        for (const ddl of staged.drop) await conn.run(ddl).catch(() => undefined)
      }
      return { rejected }
    })
  }

  /**
   * One batch into the segment layout (src/store/duckdb-segments.ts): ids already stored, or repeated
   * in the batch, are left out; the rest is written as one segment per hour of event time and made
   * visible by the commit that also appends the batch's edge_facts rows and calls. Resolves the number
   * of events newly stored.
   */
  private async writeSegment(
    conn: DuckDBConnection,
    catalog: SegmentCatalog,
    accepted: StoredRow[],
    companionSql: readonly string[],
  ): Promise<number> {
    const ids = new Set<string>()
    let rows: StoredRow[] = []
    let minMs = Infinity
    let maxMs = -Infinity
    for (const row of accepted) {
      if (ids.has(row.event.event.id)) continue
      ids.add(row.event.event.id)
      rows.push(row)
      const ms = Date.parse(row.event['@timestamp'])
      if (ms < minMs) minMs = ms
      if (ms > maxMs) maxMs = ms
    }
    const candidates = [...ids].filter((id) => catalog.ids.mayHave(id))
    if (candidates.length > 0) {
      const stored = await catalog.storedIds(conn, candidates, minMs, maxMs)
      if (stored.size > 0) rows = rows.filter((r) => !stored.has(r.event.event.id))
    }
    if (rows.length === 0) {
      await commitAlone(conn, companionSql)
      return 0
    }
    const hours = new Map<number, { events: number; minMs: number; maxMs: number }>()
    for (const r of rows) {
      const ms = Date.parse(r.event['@timestamp'])
      const h = hours.get(hourOf(ms))
      if (h === undefined) hours.set(hourOf(ms), { events: 1, minMs: ms, maxMs: ms })
      else {
        h.events++
        if (ms < h.minMs) h.minMs = ms
        if (ms > h.maxMs) h.maxMs = ms
      }
    }
    const written: Segment[] = []
    try {
      await conn.run(STAGE_DOCS_DDL)
      await appendRows(conn, 'stage_docs', (appender) => {
        for (const row of rows) {
          appender.appendVarchar(row.json)
          const parse = parseableDocument(row.json)
          if (parse === undefined) appender.appendNull()
          else appender.appendVarchar(parse)
          appender.endRow()
        }
      })
      await conn.run(SEGMENT_ROWS_SQL)
      for (const [hourMs, known] of [...hours].sort((a, b) => a[0] - b[0])) {
        const within =
          hours.size === 1 ? 'true' : `ts >= make_timestamp(${hourMs * 1000}) AND ts < make_timestamp(${(hourMs + 3_600_000) * 1000})`
        written.push(await catalog.write(conn, 0, hourMs, segmentEventsSql(within), segmentFindingsSql(within), known))
      }
      await conn.run('BEGIN TRANSACTION')
      try {
        for (const seg of written) await conn.run(catalog.addSql(seg))
        catalog.committed(written, [])
        for (const ddl of catalog.viewsSql()) await conn.run(ddl)
        await conn.run(SEGMENT_EDGE_FACTS_SQL)
        if (this.callTablesOn) await appendBatchCalls(conn, rows, 'seg_rows')
        for (const sql of companionSql) await conn.run(sql)
        await conn.run('COMMIT')
      } catch (err) {
        await conn.run('ROLLBACK').catch(() => undefined)
        // Never committed, so no query read them; the files other batches replaced keep their grace.
        catalog.discard(written)
        throw err
      }
    } finally {
      // Dropped, not kept: they would hold the last batch's documents in memory.
      await conn.run('DROP TABLE IF EXISTS stage_docs')
      await conn.run('DROP TABLE IF EXISTS seg_rows')
    }
    for (const row of rows) catalog.ids.add(row.event.event.id)
    if (catalog.ids.full) await catalog.fillIds(conn)
    await this.compact(conn, catalog)
    if (Date.now() - this.retentionCheckedMs >= 60_000) await this.applyRetention()
    return rows.length
  }

  /** Merges every (hour, level) with enough segments into one of the next level, until none has. */
  private async compact(conn: DuckDBConnection, catalog: SegmentCatalog): Promise<void> {
    for (let group = catalog.compactable()[0]; group !== undefined; group = catalog.compactable()[0])
      await replaceSegments(conn, catalog, group, await catalog.merge(conn, group))
    catalog.collect(false, this.readers?.oldestSession())
  }

  /**
   * Segments written before the added columns (src/store/duckdb-segments.ts, SEGMENT_FORMAT), rewritten
   * once by the first writer that opens the store: until then every query that reads a cluster parses
   * the documents of those segments (a report on a 1M-event store spent most of its time there).
   * One segment per transaction, so a writer stopped midway leaves a store that reads correctly.
   */
  private async upgradeSegments(conn: DuckDBConnection, catalog: SegmentCatalog): Promise<void> {
    const older = catalog.older()
    if (older.length === 0) return
    const events = older.reduce((n, s) => n + s.events, 0)
    process.stderr.write(
      `envoy-audit: rewriting ${older.length} segment(s) (${events} events) of ${this.path} with the cluster columns, once\n`,
    )
    for (const seg of older) await replaceSegments(conn, catalog, [seg], await catalog.rewrite(conn, seg))
    catalog.collect(false, this.readers?.oldestSession())
  }

  /** AU-11 retention (retentionDays): whole hours past it leave the catalog, then their files go. */
  private async applyRetention(): Promise<void> {
    this.retentionCheckedMs = Date.now()
    const catalog = this.catalog
    if (catalog === undefined || this.config.retentionDays === 0) return
    const cutoffMs = hourOf(Date.now() - this.config.retentionDays * 86_400_000)
    const expired = catalog.expired(cutoffMs)
    if (expired.length === 0) return
    const conn = this.conn!
    const cutoff = `make_timestamp(${cutoffMs * 1000})`
    await conn.run('BEGIN TRANSACTION')
    try {
      await conn.run(`DELETE FROM store_segments WHERE name IN (${expired.map((s) => `'${s.name}'`).join(', ')})`)
      await conn.run(`DELETE FROM edge_facts WHERE hour < ${cutoff}`)
      if (this.callTablesOn) {
        await conn.run(`DELETE FROM call_links WHERE s_ts < ${cutoff}`)
        await conn.run(`DELETE FROM calls WHERE ts < ${cutoff}`)
        await conn.run(`DELETE FROM call_groups WHERE hour < ${cutoff}`)
        await conn.run(`DELETE FROM call_link_groups WHERE hour < ${cutoff}`)
      }
      // The ledger records the cut in the same transaction: verify then tells retained out from deleted.
      if (await this.hasTable('integrity_ledger')) {
        const files = expired.filter((s) => s.events > 0 && !catalog.missing.has(s.name)).map((s) => catalog.eventsFile(s))
        await recordCut(conn, new Date(cutoffMs).toISOString(), files, this.cutSigner)
      }
      catalog.committed([], expired)
      for (const ddl of catalog.viewsSql()) await conn.run(ddl)
      await conn.run(`INSERT INTO store_meta VALUES ('retained_from', $1) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, [
        new Date(cutoffMs).toISOString(),
      ])
      await conn.run('COMMIT')
    } catch (err) {
      await conn.run('ROLLBACK').catch(() => undefined)
      catalog.committed(expired, [])
      throw err
    }
    catalog.collect(false, this.readers?.oldestSession())
  }

  summary(range?: TimeRange): Promise<StoreSummary> {
    if (this.layoutInUse === 'segments' && catalogAnswers(range))
      return segmentSummary((text, values) => this.rows(text, values), this.catalog?.dir ?? segmentsDirOf(this.path), range)
    const where = new Where().range(range)
    return this.rows(
      `SELECT count(*)::INTEGER AS events, ${ISO('min(ts)')} AS first, ${ISO('max(ts)')} AS last
      FROM events ${where.sql()}`,
      where.values,
    ).then(([row]) => {
      const out: StoreSummary = { events: Number(row?.events ?? 0) }
      if (row?.first != null) out.firstSeen = String(row.first)
      if (row?.last != null) out.lastSeen = String(row.last)
      return out
    })
  }

  /**
   * A relation with the `events` columns that holds every line stamped at one of `times` (ISO, whole
   * milliseconds): on a segment store only the segments whose time range holds one of them, so a
   * lookup by time reads a few files, not every one.
   */
  async eventsAt(times: readonly string[]): Promise<string> {
    if (this.layoutInUse !== 'segments' || times.some((t) => !catalogAnswers({ since: t }))) return 'events'
    return segmentEventsAt((text, values) => this.rows(text, values), this.catalog?.dir ?? segmentsDirOf(this.path), times)
  }

  async coverage(dimension: CoverageDimension, range?: TimeRange): Promise<CoverageRow[]> {
    const key = coverageKeySql(dimension)
    const where = new Where().range(range)
    const rows = await this.rows(coverageSql(key, where), where.values)
    return rows.map((r) => {
      const missing: Record<string, number> = Object.create(null) as Record<string, number>
      for (const m of (r.missing as { element: string; n: number }[] | null) ?? []) missing[m.element] = Number(m.n)
      return {
        key: String(r.key),
        events: Number(r.events),
        inbound: Number(r.inbound),
        inboundMtls: Number(r.inbound_mtls),
        au3Complete: Number(r.au3_complete),
        missing,
      }
    })
  }

  async findingCodesBy(dimension: CoverageDimension, range?: TimeRange): Promise<FindingCodeRow[]> {
    const where = new Where().range(range)
    const rows = await this.rows(findingCodesBySql(coverageKeySql(dimension), where), where.values)
    return rows.map((r) => ({ key: String(r.key), code: String(r.code), count: Number(r.count) }))
  }

  async findingCounts(range?: TimeRange): Promise<FindingCountRow[]> {
    const where = new Where().range(range, 'findings')
    const rows = await this.rows(findingCountsSql(where), where.values)
    return rows.map((r) => ({ code: String(r.code), severity: String(r.severity), control: String(r.control), count: Number(r.count) }))
  }

  /**
   * The edges of a window aggregated once into a temporary table of this connection (`edge_snapshot`),
   * for the report's dozen edge questions: each would otherwise rebuild the flows (two self-joins of the
   * events) and the address maps, seconds each at a million events. The aggregate is every edge with
   * its cluster lists; edges() filters, orders and limits it exactly as edgesSql does the flows.
   */
  async snapshotEdges(range: TimeRange & Pick<EdgeQuery, 'inferFromAddresses'> = {}): Promise<{ release(): Promise<void> }> {
    const where = new Where().range(range)
    const key = snapshotKey(range)
    await this.exclusive(() =>
      this.query(
        `CREATE OR REPLACE TEMP TABLE edge_snapshot AS ${edgeGroupsSql(where, range.inferFromAddresses === true, true)}`,
        where.values,
      ),
    )
    const snapshot = { key, generation: this.generation }
    this.edgeSnapshot = snapshot
    return {
      release: async () => {
        if (this.edgeSnapshot !== snapshot) return
        this.edgeSnapshot = undefined
        if (!this.closed && snapshot.generation === this.generation)
          await this.sql('DROP TABLE IF EXISTS edge_snapshot').catch(() => undefined)
      },
    }
  }

  async edges(query: EdgeQuery = {}): Promise<EdgeRow[]> {
    const snapshot = this.edgeSnapshot
    if (
      snapshot !== undefined &&
      snapshot.generation === this.generation &&
      query.namespace === undefined &&
      snapshotKey(query) === snapshot.key
    ) {
      // Every condition below is on a group's key or aggregates: the same edges edgesSql keeps, in its order.
      const where = new Where()
      if (query.sourceContains !== undefined) where.add(`contains(lower(source), lower(${where.bind(query.sourceContains)}))`)
      if (query.finding !== undefined) where.add(`list_contains(findings, ${where.bind(query.finding)})`)
      if (query.deniedOnly === true) where.add('denied > 0')
      const limit = where.bind(query.limit ?? this.config.defaultEdgeLimit)
      const columns = query.clusters === true ? '*' : '* EXCLUDE (source_clusters, destination_clusters)'
      return (await this.rows(`SELECT ${columns} FROM edge_snapshot ${where.sql()} ${EDGE_ORDER} LIMIT ${limit}`, where.values)).map(
        edgeRow,
      )
    }
    const where = new Where().range(query)
    if (query.namespace !== undefined) {
      const ns = where.bind(query.namespace)
      where.add(`(src_namespace = ${ns} OR dst_namespace = ${ns} OR k8s_namespace = ${ns})`)
    }
    if (query.sourceContains !== undefined) {
      where.add(`contains(lower(${SOURCE_KEY}), lower(${where.bind(query.sourceContains)}))`)
    }
    const having: string[] = []
    if (query.finding !== undefined) having.push(`list_contains(findings, ${where.bind(query.finding)})`)
    if (query.deniedOnly === true) having.push('count(*) FILTER (WHERE is_denied) > 0')
    const limit = where.bind(query.limit ?? this.config.defaultEdgeLimit)
    const rows = await this.rows(edgesSql(where, having, limit, query.inferFromAddresses === true, query.clusters === true), where.values)
    return rows.map(edgeRow)
  }

  async egress(range?: TimeRange): Promise<EgressRow[]> {
    const where = new Where().range(range)
    const rows = await this.rows(egressSql(where), where.values)
    return rows.map((r) => ({
      destination: String(r.destination),
      cluster: String(r.cluster),
      count: Number(r.count),
      sources: (r.sources as string[] | null) ?? [],
      firstSeen: String(r.first_seen),
      lastSeen: String(r.last_seen),
    }))
  }

  async events(query: EventQuery = {}): Promise<AuditEvent[]> {
    const where = new Where().range(query)
    if (query.finding !== undefined) where.add(`list_contains(finding_codes, ${where.bind(query.finding)})`)
    if (query.namespace !== undefined) {
      const ns = where.bind(query.namespace)
      where.add(`(src_namespace = ${ns} OR dst_namespace = ${ns} OR k8s_namespace = ${ns})`)
    }
    const limit = where.bind(query.limit ?? this.config.defaultEventLimit)
    const rows = await this.rows(`SELECT event_json FROM events ${where.sql()} ORDER BY ts DESC, id LIMIT ${limit}`, where.values)
    return rows.map((r) => JSON.parse(String(r.event_json)) as AuditEvent)
  }

  /** DuckDB's message; when it ran out of memory, which limit it met and how to raise it. */
  private queryError(err: unknown): string {
    const message = messageOf(err)
    if (!message.includes('Out of Memory')) return message
    const how = this.config.readOnly ? '--memory-limit' : 'store.memoryLimit in the config'
    return `${message} (the store's DuckDB memory limit is ${this.config.memoryLimit}: raise it with ${how})`
  }

  /** Any SQL, for `envoy-audit sql` and for tests: rows as JSON-compatible values. */
  sql(text: string, values: (string | number)[] = []): Promise<SqlResult> {
    return this.exclusive(() => this.query(text, values))
  }

  /** One query on the open store (the caller holds the queue, or is opening it). */
  private async query(text: string, values: (string | number)[] = []): Promise<SqlResult> {
    if (this.remote !== undefined) {
      try {
        return await this.remote.sql(text, values)
      } catch (err) {
        if (!(err instanceof WriterGoneError)) throw err
        // The writer closed the store (ingest finished, run stopped): the file is free, or another writer serves it.
        this.remote.close()
        this.remote = undefined
        await this.connectReaderOrFile()
        return this.query(text, values)
      }
    }
    try {
      const reader = await this.conn!.runAndReadAll(text, values)
      return {
        columns: reader.columnNames(),
        types: reader.columnTypes().map((t) => t.toString()),
        rows: reader.getRowObjectsJson() as Record<string, unknown>[],
      }
    } catch (err) {
      throw new EnvoyAuditError('EA_STORE_QUERY', this.queryError(err), { cause: err })
    }
  }

  /**
   * One query's rows in chunks (DuckDB's vectors, 2,048 rows), read as they are consumed: what
   * `verify` reads a whole store with, in bounded memory. Other calls on this store wait until the
   * iteration ends; a single statement only.
   */
  async *stream(text: string, values: (string | number)[] = []): AsyncGenerator<Record<string, unknown>[]> {
    let release!: () => void
    const held = new Promise<void>((resolve) => (release = resolve))
    const before = this.queue
    this.queue = before.then(() => held)
    await before.catch(() => undefined)
    try {
      if (this.closed) throw new EnvoyAuditError('EA_STORE_QUERY', 'the DuckDB store is closed')
      await this.start()
      if (this.remote !== undefined) {
        yield* this.remote.stream(text, values)
        return
      }
      let result
      try {
        result = await this.conn!.stream(text, values)
      } catch (err) {
        throw new EnvoyAuditError('EA_STORE_QUERY', this.queryError(err), { cause: err })
      }
      for await (const rows of result.yieldRowObjectJson()) yield rows as Record<string, unknown>[]
    } finally {
      release()
    }
  }

  /**
   * `stream`, each chunk left in DuckDB's vectors: a row is converted (to DuckDB's JSON form, in the
   * SELECT's column order) only when `row(i)` asks for it, so a caller that checks one row at a time
   * holds one row's values, not 2,048 rows' (through a running writer, the chunk arrives converted).
   * A chunk's rows must be read before the next chunk is asked for: its memory is released then.
   */
  async *streamRows(text: string): AsyncGenerator<RowChunk> {
    await this.start()
    if (this.remote !== undefined) {
      for await (const rows of this.stream(text)) yield { rowCount: rows.length, row: (i) => Object.values(rows[i]!) }
      return
    }
    let release!: () => void
    const held = new Promise<void>((resolve) => (release = resolve))
    const before = this.queue
    this.queue = before.then(() => held)
    await before.catch(() => undefined)
    try {
      if (this.closed) throw new EnvoyAuditError('EA_STORE_QUERY', 'the DuckDB store is closed')
      let result
      try {
        result = await this.conn!.stream(text)
      } catch (err) {
        throw new EnvoyAuditError('EA_STORE_QUERY', this.queryError(err), { cause: err })
      }
      for (let chunk = await result.fetchChunk(); chunk !== null && chunk.rowCount > 0; chunk = await result.fetchChunk()) {
        const c = chunk
        const vectors = Array.from({ length: c.columnCount }, (_, at) => c.getColumnVector(at))
        yield { rowCount: c.rowCount, row: (i) => rowValues(vectors, i) }
        // The caller asked for the next chunk, so it is done with this one: its strings' memory
        // (native, unseen by V8) goes back now rather than whenever the collector finalizes the chunk.
        c.reset()
      }
    } finally {
      release()
    }
  }

  private async rows(text: string, values: (string | number)[]): Promise<Record<string, unknown>[]> {
    return (await this.sql(text, values)).rows
  }

  private exclusive<T>(fn: (conn: DuckDBConnection) => Promise<T>): Promise<T> {
    const run = this.queue.then(async () => {
      if (this.closed) throw new EnvoyAuditError('EA_STORE_QUERY', 'the DuckDB store is closed')
      await this.start()
      return fn(this.conn!)
    })
    this.queue = run.catch(() => undefined)
    return run
  }
}

/**
 * Row `i` of a chunk in DuckDB's JSON form, read through a one-row slice of each column. A vector
 * caches every string and list it has handed out, for as long as the chunk lives, so converting the
 * rows of a chunk through the chunk itself keeps all of them (2,048 stored documents) alive until
 * the chunk is collected; a slice is garbage as soon as its row is read.
 */
function rowValues(vectors: readonly DuckDBVector[], i: number): unknown[] {
  const out = new Array<unknown>(vectors.length)
  for (let c = 0; c < vectors.length; c++) {
    const v = vectors[c]!
    out[c] = JsonDuckDBValueConverter(v.slice(i, 1).getItem(0), v.type, JsonDuckDBValueConverter)
  }
  return out
}

/** One chunk of `streamRows`: its rows converted one at a time, as asked. */
export interface RowChunk {
  readonly rowCount: number
  row(i: number): unknown[]
}

/**
 * Opens the store for a command. Query commands pass mustExist: a mistyped --store should say so,
 * not answer every query with zero rows from a freshly created empty file.
 */
export async function openDuckDbStore(
  path: string = DEFAULT_STORE_PATH,
  options: {
    mustExist?: boolean
    callTables?: boolean
    readOnly?: boolean
    layout?: StoreLayout
    retentionDays?: number
    memoryLimit?: string
  } = {},
): Promise<DuckDbStore> {
  if (options.mustExist === true && path !== ':memory:') {
    if (!existsSync(path))
      throw new EnvoyAuditError('EA_IO', `no store at ${path}: run \`envoy-audit ingest\` or \`envoy-audit demo\` first, or pass --store`)
    // Given another file, DuckDB fails later with an unrelated message (an NDJSON export: a binder
    // error about a table alias): check the file header first.
    if (!isDuckDbFile(path))
      throw new EnvoyAuditError(
        'EA_IO',
        `${path} is not an envoy-audit store (not a DuckDB database file): pass the store written by \`envoy-audit ingest\` or \`demo\``,
      )
  }
  const store = new DuckDbStore({
    path,
    ...(options.callTables === undefined ? {} : { callTables: options.callTables }),
    ...(options.readOnly === true ? { readOnly: true } : {}),
    ...(options.layout === undefined ? {} : { layout: options.layout }),
    ...(options.retentionDays === undefined ? {} : { retentionDays: options.retentionDays }),
    ...(options.memoryLimit === undefined ? {} : { memoryLimit: options.memoryLimit }),
  })
  await store.start()
  return store
}

/**
 * DuckDB's memory cap for a reader that opens the file itself (`--memory-limit` of the query
 * commands). Past it DuckDB spills joins and aggregates to disk: `report` on 10M events needs about
 * 1.3 GB at this default, and half that in twice the time under 256MB (docs/store.md, "Readers' memory").
 * A reader served by the writer runs under the writer's limit.
 */
export const READER_MEMORY_LIMIT = '1GB'

/** Opens an existing store for queries only: `sql`, `report`, `hunt`, `flows`, `policy` and `verify` (see readOnly). */
export function openStoreForReading(path: string = DEFAULT_STORE_PATH, options: { memoryLimit?: string } = {}): Promise<DuckDbStore> {
  return openDuckDbStore(path, { mustExist: true, readOnly: true, memoryLimit: options.memoryLimit ?? READER_MEMORY_LIMIT })
}

/** A segment batch's edge_facts rows, grouped as edgeFactsBackfillSql groups the stored events. */
const SEGMENT_EDGE_FACTS_SQL = `INSERT INTO edge_facts
  SELECT date_trunc('hour', ts), coalesce(reporter = 'destination', false), ${EDGE_FACTS.join(', ')}, min(ts)
  FROM seg_rows GROUP BY ALL`

/**
 * A new store's layout: segments, unless ENVOY_AUDIT_STORE_LAYOUT names another (how the tests run
 * both). A ':memory:' store (tests, scratch) keeps the table layout unless asked: segments would be
 * files in a temporary directory, and each batch's files cost more than its rows in memory.
 */
function defaultLayout(path: string): StoreLayout {
  const env = process.env.ENVOY_AUDIT_STORE_LAYOUT
  if (env === 'table' || env === 'segments') return env
  return path === ':memory:' ? 'table' : 'segments'
}

/** DuckDB's message when another process holds the file (https://duckdb.org/docs/stable/connect/concurrency). */
function isLockError(err: unknown): boolean {
  return /Could not set lock on file/i.test(messageOf(err))
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** DuckDB's file header: an 8-byte checksum, then the magic bytes DUCK. */
function isDuckDbFile(path: string): boolean {
  const head = Buffer.alloc(12)
  let fd: number | undefined
  try {
    fd = openSync(path, 'r')
    return readSync(fd, head, 0, 12, 0) === 12 && head.toString('latin1', 8, 12) === 'DUCK'
  } catch {
    return false
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
}

function coverageKeySql(dimension: CoverageDimension): string {
  return { namespace: NAMESPACE_KEY, workload: WORKLOAD_KEY, reporter: REPORTER_KEY, cluster: CLUSTER_KEY }[dimension]
}

function edgeRow(r: Record<string, unknown>): EdgeRow {
  const statusClasses: Record<string, number> = Object.create(null) as Record<string, number>
  for (const entry of (r.status_classes as { key: string; value: number }[] | null) ?? []) {
    statusClasses[entry.key] = Number(entry.value)
  }
  const row: EdgeRow = {
    source: String(r.source),
    sourceKind: r.source_kind as EdgeRow['sourceKind'],
    destination: String(r.destination),
    count: Number(r.count),
    firstSeen: String(r.first_seen),
    lastSeen: String(r.last_seen),
    methods: (r.methods as string[] | null) ?? [],
    statusClasses,
    mtls: Number(r.mtls),
    denied: Number(r.denied),
    findings: (r.findings as string[] | null) ?? [],
  }
  if (r.destination_spiffe_id != null) row.destinationSpiffeId = String(r.destination_spiffe_id)
  if (r.destination_namespace != null) row.destinationNamespace = String(r.destination_namespace)
  if (r.source_clusters !== undefined) row.sourceClusters = (r.source_clusters as string[] | null) ?? []
  if (r.destination_clusters !== undefined) row.destinationClusters = (r.destination_clusters as string[] | null) ?? []
  return row
}

/** Why an event cannot be stored, or undefined: only the key and the time are hard requirements. */
export function unstorable(event: AuditEvent): string | undefined {
  if (typeof event.event?.id !== 'string' || event.event.id === '') return 'event.id is missing'
  if (!Number.isFinite(Date.parse(event['@timestamp']))) return `@timestamp is not a date: ${String(event['@timestamp']).slice(0, 40)}`
  return undefined
}

/** Commits the companion rows of a batch that stores no event (all refused, or all stored before). */
async function commitAlone(conn: DuckDBConnection, statements: readonly string[]): Promise<void> {
  if (statements.length === 0) return
  await conn.run('BEGIN TRANSACTION')
  try {
    for (const sql of statements) await conn.run(sql)
    await conn.run('COMMIT')
  } catch (err) {
    await conn.run('ROLLBACK').catch(() => undefined)
    throw new EnvoyAuditError('EA_SINK_UNAVAILABLE', `integrity ledger write failed: ${messageOf(err)}`, { cause: err })
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/** Replaces `removed` by `added` in the catalog and the views, in one transaction (compaction, upgrades). */
async function replaceSegments(
  conn: DuckDBConnection,
  catalog: SegmentCatalog,
  removed: readonly Segment[],
  added: Segment,
): Promise<void> {
  await conn.run('BEGIN TRANSACTION')
  try {
    await conn.run(`DELETE FROM store_segments WHERE name IN (${removed.map((s) => `'${s.name}'`).join(', ')})`)
    await conn.run(catalog.addSql(added))
    catalog.committed([added], removed)
    for (const ddl of catalog.viewsSql()) await conn.run(ddl)
    await conn.run('COMMIT')
  } catch (err) {
    await conn.run('ROLLBACK').catch(() => undefined)
    catalog.committed(removed, [added])
    throw err
  }
}

/** What makes two edge questions ask about the same flows: the window, its clusters, and the address inference. */
function snapshotKey(q: TimeRange & Pick<EdgeQuery, 'inferFromAddresses'>): string {
  return JSON.stringify([q.since ?? null, q.until ?? null, [...new Set(q.inClusters ?? [])].sort(), q.inferFromAddresses === true])
}
