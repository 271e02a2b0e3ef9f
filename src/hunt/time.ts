/**
 * TIME arguments of `hunt` and `flows`: ISO 8601 (a date, or a date-time with Z or an offset) or a
 * duration back from now (`90s`, `30m`, `24h`, `7d`, `2w`). Everything is normalised to the
 * millisecond ISO form with Z that @timestamp uses, so times compare as strings and bind to SQL as-is.
 */
import { EnvoyAuditError } from '../errors.js'

const RELATIVE = /^(\d{1,6})(s|m|h|d|w)$/
const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }
/** Date-only, or date-time with a mandatory zone: a zoneless time would silently mean the host's zone. */
const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/
const ISO_DATETIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/i

export function parseDuration(text: string, option: string): number {
  const m = RELATIVE.exec(text.trim())
  if (m === null) throw new EnvoyAuditError('EA_USAGE', `${option}: "${text}" is not a duration like 30m, 24h or 7d`)
  return Number(m[1]) * UNIT_MS[m[2]!]!
}

export function parseTime(text: string, option: string, now: number = Date.now()): string {
  const value = text.trim()
  const rel = RELATIVE.exec(value)
  if (rel !== null) return new Date(now - Number(rel[1]) * UNIT_MS[rel[2]!]!).toISOString()
  if (ISO_DATE.test(value) || ISO_DATETIME.test(value)) {
    const ms = Date.parse(ISO_DATE.test(value) ? `${value}T00:00:00Z` : value.replace(' ', 'T'))
    if (Number.isFinite(ms)) return new Date(ms).toISOString()
  }
  throw new EnvoyAuditError('EA_USAGE', `${option}: "${text}" is not an ISO 8601 time with a zone (2026-11-20T10:00:00Z) or a relative time (24h, 7d)`)
}
