import { isIP } from 'node:net'
import type { RawValue } from './fields.js'

/**
 * Value normalisation shared by every format. Envoy writes "unset" as `-` in text and untyped JSON,
 * as null in typed JSON, and as an empty string with omit_empty_values; all three become undefined.
 */
export function str(v: RawValue): string | undefined {
  if (typeof v === 'string') return v === '-' || v === '' ? undefined : v
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : undefined
  if (typeof v === 'boolean') return v ? 'true' : 'false'
  return undefined
}

/** Sentinel for "present but not a non-negative integer" (so text parsers can reject the line). */
export const INVALID = -1

/**
 * Non-negative integer from a typed number or a digit string (untyped JSON and text print numbers as
 * strings). Unset gives undefined; anything else gives INVALID. A hand loop, not a regex: this runs for
 * several fields of every record.
 */
export function uint(v: RawValue): number | undefined {
  if (typeof v === 'number') {
    if (!Number.isFinite(v) || v < 0) return INVALID
    return Number.isSafeInteger(v) ? v : Math.trunc(v) <= Number.MAX_SAFE_INTEGER ? Math.trunc(v) : INVALID
  }
  if (typeof v !== 'string') return undefined
  if (v === '-' || v === '') return undefined
  if (v.length > 15) return INVALID
  let n = 0
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i) - 48
    if (c < 0 || c > 9) return INVALID
    n = n * 10 + c
  }
  return n
}

/**
 * Milliseconds as Envoy prints DURATION: an integer, but custom formats sometimes print `12.5`
 * (e.g. `%DURATION%.0`, which Envoy renders as a string). Returns a non-negative finite number.
 */
export function millis(v: RawValue): number | undefined {
  const n = uint(v)
  if (n !== INVALID) return n
  if (typeof v === 'string' && v.length <= 24) {
    const f = Number(v)
    if (Number.isFinite(f) && f >= 0) return f
  }
  return INVALID
}

export interface HostPort {
  host: string
  port?: number
}

/**
 * Splits the address forms Envoy prints: `10.0.0.1:80`, `[2a02:cf40::4e36]:5000`, a bare IP,
 * `tcp://10.0.2.1:80` (old Envoy UPSTREAM_HOST) and `envoy://connect_originate/10.244.0.15:8080`
 * (ambient waypoints). Pipe paths (`unix://...`) and anything unparseable give undefined.
 */
export function splitHostPort(s: string): HostPort | undefined {
  let a = s
  const scheme = a.indexOf('://')
  if (scheme >= 0) {
    a = a.slice(scheme + 3)
    const slash = a.lastIndexOf('/')
    if (slash >= 0) a = a.slice(slash + 1)
  }
  if (a.length === 0) return undefined
  if (a.charCodeAt(0) === 91 /* [ */) {
    const end = a.indexOf(']')
    if (end < 0) return undefined
    const host = a.slice(1, end)
    const rest = a.slice(end + 1)
    if (rest.length === 0) return { host }
    if (rest.charCodeAt(0) !== 58 /* : */) return undefined
    const port = portOf(rest.slice(1))
    return port === undefined ? undefined : { host, port }
  }
  const first = a.indexOf(':')
  if (first < 0) return { host: a }
  if (a.indexOf(':', first + 1) >= 0) return { host: a } // bare IPv6
  const port = portOf(a.slice(first + 1))
  return port === undefined ? undefined : { host: a.slice(0, first), port }
}

function portOf(s: string): number | undefined {
  const n = uint(s)
  return n === undefined || n === INVALID || n > 65535 ? undefined : n
}

/** An IP the index's `ip` mapping accepts; anything else would make the sink reject the whole event. */
export function validIp(host: string): boolean {
  if (host.length > 64 || host.length < 2) return false
  // IPv4 by hand (the common case on every record), and names like `reviews` rejected without a regex;
  // only candidates with a colon (IPv6) go through node:net.
  if (host.indexOf(':') < 0) {
    const c = host.charCodeAt(0)
    return c >= 48 && c <= 57 && isIPv4(host)
  }
  return isIP(host) !== 0
}

function isIPv4(s: string): boolean {
  let parts = 0
  let n = 0
  let len = 0
  for (let i = 0; i <= s.length; i++) {
    const c = i === s.length ? 46 : s.charCodeAt(i)
    if (c === 46) {
      if (len === 0 || n > 255 || (len > 1 && s.charCodeAt(i - len) === 48)) return false
      parts++
      n = 0
      len = 0
    } else {
      const d = c - 48
      if (d < 0 || d > 9 || ++len > 3) return false
      n = n * 10 + d
    }
  }
  return parts === 4
}

/** Host part of an :authority value (`reviews:9080`, `[::1]:80`, `example.com`). */
export function authorityHost(authority: string): string | undefined {
  const hp = splitHostPort(authority)
  if (hp === undefined || hp.host.length === 0) return undefined
  return hp.host.toLowerCase()
}
