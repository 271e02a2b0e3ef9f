/**
 * The byte buffer the generated document writer (src/generated/document-writer.ts) writes stored
 * documents into: UTF-8 JSON, written straight into one Buffer per batch of events instead of being
 * built as a string of a few hundred concatenations, flattened to be hashed, joined into a bulk body
 * and encoded again. The documents of a batch share its Buffer (each keeps a view of its bytes), so
 * the JavaScript heap holds no copy of them: what stays alive while a sink waits is outside the heap
 * the garbage collector copies.
 *
 * Strings are written as JSON.stringify writes them (and so as fast-json-stringify does): short ASCII
 * strings that need no escape byte by byte, longer ones without escapes through Buffer#write, those
 * with escapes escaped into the buffer (a long one from its UTF-8 bytes), and strings with surrogates
 * or \u00XX escapes through JSON.stringify and Buffer#write.
 */

/** Thrown by a write where the generated writer leaves a value to the compiled serializer. */
export const BAIL: unique symbol = Symbol('document-writer.bail')

// A quote, a backslash, a control character or a surrogate half: what JSON.stringify escapes or what
// needs more than the one-byte path.
// eslint-disable-next-line no-control-regex
const NEEDS_ESCAPE = /[\u0000-\u001f\u0022\u005c\ud800-\udfff]/

/** Longest string copied byte by byte; longer ones are one Buffer#write (a native call costs ~ that many bytes of the loop). */
const SHORT = 48

/**
 * Per byte of a UTF-8 string, what escaped() writes for it: 0 the byte itself, 1 a control character
 * JSON.stringify writes as \u00XX (left to it), else the letter after a backslash (\" \\ \b \t \n \f \r).
 */
const BYTE_ESCAPES = new Uint8Array(256)
BYTE_ESCAPES.fill(1, 0, 0x20)
BYTE_ESCAPES[0x08] = 0x62
BYTE_ESCAPES[0x09] = 0x74
BYTE_ESCAPES[0x0a] = 0x6e
BYTE_ESCAPES[0x0c] = 0x66
BYTE_ESCAPES[0x0d] = 0x72
BYTE_ESCAPES[0x22] = 0x22
BYTE_ESCAPES[0x5c] = 0x5c

const SURROGATE = /[\ud800-\udfff]/

/** Where escaped() has a long string encoded before escaping it (one per thread: writes are synchronous). */
let scratch = Buffer.allocUnsafe(16 * 1024)
/** Longer strings are escaped a character at a time rather than growing the scratch buffer past this. */
const MAX_SCRATCH = 1 << 20

/** The control characters JSON.stringify escapes with one letter (\b \t \n \f \r); 0 for the others. */
const SHORT_ESCAPES = new Uint8Array(0x20)
SHORT_ESCAPES[0x08] = 0x62
SHORT_ESCAPES[0x09] = 0x74
SHORT_ESCAPES[0x0a] = 0x6e
SHORT_ESCAPES[0x0c] = 0x66
SHORT_ESCAPES[0x0d] = 0x72

/** The ASCII bytes of a constant (the generated writer's keys and punctuation). */
export function ascii(text: string): Uint8Array {
  const out = new Uint8Array(text.length)
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c > 0x7f) throw new Error(`not ASCII: ${text}`)
    out[i] = c
  }
  return out
}

export class DocumentBytes {
  buf: Buffer
  pos = 0
  /** Where the document being written began: what moves to a new buffer when this one fills up. */
  private docStart = 0
  private capacity: number

  constructor(capacity = 1 << 16) {
    this.capacity = capacity
    this.buf = Buffer.allocUnsafe(capacity)
  }

  /** Starts a document. */
  begin(): void {
    this.docStart = this.pos
  }

  /** The current document's bytes so far: a view, which stays valid when the buffer is replaced later. */
  current(): Buffer {
    return this.buf.subarray(this.docStart, this.pos)
  }

  /** The current document's length so far. */
  get length(): number {
    return this.pos - this.docStart
  }

  /** Drops what was written of the current document. */
  abandon(): void {
    this.pos = this.docStart
  }

  /** Room for `n` more bytes. A full buffer is replaced, not grown in place: earlier documents keep their views of it. */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return
    const used = this.pos - this.docStart
    this.capacity = Math.max(this.capacity * 2, used + n + 1024)
    const next = Buffer.allocUnsafe(this.capacity)
    this.buf.copy(next, 0, this.docStart, this.pos)
    this.buf = next
    this.pos = used
    this.docStart = 0
  }

  byte(c: number): void {
    this.ensure(1)
    this.buf[this.pos++] = c
  }

  raw(bytes: Uint8Array): void {
    const n = bytes.length
    this.ensure(n)
    const buf = this.buf
    let p = this.pos
    for (let i = 0; i < n; i++) buf[p++] = bytes[i]!
    this.pos = p
  }

  /** Text already in JSON form (a serializer's output), UTF-8 encoded. */
  text(s: string): void {
    this.ensure(s.length * 3)
    this.pos += this.buf.write(s, this.pos)
  }

  str(v: unknown): void {
    if (typeof v !== 'string') throw BAIL
    const n = v.length
    if (n <= SHORT) {
      this.ensure(n + 2)
      const buf = this.buf
      const start = this.pos
      let p = start
      buf[p++] = 0x22
      for (let i = 0; i < n; i++) {
        const c = v.charCodeAt(i)
        if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) {
          this.pos = start
          this.escaped(v)
          return
        }
        buf[p++] = c
      }
      buf[p++] = 0x22
      this.pos = p
      return
    }
    if (NEEDS_ESCAPE.test(v)) {
      this.escaped(v)
      return
    }
    this.ensure(n * 3 + 2)
    this.buf[this.pos++] = 0x22
    this.pos += this.buf.write(v, this.pos)
    this.buf[this.pos++] = 0x22
  }

  /**
   * A string JSON.stringify would escape, escaped into the buffer as JSON.stringify does it (\" \\ and
   * \b \t \n \f \r), UTF-8 encoded on the way: no escaped copy of it on the heap (an Envoy JSON line
   * in event.original is full of quotes). Other control characters (\u00XX, more than three bytes each)
   * and surrogates (pairs, or a lone half JSON.stringify writes as \uDXXX) go through JSON.stringify.
   */
  private escaped(v: string): void {
    const n = v.length
    if (n > SHORT && n * 3 <= MAX_SCRATCH) {
      this.escapedBytes(v)
      return
    }
    this.ensure(n * 3 + 2)
    const buf = this.buf
    const start = this.pos
    let p = start
    buf[p++] = 0x22
    for (let i = 0; i < n; i++) {
      const c = v.charCodeAt(i)
      if (c >= 0x20 && c < 0x80) {
        if (c === 0x22 || c === 0x5c) buf[p++] = 0x5c
        buf[p++] = c
      } else if (c < 0x20) {
        const e = SHORT_ESCAPES[c]!
        if (e === 0) {
          this.pos = start
          this.text(JSON.stringify(v))
          return
        }
        buf[p++] = 0x5c
        buf[p++] = e
      } else if (c < 0x800) {
        buf[p++] = 0xc0 | (c >> 6)
        buf[p++] = 0x80 | (c & 0x3f)
      } else if (c >= 0xd800 && c <= 0xdfff) {
        this.pos = start
        this.text(JSON.stringify(v))
        return
      } else {
        buf[p++] = 0xe0 | (c >> 12)
        buf[p++] = 0x80 | ((c >> 6) & 0x3f)
        buf[p++] = 0x80 | (c & 0x3f)
      }
    }
    buf[p++] = 0x22
    this.pos = p
  }

  /**
   * escaped() for a long string: encoded to UTF-8 by Buffer#write (native) and escaped byte by byte,
   * which costs less than reading it a character at a time. Every byte JSON.stringify escapes is ASCII,
   * and the bytes of a multi-byte character are all 0x80 or above, so they are copied as they are. A
   * string with a surrogate (Buffer#write turns a lone one into U+FFFD, JSON.stringify into \uDXXX) or
   * a control character written as \u00XX goes through JSON.stringify, as in escaped().
   */
  private escapedBytes(v: string): void {
    const n = v.length
    if (n * 3 > scratch.length) scratch = Buffer.allocUnsafe(Math.max(n * 3, scratch.length * 2))
    const src = scratch
    const k = src.write(v, 0)
    if (k !== n && SURROGATE.test(v)) {
      this.text(JSON.stringify(v))
      return
    }
    // Escapes are of ASCII bytes and take two: the output is at most 2k + 2 bytes.
    this.ensure(2 * k + 2)
    const buf = this.buf
    const start = this.pos
    let p = start
    buf[p++] = 0x22
    for (let i = 0; i < k; i++) {
      const c = src[i]!
      const e = BYTE_ESCAPES[c]!
      if (e === 0) {
        buf[p++] = c
      } else if (e === 1) {
        this.pos = start
        this.text(JSON.stringify(v))
        return
      } else {
        buf[p++] = 0x5c
        buf[p++] = e
      }
    }
    buf[p++] = 0x22
    this.pos = p
  }

  int(v: unknown): void {
    if (!Number.isInteger(v)) throw BAIL
    let n = v as number
    if (n < 0 || n > 0x7fffffff) {
      this.text('' + n)
      return
    }
    this.ensure(10)
    if (n === 0) {
      this.buf[this.pos++] = 0x30
      return
    }
    let digits = 0
    for (let t = n; t > 0; t = (t / 10) | 0) digits++
    const buf = this.buf
    let p = this.pos + digits
    this.pos = p
    while (n > 0) {
      const q = (n / 10) | 0
      buf[--p] = 0x30 + n - q * 10
      n = q
    }
  }

  bool(v: unknown): void {
    if (typeof v !== 'boolean') throw BAIL
    this.raw(v ? TRUE : FALSE)
  }

  boolOrNull(v: unknown): void {
    if (v === null) this.raw(NULL)
    else this.bool(v)
  }
}

const TRUE = ascii('true')
const FALSE = ascii('false')
const NULL = ascii('null')
