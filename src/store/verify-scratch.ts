/**
 * A scratch DuckDB database for `verify --store`, in a directory of its own under the system's
 * temporary directory (TMPDIR), removed on close. verify reads each table of the store once, in the
 * order it is stored (a scan holds one chunk at a time), and keeps only narrow digests here: ids,
 * hashes, the first differing column, findings rows as short normalised strings. Matching them by
 * event id is DuckDB's job, on narrow rows it can sort and join within a small memory limit, spilling
 * to this directory beyond it; the stored documents never go through a sort or a join, which is what
 * made DuckDB's memory grow with the store (its sort of wide strings ran past its memory limit).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DuckDBInstance, type DuckDBAppender, type DuckDBConnection } from '@duckdb/node-api'
import { EnvoyAuditError } from '../errors.js'

/** A column of a scratch table: what its values are appended as. */
export type ScratchType = 'VARCHAR' | 'BIGINT' | 'INTEGER' | 'BOOLEAN'
export type ScratchValue = string | number | boolean | null

/** Buffered rows of one table: appended in batches, so a row costs no round trip. */
export interface ScratchTable {
  add(row: readonly ScratchValue[]): void
  /** Appends what is buffered; call before reading the table. */
  flush(): void
}

/**
 * The scratch database's cap while it sorts and joins. The ledger is sorted a range of positions at
 * a time (ledger-order.ts) and the matching joins spill, so it does not grow with the store.
 */
export const DEFAULT_SCRATCH_MEMORY = '48MB'

export interface VerifyScratchOptions {
  /** DuckDB's memory cap for the scratch database while it sorts and joins (it spills beyond). */
  memoryLimit?: string
  /** Parent of the scratch directory (default: the system's temporary directory). */
  parent?: string
}

/**
 * DuckDB's allocator keeps what a task freed for reuse up to a threshold (128 MiB by default), and
 * appends buffer row groups up to their own limit: both above verify's memory limits, so the
 * resident memory would keep rising past the limit. Low thresholds give the memory back after each
 * task; verify's tasks are long scans, so the cost is small.
 */
export const LOW_MEMORY_ALLOCATOR = {
  allocator_flush_threshold: '8MB',
  allocator_bulk_deallocation_flush_threshold: '8MB',
  write_buffer_row_group_memory_limit: '8MB',
} as const

/**
 * The scratch database's cap while verify only appends to it (scanning the store). Appends need the
 * row groups being written and nothing else; what DuckDB caches of the written blocks up to the
 * query limit is never read during a scan. DuckDB writes an appended row group out once it passes
 * write_buffer_row_group_memory_limit (LOW_MEMORY_ALLOCATOR), so two tables filled at once fit; at
 * 8 MB they did not.
 */
export const APPEND_MEMORY_LIMIT = '16MB'

export class VerifyScratch {
  private constructor(
    readonly dir: string,
    private readonly instance: DuckDBInstance,
    private readonly conn: DuckDBConnection,
    private readonly queryLimit: string,
  ) {}

  /**
   * `append`: only appends follow (APPEND_MEMORY_LIMIT, or the query limit if that is lower);
   * `query`: sorts and joins (the configured limit). Lowering the limit also evicts what is cached.
   */
  async phase(which: 'append' | 'query'): Promise<void> {
    const limit = which === 'query' || bytesOf(this.queryLimit) <= bytesOf(APPEND_MEMORY_LIMIT) ? this.queryLimit : APPEND_MEMORY_LIMIT
    await this.conn.run(`SET memory_limit = '${limit}'`)
  }

  static async open(options: VerifyScratchOptions = {}): Promise<VerifyScratch> {
    const dir = mkdtempSync(join(options.parent ?? tmpdir(), 'envoy-audit-verify-'))
    try {
      // One thread: every thread of a sort or join holds its own buffers, and verify's own work is single-threaded anyway.
      const limit = options.memoryLimit ?? DEFAULT_SCRATCH_MEMORY
      const instance = await DuckDBInstance.create(join(dir, 'scratch.duckdb'), {
        memory_limit: limit,
        threads: '1',
        temp_directory: join(dir, 'spill'),
        preserve_insertion_order: 'false',
        autoinstall_known_extensions: 'false',
        ...LOW_MEMORY_ALLOCATOR,
      })
      return new VerifyScratch(dir, instance, await instance.connect(), limit)
    } catch (err) {
      rmSync(dir, { recursive: true, force: true })
      throw new EnvoyAuditError(
        'EA_IO',
        `verify: cannot create its scratch database in ${dir}: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      )
    }
  }

  async run(sql: string): Promise<void> {
    await this.conn.run(sql)
  }

  /** A small query's rows (counts), in DuckDB's JSON form. */
  async all(sql: string): Promise<Record<string, unknown>[]> {
    return (await this.conn.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[]
  }

  /** A new table with these columns, filled through `add`. */
  async table(name: string, columns: readonly [string, ScratchType][]): Promise<ScratchTable> {
    await this.conn.run(`CREATE TABLE ${name} (${columns.map(([c, t]) => `${c} ${t}`).join(', ')})`)
    const appender = await this.conn.createAppender(name)
    const types = columns.map(([, t]) => t)
    let pending = 0
    return {
      add(row) {
        for (let i = 0; i < types.length; i++) append(appender, types[i]!, row[i] ?? null)
        appender.endRow()
        if (++pending >= 10_000) {
          appender.flushSync()
          pending = 0
        }
      },
      flush() {
        appender.flushSync()
        pending = 0
      },
    }
  }

  /** A query's rows, a chunk (up to 2,048 rows) at a time, in DuckDB's JSON form. */
  async *stream(sql: string): AsyncGenerator<Record<string, unknown>[]> {
    const result = await this.conn.stream(sql)
    for await (const rows of result.yieldRowObjectJson()) yield rows as Record<string, unknown>[]
  }

  /** Closes the database and removes the directory, whatever happened. */
  close(): void {
    try {
      this.conn.closeSync()
      this.instance.closeSync()
    } finally {
      rmSync(this.dir, { recursive: true, force: true })
    }
  }
}

function append(a: DuckDBAppender, type: ScratchType, v: ScratchValue): void {
  if (v === null) return a.appendNull()
  switch (type) {
    case 'VARCHAR':
      return a.appendVarchar(String(v))
    case 'BIGINT':
      return a.appendBigInt(BigInt(v))
    case 'INTEGER':
      return a.appendInteger(Number(v))
    case 'BOOLEAN':
      return a.appendBoolean(v === true)
  }
}

/** A DuckDB size setting ('64MB', '1GiB', '512KB') in bytes; what it does not read counts as large. */
function bytesOf(size: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(i?)B?\s*$/i.exec(size)
  if (m === null) return Number.POSITIVE_INFINITY
  const unit = ' KMGT'.indexOf(m[2]!.toUpperCase() || ' ')
  return Number(m[1]) * (m[3] === '' ? 1000 : 1024) ** unit
}
