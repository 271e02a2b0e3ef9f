/**
 * Dates as an OpenSearch `date` field reads them, for the test server: the default format
 * `strict_date_optional_time||epoch_millis`, date math (`now-7d/d`, `2024-03-01||+1M/d`,
 * `{{period_end}}||-5m` once a monitor's mustache is rendered) and the rounding rules of range bounds.
 * What it does not model (other formats, time zones) is refused with a 400, never matched loosely.
 *
 * Facts checked on OpenSearch 2.19 (test/support/opensearch-contract.test.ts keeps them checked):
 * - a bound that leaves out time fields is rounded: `lte`/`gt` fill them with their last value
 *   (`...T10:15` → 10:15:59.999, `2024-03-01` → 23:59:59.999), `gte`/`lt` with zeros; a left-out day or
 *   month is 1 either way (`lte: 2024-03` is March 1st, 23:59:59.999); /unit rounds to the first or
 *   last millisecond of the unit; a term query on a date is the range [rounded down, rounded up];
 * - all digits are epoch milliseconds (`"2024"` too), and a JSON number is epoch milliseconds;
 * - `2024-03-01 10:00` (space) or `2024-3-1` are refused with parse_exception, as is a unit like `7x`.
 */

export class DateParseError extends Error {}

const DEFAULT_FORMAT = 'strict_date_optional_time||epoch_millis'
const MODELLED = new Set(['strict_date_optional_time', 'date_optional_time', 'epoch_millis', 'strict_date_time', 'date_time'])

// yyyy-MM[-dd[THH[:mm[:ss[.SSS...]]]]][Z|±HH:mm]
const ISO = /^(\d{4})-(\d{2})(?:-(\d{2})(?:T(\d{2})(?::(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?)?)?(Z|[+-]\d{2}:?\d{2})?$/

function parseIso(text: string, roundUp: boolean): number | undefined {
  const m = ISO.exec(text)
  if (m === null) return undefined
  const [, y, mo, d, h, mi, s, frac, zone] = m
  const nums = [
    Number(y),
    Number(mo) - 1,
    d === undefined ? 1 : Number(d),
    Number(h ?? 0),
    Number(mi ?? 0),
    Number(s ?? 0),
    frac === undefined ? 0 : Number(frac.slice(0, 3).padEnd(3, '0')),
  ]
  if (nums[1]! > 11 || nums[2]! < 1 || nums[2]! > 31 || nums[3]! > 23 || nums[4]! > 59 || nums[5]! > 59) return undefined
  let ms = Date.UTC(nums[0]!, nums[1]!, nums[2]!, nums[3]!, nums[4]!, nums[5]!, nums[6]!)
  if (new Date(ms).getUTCDate() !== nums[2]) return undefined
  if (roundUp && frac === undefined) {
    // The time fields left out are filled with their last value; a left-out day or month stays 1 (as
    // OpenSearch's round-up parser does: `lte: 2024-03` ends on March 1st, not March 31st).
    const unit = s !== undefined ? 's' : mi !== undefined ? 'm' : h !== undefined ? 'h' : 'd'
    ms = roundDate(ms, unit, true)
  }
  if (zone !== undefined && zone !== 'Z') {
    const sign = zone[0] === '-' ? -1 : 1
    const digits = zone.slice(1).replace(':', '')
    ms -= sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2))) * 60_000
  }
  return ms
}

/** Start (or, rounding up, last millisecond) of the unit containing `ms`, in UTC; weeks start on Monday. */
function roundDate(ms: number, unit: string, up: boolean): number {
  const d = new Date(ms)
  const start = (): number => {
    switch (unit) {
      case 'y':
        return Date.UTC(d.getUTCFullYear(), 0, 1)
      case 'M':
        return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1)
      case 'w': {
        const day = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate())
        return day - ((d.getUTCDay() + 6) % 7) * 86_400_000
      }
      case 'd':
        return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate())
      case 'h':
      case 'H':
        return ms - (((ms % 3_600_000) + 3_600_000) % 3_600_000)
      case 'm':
        return ms - (((ms % 60_000) + 60_000) % 60_000)
      case 's':
        return ms - (((ms % 1000) + 1000) % 1000)
    }
    throw new DateParseError(`rounding to unit [${unit}] is not supported`)
  }
  const s = start()
  return up ? add(s, 1, unit) - 1 : s
}

/** Calendar arithmetic; a month or year step lands on the same day or the last day of a shorter month. */
function add(ms: number, n: number, unit: string): number {
  const d = new Date(ms)
  switch (unit) {
    case 'y':
    case 'M': {
      const months = d.getUTCMonth() + (unit === 'y' ? 12 * n : n)
      const year = d.getUTCFullYear() + Math.floor(months / 12)
      const month = ((months % 12) + 12) % 12
      const last = new Date(Date.UTC(year, month + 1, 0)).getUTCDate()
      return Date.UTC(
        year,
        month,
        Math.min(d.getUTCDate(), last),
        d.getUTCHours(),
        d.getUTCMinutes(),
        d.getUTCSeconds(),
        d.getUTCMilliseconds(),
      )
    }
    case 'w':
      return ms + n * 7 * 86_400_000
    case 'd':
      return ms + n * 86_400_000
    case 'h':
    case 'H':
      return ms + n * 3_600_000
    case 'm':
      return ms + n * 60_000
    case 's':
      return ms + n * 1000
  }
  throw new DateParseError(`unit [${unit}] not supported for date math`)
}

function applyMath(anchor: number, math: string, roundUp: boolean): number {
  let ms = anchor
  let i = 0
  while (i < math.length) {
    const op = math[i]!
    if (op === '/') {
      const unit = math[i + 1]
      if (unit === undefined || !'yMwdhHms'.includes(unit))
        throw new DateParseError(`rounding to unit [${unit ?? ''}] is not supported for date math [${math}]`)
      ms = roundDate(ms, unit, roundUp)
      i += 2
      continue
    }
    if (op !== '+' && op !== '-') throw new DateParseError(`operator not supported for date math [${math}]`)
    const m = /^(\d*)(.?)/.exec(math.slice(i + 1))!
    const n = m[1] === '' ? 1 : Number(m[1])
    if (!'yMwdhHms'.includes(m[2]!) || m[2] === '')
      throw new DateParseError(`unit [${m[2]}] not supported for date math [${math.slice(i)}]`)
    ms = add(ms, op === '-' ? -n : n, m[2]!)
    i += 1 + m[1]!.length + 1
  }
  return ms
}

function parseAnchor(text: string, formats: string[], roundUp: boolean, original: string, format: string): number {
  for (const f of formats) {
    if (f === 'epoch_millis' && /^-?\d+(\.\d+)?$/.test(text)) return Number(text)
    if (f !== 'epoch_millis') {
      if (/^-?\d+$/.test(text)) continue
      const ms = parseIso(text, roundUp)
      if (ms !== undefined) return ms
    }
  }
  throw new DateParseError(
    `failed to parse date field [${original}] with format [${format}]: [failed to parse date field [${original}] with format [${format}]]`,
  )
}

/**
 * Epoch milliseconds of a date value as a query bound: a number (epoch ms), or a string with optional
 * date math. `roundUp` is true for `lte`/`gt` (and a term query's upper end).
 */
export function parseDateBound(value: unknown, options: { roundUp: boolean; format?: string; now: number }): number {
  const format = options.format ?? DEFAULT_FORMAT
  const formats = format.split('||')
  for (const f of formats) if (!MODELLED.has(f)) throw new DateParseError(`date format [${f}] is not modelled by the test server`)
  if (typeof value === 'number') {
    if (!formats.includes('epoch_millis'))
      throw new DateParseError(
        `failed to parse date field [${value}] with format [${format}]: [failed to parse date field [${value}] with format [${format}]]`,
      )
    return value
  }
  const text = String(value)
  if (text.startsWith('now')) return applyMath(options.now, text.slice(3), options.roundUp)
  const sep = text.indexOf('||')
  if (sep < 0) return parseAnchor(text, formats, options.roundUp, text, format)
  return applyMath(parseAnchor(text.slice(0, sep), formats, false, text.slice(0, sep), format), text.slice(sep + 2), options.roundUp)
}

/** A date as stored in a document (_source string or number), or undefined when it does not parse. */
export function docDate(value: unknown): number | undefined {
  if (typeof value === 'number') return value
  if (typeof value !== 'string') return undefined
  if (/^-?\d+$/.test(value)) return Number(value)
  return parseIso(value, false)
}

/** `strict_date_optional_time` as OpenSearch prints it (key_as_string, value_as_string): always UTC with milliseconds. */
export function formatDate(ms: number): string {
  return new Date(ms).toISOString()
}

/** Rounding for date_histogram: the bucket start of `ms` for a calendar unit or a fixed interval in ms. */
export function bucketStart(ms: number, interval: { calendar?: string; fixedMs?: number }): number {
  if (interval.fixedMs !== undefined) return ms - (((ms % interval.fixedMs) + interval.fixedMs) % interval.fixedMs)
  return roundDate(ms, interval.calendar!, false)
}

export function nextBucket(ms: number, interval: { calendar?: string; fixedMs?: number }): number {
  return interval.fixedMs !== undefined ? ms + interval.fixedMs : add(ms, 1, interval.calendar!)
}
