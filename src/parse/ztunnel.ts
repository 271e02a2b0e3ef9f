/**
 * Istio ambient mode's node proxy, ztunnel, writes its own access lines, not Envoy's. They come from
 * `ConnectionResult` in istio/ztunnel src/proxy/metrics.rs: a `tracing` event with target `access` whose
 * message is `connection opened` (debug), `connection complete` (info, or error with an `error` field)
 * or `connection failed` (warn: denied before ztunnel knew the workloads, `log_early_deny`). Its fields:
 * src.addr, src.workload, src.namespace, src.identity (only under mTLS), dst.addr, dst.hbone_addr (the
 * HBONE target when the connection was tunnelled), dst.service, dst.workload, dst.namespace,
 * dst.identity, direction (inbound|outbound), bytes_sent, bytes_recv, duration (`<n>ms`), error.
 *
 * Two encodings, as ztunnel's logger writes them:
 * - text: `<RFC 3339 time>\t<level>\taccess\t<message>\t<key>=<value> ...`, strings quoted the way Rust's
 *   Debug prints them (`"..."` with backslash escapes), numbers and addresses bare
 *   (istio/ztunnel#1273 shows such lines);
 * - JSON (LOG_FORMAT=json): one object with `level`, `time`, `scope: "access"`, `message` and the
 *   dotted field names as keys (istio/ztunnel#2055 shows one).
 */
import type { RawValue } from './fields.js'

export const ZTUNNEL_MESSAGES: ReadonlySet<string> = new Set(['connection complete', 'connection opened', 'connection failed'])

/** The raw fields of one ztunnel access line; every value as logged. */
export class ZtunnelRaw {
  time: RawValue = undefined
  level: RawValue = undefined
  message: RawValue = undefined
  src_addr: RawValue = undefined
  src_workload: RawValue = undefined
  src_namespace: RawValue = undefined
  src_identity: RawValue = undefined
  dst_addr: RawValue = undefined
  dst_hbone_addr: RawValue = undefined
  dst_service: RawValue = undefined
  dst_workload: RawValue = undefined
  dst_namespace: RawValue = undefined
  dst_identity: RawValue = undefined
  direction: RawValue = undefined
  bytes_sent: RawValue = undefined
  bytes_recv: RawValue = undefined
  duration: RawValue = undefined
  error: RawValue = undefined
}

type RawKey = Exclude<keyof ZtunnelRaw, 'time' | 'level' | 'message'>

/** Logged key -> slot. A Map, so no key from the line can reach a prototype. */
const KEYS: ReadonlyMap<string, RawKey> = new Map<string, RawKey>([
  ['src.addr', 'src_addr'],
  ['src.workload', 'src_workload'],
  ['src.namespace', 'src_namespace'],
  ['src.identity', 'src_identity'],
  ['dst.addr', 'dst_addr'],
  ['dst.hbone_addr', 'dst_hbone_addr'],
  ['dst.service', 'dst_service'],
  ['dst.workload', 'dst_workload'],
  ['dst.namespace', 'dst_namespace'],
  ['dst.identity', 'dst_identity'],
  ['direction', 'direction'],
  ['bytes_sent', 'bytes_sent'],
  ['bytes_recv', 'bytes_recv'],
  ['duration', 'duration'],
  ['error', 'error'],
])

// The head ztunnel's text logger writes before the fields; the time is left out by some collectors.
const TIME = String.raw`(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d))`
const LEVEL = '(trace|debug|info|warn|error|TRACE|DEBUG|INFO|WARN|ERROR)'
const TEXT_HEAD = new RegExp(String.raw`^(?:${TIME}\s+)?${LEVEL}\s+access\s+(connection (?:complete|opened|failed))(?=\s|$)`)

/** Is this a ztunnel text access line? Cheap enough for every text line: anchored, fails on the first byte of an Envoy line. */
export function looksLikeZtunnelText(s: string): boolean {
  const c = s.charCodeAt(0)
  // A digit (the time) or the first letter of a level.
  if (!((c >= 48 && c <= 57) || c === 100 || c === 101 || c === 105 || c === 116 || c === 119 || c === 68 || c === 69 || c === 73))
    return false
  return TEXT_HEAD.test(s)
}

export type ZtunnelParse = { raw: ZtunnelRaw; untimed: boolean } | { code: 'EA_PARSE_MALFORMED_TEXT'; message: string }

/** Parses a text line that looksLikeZtunnelText accepted. */
export function parseZtunnelText(s: string): ZtunnelParse {
  const m = TEXT_HEAD.exec(s)
  if (m === null) return { code: 'EA_PARSE_MALFORMED_TEXT', message: 'not a ztunnel access line' }
  const raw = new ZtunnelRaw()
  raw.time = m[1]
  raw.level = (m[2] as string).toLowerCase()
  raw.message = m[3]
  let i = m[0].length
  const n = s.length
  while (i < n) {
    while (i < n && isSpace(s.charCodeAt(i))) i++
    if (i >= n) break
    const eq = s.indexOf('=', i)
    if (eq < 0) return malformed(`field without '=' at column ${i}`)
    const key = s.slice(i, eq)
    if (!/^[A-Za-z_][A-Za-z0-9_.]*$/.test(key)) return malformed(`bad field name ${JSON.stringify(key.slice(0, 40))}`)
    i = eq + 1
    let value: string
    if (s.charCodeAt(i) === 34 /* " */) {
      const q = readQuoted(s, i)
      if (q === undefined) return malformed(`unterminated quoted value of ${key}`)
      value = q.value
      i = q.end
    } else {
      let j = i
      while (j < n && !isSpace(s.charCodeAt(j))) j++
      value = s.slice(i, j)
      i = j
    }
    const slot = KEYS.get(key)
    if (slot !== undefined) raw[slot] = value
  }
  return { raw, untimed: raw.time === undefined }
}

/** Is this JSON object a ztunnel access record? */
export function isZtunnelJson(obj: Record<string, unknown>): boolean {
  return (
    obj['scope'] === 'access' &&
    typeof obj['message'] === 'string' &&
    ZTUNNEL_MESSAGES.has(obj['message']) &&
    (Object.hasOwn(obj, 'src.addr') || Object.hasOwn(obj, 'dst.addr'))
  )
}

export function ztunnelFromJson(obj: Record<string, unknown>): ZtunnelRaw {
  const raw = new ZtunnelRaw()
  raw.time = scalar(obj['time'])
  raw.level = scalar(obj['level'])
  raw.message = scalar(obj['message'])
  for (const [key, slot] of KEYS) if (Object.hasOwn(obj, key)) raw[slot] = scalar(obj[key])
  return raw
}

function scalar(v: unknown): RawValue {
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' || v === null ? v : undefined
}

function isSpace(c: number): boolean {
  return c === 32 || c === 9
}

function malformed(why: string): ZtunnelParse {
  return { code: 'EA_PARSE_MALFORMED_TEXT', message: `ztunnel access line: ${why}` }
}

/** A Rust Debug string: `\"`, `\\`, `\n`, `\r`, `\t`, `\0`, `\'` and `\u{hex}` escapes. */
function readQuoted(s: string, start: number): { value: string; end: number } | undefined {
  let out = ''
  let i = start + 1
  let from = i
  while (i < s.length) {
    const c = s.charCodeAt(i)
    if (c === 34) return { value: out + s.slice(from, i), end: i + 1 }
    if (c !== 92) {
      i++
      continue
    }
    out += s.slice(from, i)
    const e = s[i + 1]
    if (e === undefined) return undefined
    if (e === 'u' && s[i + 2] === '{') {
      const close = s.indexOf('}', i + 3)
      const cp = close < 0 ? NaN : parseInt(s.slice(i + 3, close), 16)
      if (!Number.isInteger(cp) || cp < 0 || cp > 0x10ffff) return undefined
      out += String.fromCodePoint(cp)
      i = close + 1
    } else {
      out += e === 'n' ? '\n' : e === 'r' ? '\r' : e === 't' ? '\t' : e === '0' ? '\0' : e
      i += 2
    }
    from = i
  }
  return undefined
}
