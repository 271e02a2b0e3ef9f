import { EnvoyAuditError } from '../errors.js'
import { type CanonicalField, RawFields } from './fields.js'
import type { TextResult } from './text.js'
import { INVALID, uint } from './values.js'

/*
 * User-defined TEXT formats (meshConfig.accessLogFormat, a Telemetry provider's logFormat.text, or an
 * EnvoyFilter), given as the Envoy format string itself, e.g. Istio's default plus the peer identity:
 *   [%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% ...
 *   %DOWNSTREAM_PEER_URI_SAN% %DOWNSTREAM_TLS_VERSION%\n
 * The string is compiled once into an anchored regex: literal text must match exactly; an operator
 * captures up to the literal character that follows it in the format (and, unquoted, up to whitespace),
 * so every group is deterministic and matching stays linear: a hostile line cannot make it slow. A value
 * that contains its own terminator (a quote inside a quoted user agent) makes the line fail to match.
 * Operators we do not map are matched and skipped; a format without %START_TIME% is rejected at startup.
 */

const OPERATORS: Readonly<Record<string, CanonicalField>> = {
  START_TIME: 'start_time',
  PROTOCOL: 'protocol',
  RESPONSE_CODE: 'response_code',
  RESPONSE_FLAGS: 'response_flags',
  RESPONSE_FLAGS_LONG: 'response_flags',
  RESPONSE_CODE_DETAILS: 'response_code_details',
  CONNECTION_TERMINATION_DETAILS: 'connection_termination_details',
  UPSTREAM_TRANSPORT_FAILURE_REASON: 'upstream_transport_failure_reason',
  BYTES_RECEIVED: 'bytes_received',
  BYTES_SENT: 'bytes_sent',
  DURATION: 'duration',
  UPSTREAM_HOST: 'upstream_host',
  UPSTREAM_CLUSTER: 'upstream_cluster',
  UPSTREAM_CLUSTER_RAW: 'upstream_cluster',
  UPSTREAM_LOCAL_ADDRESS: 'upstream_local_address',
  DOWNSTREAM_LOCAL_ADDRESS: 'downstream_local_address',
  DOWNSTREAM_REMOTE_ADDRESS: 'downstream_remote_address',
  REQUESTED_SERVER_NAME: 'requested_server_name',
  ROUTE_NAME: 'route_name',
  CONNECTION_ID: 'connection_id',
  DOWNSTREAM_PEER_URI_SAN: 'downstream_peer_uri_san',
  DOWNSTREAM_LOCAL_URI_SAN: 'downstream_local_uri_san',
  DOWNSTREAM_PEER_SUBJECT: 'downstream_peer_subject',
  DOWNSTREAM_TLS_VERSION: 'downstream_tls_version',
  DOWNSTREAM_TLS_CIPHER: 'downstream_tls_cipher',
  UPSTREAM_PEER_URI_SAN: 'upstream_peer_uri_san',
  UPSTREAM_TLS_VERSION: 'upstream_tls_version',
  UPSTREAM_TLS_CIPHER: 'upstream_tls_cipher',
}

/** First header name of %REQ(A?B):N% / %RESP(...)% -> field. */
const REQUEST_HEADERS: Readonly<Record<string, CanonicalField>> = {
  ':METHOD': 'method',
  ':PATH': 'path',
  'X-ENVOY-ORIGINAL-PATH': 'path',
  ':AUTHORITY': 'authority',
  HOST: 'authority',
  'X-FORWARDED-FOR': 'x_forwarded_for',
  'USER-AGENT': 'user_agent',
  'X-REQUEST-ID': 'request_id',
}
const RESPONSE_HEADERS: Readonly<Record<string, CanonicalField>> = { 'X-ENVOY-UPSTREAM-SERVICE-TIME': 'upstream_service_time' }

const NUMERIC: ReadonlySet<CanonicalField> = new Set(['response_code', 'bytes_received', 'bytes_sent', 'upstream_service_time'])

export interface CompiledTextFormat {
  readonly regex: RegExp
  /** Capture group i+1 -> field (null: matched, not kept). */
  readonly slots: ReadonlyArray<CanonicalField | null>
}

function fieldOf(op: string): CanonicalField | null {
  const paren = op.indexOf('(')
  const name = paren < 0 ? op : op.slice(0, paren)
  if (paren < 0 || name === 'START_TIME') return Object.hasOwn(OPERATORS, name) ? OPERATORS[name]! : null
  const inner = op.slice(paren + 1, op.lastIndexOf(')')).toUpperCase()
  const first = inner.split('?')[0]!
  if (name === 'REQ' || name === 'REQUEST_HEADER') return Object.hasOwn(REQUEST_HEADERS, first) ? REQUEST_HEADERS[first]! : null
  if (name === 'RESP' || name === 'RESPONSE_HEADER') return Object.hasOwn(RESPONSE_HEADERS, first) ? RESPONSE_HEADERS[first]! : null
  // Istio puts the proxy's cluster id into its environment (node metadata CLUSTER_ID).
  if (name === 'ENVIRONMENT' && first === 'ISTIO_META_CLUSTER_ID') return 'cluster_id'
  return null
}

/** Throws EA_CONFIG_INVALID (naming parser.textFormat) when the format cannot be used. */
export function compileTextFormat(format: string): CompiledTextFormat {
  const fmt = format.replace(/\\n$|\n$/, '')
  const slots: Array<CanonicalField | null> = []
  let re = '^'
  let inQuotes = false
  let i = 0
  while (i < fmt.length) {
    const ch = fmt[i]!
    if (ch === '%') {
      // Arguments may themselves contain `%` (`%START_TIME(%s.%3f)%`), so skip past the parenthesis.
      let j = i + 1
      while (j < fmt.length && /[A-Z_0-9]/.test(fmt[j]!)) j++
      if (fmt[j] === '(') {
        const close = fmt.indexOf(')', j)
        j = close < 0 ? fmt.length : close + 1
      }
      const end = fmt.indexOf('%', j)
      if (end < 0) throw new EnvoyAuditError('EA_CONFIG_INVALID', `parser.textFormat: unterminated %OPERATOR% at position ${i}`)
      const op = fmt.slice(i + 1, end)
      if (!/^[A-Z_0-9]+(\(.*\))?(:\d+)?$/.test(op))
        throw new EnvoyAuditError('EA_CONFIG_INVALID', `parser.textFormat: not an Envoy command operator: %${op}%`)
      const next = fmt[end + 1]
      if (next === '%')
        throw new EnvoyAuditError(
          'EA_CONFIG_INVALID',
          `parser.textFormat: %${op}% is directly followed by another operator; the line could not be split`,
        )
      slots.push(fieldOf(op))
      // The capture stops at the literal that follows it, so every group is deterministic.
      const stop = next === undefined ? '' : next === ' ' ? ' ' : escapeClass(next)
      const word = inQuotes ? `[^"${stop === ' ' ? ' ' : stop}]*` : `[^\\s${stop === ' ' ? '' : stop}]*`
      // An unquoted strftime START_TIME with spaces (`%Y-%m-%d %H:%M:%S`) spans that many more words
      // (quoted captures already take spaces).
      const spaces = !inQuotes && op.startsWith('START_TIME(') ? op.split(' ').length - 1 : 0
      re += spaces === 0 ? `(${word})` : `(${word}(?: ${word}){${spaces}})`
      i = end + 1
      continue
    }
    if (ch === '"') inQuotes = !inQuotes
    re += ch === ' ' ? ' +' : ch.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
    i++
  }
  if (!slots.includes('start_time'))
    throw new EnvoyAuditError('EA_CONFIG_INVALID', 'parser.textFormat: the format has no %START_TIME%, so no event time')
  return { regex: new RegExp(`${re}$`), slots }
}

function escapeClass(c: string): string {
  return c.replace(/[\]\\^-]/g, '\\$&')
}

export function parseCustomText(line: string, fmt: CompiledTextFormat): TextResult {
  const m = fmt.regex.exec(line)
  if (m === null) return { code: 'EA_PARSE_MALFORMED_TEXT', message: 'line does not match the configured text format' }
  const f = new RawFields()
  const slots = fmt.slots
  for (let k = 0; k < slots.length; k++) {
    const slot = slots[k]
    if (slot !== null && slot !== undefined) f[slot] = m[k + 1]!
  }
  for (const slot of NUMERIC) {
    if (uint(f[slot]) === INVALID)
      return { code: 'EA_PARSE_MALFORMED_TEXT', message: `${slot} is not a number: ${JSON.stringify(String(f[slot]).slice(0, 32))}` }
  }
  f.downstreamTlsLogged = slots.includes('downstream_tls_version')
  return { fields: f, format: 'custom:text' }
}
