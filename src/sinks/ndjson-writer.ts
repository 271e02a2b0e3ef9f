import { createWriteStream } from 'node:fs'
import { once } from 'node:events'
import type { Writable } from 'node:stream'
import { EnvoyAuditError } from '../errors.js'

/**
 * Appends NDJSON chunks to a file or stream, honouring backpressure: a write resolves once the data
 * is handed to the OS (or buffered under the high-water mark), so a slow disk slows the pipeline
 * instead of growing memory.
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

  open(): void {
    if (this.stream !== undefined) return
    this.stream = typeof this.target === 'string' ? createWriteStream(this.target, { flags: 'a' }) : this.target
    this.stream.on('error', (err) => {
      this.failure = err
    })
  }

  async write(chunk: string): Promise<void> {
    if (chunk.length === 0) return
    this.open()
    const stream = this.stream as Writable
    if (this.failure !== undefined) throw this.wrap(this.failure)
    if (!stream.write(chunk)) {
      await Promise.race([
        once(stream, 'drain'),
        once(stream, 'error').then(([err]) => {
          throw this.wrap(err as Error)
        }),
      ])
    }
  }

  async close(): Promise<void> {
    const stream = this.stream
    this.stream = undefined
    if (stream === undefined || !this.ownsStream) return
    await new Promise<void>((resolve, reject) => stream.end((err?: Error | null) => (err ? reject(this.wrap(err)) : resolve())))
  }

  private wrap(err: Error): EnvoyAuditError {
    return new EnvoyAuditError('EA_IO', `cannot write ${this.label}: ${err.message}`, { cause: err })
  }
}
