const NEWLINE = 0x0a

export interface SplitLine {
  /** The line's bytes without the newline (a copy: the chunk it came from is reused by the stream). */
  value: Buffer
  /** Byte offset of the line's first byte in the input. */
  start: number
  /** Byte offset just past the line's newline: where the next line starts. */
  end: number
}

/**
 * Splits a byte stream into newline-terminated lines, keeping each line's byte offsets. A line longer
 * than maxLineBytes is truncated to that size (the parser then dead-letters it as too long) so that one
 * runaway line cannot exhaust memory; its offsets still cover all of its bytes.
 */
export class LineSplitter {
  private pending: Buffer[] = []
  private pendingBytes = 0
  private truncated = false
  private lineStart: number
  private position: number

  constructor(
    private readonly maxLineBytes: number,
    startOffset = 0,
  ) {
    this.lineStart = startOffset
    this.position = startOffset
  }

  /** Offset of the first byte not yet returned as part of a complete line. */
  get committable(): number {
    return this.lineStart
  }

  /** Bytes held for a line whose newline has not arrived yet. */
  get hasPartial(): boolean {
    return this.position > this.lineStart
  }

  *push(buf: Buffer): Generator<SplitLine> {
    let from = 0
    for (let nl = buf.indexOf(NEWLINE, from); nl !== -1; nl = buf.indexOf(NEWLINE, from)) {
      const start = this.lineStart
      const value = this.take(buf.subarray(from, nl))
      this.position += nl - from + 1
      this.lineStart = this.position
      from = nl + 1
      yield { value, start, end: this.lineStart }
    }
    if (from < buf.length) {
      const rest = buf.subarray(from)
      this.position += rest.length
      if (!this.truncated) {
        const room = this.maxLineBytes - this.pendingBytes
        if (rest.length > room) {
          this.pending.push(Buffer.from(rest.subarray(0, room)))
          this.pendingBytes += room
          this.truncated = true
        } else {
          this.pending.push(Buffer.from(rest))
          this.pendingBytes += rest.length
        }
      }
    }
  }

  /** The bytes after the last newline as a line of their own (end of input), or undefined when there are none. */
  finish(): SplitLine | undefined {
    if (!this.hasPartial) return undefined
    const start = this.lineStart
    const value = this.take(Buffer.alloc(0))
    this.lineStart = this.position
    return { value, start, end: this.position }
  }

  /** The held bytes plus tail, capped, as a new buffer. */
  private take(tail: Buffer): Buffer {
    if (this.pending.length === 0) return Buffer.from(tail.length > this.maxLineBytes ? tail.subarray(0, this.maxLineBytes) : tail)
    const room = this.maxLineBytes - this.pendingBytes
    const parts = this.truncated ? this.pending : [...this.pending, tail.subarray(0, Math.max(0, room))]
    const out = Buffer.concat(parts)
    this.pending = []
    this.pendingBytes = 0
    this.truncated = false
    return out
  }
}
