import { type CanonicalField, RawFields } from './fields.js'
import { INVALID, uint } from './values.js'

/*
 * Envoy/Istio TEXT access-log lines. Every generation starts the same way:
 *   [START_TIME] "METHOD PATH PROTOCOL" ...          TCP connections print "- - -"
 * and the rest is a sequence of bare tokens and "quoted" tokens (quoted ones may contain spaces: user
 * agents, X-Forwarded-For lists). The generations differ only in which fields follow, so a layout is
 * recognised by the exact shape of that tail (count and quotedness), e.g. for Istio 1.9+:
 *   [2022-08-22T13:08:23.188Z] "GET /reviews/0 HTTP/1.1" 200 - via_upstream - "-" 0 442 12 12 "-"
 *   "curl/7.79.1" "00bcf1d7-..." "reviews:9080" "10.124.1.5:9080" outbound|9080||reviews.default.svc.cluster.local
 *   10.124.2.6:50960 10.0.18.132:9080 10.124.2.6:52930 - default
 * Layouts (istio/istio pilot sources per tag; reference envoy-istio-log-formats.md a.2):
 *   envoy-default   code flags rx tx dur ust "xff" "ua" "id" "authority" "upstream_host"
 *   istio-text-1.0  envoy-default + cluster upstream_local downstream_local downstream_remote [sni]
 *   istio-text-1.1  code flags "mixer" rx tx ... downstream_remote sni
 *   istio-text-1.3  code flags "mixer" "failure_reason" rx tx ... sni route        (1.3 - 1.7)
 *   istio-text-1.8  code flags "failure_reason" rx tx ... sni route
 *   istio-text-1.9  code flags details termination "failure_reason" rx tx ... sni route   (1.9+)
 *   istio-text-1.9-peer-san  1.9 + %DOWNSTREAM_PEER_URI_SAN% before route (istio/istio PR #35337)
 */

type Slot = CanonicalField | null // null: a field we skip

interface Layout {
  readonly name: string
  readonly slots: readonly Slot[]
  readonly family: 'envoy' | 'istio'
}

const CORE: readonly Slot[] = [
  'bytes_received',
  'bytes_sent',
  'duration',
  'upstream_service_time',
  'x_forwarded_for',
  'user_agent',
  'request_id',
  'authority',
  'upstream_host',
]
const ADDRS: readonly Slot[] = ['upstream_cluster', 'upstream_local_address', 'downstream_local_address', 'downstream_remote_address']

const LAYOUTS: readonly Layout[] = [
  { name: 'envoy-default', family: 'envoy', slots: ['response_code', 'response_flags', ...CORE] },
  { name: 'istio-text-1.0', family: 'istio', slots: ['response_code', 'response_flags', ...CORE, ...ADDRS] },
  { name: 'istio-text-1.0', family: 'istio', slots: ['response_code', 'response_flags', ...CORE, ...ADDRS, 'requested_server_name'] },
  {
    name: 'istio-text-1.1',
    family: 'istio',
    slots: ['response_code', 'response_flags', 'istio_policy_status', ...CORE, ...ADDRS, 'requested_server_name'],
  },
  {
    name: 'istio-text-1.3',
    family: 'istio',
    slots: [
      'response_code',
      'response_flags',
      'istio_policy_status',
      'upstream_transport_failure_reason',
      ...CORE,
      ...ADDRS,
      'requested_server_name',
      'route_name',
    ],
  },
  {
    name: 'istio-text-1.8',
    family: 'istio',
    slots: [
      'response_code',
      'response_flags',
      'upstream_transport_failure_reason',
      ...CORE,
      ...ADDRS,
      'requested_server_name',
      'route_name',
    ],
  },
  {
    name: 'istio-text-1.9',
    family: 'istio',
    slots: [
      'response_code',
      'response_flags',
      'response_code_details',
      'connection_termination_details',
      'upstream_transport_failure_reason',
      ...CORE,
      ...ADDRS,
      'requested_server_name',
      'route_name',
    ],
  },
  {
    name: 'istio-text-1.9-peer-san',
    family: 'istio',
    slots: [
      'response_code',
      'response_flags',
      'response_code_details',
      'connection_termination_details',
      'upstream_transport_failure_reason',
      ...CORE,
      ...ADDRS,
      'requested_server_name',
      'downstream_peer_uri_san',
      'route_name',
    ],
  },
]

const QUOTED: ReadonlySet<Slot> = new Set<Slot>([
  'istio_policy_status',
  'upstream_transport_failure_reason',
  'x_forwarded_for',
  'user_agent',
  'request_id',
  'authority',
  'upstream_host',
])
const NUMERIC: readonly Slot[] = ['response_code', 'bytes_received', 'bytes_sent', 'duration', 'upstream_service_time']

const MAX_TOKENS = 30

/**
 * A layout's signature: the token count and a bit per token (1 = quoted), as one number, so matching a
 * line costs no string building. Bit 0 is the request token.
 */
function signature(count: number, quotedMask: number): number {
  return count * 2 ** MAX_TOKENS + quotedMask
}

const BY_SIGNATURE: ReadonlyMap<number, Layout> = new Map(
  LAYOUTS.map((l) => {
    let mask = 1
    l.slots.forEach((slot, i) => {
      if (QUOTED.has(slot)) mask |= 1 << (i + 1)
    })
    return [signature(l.slots.length + 1, mask), l]
  }),
)

/** `untimed`: the line has no `[START_TIME] ` prefix (see looksLikeUntimedTextAccessLog). */
export type TextResult =
  { fields: RawFields; format: string; untimed?: true } | { code: 'EA_PARSE_MALFORMED_TEXT' | 'EA_PARSE_NOT_ACCESS_LOG'; message: string }

/** Cheap test for "this is an Envoy text access line": `[<digit>...] "`. Envoy's own debug log starts `[2021-...][` instead. */
export function looksLikeTextAccessLog(line: string): boolean {
  if (line.charCodeAt(0) !== 91 /* [ */) return false
  const c = line.charCodeAt(1)
  if (c < 48 || c > 57) return false
  const close = line.indexOf(']', 1)
  return close > 0 && close < 48 && line.charCodeAt(close + 1) === 32 && line.charCodeAt(close + 2) === 34 /* " */
}

/**
 * `"METHOD PATH PROTOCOL" <digit>` (or `"- - -" 0`): a text line without its `[START_TIME] ` prefix, as
 * log viewers and copied excerpts show Envoy lines whose time went into a column of its own. Only the
 * start is checked here; parseTextLine still requires the exact field layout of a known format.
 */
export function looksLikeUntimedTextAccessLog(line: string): boolean {
  if (line.charCodeAt(0) !== 34 /* " */) return false
  const close = line.indexOf('" ', 1)
  if (close < 0) return false
  const c = line.charCodeAt(close + 2)
  return c >= 48 && c <= 57
}

/**
 * @param family restricts the layouts tried (an explicit --format); undefined tries all.
 */
export function parseTextLine(line: string, family?: 'envoy' | 'istio'): TextResult {
  if (looksLikeTextAccessLog(line)) return parseFields(line, true, family)
  if (!looksLikeUntimedTextAccessLog(line))
    return { code: 'EA_PARSE_NOT_ACCESS_LOG', message: 'not an Envoy text access-log line (expected `[START_TIME] "...`)' }
  // Without the time prefix, only an exact layout says "access log": anything less is some other quoted line.
  const r = parseFields(line, false, family)
  return 'code' in r
    ? { code: 'EA_PARSE_NOT_ACCESS_LOG', message: `quoted line without [START_TIME] that is no Envoy text access log: ${r.message}` }
    : r
}

function parseFields(line: string, timed: boolean, family: 'envoy' | 'istio' | undefined): TextResult {
  const close = timed ? line.indexOf(']') : -2
  const start = timed ? line.slice(1, close) : undefined
  const tokens: string[] = []
  let mask = 0
  let i = close + 2
  const n = line.length
  while (i < n) {
    const ch = line.charCodeAt(i)
    if (ch === 32 || ch === 9) {
      i++
      continue
    }
    if (tokens.length >= MAX_TOKENS) return { code: 'EA_PARSE_MALFORMED_TEXT', message: `more than ${MAX_TOKENS} fields` }
    if (ch === 34) {
      // A quoted value ends at a quote followed by a space or the end of the line, so a stray quote
      // inside a user agent does not split it (Envoy does not escape quotes in text logs).
      let j = i + 1
      for (;;) {
        j = line.indexOf('"', j)
        if (j < 0) return { code: 'EA_PARSE_MALFORMED_TEXT', message: 'unterminated quoted field (truncated line?)' }
        const after = line.charCodeAt(j + 1)
        if (j + 1 >= n || after === 32 || after === 9) break
        j++
      }
      mask |= 1 << tokens.length
      tokens.push(line.slice(i + 1, j))
      i = j + 1
    } else {
      let j = i
      while (j < n) {
        const c = line.charCodeAt(j)
        if (c === 32 || c === 9) break
        j++
      }
      tokens.push(line.slice(i, j))
      i = j
    }
  }
  if (tokens.length < 2 || (mask & 1) === 0)
    return { code: 'EA_PARSE_MALFORMED_TEXT', message: 'missing the quoted "METHOD PATH PROTOCOL" field' }
  const layout = BY_SIGNATURE.get(signature(tokens.length, mask))
  if (layout === undefined || (family !== undefined && layout.family !== family)) {
    return {
      code: 'EA_PARSE_MALFORMED_TEXT',
      message: `field layout matches no known ${family ?? 'Envoy/Istio'} text format (${tokens.length - 1} fields after the request)`,
    }
  }
  const f = new RawFields()
  if (start !== undefined) f.start_time = start
  const req = tokens[0]!
  const sp1 = req.indexOf(' ')
  const sp2 = req.lastIndexOf(' ')
  if (sp1 < 0 || sp2 === sp1) return { code: 'EA_PARSE_MALFORMED_TEXT', message: 'request field is not "METHOD PATH PROTOCOL"' }
  f.method = req.slice(0, sp1)
  f.path = req.slice(sp1 + 1, sp2)
  f.protocol = req.slice(sp2 + 1)
  const slots = layout.slots
  for (let k = 0; k < slots.length; k++) {
    const slot = slots[k]!
    if (slot !== null) f[slot] = tokens[k + 1]!
  }
  for (const slot of NUMERIC) {
    if (slot !== null && uint(f[slot]) === INVALID) {
      return { code: 'EA_PARSE_MALFORMED_TEXT', message: `${slot} is not a number: ${JSON.stringify(String(f[slot]).slice(0, 32))}` }
    }
  }
  return timed ? { fields: f, format: layout.name } : { fields: f, format: layout.name, untimed: true }
}
