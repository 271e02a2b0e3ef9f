import { accessSync, constants, createWriteStream, existsSync, mkdirSync, openSync } from 'node:fs'
import { dirname } from 'node:path'
import type { Writable } from 'node:stream'
import { EnvoyAuditError } from '../errors.js'

/**
 * Appends NDJSON chunks to a file or stream. A write resolves only once the stream has handed the chunk
 * to the OS: dead letters are acknowledged (and their Kafka offsets committed) on that promise, so a
 * chunk that only sat in a buffer when the file turned out unwritable would be lost. Waiting for the
 * callback is also the backpressure: a slow disk slows the pipeline instead of growing memory.
 */
export class NdjsonWriter {
  private stream: Writable | undefined
  private readonly ownsStream: boolean
  private failure: Error | undefined

  constructor(
    private readonly target: string | Writable,
    private readonly label: string,
  ) {
    this.ownsStream = typeof target === 'string'
  }

  /**
   * Fails now, with EA_IO, if the file could not be written later (its folder is created if missing);
   * creates nothing else, so a dead-letter file still appears only with its first dead letter.
   */
  check(): void {
    if (typeof this.target !== 'string' || this.target === '-') return
    try {
      mkdirSync(dirname(this.target), { recursive: true })
      accessSync(existsSync(this.target) ? this.target : dirname(this.target), constants.W_OK)
    } catch (err) {
      throw this.wrap(err as Error)
    }
  }

  open(): void {
    if (this.stream !== undefined) return
    if (typeof this.target === 'string') {
      // Opened synchronously so that an unwritable path fails this call, not a later 'error' event.
      let fd: number
      try {
        mkdirSync(dirname(this.target), { recursive: true })
        fd = openSync(this.target, 'a')
      } catch (err) {
        throw this.wrap(err as Error)
      }
      this.stream = createWriteStream('', { fd })
    } else {
      this.stream = this.target
    }
    this.stream.on('error', (err) => {
      this.failure = err
    })
  }

  /** A string, or Buffers written in order (corked, so a stream that can write them at once does). */
  async write(chunk: string | readonly Buffer[]): Promise<void> {
    if (chunk.length === 0) return
    this.open()
    const stream = this.stream as Writable
    if (this.failure !== undefined) throw this.wrap(this.failure)
    const one = (c: string | Buffer): Promise<void> =>
      new Promise<void>((resolve, reject) => {
        stream.write(c, (err) => (err ? reject(this.wrap(err)) : resolve()))
      })
    if (typeof chunk === 'string') return one(chunk)
    stream.cork()
    const written = chunk.map(one)
    stream.uncork()
    await Promise.all(written)
  }

  async close(): Promise<void> {
    const stream = this.stream
    this.stream = undefined
    if (stream === undefined || !this.ownsStream) return
    if (this.failure !== undefined) throw this.wrap(this.failure)
    await new Promise<void>((resolve, reject) => stream.end((err?: Error | null) => (err ? reject(this.wrap(err)) : resolve())))
  }

  private wrap(err: Error): EnvoyAuditError {
    return new EnvoyAuditError('EA_IO', `cannot write ${this.label}: ${err.message}`, { cause: err })
  }
}
