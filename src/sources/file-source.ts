import { createReadStream, fstatSync, statSync } from 'node:fs'
import type { Readable } from 'node:stream'
import { EnvoyAuditError } from '../errors.js'
import type { BatchHandler, RawRecord } from '../pipeline/component.js'
import { decodeInput } from './gzip-input.js'
import { LineSplitter } from './line-splitter.js'
import { createFollowSource } from './file-follow.js'
import type { FileSource } from './file-source-types.js'

export type { FileSource, FileSourceProgress } from './file-source-types.js'

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
  /** Read files as they grow, across rotations, like `tail -F` (file-follow.ts); stdin is not a file. */
  follow: boolean
  /** Following: how often an idle file is checked for new lines, rotation and truncation. */
  pollMs: number
  /** Following: how long a rotated-away file is still read after it last grew (late writes of its writer). */
  rotateWaitMs: number
  /** Following: the JSON file that keeps read positions across restarts; none: positions are not kept. */
  stateFile?: string | undefined
  /** Following: where a file without a saved position starts, when it exists at start (later files start at their beginning). */
  startAt: 'beginning' | 'end'
  /** Following: rotations, truncations and lost rotated files are said here. */
  warn?: (message: string) => void
}

export const FILE_SOURCE_DEFAULTS = {
  batchRecords: 2000,
  maxBufferedLineBytes: 16 * 1024 * 1024,
  lingerMs: 1000,
  follow: false,
  pollMs: 250,
  rotateWaitMs: 5000,
  startAt: 'beginning',
} as const

const LINGERED = Symbol('lingered')
const CLOSING = Symbol('closing')

/**
 * Reads newline-delimited records from files or stdin, gunzipped when the bytes are gzip (by their magic
 * number, not the name). Each record keeps its exact bytes and its coordinates (file, 1-based line, byte
 * offset of the line start in the decompressed text), which make the event id deterministic: ingesting
 * the same file twice yields the same ids. Batches are delivered one at a
 * time; the next read waits for the handler, which is the backpressure for a slow sink. close() stops
 * at once, even while the input is idle, after handing on the lines already read (read from stdin,
 * they could not be read again).
 */
export function createFileSource(config: Partial<FileSourceConfig> & Pick<FileSourceConfig, 'files'>): FileSource {
  const cfg = { ...FILE_SOURCE_DEFAULTS, ...config }
  const files = cfg.files.length === 0 ? ['-'] : cfg.files
  if (cfg.follow) {
    if (files.includes('-')) throw new EnvoyAuditError('EA_USAGE', 'follow reads files by name: stdin (-) is read as it comes anyway')
    return createFollowSource({ ...cfg, files, warn: cfg.warn ?? ((m) => process.stderr.write(`envoy-audit: ${m}\n`)) })
  }
  let closed = false
  let linesRead = 0
  const recordsByFile = new Map<string, number>()
  let bytesDone = 0
  let current: { readonly rawBytes: number } | undefined
  let bytesTotal: number | undefined | null = null
  // One waiter at a time (not one promise raced for the whole run, which would collect a reaction per
  // chunk for as long as a stdin pipe lives).
  let wakeOnClose: (() => void) | undefined

  const sizeOf = (path: string): number | undefined => {
    try {
      if (path !== '-') return statSync(path).size
      if (cfg.stdin !== undefined) return undefined
      const st = fstatSync(0)
      return st.isFile() ? st.size : undefined
    } catch {
      return undefined
    }
  }

  async function readOne(path: string, handler: BatchHandler): Promise<void> {
    const isStdin = path === '-'
    const stream: Readable = isStdin ? (cfg.stdin ?? process.stdin) : createReadStream(path, { highWaterMark: 1 << 20 })
    const kind = isStdin ? 'stdin' : 'file'
    const file = isStdin ? '-' : path
    const input = decodeInput(stream, isStdin ? 'stdin' : path)
    current = input
    const lines = new LineSplitter(cfg.maxBufferedLineBytes)
    let batch: RawRecord[] = []
    let line = 0

    const emit = (value: Buffer, start: number): void => {
      line++
      batch.push({ value, coords: { kind, file, line, offset: String(start) } })
    }

    const chunks = input.chunks
    /** The next chunk, the linger expiring while a partial batch waits, or close(). */
    const nextChunk = async (pendingRead: Promise<IteratorResult<Buffer>>) => {
      let timer: NodeJS.Timeout | undefined
      const waits: Promise<IteratorResult<Buffer> | typeof LINGERED | typeof CLOSING>[] = [pendingRead]
      waits.push(new Promise<typeof CLOSING>((resolve) => (wakeOnClose = () => resolve(CLOSING))))
      if (batch.length > 0 && cfg.lingerMs > 0)
        waits.push(new Promise<typeof LINGERED>((resolve) => (timer = setTimeout(() => resolve(LINGERED), cfg.lingerMs))))
      try {
        return await Promise.race(waits)
      } finally {
        clearTimeout(timer)
        wakeOnClose = undefined
      }
    }
    const read = (): Promise<IteratorResult<Buffer>> => {
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
        for (const l of lines.push(next.value)) {
          emit(l.value, l.start)
          if (batch.length >= cfg.batchRecords) {
            const full = batch
            batch = []
            await handler(full)
          }
        }
      }
      if (closed) input.destroy()
      // A final line without a newline is still a record (often a truncated write).
      const last = lines.finish()
      if (last !== undefined) emit(last.value, last.start)
      if (batch.length > 0) await handler(batch)
      linesRead += line
      recordsByFile.set(file, (recordsByFile.get(file) ?? 0) + line)
    } catch (err) {
      if (err instanceof EnvoyAuditError) throw err
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR') {
        throw new EnvoyAuditError('EA_IO', `cannot read ${file}: ${(err as Error).message}`, { cause: err })
      }
      throw err
    } finally {
      bytesDone += input.rawBytes
      current = undefined
    }
  }

  return {
    get linesRead() {
      return linesRead
    },
    recordsByFile,
    progress() {
      if (bytesTotal === null) {
        let total: number | undefined = 0
        for (const f of files) {
          const size = sizeOf(f)
          total = size === undefined || total === undefined ? undefined : total + size
        }
        bytesTotal = total
      }
      return { bytesRead: bytesDone + (current?.rawBytes ?? 0), bytesTotal }
    },
    async start() {},
    async run(handler) {
      for (const path of files) {
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
