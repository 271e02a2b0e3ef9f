/**
 * TIME arguments of every command that takes one (`report`, `hunt`, `flows`): ISO 8601 (a date, or a
 * date-time with or without a zone) or a duration back from now (`90s`, `30m`, `24h`, `7d`, `2w`).
 * One rule everywhere: a time without a zone is UTC, never the host's zone, so the same command gives
 * the same window on a laptop and in a pod. Everything is normalised to the millisecond ISO form with Z
 * that @timestamp uses, so times compare as strings and bind to SQL as-is.
 */
import { EnvoyAuditError } from '../errors.js'

/** What every --help that takes a TIME says about it. */
export const TIME_HELP =
  'ISO 8601, UTC unless it carries a zone (2026-11-20, 2026-11-20T10:00:00, 2026-11-20T12:00+02:00), or back from now (30m, 24h, 7d)'

const RELATIVE = /^(\d{1,6})\s*(s|m|h|d|w)$/
const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }
const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(Z|[+-]\d{2}(?::?\d{2})?)?)?$/i

export function parseDuration(text: string, option: string): number {
  const m = RELATIVE.exec(text.trim())
  if (m === null) throw new EnvoyAuditError('EA_USAGE', `${option}: "${text}" is not a duration like 30m, 24h or 7d`)
  return Number(m[1]) * UNIT_MS[m[2]!]!
}

export function parseTime(text: string, option: string, now: number = Date.now()): string {
  const value = text.trim()
  const rel = RELATIVE.exec(value)
  if (rel !== null) return new Date(now - Number(rel[1]) * UNIT_MS[rel[2]!]!).toISOString()
  const ms = isoMillis(value)
  if (ms !== undefined) return new Date(ms).toISOString()
  throw new EnvoyAuditError(
    'EA_USAGE',
    `${option}: "${text}" is not an ISO 8601 time (2026-11-20T10:00:00Z; UTC when no zone is given) or a time back from now (24h, 7d)`,
  )
}

/**
 * Computed from the fields, not with Date.parse: Date.parse reads a zoneless date-time in the host's
 * zone and rolls impossible dates over (Feb 30 → Mar 2) instead of refusing them.
 */
function isoMillis(value: string): number | undefined {
  const m = ISO.exec(value)
  if (m === null) return undefined
  const [year, month, day, hour, minute, second] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i] ?? 0)) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ]
  const millis = Number((m[7] ?? '').padEnd(3, '0').slice(0, 3))
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month) || hour > 23 || minute > 59 || second > 59) return undefined
  let offsetMinutes = 0
  const zone = m[8]?.toUpperCase()
  if (zone !== undefined && zone !== 'Z') {
    const digits = zone.slice(1).replace(':', '')
    const oh = Number(digits.slice(0, 2))
    const om = Number(digits.slice(2) || '0')
    if (oh > 23 || om > 59) return undefined
    offsetMinutes = (zone.startsWith('-') ? -1 : 1) * (oh * 60 + om)
  }
  return utcDate(year, month - 1, day).getTime() + ((hour * 60 + minute - offsetMinutes) * 60 + second) * 1000 + millis
}

/** setUTCFullYear, not Date.UTC: Date.UTC maps the years 0-99 to 1900-1999. */
function utcDate(year: number, monthIndex: number, day: number): Date {
  const d = new Date(0)
  d.setUTCFullYear(year, monthIndex, day)
  return d
}

const daysIn = (year: number, month: number): number => utcDate(year, month, 0).getUTCDate()
