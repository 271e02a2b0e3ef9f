import { createReadStream } from 'node:fs'
import type { Readable } from 'node:stream'
import { EnvoyAuditError } from '../errors.js'
import type { BatchHandler, RawRecord, Source } from '../pipeline/component.js'

export interface FileSourceConfig {
  /** Paths to read in order; '-' is standard input. */
  files: string[]
  /** Records per batch handed to the pipeline. */
  batchRecords: number
  /**
   * Bytes of a single line kept in memory. A longer line is truncated to this size (the parser then
   * dead-letters it as too long), so one runaway line cannot exhaust memory.
   */
  maxBufferedLineBytes: number
  /**
   * How long read lines may wait for a full batch while the input is idle (a pipe from `tail -F` or a
   * shipper at night): after this, the partial batch is handed on. 0 waits for a full batch or the end.
   */
  lingerMs: number
  /** Injected for tests; defaults to process.stdin. */
  stdin?: Readable
}

export const FILE_SOURCE_DEFAULTS = { batchRecords: 2000, maxBufferedLineBytes: 16 * 1024 * 1024, lingerMs: 1000 } as const

const LINGERED = Symbol('lingered')
const CLOSING = Symbol('closing')

const NEWLINE = 0x0a

/**
 * Reads newline-delimited records from files or stdin. Each record keeps its exact bytes and its
 * coordinates (file, 1-based line, byte offset of the line start), which make the event id
 * deterministic: ingesting the same file twice yields the same ids. Batches are delivered one at a
 * time; the next read waits for the handler, which is the backpressure for a slow sink. close() stops
 * at once, even while the input is idle, after handing on the lines already read (read from stdin,
 * they could not be read again).
 */
export function createFileSource(config: Partial<FileSourceConfig> & Pick<FileSourceConfig, 'files'>): Source & {
  readonly linesRead: number
} {
  const cfg = { ...FILE_SOURCE_DEFAULTS, ...config }
  let closed = false
  let linesRead = 0
  // One waiter at a time (not one promise raced for the whole run, which would collect a reaction per
  // chunk for as long as a stdin pipe lives).
  let wakeOnClose: (() => void) | undefined

  async function readOne(path: string, handler: BatchHandler): Promise<void> {
    const isStdin = path === '-'
    const stream: Readable = isStdin ? (cfg.stdin ?? process.stdin) : createReadStream(path, { highWaterMark: 1 << 20 })
    const kind = isStdin ? 'stdin' : 'file'
    const file = isStdin ? '-' : path
    let batch: RawRecord[] = []
    let pending: Buffer[] = []
    let pendingBytes = 0
    let truncated = false
    let lineStart = 0
    let position = 0
    let line = 0

    const emit = (value: Buffer): void => {
      line++
      batch.push({ value, coords: { kind, file, line, offset: String(lineStart) } })
    }
    const takePending = (tail: Buffer): Buffer => {
      if (pending.length === 0) return tail.length > cfg.maxBufferedLineBytes ? tail.subarray(0, cfg.maxBufferedLineBytes) : tail
      const room = cfg.maxBufferedLineBytes - pendingBytes
      const parts = truncated ? pending : [...pending, tail.subarray(0, Math.max(0, room))]
      const out = Buffer.concat(parts)
      pending = []
      pendingBytes = 0
      truncated = false
      return out
    }

    const chunks = (stream as AsyncIterable<Buffer | string>)[Symbol.asyncIterator]()
    /** The next chunk, the linger expiring while a partial batch waits, or close(). */
    const nextChunk = async (pendingRead: Promise<IteratorResult<Buffer | string>>) => {
      let timer: NodeJS.Timeout | undefined
      const waits: Promise<IteratorResult<Buffer | string> | typeof LINGERED | typeof CLOSING>[] = [pendingRead]
      waits.push(new Promise<typeof CLOSING>((resolve) => (wakeOnClose = () => resolve(CLOSING))))
      if (batch.length > 0 && cfg.lingerMs > 0) waits.push(new Promise<typeof LINGERED>((resolve) => (timer = setTimeout(() => resolve(LINGERED), cfg.lingerMs))))
      try {
        return await Promise.race(waits)
      } finally {
        clearTimeout(timer)
        wakeOnClose = undefined
      }
    }
    const read = (): Promise<IteratorResult<Buffer | string>> => {
      const p = chunks.next()
      // Still raced for; marked handled so that an error after close() is not an unhandled rejection.
      p.catch(() => undefined)
      return p
    }

    try {
      let pendingRead = read()
      for (;;) {
        if (closed) break
        const next = await nextChunk(pendingRead)
        if (next === CLOSING) break
        if (next === LINGERED) {
          const partial = batch
          batch = []
          await handler(partial)
          continue
        }
        if (next.done === true) break
        pendingRead = read()
        const chunk = next.value
        const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk
        let from = 0
        for (let nl = buf.indexOf(NEWLINE, from); nl !== -1; nl = buf.indexOf(NEWLINE, from)) {
          // Copy: chunks are reused by the stream, records outlive them.
          emit(Buffer.from(takePending(buf.subarray(from, nl))))
          position += nl - from + 1
          lineStart = position
          from = nl + 1
          if (batch.length >= cfg.batchRecords) {
            const full = batch
            batch = []
            await handler(full)
          }
        }
        if (from < buf.length) {
          const rest = buf.subarray(from)
          position += rest.length
          if (!truncated) {
            const room = cfg.maxBufferedLineBytes - pendingBytes
            if (rest.length > room) {
              pending.push(Buffer.from(rest.subarray(0, room)))
              pendingBytes += room
              truncated = true
            } else {
              pending.push(Buffer.from(rest))
              pendingBytes += rest.length
            }
          }
        }
      }
      if (closed) void chunks.return?.()
      // A final line without a newline is still a record (often a truncated write).
      if (pending.length > 0) emit(takePending(Buffer.alloc(0)))
      if (batch.length > 0) await handler(batch)
      linesRead += line
    } catch (err) {
      if (err instanceof EnvoyAuditError) throw err
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR') {
        throw new EnvoyAuditError('EA_IO', `cannot read ${file}: ${(err as Error).message}`, { cause: err })
      }
      throw err
    }
  }

  return {
    get linesRead() {
      return linesRead
    },
    async start() {},
    async run(handler) {
      for (const path of cfg.files.length === 0 ? ['-'] : cfg.files) {
        if (closed) break
        await readOne(path, handler)
      }
    },
    async close() {
      closed = true
      wakeOnClose?.()
    },
  }
}
