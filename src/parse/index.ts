/**
 * The parse stage: raw records (bytes exactly as a source read them) -> canonical audit events, or
 * typed dead letters. Public API; other stages and the CLI code against this module only.
 *
 * Per record, in order: size cap and UTF-8 check on the bytes (EA_PARSE_TOO_LONG, EA_PARSE_INVALID_UTF8,
 * EA_PARSE_EMPTY); CRI framing (P lines held per container stream until their F line, cri.ts
 * partialKey); then record.ts dispatches JSON envelopes (whose own CRI partials are held the same way),
 * JSON access logs, text access logs and prefixes; build-event.ts maps the fields. Every record ends as
 * exactly one event or one dead letter, except CRI P records, which end inside the event or dead letter
 * of the record that completes them (that record's coordinates are used; a dead letter also carries
 * every P record's bytes in `parts`).
 *
 * Counts: in = events + deadLettered + partialsHeld for each batch, with one exception: when an
 * assembled CRI line overflows maxLineBytes, partials held since an earlier batch are dead-lettered in
 * the batch where that happens (each with its own coordinates), so deadLettered includes them there.
 * A source that commits offsets must not commit past a held partial; flush() at end of stream
 * dead-letters whatever is still held.
 */
import { isUtf8 } from 'node:buffer'
import type { DeadLetter } from '../schema/audit-event.js'
import type { RawRecord, StageResult } from '../pipeline/component.js'
import { deadLetterFor, rememberParts } from '../pipeline/dead-letter.js'
import { parseParserConfig, type ParserConfig } from './config.js'
import { PartialAssembler, partialKey, splitCri } from './cri.js'
import { type LineState, createLineParser } from './record.js'

export type { FieldMap, FieldMapPreset } from './json.js'
export { parseParserConfig, parserConfigSchema, type FormatName, type ParserConfig } from './config.js'

export interface ParseCounts {
  in: number
  events: number
  deadLettered: number
  /**
   * Net change in CRI partial (P) records absorbed into a later line: +1 per P record held, minus the
   * held records an overflow released as dead letters (so it can be negative). Summed over a stream,
   * records in = events + dead letters + partials held.
   */
  partialsHeld: number
}

export interface RecordParser {
  /** Pure over the batch except for CRI partial (P) lines, which are held per container stream until their F line. */
  parseBatch(records: RawRecord[]): StageResult & { counts: ParseCounts }
  /** End of stream: dead-letter any held partial lines with EA_PARSE_PARTIAL. */
  flush(): DeadLetter[]
  /** CRI partial records held now, waiting for their F line (the runner keeps such streams on one parser). */
  held(): number
}

export function createParser(config?: Partial<ParserConfig>): RecordParser {
  const cfg = parseParserConfig(config)
  const partials = new PartialAssembler(cfg.maxLineBytes)
  const parseLine = createLineParser(cfg, partials)
  const maxBytes = cfg.maxLineBytes

  return {
    parseBatch(records) {
      const events: StageResult['events'] = []
      const deadLetters: DeadLetter[] = []
      let held = 0
      const now = new Date()
      const overflow = (released: RawRecord[]): void => {
        for (const rec of released)
          deadLetters.push(deadLetterFor(rec, 'EA_PARSE_PARTIAL', `CRI partial line longer than maxLineBytes (${maxBytes})`, 'parse', now))
        // The released records were counted as held when they arrived; they are dead letters now.
        held -= released.length - 1
      }
      for (const record of records) {
        const st: LineState = { now }
        if (record.invalid !== undefined) {
          deadLetters.push(deadLetterFor(record, record.invalid.code, record.invalid.message, 'parse', now))
          continue
        }
        try {
          const text = decode(record, maxBytes)
          if (typeof text !== 'string') {
            deadLetters.push(deadLetterFor(record, text.code, text.message, 'parse', now))
            continue
          }
          let line = text
          const cri = splitCri(text)
          if (cri !== undefined) {
            line = cri.content
            // A final line completes nothing while no partial line is held: no stream key to build.
            if (cri.partial || !partials.idle) {
              const r = partials.accept(partialKey(record, undefined, cri.stream), record, cri.partial, cri.content)
              if (r.kind === 'held') {
                held++
                continue
              }
              if (r.kind === 'overflow') {
                overflow(r.records)
                continue
              }
              line = r.content
              if (r.parts.length > 0) st.parts = r.parts
            }
            st.times = [cri.time]
            if (line.trim().length === 0) {
              deadLetters.push(deadLetterFor(record, 'EA_PARSE_EMPTY', 'CRI line with empty content', 'parse', now, st.parts))
              continue
            }
          }
          const out = parseLine(record, line, st)
          if ('event' in out) {
            events.push(out.event)
            if (st.parts !== undefined) rememberParts(out.event, st.parts)
          } else if ('held' in out) held++
          else if ('overflow' in out) overflow(out.overflow)
          else deadLetters.push(deadLetterFor(record, out.code, out.message, 'parse', now, st.parts))
        } catch (err) {
          // Never expected: every branch above returns a result. Kept so one bad record cannot stop a batch.
          deadLetters.push(
            deadLetterFor(
              record,
              'EA_PARSE_MALFORMED_TEXT',
              `parser error: ${(err as Error)?.message ?? String(err)}`,
              'parse',
              now,
              st.parts,
            ),
          )
        }
      }
      return {
        events,
        deadLetters,
        counts: { in: records.length, events: events.length, deadLettered: deadLetters.length, partialsHeld: held },
      }
    },
    held: () => partials.size,
    flush() {
      const now = new Date()
      return partials
        .drain()
        .map((rec) => deadLetterFor(rec, 'EA_PARSE_PARTIAL', 'CRI partial (P) line whose final (F) line never arrived', 'parse', now))
    },
  }
}

type DecodeError = { code: 'EA_PARSE_TOO_LONG' | 'EA_PARSE_INVALID_UTF8' | 'EA_PARSE_EMPTY'; message: string }

/** Bytes -> text, enforcing the size cap first (cheap) and UTF-8 validity second. */
function decode(record: RawRecord, maxBytes: number): string | DecodeError {
  const v = record.value
  let s: string
  if (typeof v === 'string') {
    if (v.length * 3 > maxBytes) {
      const n = v.length > maxBytes ? v.length : Buffer.byteLength(v, 'utf8')
      if (n > maxBytes) return tooLong(n, maxBytes)
    }
    if (!(v as unknown as { isWellFormed(): boolean }).isWellFormed())
      return { code: 'EA_PARSE_INVALID_UTF8', message: 'string contains lone surrogates' }
    s = v
  } else {
    if (v.length > maxBytes) return tooLong(v.length, maxBytes)
    if (!isUtf8(v)) return { code: 'EA_PARSE_INVALID_UTF8', message: 'record bytes are not valid UTF-8' }
    s = v.toString('utf8')
  }
  let end = s.length
  while (end > 0) {
    const c = s.charCodeAt(end - 1)
    if (c === 10 || c === 13) end--
    else break
  }
  const startAt = s.charCodeAt(0) === 0xfeff ? 1 : 0
  if (startAt !== 0 || end !== s.length) s = s.slice(startAt, end)
  if (s.trim().length === 0) return { code: 'EA_PARSE_EMPTY', message: 'empty or whitespace-only record' }
  return s
}

function tooLong(n: number, max: number): DecodeError {
  return { code: 'EA_PARSE_TOO_LONG', message: `record is ${n} bytes, over maxLineBytes (${max})` }
}
