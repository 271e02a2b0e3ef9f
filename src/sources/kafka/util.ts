import type { IHeaders } from 'kafkajs'
import type { KafkaLogger } from '../../connections/kafka.js'

/**
 * Kafka header values are bytes, possibly repeated. Dead letters keep them as text: UTF-8 decoded,
 * repeated values joined with ','. Null-prototype object: header names are untrusted input.
 */
export function headersToStrings(headers: IHeaders): Record<string, string> {
  const out = Object.create(null) as Record<string, string>
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue
    const values = Array.isArray(value) ? value : [value]
    out[name] = values.map((v) => (typeof v === 'string' ? v : v.toString('utf8'))).join(',')
  }
  return out
}

/**
 * At most one line per kind and interval, carrying how many were suppressed: a sink outage must not
 * turn into one log line per batch per retry.
 */
export class RateLimitedLog {
  private last = new Map<string, { at: number; suppressed: number }>()

  constructor(
    private readonly logger: KafkaLogger,
    private readonly intervalMs: number,
  ) {}

  warn(kind: string, fields: object, msg: string): void {
    const now = Date.now()
    const state = this.last.get(kind)
    if (state && now - state.at < this.intervalMs) {
      state.suppressed++
      return
    }
    this.last.set(kind, { at: now, suppressed: 0 })
    this.logger.warn({ ...fields, suppressed: state?.suppressed ?? 0 }, msg)
  }
}
