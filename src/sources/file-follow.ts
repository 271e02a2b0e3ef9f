/**
 * Follow mode of the file source (`--follow`, `source.file.follow`): files are read as they grow, like
 * `tail -F`, and their read positions survive restarts (file-offsets.ts), so `run` with a file source is
 * a collector. Per configured path:
 * - a path that does not exist yet is waited for (checked every pollMs);
 * - rename rotation (logrotate's default, kubelet's): when the path names a new file, the old one is
 *   still read for rotateWaitMs after its last growth (a writer finishes the lines it had buffered), its
 *   last line without a newline becomes a record, and the new file is read from its start;
 * - copytruncate: when the file shrinks below the read position or its first bytes change, it is read
 *   again from its start. Lines written between the last read and the truncation are only in the copy:
 *   that is the known loss of copytruncate, said in a warning;
 * - a position is saved only once the pipeline acknowledged every line before it, and never past a CRI
 *   partial (P) line whose final (F) line has not been read: the parser holds those in memory.
 * A line without its newline yet is not a record until the newline arrives (the writer is mid-line).
 */
import { type FileHandle, open, readdir, realpath, stat } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { EnvoyAuditError } from '../errors.js'
import type { BatchHandler, RawRecord } from '../pipeline/component.js'
import { splitCri } from '../parse/cri.js'
import { isGzipMagic } from './gzip-input.js'
import { LineSplitter, type SplitLine } from './line-splitter.js'
import { FileOffsets, FINGERPRINT_BYTES, fingerprintOf, type FilePosition } from './file-offsets.js'
import type { FileSource } from './file-source-types.js'

export interface FollowConfig {
  files: string[]
  batchRecords: number
  maxBufferedLineBytes: number
  lingerMs: number
  pollMs: number
  rotateWaitMs: number
  stateFile?: string | undefined
  startAt: 'beginning' | 'end'
  warn: (message: string) => void
}

/** Where a reader may be committed to once the batch holding its lines is acknowledged. */
interface Mark {
  offset: number
  line: number
  fingerprint: string
  fingerprintBytes: number
  /** A rotated file read to its end: forget it. */
  done?: boolean
}

const READ_BYTES = 1 << 20

export function createFollowSource(cfg: FollowConfig): FileSource {
  const offsets = new FileOffsets(cfg.stateFile)
  let closed = false
  let failure: unknown
  let bytesRead = 0
  const recordsByFile = new Map<string, number>()
  const sleepers = new Set<() => void>()
  let handler: BatchHandler | undefined
  let batch: RawRecord[] = []
  let marks = new Map<Reader, Mark>()
  let lingerTimer: NodeJS.Timeout | undefined
  let flushing: Promise<void> = Promise.resolve()

  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      if (closed) return resolve()
      const done = (): void => {
        clearTimeout(timer)
        sleepers.delete(done)
        resolve()
      }
      const timer = setTimeout(done, ms)
      sleepers.add(done)
    })
  const stop = (): void => {
    closed = true
    for (const wake of [...sleepers]) wake()
  }

  /** Hands the batch on; once acknowledged, saves the positions it covers. Batches go one at a time. */
  const flush = (): Promise<void> => {
    const records = batch
    const covered = marks
    batch = []
    marks = new Map()
    clearTimeout(lingerTimer)
    lingerTimer = undefined
    flushing = flushing.then(async () => {
      if (failure !== undefined) throw failure
      if (records.length > 0) await (handler as BatchHandler)(records)
      for (const [reader, mark] of covered) reader.acknowledged(mark)
      if (covered.size > 0) offsets.save()
    })
    flushing.catch((err: unknown) => {
      failure ??= err
      stop()
    })
    return flushing
  }

  /** Adds a reader's record (or only its new position); a promise when the batch is full and being handed on. */
  const add = (reader: Reader, record: RawRecord | undefined, mark: Mark): Promise<void> | undefined => {
    if (record !== undefined) {
      batch.push(record)
      recordsByFile.set(reader.path, (recordsByFile.get(reader.path) ?? 0) + 1)
    }
    marks.set(reader, mark)
    if (batch.length >= cfg.batchRecords) return flush()
    if (lingerTimer === undefined && cfg.lingerMs > 0) lingerTimer = setTimeout(() => void flush().catch(() => undefined), cfg.lingerMs)
    return undefined
  }

  class Reader {
    private readonly buf = Buffer.allocUnsafe(READ_BYTES)
    private splitter: LineSplitter
    private line: number
    private head: Buffer
    /** Per CRI stream, the first partial line not yet completed: nothing is committed past it. */
    private readonly pendingPartials = new Map<string, { offset: number; line: number }>()
    rotated = false
    lastGrowth = Date.now()

    constructor(
      readonly path: string,
      /** The name recorded with the position (the rotated file's name when drained after a restart). */
      readonly stateName: string,
      private readonly fh: FileHandle,
      readonly dev: number,
      readonly ino: number,
      private position: number,
      line: number,
      head: Buffer,
    ) {
      this.splitter = new LineSplitter(cfg.maxBufferedLineBytes, position)
      this.line = line
      this.head = head
    }

    /** Reads what is there now, handing on complete lines; resolves the number of bytes read. */
    async readAvailable(): Promise<number> {
      let total = 0
      while (!closed) {
        const { bytesRead: n } = await this.fh.read(this.buf, 0, READ_BYTES, this.position)
        if (n === 0) break
        if (this.position < FINGERPRINT_BYTES && this.head.length < FINGERPRINT_BYTES && this.position === this.head.length) {
          this.head = Buffer.concat([this.head, this.buf.subarray(0, Math.min(n, FINGERPRINT_BYTES - this.head.length))])
        }
        this.position += n
        total += n
        bytesRead += n
        this.lastGrowth = Date.now()
        for (const l of this.splitter.push(this.buf.subarray(0, n))) {
          const full = this.emit(l)
          if (full !== undefined) await full
        }
      }
      return total
    }

    /** The last line of a file that will not grow any more (rotated away, or truncated under us). */
    async finishLine(): Promise<void> {
      const last = this.splitter.finish()
      if (last !== undefined) await this.emit(last)
    }

    private emit(l: SplitLine): Promise<void> | undefined {
      this.line++
      const cri = splitCri(l.value.subarray(0, 64).toString('latin1'))
      if (cri !== undefined) {
        if (cri.partial) {
          if (!this.pendingPartials.has(cri.stream)) this.pendingPartials.set(cri.stream, { offset: l.start, line: this.line - 1 })
        } else this.pendingPartials.delete(cri.stream)
      }
      const record: RawRecord = { value: l.value, coords: { kind: 'file', file: this.path, line: this.line, offset: String(l.start) } }
      return add(this, record, this.mark())
    }

    mark(done = false): Mark {
      let offset = this.splitter.committable
      let line = this.line
      for (const p of this.pendingPartials.values()) {
        if (p.offset < offset) {
          offset = p.offset
          line = p.line
        }
      }
      return { offset, line, ...fingerprintOf(this.head), ...(done ? { done } : {}) }
    }

    acknowledged(mark: Mark): void {
      if (mark.done === true) offsets.delete(this)
      else
        offsets.set({
          path: this.stateName,
          dev: this.dev,
          ino: this.ino,
          offset: mark.offset,
          line: mark.line,
          fingerprint: mark.fingerprint,
          fingerprintBytes: mark.fingerprintBytes,
          ...(this.rotated ? { rotated: true } : {}),
        })
    }

    /** What happened to the path since the last look. */
    async check(): Promise<'same' | 'rotated' | 'truncated' | 'missing'> {
      let st: Awaited<ReturnType<typeof stat>>
      try {
        st = await stat(this.path)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'missing'
        throw err
      }
      if (st.ino !== this.ino || st.dev !== this.dev) return 'rotated'
      const size = (await this.fh.stat()).size
      if (size < this.position) return 'truncated'
      const n = Math.min(this.head.length, size)
      if (n > 0) {
        const { bytesRead: got } = await this.fh.read(this.buf, 0, n, 0)
        if (got < n || !this.buf.subarray(0, n).equals(this.head.subarray(0, n))) return 'truncated'
      }
      return 'same'
    }

    /** copytruncate: the file starts over. */
    async restart(): Promise<void> {
      await this.finishLine()
      cfg.warn(
        `${this.path} was truncated (copytruncate?) at byte ${this.position}: reading it again from its start; lines written after the last read and before the truncation are only in the rotated copy`,
      )
      this.position = 0
      this.line = 0
      this.head = Buffer.alloc(0)
      this.pendingPartials.clear()
      this.splitter = new LineSplitter(cfg.maxBufferedLineBytes, 0)
      await add(this, undefined, this.mark())
    }

    async close(): Promise<void> {
      await this.fh.close().catch(() => undefined)
    }
  }

  /** Opens the file at `path`, or resolves undefined when there is none yet. */
  const openReader = async (
    path: string,
    stateName: string,
    where: 'saved-or-start' | 'saved-or-beginning',
    expected?: FilePosition,
  ): Promise<Reader | undefined> => {
    let fh: FileHandle
    try {
      fh = await open(path, 'r')
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'ENOENT') return undefined
      throw new EnvoyAuditError('EA_IO', `cannot read ${path}: ${(err as Error).message}`, { cause: err })
    }
    try {
      const st = await fh.stat()
      if (!st.isFile()) throw new EnvoyAuditError('EA_IO', `cannot follow ${path}: not a regular file`)
      const headBuf = Buffer.alloc(Math.min(FINGERPRINT_BYTES, st.size))
      const { bytesRead: got } = await fh.read(headBuf, 0, headBuf.length, 0)
      const head = headBuf.subarray(0, got)
      if (isGzipMagic(head))
        throw new EnvoyAuditError(
          'EA_USAGE',
          `cannot follow ${path}: it is gzip-compressed, and a compressed file is not appended to; read it without --follow`,
        )
      if (expected !== undefined && (expected.dev !== st.dev || expected.ino !== st.ino)) {
        await fh.close()
        return undefined
      }
      const saved = offsets.get(st)
      if (
        saved !== undefined &&
        saved.offset <= st.size &&
        saved.fingerprintBytes <= head.length &&
        fingerprintOf(head.subarray(0, saved.fingerprintBytes)).fingerprint === saved.fingerprint
      ) {
        return new Reader(path, stateName, fh, st.dev, st.ino, saved.offset, saved.line, head)
      }
      if (expected !== undefined) {
        // Looked for by inode after a rotation: another file that reuses the inode is not it.
        await fh.close()
        return undefined
      }
      if (saved !== undefined)
        cfg.warn(
          `${path} is not the file its saved position (byte ${saved.offset}) was taken from: it was truncated, or replaced by a file that took its inode (then the old file's lines after that byte were not read); reading it from its start`,
        )
      const from = where === 'saved-or-start' && cfg.startAt === 'end' ? st.size : 0
      const reader = new Reader(path, stateName, fh, st.dev, st.ino, from, 0, from === 0 ? Buffer.alloc(0) : head)
      // Recorded at once: a start at the end must not move to a later end after a restart.
      reader.acknowledged(reader.mark())
      offsets.save()
      return reader
    } catch (err) {
      await fh.close().catch(() => undefined)
      throw err
    }
  }

  /** Reads a rotated file to its end: until it has not grown for rotateWaitMs (or close()). */
  const drain = async (reader: Reader): Promise<void> => {
    reader.rotated = true
    try {
      while (!closed) {
        await reader.readAvailable()
        if (closed) break
        if (Date.now() - reader.lastGrowth >= cfg.rotateWaitMs) {
          await reader.finishLine()
          await add(reader, undefined, reader.mark(true))
          return
        }
        await sleep(Math.min(cfg.pollMs, cfg.rotateWaitMs))
      }
    } finally {
      await reader.close()
    }
  }

  /** Files of `path` rotated away before the last stop and not read to their end: found by inode in its folder. */
  const leftovers = async (path: string, current: { dev: number; ino: number } | undefined): Promise<Reader[]> => {
    const mine = offsets.all().filter((p) => p.path === path && (current === undefined || p.dev !== current.dev || p.ino !== current.ino))
    if (mine.length === 0) return []
    const found: Reader[] = []
    // The path's folder, and its target's when it is a symlink (/var/log/containers/*.log point into
    // /var/log/pods/<pod>/<container>/, where the kubelet renames the rotated file).
    const folders = [...new Set([dirname(path), dirname(await realpath(path).catch(() => path))])]
    const candidates: string[] = []
    for (const folder of folders) {
      for (const name of await readdir(folder).catch(() => [] as string[])) candidates.push(join(folder, name))
    }
    for (const p of mine) {
      let match: string | undefined
      for (const candidate of candidates) {
        const st = await stat(candidate).catch(() => undefined)
        if (st !== undefined && st.dev === p.dev && st.ino === p.ino) match = candidate
      }
      const reader = match === undefined ? undefined : await openReader(match, path, 'saved-or-beginning', p)
      if (reader === undefined) {
        cfg.warn(
          `${path}: the file rotated away from it at byte ${p.offset} was not found in ${folders.join(' or ')} (deleted or compressed): its lines after that byte were not read`,
        )
        offsets.delete(p)
        offsets.save()
        continue
      }
      cfg.warn(`${path}: reading ${basename(match as string)} (rotated while stopped) from byte ${p.offset} to its end`)
      found.push(reader)
    }
    return found
  }

  const follow = async (path: string): Promise<void> => {
    const drains: Promise<void>[] = []
    let reader: Reader | undefined
    let first = true
    let lookedForLeftovers = false
    try {
      while (!closed) {
        if (reader === undefined) {
          reader = await openReader(path, path, first ? 'saved-or-start' : 'saved-or-beginning')
          first = false
          if (!lookedForLeftovers) {
            lookedForLeftovers = true
            for (const old of await leftovers(path, reader)) drains.push(drain(old))
          }
          if (reader === undefined) {
            await sleep(cfg.pollMs)
            continue
          }
        }
        // To the end of what is there now; then, if that was nothing, wait.
        if ((await reader.readAvailable()) === 0) {
          if (cfg.lingerMs === 0 && batch.length > 0) await flush()
          await sleep(cfg.pollMs)
        }
        if (closed) break
        // Before reading on: bytes written after a truncation must not be read as the old file's next lines.
        const change = await reader.check()
        if (change === 'rotated') {
          drains.push(drain(reader))
          reader = undefined
        } else if (change === 'truncated') await reader.restart()
      }
    } finally {
      await reader?.close()
      await Promise.all(drains)
    }
  }

  return {
    get linesRead() {
      let n = 0
      for (const v of recordsByFile.values()) n += v
      return n
    },
    recordsByFile,
    progress: () => ({ bytesRead, bytesTotal: undefined }),
    async start() {},
    async run(h) {
      handler = h
      const followers = cfg.files.map((f) =>
        follow(f).catch((err: unknown) => {
          failure ??= err
          stop()
        }),
      )
      await Promise.all(followers)
      // close(), or a failure: hand on what was read (complete lines) and save where it ends.
      if (failure === undefined) await flush().catch(() => undefined)
      else await flushing.catch(() => undefined)
      if (failure !== undefined) throw failure
    },
    async close() {
      stop()
    },
  }
}
