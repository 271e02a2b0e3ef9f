import { isUtf8 } from 'node:buffer'
import { createHash } from 'node:crypto'
import type { AuditEvent, DeadLetter, DeadLetterPart } from '../schema/audit-event.js'
import type { ErrorCode } from '../errors.js'
import type { RawRecord, SinkRejection, SourceCoords } from './component.js'

const ORIGINAL_LINE: unique symbol = Symbol('envoy-audit.original-line')
type WithLine = AuditEvent & { [ORIGINAL_LINE]?: string }

/**
 * The line of an event that does not store it (parser.preserveOriginal false), kept under a symbol:
 * serializers and JSON.stringify skip symbol keys, so it never reaches a document, while a stage that
 * fails on the event can still dead-letter the line's bytes.
 */
export function keepOriginalLine(event: AuditEvent, line: string): void {
  ;(event as WithLine)[ORIGINAL_LINE] = line
}

/** The event's line: event.original, else the line kept by keepOriginalLine, else ''. */
export function originalLine(event: Partial<AuditEvent>): string {
  const stored = event.event?.original
  if (typeof stored === 'string') return stored
  const kept = (event as WithLine)[ORIGINAL_LINE]
  return typeof kept === 'string' ? kept : ''
}

/** Part of every dead-letter id's hash input; changing it would change every id, so it never changes. */
const DEAD_LETTER_ID_DOMAIN = 'envoy-audit/dead-letter-id/v1'

/**
 * Builds the dead-letter record for a raw record. The original bytes are kept losslessly: as text when
 * they are valid UTF-8, as base64 otherwise, so a dead letter can always be replayed byte for byte.
 * `parts` are the CRI partial (P) records the record completed, oldest first: their bytes travel in
 * `parts`, so a joined line that fails keeps every byte it was made of.
 */
export function deadLetterFor(
  record: RawRecord,
  reason: ErrorCode,
  message: string,
  stage: DeadLetter['stage'],
  at: Date = new Date(),
  parts: readonly RawRecord[] = [],
): DeadLetter {
  const dl: DeadLetter = {
    id: deadLetterId(reason, record, parts),
    reason,
    message,
    stage,
    source: { ...record.coords },
    at: at.toISOString(),
  }
  setBytes(dl, record.value)
  if (parts.length > 0) {
    dl.parts = parts.map((p) => {
      const part: DeadLetterPart = { source: { ...p.coords } }
      setBytes(part, p.value)
      return part
    })
  }
  if (record.headers !== undefined && Object.keys(record.headers).length > 0) {
    // Null-prototype copy: header names are untrusted input.
    dl.headers = Object.assign(Object.create(null) as Record<string, string>, record.headers)
  }
  return dl
}

function setBytes(target: { raw?: string; raw_base64?: string }, value: Buffer | string): void {
  if (typeof value === 'string') target.raw = value
  else if (isUtf8(value)) target.raw = value.toString('utf8')
  else target.raw_base64 = value.toString('base64')
}

/**
 * Deterministic dead-letter id: the reason and the bytes of every record the dead letter holds
 * (envelope included, so the workload an envelope names is part of it), never where they were read. A
 * replay after a crash, or the same bad line re-sent at a new offset or read from a renamed file, gets
 * the same id; consumers of the dead-letter topic and the store's dead_letters table dedupe on it.
 * 128 bits of SHA-256, base64url: 22 characters.
 */
export function deadLetterId(reason: string, record: RawRecord, parts: readonly RawRecord[] = []): string {
  const h = createHash('sha256').update(DEAD_LETTER_ID_DOMAIN).update('\n').update(reason).update('\n')
  for (const r of [...parts, record]) {
    const bytes = typeof r.value === 'string' ? Buffer.from(r.value, 'utf8') : r.value
    h.update(`${bytes.length}:`).update(bytes)
  }
  return h.digest('base64url').slice(0, 22)
}

/** Recovers the original bytes of a dead letter (for replay and for tests of losslessness). */
export function originalBytes(dl: DeadLetter | DeadLetterPart): Buffer {
  if (dl.raw_base64 !== undefined) return Buffer.from(dl.raw_base64, 'base64')
  return Buffer.from(dl.raw ?? '', 'utf8')
}

/** Every record a dead letter holds, in the order they were read: its CRI parts, then the record itself. */
export function originalRecords(dl: DeadLetter): Buffer[] {
  return [...(dl.parts ?? []).map((p) => originalBytes(p)), originalBytes(dl)]
}

/**
 * The CRI partial (P) records a joined event was parsed from, so that a sink refusing the event later
 * dead-letters every byte it was made of. Weak: an event that is dropped takes its parts with it. Only
 * joined events are registered: the completing record itself is found by its coordinates.
 */
const JOINED_PARTS = new WeakMap<AuditEvent, readonly RawRecord[]>()

export function rememberParts(event: AuditEvent, parts: readonly RawRecord[]): void {
  if (parts.length > 0) JOINED_PARTS.set(event, parts)
}

export function partsOf(event: AuditEvent): readonly RawRecord[] {
  return JOINED_PARTS.get(event) ?? []
}

/** Stable text form of source coordinates, e.g. `kafka:envoy/3/1042` or `file:/var/log/a.log:17@2048`. */
export function coordsKey(c: SourceCoords): string {
  if (c.kind === 'kafka') return `kafka:${c.topic ?? ''}/${c.partition ?? ''}/${c.offset ?? ''}`
  return `${c.kind ?? 'file'}:${c.file ?? ''}:${c.line ?? ''}@${c.offset ?? ''}`
}

/**
 * Dead letters for events a sink refused permanently, with the bytes of the records they came from (the
 * batch's record at the event's coordinates, and its CRI parts), not the serialized event, so they can be
 * replayed through a fixed pipeline. An event whose record is not in the batch falls back to its line.
 */
export function sinkRejectionDeadLetters(
  records: readonly RawRecord[],
  rejected: readonly SinkRejection[],
  at: Date = new Date(),
): DeadLetter[] {
  const byCoords = new Map<string, RawRecord>()
  for (const r of records) byCoords.set(coordsKey(r.coords), r)
  return rejected.map(({ event, code, message }) => {
    const coords = event.audit?.source ?? {}
    const record = byCoords.get(coordsKey(coords)) ?? { value: originalLine(event), coords }
    const dl = deadLetterFor(record, code, message, 'sink', at, partsOf(event))
    dl.event_id = event.event.id
    return dl
  })
}
