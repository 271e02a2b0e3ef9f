/**
 * Encodes NDJSON lines straight into UTF-8 Buffers of a fixed size. Concatenating a batch into one string
 * (`body += line`) builds a rope of thousands of pieces that the stream must flatten into one large
 * string and then copy into a Buffer: two full copies of the batch, the first one on the V8 heap where
 * it outlives a young-generation collection. Writing each line into an off-heap chunk copies it once,
 * and the line's string dies young.
 *
 * With `reuse`, the chunks are kept for the next batch once the stream has taken the previous one (the
 * writer resolves only then), so a steady stream allocates nothing here; a batch encoded while another
 * is still being written gets chunks of its own. Only for streams that are done with a Buffer when they
 * call back (files, process.stdout): a stream that keeps the Buffer itself (a PassThrough holds it until
 * it is read) would see it overwritten.
 */
export interface EncodedLines {
  /** The lines, each followed by `\n`, in order. */
  chunks: Buffer[]
  /** The stream has taken (or refused) the chunks: they may be overwritten by a later batch. */
  release(): void
}

/** One line without its newline: text (with its UTF-8 length when known), or bytes already UTF-8. */
export type NdjsonLine = { json: string; bytes?: number } | { doc: Uint8Array }

export class NdjsonChunks {
  private readonly pool: Buffer[] = []
  private poolInUse = false

  constructor(
    private readonly reuse: boolean,
    private readonly chunkBytes = 1 << 20,
  ) {}

  /**
   * `line` gives each item's JSON and, when the caller knows it, its UTF-8 length; or the line's UTF-8
   * bytes (a stored document), copied as they are.
   */
  encode<T>(items: Iterable<T>, line: (item: T) => NdjsonLine): EncodedLines {
    const owns = this.reuse && !this.poolInUse
    if (owns) this.poolInUse = true
    const pool = owns ? this.pool : []
    const chunks: Buffer[] = []
    let next = 0
    let current: Buffer | undefined
    let offset = 0
    const chunkFor = (need: number): Buffer => {
      if (need > this.chunkBytes) return Buffer.allocUnsafeSlow(need)
      if (next === pool.length) pool.push(Buffer.allocUnsafeSlow(this.chunkBytes))
      return pool[next++]!
    }
    for (const item of items) {
      const l = line(item)
      if ('doc' in l) {
        const doc = l.doc
        if (current === undefined || doc.length + 1 > current.length - offset) {
          if (current !== undefined && offset > 0) chunks.push(current.subarray(0, offset))
          current = chunkFor(doc.length + 1)
          offset = 0
        }
        current.set(doc, offset)
        offset += doc.length
        current[offset++] = 0x0a
        continue
      }
      const { json, bytes: known } = l
      // A UTF-16 code unit takes at most 3 bytes in UTF-8: when that fits, the line is written without
      // measuring it first (measuring reads the whole string once more).
      const room = current === undefined ? 0 : current.length - offset
      const bytes = known ?? (json.length * 3 + 1 <= room ? undefined : Buffer.byteLength(json, 'utf8'))
      if (current === undefined || (bytes !== undefined && bytes + 1 > room)) {
        if (current !== undefined && offset > 0) chunks.push(current.subarray(0, offset))
        current = chunkFor((bytes ?? json.length * 3) + 1)
        offset = 0
      }
      const written = current.write(json, offset, 'utf8')
      // A wrong length would cut the line short: refuse rather than write a broken document.
      if (bytes !== undefined && written !== bytes) throw new Error(`ndjson: a line of ${bytes} bytes encoded as ${written}`)
      offset += written
      current[offset++] = 0x0a
    }
    if (current !== undefined && offset > 0) chunks.push(current.subarray(0, offset))
    let released = false
    return {
      chunks,
      release: () => {
        if (owns && !released) this.poolInUse = false
        released = true
      },
    }
  }
}
