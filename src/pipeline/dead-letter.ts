import { isUtf8 } from 'node:buffer'
import type { DeadLetter } from '../schema/audit-event.js'
import type { ErrorCode } from '../errors.js'
import type { RawRecord } from './component.js'

/**
 * Builds the dead-letter record for a raw record. The original bytes are kept losslessly: as text when
 * they are valid UTF-8, as base64 otherwise, so a dead letter can always be replayed byte for byte.
 */
export function deadLetterFor(
  record: RawRecord,
  reason: ErrorCode,
  message: string,
  stage: DeadLetter['stage'],
  at: Date = new Date(),
): DeadLetter {
  const dl: DeadLetter = { reason, message, stage, source: { ...record.coords }, at: at.toISOString() }
  const value = record.value
  if (typeof value === 'string') dl.raw = value
  else if (isUtf8(value)) dl.raw = value.toString('utf8')
  else dl.raw_base64 = value.toString('base64')
  if (record.headers !== undefined && Object.keys(record.headers).length > 0) {
    // Null-prototype copy: header names are untrusted input.
    dl.headers = Object.assign(Object.create(null) as Record<string, string>, record.headers)
  }
  return dl
}

/** Recovers the original bytes of a dead letter (for replay and for tests of losslessness). */
export function originalBytes(dl: DeadLetter): Buffer {
  if (dl.raw_base64 !== undefined) return Buffer.from(dl.raw_base64, 'base64')
  return Buffer.from(dl.raw ?? '', 'utf8')
}
