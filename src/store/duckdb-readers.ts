/**
 * Readers of an embedded store that a writer (`run`, `ingest`, `demo`) holds open. DuckDB lets one
 * process open a database file read-write and refuses every other process while it does ("Could not
 * set lock on file"), read-only or not (https://duckdb.org/docs/stable/connect/concurrency). So the
 * writer serves its readers: it listens on a Unix socket next to the store, and each reader
 * connection gets its own DuckDB connection in the writer's process, where every statement runs in
 * a READ ONLY transaction. A query sees every batch committed (acknowledged) before it started;
 * temporary tables (the hunt's working tables) stay allowed, anything that writes the store fails,
 * and statements that would end the transaction or change the writer's settings are refused.
 *
 * The socket is created with the permissions of the store file (a user who may read the store may
 * query it), and a reader checks that the socket belongs to the store file's owner before trusting
 * what it answers. Reader queries run with the writer's file permissions, so before serving, the
 * writer's DuckDB instance is confined to the store's own files: otherwise DuckDB's file functions
 * (`read_text`, `read_csv`, `glob`, ...) would hand anyone allowed to query the store the writer's
 * key files and credentials. Wire format: one JSON object per line each way, one request at a time per
 * connection: `{"sql", "values"}` → `{"columns", "types", "rows"}` or `{"error", "code"}`.
 */
import { createHash } from 'node:crypto'
import { chmodSync, lstatSync, statSync, unlinkSync } from 'node:fs'
import { type Server, type Socket, connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { StatementType } from '@duckdb/node-api'
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api'
import { EnvoyAuditError } from '../errors.js'

/** What a reader connection may run (inside its READ ONLY transaction, which refuses writes to the store). */
const ALLOWED = new Set<StatementType>([
  StatementType.SELECT,
  StatementType.EXPLAIN,
  StatementType.CREATE,
  StatementType.INSERT,
  StatementType.UPDATE,
  StatementType.DELETE,
  StatementType.DROP,
])

/** Longest Unix socket path Linux and macOS accept, with a margin (sun_path is 108 / 104 bytes). */
const MAX_SOCKET_PATH = 100
/** One request line at most (a query text with its values): a reader sending more is cut off. */
const MAX_REQUEST_BYTES = 8 * 1024 * 1024

export interface SqlAnswer {
  columns: string[]
  types: string[]
  rows: Record<string, unknown>[]
}

/** Where the writer of `storePath` (absolute) listens: next to the store, or under the temp directory when that path is too long. */
export function readerSocketPath(storePath: string): string {
  const beside = `${storePath}.readers.sock`
  if (Buffer.byteLength(beside) <= MAX_SOCKET_PATH) return beside
  return join(tmpdir(), `envoy-audit-${createHash('sha256').update(storePath).digest('hex').slice(0, 24)}.sock`)
}

export interface ReaderServer {
  readonly path: string
  /** When the oldest reader connection still open was accepted (ms since the epoch), or undefined when none is. */
  oldestSession(): number | undefined
  close(): Promise<void>
}

/**
 * Starts serving readers of the store at `storePath` from `instance` (which holds the file's lock, so
 * a socket left behind by a crashed writer is stale and replaced). Resolves undefined, with the reason
 * given to `warn`, when the socket cannot be created: the writer works without serving readers.
 */
export async function serveReaders(
  instance: DuckDBInstance,
  storePath: string,
  warn: (message: string) => void,
  allowedDirectories: readonly string[] = [],
): Promise<ReaderServer | undefined> {
  const path = readerSocketPath(storePath)
  try {
    await confineFiles(instance, allowedDirectories)
  } catch (err) {
    warn(`cannot confine the store's file access, so readers are not served (queries wait for the writer): ${messageOf(err)}`)
    return undefined
  }
  try {
    unlinkSync(path)
  } catch {
    // Absent, or not ours to remove: listen() says which.
  }
  const sessions = new Map<Session, number>()
  const server: Server = createServer((socket) => {
    const s = session(instance, socket)
    sessions.set(s, Date.now())
    socket.on('close', () => void s.end().finally(() => sessions.delete(s)))
  })
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(path, () => {
        server.off('error', reject)
        resolve()
      })
    })
    chmodSync(path, socketMode(storePath))
  } catch (err) {
    server.close()
    warn(`cannot serve readers on ${path} (queries wait until this writer closes the store): ${messageOf(err)}`)
    return undefined
  }
  return {
    path,
    oldestSession: () => {
      let oldest: number | undefined
      for (const at of sessions.values()) if (oldest === undefined || at < oldest) oldest = at
      return oldest
    },
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      try {
        unlinkSync(path)
      } catch {
        // Already gone.
      }
      // Queries in flight finish before their connections close (the instance closes next).
      await Promise.all([...sessions.keys()].map((s) => s.end()))
      await closed
    },
  }
}

/**
 * From now on the instance reads and writes files only under `dirs` (DuckDB's `allowed_directories`
 * with `enable_external_access = false`, which cannot be turned back on in the instance's lifetime).
 * The database file, its WAL and spill files are the instance's own and stay reachable.
 */
async function confineFiles(instance: DuckDBInstance, dirs: readonly string[]): Promise<void> {
  const conn = await instance.connect()
  try {
    const list = dirs.map((d) => `'${(d.endsWith('/') ? d : `${d}/`).replaceAll("'", "''")}'`).join(', ')
    await conn.run(`SET allowed_directories = [${list}]`)
    await conn.run('SET enable_external_access = false')
  } finally {
    conn.closeSync()
  }
}

/** Read and write for whoever may read the store file (connecting to a socket needs write permission). */
function socketMode(storePath: string): number {
  let mode = 0o600
  try {
    const m = statSync(storePath).mode
    if ((m & 0o040) !== 0) mode |= 0o060
    if ((m & 0o004) !== 0) mode |= 0o006
  } catch {
    // The file exists once DuckDB opened it; if not, owner only.
  }
  return mode
}

interface Session {
  /** Drops the client, waits for its query in flight, closes its DuckDB connection. */
  end(): Promise<void>
}

function session(instance: DuckDBInstance, socket: Socket): Session {
  let conn: DuckDBConnection | undefined
  let buffered = ''
  let queue: Promise<void> = Promise.resolve()
  let ended: Promise<void> | undefined
  let closing = false
  socket.setEncoding('utf8')
  socket.on('error', () => socket.destroy())
  socket.on('data', (chunk: string) => {
    buffered += chunk
    if (buffered.length > MAX_REQUEST_BYTES) {
      socket.destroy()
      return
    }
    let nl: number
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl)
      buffered = buffered.slice(nl + 1)
      queue = queue.then(async () => {
        if (socket.destroyed) return
        if (closing) {
          socket.write(`${JSON.stringify({ error: 'the writer is closing the store', code: 'EA_IO', gone: true })}\n`)
          return
        }
        conn ??= await instance.connect()
        if (isStreamRequest(line)) return streamAnswer(conn, line, socket)
        const answer = await answerLine(conn, line)
        if (!socket.destroyed) socket.write(`${JSON.stringify(answer)}\n`)
      })
      queue = queue.catch(() => {
        socket.destroy()
      })
    }
  })
  return {
    end() {
      ended ??= (async () => {
        // The query in flight is answered; later ones are told to open the file once the writer is gone.
        closing = true
        await queue
        socket.end()
        socket.destroy()
        conn?.closeSync()
        conn = undefined
      })()
      return ended
    },
  }
}

function isStreamRequest(line: string): boolean {
  try {
    return (JSON.parse(line) as { stream?: unknown }).stream === true
  } catch {
    return false
  }
}

/**
 * A streamed query: `{"rows"}` messages, one per DuckDB chunk, then `{"end": true}` (or an error);
 * the next chunk is read only once the socket drained, so a slow reader holds one chunk, not the result.
 */
async function streamAnswer(conn: DuckDBConnection, line: string, socket: Socket): Promise<void> {
  const request = JSON.parse(line) as { sql?: unknown; values?: unknown }
  const send = async (message: unknown): Promise<void> => {
    if (socket.destroyed) throw new EnvoyAuditError('EA_IO', 'the reader went away')
    if (!socket.write(`${JSON.stringify(message)}\n`))
      await new Promise<void>((resolve) => {
        socket.once('drain', resolve)
        socket.once('close', resolve)
      })
  }
  const values = Array.isArray(request.values) ? (request.values as (string | number)[]) : []
  try {
    if (typeof request.sql !== 'string') throw new EnvoyAuditError('EA_USAGE', 'a request is {"sql": string, "values": [], "stream": true}')
    const extracted = await conn.extractStatements(request.sql)
    if (extracted.count !== 1) throw new EnvoyAuditError('EA_USAGE', 'a streamed query is one statement')
    await conn.run('BEGIN TRANSACTION READ ONLY')
    try {
      const prepared = await extracted.prepare(0)
      if (prepared.statementType !== StatementType.SELECT) throw new EnvoyAuditError('EA_USAGE', 'a streamed query is a SELECT')
      if (values.length > 0) prepared.bind(values)
      const result = await prepared.stream()
      for await (const rows of result.yieldRowObjectJson()) await send({ rows })
    } finally {
      await conn.run('COMMIT').catch(() => undefined)
    }
    await send({ end: true })
  } catch (err) {
    if (!socket.destroyed)
      await send({ error: messageOf(err), code: err instanceof EnvoyAuditError ? err.code : 'EA_STORE_QUERY' }).catch(() => undefined)
  }
}

async function answerLine(conn: DuckDBConnection, line: string): Promise<SqlAnswer | { error: string; code: string }> {
  let request: { sql?: unknown; values?: unknown }
  try {
    request = JSON.parse(line) as { sql?: unknown; values?: unknown }
  } catch {
    return { error: 'not a JSON request', code: 'EA_USAGE' }
  }
  const values = Array.isArray(request.values) ? request.values : []
  if (typeof request.sql !== 'string' || !values.every((v) => typeof v === 'string' || typeof v === 'number'))
    return { error: 'a request is {"sql": string, "values": (string|number)[]}', code: 'EA_USAGE' }
  try {
    return await readOnlyQuery(conn, request.sql, values as (string | number)[])
  } catch (err) {
    return { error: messageOf(err), code: err instanceof EnvoyAuditError ? err.code : 'EA_STORE_QUERY' }
  }
}

/** Runs each statement of `text` in its own READ ONLY transaction; answers the last one's rows. */
export async function readOnlyQuery(conn: DuckDBConnection, text: string, values: (string | number)[]): Promise<SqlAnswer> {
  const extracted = await conn.extractStatements(text)
  if (extracted.count === 0) throw new EnvoyAuditError('EA_USAGE', 'no SQL statement given')
  let answer: SqlAnswer | undefined
  for (let i = 0; i < extracted.count; i++) {
    await conn.run('BEGIN TRANSACTION READ ONLY')
    try {
      const prepared = await extracted.prepare(i)
      if (!ALLOWED.has(prepared.statementType))
        throw new EnvoyAuditError(
          'EA_USAGE',
          `the store is read-only for queries: a ${StatementType[prepared.statementType]} statement is not allowed ` +
            'while a writer holds the store',
        )
      if (values.length > 0) prepared.bind(values)
      const reader = await prepared.runAndReadAll()
      answer = {
        columns: reader.columnNames(),
        types: reader.columnTypes().map((t) => t.toString()),
        rows: reader.getRowObjectsJson() as Record<string, unknown>[],
      }
      await conn.run('COMMIT')
    } catch (err) {
      await conn.run('ROLLBACK').catch(() => undefined)
      throw err
    }
  }
  return answer!
}

/** The writer stopped serving (it closed the store): the reader opens the file itself and asks again. */
export class WriterGoneError extends EnvoyAuditError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('EA_IO', message, options)
  }
}

/** A connection to the writer of a store: `sql()` as the store's own. */
export interface ReaderClient {
  sql(text: string, values: (string | number)[]): Promise<SqlAnswer>
  /** A SELECT's rows chunk by chunk; nothing else may be asked on this client until it ends. */
  stream(text: string, values: (string | number)[]): AsyncGenerator<Record<string, unknown>[]>
  close(): void
}

/**
 * Connects to the writer serving the store at `storePath`, or resolves undefined when none listens
 * (no socket, a stale one, or one that the store file's owner did not create).
 */
export async function connectReader(storePath: string): Promise<ReaderClient | undefined> {
  const path = readerSocketPath(storePath)
  try {
    const socket = lstatSync(path)
    if (!socket.isSocket() || socket.uid !== statSync(storePath).uid) return undefined
  } catch {
    return undefined
  }
  const socket = await new Promise<Socket | undefined>((resolve) => {
    const s = connect(path)
    s.once('connect', () => resolve(s))
    s.once('error', () => resolve(undefined))
  })
  if (socket === undefined) return undefined
  socket.setEncoding('utf8')
  let buffered = ''
  let waiting: { resolve: (a: SqlAnswer) => void; reject: (e: Error) => void } | undefined
  let failure: Error | undefined
  /** While streaming: messages not consumed yet, and the consumer waiting for one. */
  let streamed: { queue: Record<string, unknown>[]; wake: (() => void) | undefined } | undefined
  const fail = (err: Error): void => {
    failure ??= err
    waiting?.reject(failure)
    waiting = undefined
    streamed?.wake?.()
  }
  socket.on('error', (err) => fail(new WriterGoneError(`the store's writer stopped answering: ${err.message}`, { cause: err })))
  socket.on('close', () => fail(new WriterGoneError("the store's writer closed the connection")))
  socket.on('data', (chunk: string) => {
    buffered += chunk
    let nl: number
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl)
      buffered = buffered.slice(nl + 1)
      if (streamed !== undefined) {
        streamed.queue.push(JSON.parse(line) as Record<string, unknown>)
        // Backpressure: the writer's next chunk waits until this reader consumed what it holds.
        if (streamed.queue.length >= 4) socket.pause()
        streamed.wake?.()
        continue
      }
      const w = waiting
      waiting = undefined
      const answer = JSON.parse(line) as SqlAnswer & { error?: string; code?: string; gone?: boolean }
      if (answer.gone === true) w?.reject(new WriterGoneError(answer.error ?? 'the writer is closing the store'))
      else if (answer.error !== undefined)
        w?.reject(new EnvoyAuditError(answer.code === 'EA_USAGE' ? 'EA_USAGE' : 'EA_STORE_QUERY', answer.error))
      else w?.resolve(answer)
    }
  })
  let queue: Promise<unknown> = Promise.resolve()
  return {
    sql(text, values) {
      const run = queue.then(
        () =>
          new Promise<SqlAnswer>((resolve, reject) => {
            if (failure !== undefined) return reject(failure)
            waiting = { resolve, reject }
            socket.write(`${JSON.stringify({ sql: text, values })}\n`)
          }),
      )
      queue = run.catch(() => undefined)
      return run
    },
    async *stream(text, values) {
      let release!: () => void
      const held = new Promise<void>((resolve) => (release = resolve))
      const before = queue
      queue = before.then(() => held)
      await before
      const state: { queue: Record<string, unknown>[]; wake: (() => void) | undefined } = { queue: [], wake: undefined }
      streamed = state
      let finished = false
      try {
        if (failure !== undefined) throw failure
        socket.write(`${JSON.stringify({ sql: text, values, stream: true })}\n`)
        for (;;) {
          if (state.queue.length === 0) {
            if (failure !== undefined) throw failure
            await new Promise<void>((resolve) => (state.wake = resolve))
            state.wake = undefined
            continue
          }
          const message = state.queue.shift()!
          if (state.queue.length < 2) socket.resume()
          if (message.end === true) {
            finished = true
            return
          }
          if (typeof message.error === 'string') {
            finished = true
            throw new EnvoyAuditError(message.code === 'EA_USAGE' ? 'EA_USAGE' : 'EA_STORE_QUERY', message.error)
          }
          yield message.rows as Record<string, unknown>[]
        }
      } finally {
        streamed = undefined
        // Left before the end: the rest of the answer is still coming, so this connection cannot be used again.
        if (!finished) {
          fail(new WriterGoneError('a streamed query was abandoned'))
          socket.destroy()
        }
        release()
      }
    },
    close() {
      socket.destroy()
    },
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
