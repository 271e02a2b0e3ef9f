import { Readable, pipeline } from 'node:stream'
import { createGunzip } from 'node:zlib'
import { EnvoyAuditError } from '../errors.js'

/** RFC 1952 member header: ID1 ID2. */
const GZIP_MAGIC_0 = 0x1f
const GZIP_MAGIC_1 = 0x8b

export function isGzipMagic(head: Buffer): boolean {
  return head.length >= 2 && head[0] === GZIP_MAGIC_0 && head[1] === GZIP_MAGIC_1
}

export interface DecodedInput {
  /** The input's bytes, gunzipped when they start with the gzip magic. */
  readonly chunks: AsyncIterator<Buffer>
  /** Bytes read from the input as stored (compressed bytes for gzip): what a progress display counts. */
  readonly rawBytes: number
  /** Known once the first two bytes were read. */
  readonly compressed: boolean | undefined
  /** Stops reading at once, even with a read pending on an idle pipe. */
  destroy(): void
}

/**
 * Reads a byte stream and gunzips it when it is gzip, decided by the first two bytes and not by a
 * name, so rotated kubelet logs (`0.log.20240301-101500.gz`), a renamed file and `zcat`-less stdin
 * all read as text. Concatenated gzip members (logrotate's `compresscmd` appends) decode as one.
 * A corrupt or truncated gzip stream fails with EA_IO naming the input, after every line before the
 * damage was handed on.
 */
export function decodeInput(raw: Readable, name: string): DecodedInput {
  let rawBytes = 0
  let compressed: boolean | undefined
  const rawChunks = (raw as AsyncIterable<Buffer | string>)[Symbol.asyncIterator]()
  const nextRaw = async (): Promise<Buffer | undefined> => {
    const n = await rawChunks.next()
    if (n.done === true) return undefined
    const b = typeof n.value === 'string' ? Buffer.from(n.value) : n.value
    rawBytes += b.length
    return b
  }
  async function* rawFrom(head: Buffer): AsyncGenerator<Buffer> {
    if (head.length > 0) yield head
    for (let b = await nextRaw(); b !== undefined; b = await nextRaw()) yield b
  }
  async function* decode(): AsyncGenerator<Buffer> {
    let head: Buffer = Buffer.alloc(0)
    // A pipe may deliver a single byte first.
    while (head.length < 2) {
      const b = await nextRaw()
      if (b === undefined) {
        compressed = false
        if (head.length > 0) yield head
        return
      }
      head = head.length === 0 ? b : Buffer.concat([head, b])
    }
    compressed = isGzipMagic(head)
    if (!compressed) {
      yield* rawFrom(head)
      return
    }
    const gunzip = createGunzip()
    // Readable.from pulls only as fast as gunzip's output is read: a slow sink slows the disk reads.
    pipeline(Readable.from(rawFrom(head), { objectMode: false }), gunzip, () => undefined)
    try {
      for await (const out of gunzip as AsyncIterable<Buffer>) yield out
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (typeof code === 'string' && code.startsWith('Z_')) {
        throw new EnvoyAuditError(
          'EA_IO',
          `cannot read ${name}: gzip data is corrupt or truncated after ${rawBytes} compressed bytes (${(err as Error).message})`,
          { cause: err },
        )
      }
      throw err
    }
  }
  const chunks = decode()
  return {
    chunks,
    get rawBytes() {
      return rawBytes
    },
    get compressed() {
      return compressed
    },
    destroy() {
      raw.destroy()
    },
  }
}
