/**
 * Keeping dead-letter produce requests under the broker's size limits. Kafka refuses a record batch
 * larger than the topic's max.message.bytes (broker default message.max.bytes, 1,048,588 bytes) with
 * MESSAGE_TOO_LARGE, and kafkajs sends all the records of one partition in a request as one batch. So
 * the writer cuts a write into requests of at most `maxBatchBytes` (records' keys, values and headers,
 * before compression, which can only shrink them), and a single dead letter that alone exceeds the
 * limit is truncated:
 *
 * - its value keeps the first bytes of the original record that fit (format raw), or the dead-letter
 *   document with `raw`/`raw_base64` cut the same way (format json);
 * - headers mark it: `envoy-audit.truncated: true`, `envoy-audit.original-length` (bytes) and
 *   `envoy-audit.original-sha256` (hex) identify the whole original, which stays at its source
 *   coordinates (the `envoy-audit.source.*` headers) until the source topic's retention removes it.
 */
import { createHash } from 'node:crypto'
import type { IHeaders, Message } from 'kafkajs'
import { originalBytes } from '../pipeline/dead-letter.js'
import type { DeadLetter } from '../schema/audit-event.js'

/** Per-record framing in a v2 batch (length, attributes, deltas, varints) plus a margin. */
const RECORD_OVERHEAD = 32
const HEADER_OVERHEAD = 8
/** The batch header (61 bytes) plus the produce request's per-partition framing, with margin. */
export const BATCH_OVERHEAD = 128

const len = (v: Buffer | string | null | undefined): number =>
  v === null || v === undefined ? 0 : typeof v === 'string' ? Buffer.byteLength(v) : v.length

/** Upper estimate of a record's bytes in a batch, before compression. */
export function recordBytes(m: Message): number {
  let n = RECORD_OVERHEAD + len(m.key) + len(m.value as Buffer | string | null)
  for (const [k, v] of Object.entries((m.headers ?? {}) as IHeaders)) {
    const values = Array.isArray(v) ? v : [v]
    for (const one of values) n += HEADER_OVERHEAD + Buffer.byteLength(k) + len(one as Buffer | string | undefined)
  }
  return n
}

/** Consecutive runs of messages whose estimated bytes stay within `maxBatchBytes` (order kept). */
export function splitByBytes(messages: readonly Message[], maxBatchBytes: number): Message[][] {
  const out: Message[][] = []
  let current: Message[] = []
  let bytes = BATCH_OVERHEAD
  for (const m of messages) {
    const n = recordBytes(m)
    if (current.length > 0 && bytes + n > maxBatchBytes) {
      out.push(current)
      current = []
      bytes = BATCH_OVERHEAD
    }
    current.push(m)
    bytes += n
  }
  if (current.length > 0) out.push(current)
  return out
}

export const TRUNCATED_HEADER = 'envoy-audit.truncated'

/**
 * The message for a dead letter, truncated if it alone would exceed `maxBatchBytes`. `build` makes
 * the message from a (possibly shortened) dead letter; it is called again with shorter originals until
 * the record fits.
 */
export function fitDeadLetter(
  dl: DeadLetter,
  build: (dl: DeadLetter, raw?: Buffer) => Message,
  maxBatchBytes: number,
): { message: Message; truncated: boolean } {
  const limit = maxBatchBytes - BATCH_OVERHEAD
  const whole = build(dl)
  if (recordBytes(whole) <= limit) return { message: whole, truncated: false }
  const original = originalBytes(dl)
  const marks = {
    [TRUNCATED_HEADER]: 'true',
    'envoy-audit.original-length': String(original.length),
    'envoy-audit.original-sha256': createHash('sha256').update(original).digest('hex'),
  }
  let keep = Math.max(0, limit - (recordBytes(whole) - original.length) - 256)
  for (;;) {
    const cut = original.subarray(0, keep)
    const shorter: DeadLetter = { ...dl }
    delete shorter.raw
    delete shorter.raw_base64
    if (dl.raw_base64 !== undefined) shorter.raw_base64 = cut.toString('base64')
    else shorter.raw = cut.toString('utf8')
    const built = build(shorter, cut)
    const message: Message = { ...built, headers: { ...(built.headers as IHeaders), ...marks } }
    if (recordBytes(message) <= limit || keep === 0) return { message, truncated: true }
    keep = Math.floor(keep * 0.75)
  }
}
