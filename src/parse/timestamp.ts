import type { RawValue } from './fields.js'

/*
 * START_TIME as it reaches us:
 *   2022-09-08T12:51:05.656Z          Envoy default (UTC, milliseconds), text and JSON
 *   2022-07-22T12:24:13.900328365Z    nanosecond fractions (CRI times, custom %START_TIME(%FT%T.%9fZ)%)
 *   2021-03-26 00:01:25.979           space separator, no zone (custom strftime formats): taken as UTC,
 *                                     which is what Envoy's START_TIME always is
 *   2022-09-08T12:51:05.656+02:00     explicit offsets, with or without the colon
 *   1662641465.656 / "1662641465.656" epoch seconds (%START_TIME(%s.%3f)%, Fluent Bit doubles);
 *                                     values >= 1e11 are taken as epoch milliseconds; anything before
 *                                     1e9 s (2001-09-09, long before Envoy existed) is rejected as junk
 * Date.parse is not used for validation: V8 accepts "1" as the year 2001.
 */
const ISO = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?\s*(Z|z|UTC|[+-]\d{2}(?::?\d{2})?)?$/
const EPOCH = /^\d{10,13}(?:\.\d{1,9})?$/

const DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
const MIN_MS = Date.UTC(1970, 0, 1)
const MAX_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999)

/** ISO 8601 UTC with milliseconds (`Date#toISOString`), or undefined when the value is not a valid time. */
export function normaliseTimestamp(v: RawValue): string | undefined {
  if (typeof v === 'number') return fromEpoch(v)
  if (typeof v !== 'string' || v.length < 10 || v.length > 40) return undefined
  if (v.length === 24 && isCanonical(v)) return v
  const m = ISO.exec(v)
  if (m === null) return EPOCH.test(v) ? fromEpoch(Number(v)) : undefined
  const year = +m[1]!
  const month = +m[2]!
  const day = +m[3]!
  const hour = +m[4]!
  const minute = +m[5]!
  const second = m[6] === undefined ? 0 : +m[6]
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return undefined
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)
  if (day > (month === 2 && !leap ? 28 : DAYS[month - 1]!)) return undefined
  // Truncate, not round: rounding .9995 up could move the event into the next second or day.
  const ms = m[7] === undefined ? 0 : +(m[7] + '00').slice(0, 3)
  let t = Date.UTC(year, month - 1, day, hour, minute, second, ms)
  const zone = m[8]
  if (zone !== undefined && zone.length > 1 && zone !== 'UTC') {
    const sign = zone.charCodeAt(0) === 45 ? -1 : 1
    const digits = zone.slice(1).replace(':', '')
    const oh = +digits.slice(0, 2)
    const om = digits.length > 2 ? +digits.slice(2, 4) : 0
    if (oh > 23 || om > 59) return undefined
    t -= sign * (oh * 60 + om) * 60_000
  }
  return inRange(t)
}

/**
 * Fast path for Envoy's own form, `2022-09-08T12:51:05.656Z`, which is already the normalised output:
 * fixed positions are checked by char code and the calendar fields by range, with no regex or Date.
 */
function isCanonical(v: string): boolean {
  if (
    v.charCodeAt(4) !== 45 ||
    v.charCodeAt(7) !== 45 ||
    v.charCodeAt(10) !== 84 ||
    v.charCodeAt(13) !== 58 ||
    v.charCodeAt(16) !== 58 ||
    v.charCodeAt(19) !== 46 ||
    v.charCodeAt(23) !== 90
  )
    return false
  const year = digits(v, 0, 4)
  const month = digits(v, 5, 2)
  const day = digits(v, 8, 2)
  const hour = digits(v, 11, 2)
  const minute = digits(v, 14, 2)
  const second = digits(v, 17, 2)
  if (
    year < 1970 ||
    month < 1 ||
    month > 12 ||
    day < 1 ||
    hour < 0 ||
    hour > 23 ||
    minute < 0 ||
    minute > 59 ||
    second < 0 ||
    second > 59 ||
    digits(v, 20, 3) < 0
  )
    return false
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)
  return day <= (month === 2 && !leap ? 28 : DAYS[month - 1]!)
}

/** Decimal value of `len` digits at `at`, or -1 when any is not a digit. */
function digits(s: string, at: number, len: number): number {
  let n = 0
  for (let i = at; i < at + len; i++) {
    const c = s.charCodeAt(i) - 48
    if (c < 0 || c > 9) return -1
    n = n * 10 + c
  }
  return n
}

function fromEpoch(n: number): string | undefined {
  if (!Number.isFinite(n) || n < 1e9) return undefined
  const t = n >= 1e11 ? Math.trunc(n) : Math.trunc(n * 1000)
  return inRange(t)
}

function inRange(t: number): string | undefined {
  if (!(t >= MIN_MS && t <= MAX_MS)) return undefined
  return new Date(t).toISOString()
}
