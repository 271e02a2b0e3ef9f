/**
 * AU-3 (NIST SP 800-53 Rev 5) completeness of one event. The table below is both the documentation
 * and the check: an element is satisfied when any of its fields holds a usable value, so the README
 * table (renderAu3Markdown) can never drift from what the code does.
 *
 * AU-3 text: records establish a. type of event, b. when, c. where, d. source, e. outcome,
 * f. identity of subjects/objects. AU-3(1) additions are reported separately (extras_missing), not
 * required. The field map is the AU-3 table of docs/au3-and-findings.md.
 */
import type { AuditEvent, Au3Fields } from '../generated/types.js'
import { parseSanList } from '../enrich/spiffe-id.js'

export type Au3ElementName = 'type' | 'when' | 'where' | 'source' | 'outcome' | 'identity'
export type Au3ExtraName = 'duration' | 'bytes' | 'request_id' | 'tls_version'

/**
 * How a field counts: `present` = non-empty string / finite number / true / non-empty array;
 * `date` = parses as a date; `start_time` = a date that is the request's own start time (the event has
 * no audit.time_source); `positive` = number > 0 (TCP lines log response_code 0);
 * `known` = event.outcome other than 'unknown'; `spiffe` = holds at least one valid SPIFFE ID.
 */
export type FieldTest = 'present' | 'date' | 'start_time' | 'positive' | 'known' | 'spiffe'

export interface Au3Field {
  readonly path: string
  readonly test: FieldTest
  /** path split once at startup. */
  readonly keys: readonly string[]
}

export interface Au3Element<N extends string = Au3ElementName> {
  readonly element: N
  readonly control: string
  /** What the element must establish, in the control's words. */
  readonly question: string
  /** Any one of these satisfies the element (for `bytes`: all of them, see `all`). */
  readonly fields: readonly Au3Field[]
  readonly all?: boolean
  /** With `all`: a second set of fields that satisfies the element when all of them hold (a TCP connection's bytes). */
  readonly orAll?: readonly Au3Field[]
  readonly note?: string
}

const f = (path: string, test: FieldTest = 'present'): Au3Field => ({ path, test, keys: path === '@timestamp' ? [path] : path.split('.') })

export const AU3_TABLE: readonly Au3Element[] = Object.freeze([
  {
    element: 'type',
    control: 'AU-3a',
    question: 'What type of event occurred',
    fields: [f('http.request.method'), f('network.protocol'), f('network.transport'), f('event.action')],
    note: 'TCP lines have no method; protocol/transport or the parsed action (allowed, denied, connection, rejected) say what happened.',
  },
  {
    element: 'when',
    control: 'AU-3b',
    question: 'When the event occurred',
    fields: [f('@timestamp', 'start_time')],
    note:
      'Envoy START_TIME in UTC with milliseconds: meets AU-8 and the FedRAMP one-second granularity. A ' +
      'line that logs no start time gets the time of its log envelope or of its reading ' +
      '(audit.time_source): not when the request happened, so this element is missing.',
  },
  {
    element: 'where',
    control: 'AU-3c',
    question: 'Where the event occurred',
    fields: [
      f('mesh.destination.service'),
      f('destination.address'),
      f('destination.ip'),
      f('envoy.downstream_local_address'),
      f('envoy.upstream_host'),
      f('mesh.upstream_cluster'),
      f('envoy.authority'),
      f('url.domain'),
    ],
  },
  {
    element: 'source',
    control: 'AU-3d',
    question: 'Source of the event',
    fields: [
      f('source.ip'),
      f('source.address'),
      f('envoy.downstream_remote_address'),
      f('envoy.x_forwarded_for'),
      f('mesh.source.spiffe_id'),
    ],
  },
  {
    element: 'outcome',
    control: 'AU-3e',
    question: 'Outcome of the event',
    fields: [
      f('http.response.status_code', 'positive'),
      f('event.outcome', 'known'),
      f('envoy.response_flags'),
      f('envoy.response_code_details'),
      f('envoy.connection_termination_details'),
    ],
  },
  {
    element: 'identity',
    control: 'AU-3f',
    question: 'Identity of the subjects/entities associated with the event',
    fields: [
      f('mesh.source.spiffe_id', 'spiffe'),
      f('envoy.peer.downstream_uri_san', 'spiffe'),
      f('envoy.peer.upstream_uri_san', 'spiffe'),
    ],
    note:
      "A peer certificate's SPIFFE ID. Istio's default formats do not log it (istio/istio PR #35337 was not " +
      'merged), so default-format lines are incomplete here. On plaintext traffic (mesh.mtls = false) there ' +
      'is no identity to log: that is the plaintext finding, not an AU-3 gap.',
  },
] satisfies Au3Element[])

export const AU3_EXTRAS: readonly Au3Element<Au3ExtraName>[] = Object.freeze([
  { element: 'duration', control: 'AU-3(1)', question: 'Session, connection or transaction duration', fields: [f('event.duration')] },
  {
    element: 'bytes',
    control: 'AU-3(1)',
    question: 'Bytes received and bytes sent',
    fields: [f('http.request.bytes'), f('http.response.bytes')],
    all: true,
    orAll: [f('source.bytes'), f('destination.bytes')],
    note: 'ztunnel lines log bytes per connection, in source.bytes and destination.bytes.',
  },
  {
    element: 'request_id',
    control: 'AU-3(1)',
    question: 'Transaction identifier (x-request-id) to correlate both sides',
    fields: [f('http.request.id')],
  },
  {
    element: 'tls_version',
    control: 'AU-3(1)',
    question: 'Protocol characteristics of the connection (negotiated TLS version)',
    fields: [f('tls.version'), f('envoy.peer.upstream_tls_version')],
  },
] satisfies Au3Element<Au3ExtraName>[])

/** Reads a dotted path; own properties only, so no prototype key is ever consulted. */
export function readPath(event: unknown, path: string | readonly string[]): unknown {
  return readKeys(event, typeof path !== 'string' ? path : path === '@timestamp' ? [path] : path.split('.'))
}

function readKeys(event: unknown, keys: readonly string[]): unknown {
  let cur: unknown = event
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string
    if (!isRecord(cur) || !Object.hasOwn(cur, key)) return undefined
    cur = cur[key]
  }
  return cur
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function usableString(v: unknown): boolean {
  return typeof v === 'string' && v !== '' && v !== '-'
}

function passes(value: unknown, test: FieldTest): boolean {
  switch (test) {
    case 'present':
      if (typeof value === 'string') return value !== '' && value !== '-'
      if (typeof value === 'number') return Number.isFinite(value)
      if (typeof value === 'boolean') return value
      if (Array.isArray(value)) return value.some(usableString)
      return false
    case 'date':
    case 'start_time':
      return typeof value === 'string' && value.length <= 64 && !Number.isNaN(Date.parse(value))
    case 'positive':
      return typeof value === 'number' && Number.isFinite(value) && value > 0
    case 'known':
      return value === 'success' || value === 'failure'
    case 'spiffe':
      return typeof value === 'string' && value.length <= 8192 && parseSanList(value).ids.length > 0
  }
}

const TIME_SOURCE: readonly string[] = ['audit', 'time_source']

// Plain loops, no per-call closures: this runs for ten elements on every event.
function satisfied(event: AuditEvent, el: Au3Element<string>): boolean {
  if (el.orAll !== undefined && fieldsHold(event, el.fields, true)) return true
  return fieldsHold(event, el.orAll ?? el.fields, el.all === true)
}

function fieldsHold(event: AuditEvent, fields: readonly Au3Field[], all: boolean): boolean {
  for (let i = 0; i < fields.length; i++) {
    const fl = fields[i] as Au3Field
    const ok = passes(readKeys(event, fl.keys), fl.test) && (fl.test !== 'start_time' || readKeys(event, TIME_SOURCE) === undefined)
    if (ok !== all) return !all
  }
  return all
}

const IDENTITY: Au3Element = AU3_TABLE.find((el) => el.element === 'identity') as Au3Element

/**
 * Whether the identity element (AU-3f) is satisfied, plaintext aside: it reads only the peer
 * certificates and mesh.source.spiffe_id, so the au3 stage can keep it per identity tuple.
 */
export function identityElementSatisfied(event: AuditEvent): boolean {
  return satisfied(event, IDENTITY)
}

/**
 * One frozen verdict per combination of missing elements: most events share a handful, so the stage
 * sets a shared object instead of building three per event. Indexed by the bit mask of the missing
 * required elements and, above them, of the missing extras.
 */
const verdicts: (Required<Au3Fields> | undefined)[] = []

function verdict(missingMask: number, extrasMask: number): Required<Au3Fields> {
  const index = (extrasMask << AU3_TABLE.length) | missingMask
  let v = verdicts[index]
  if (v === undefined) {
    const missing = AU3_TABLE.filter((_, i) => (missingMask & (1 << i)) !== 0).map((el) => el.element)
    const extras = AU3_EXTRAS.filter((_, i) => (extrasMask & (1 << i)) !== 0).map((el) => el.element)
    v = Object.freeze({
      complete: missing.length === 0,
      missing: Object.freeze(missing) as string[],
      extras_missing: Object.freeze(extras) as string[],
    })
    verdicts[index] = v
  }
  return v
}

/**
 * The AU-3 verdict for one event. `identity` is not required when the hop is known to be plaintext
 * (mesh.mtls === false, set by the identity stage): no certificate means no identity to record.
 * `identityOk`, when given, is identityElementSatisfied(event) computed earlier for the same identity.
 * The result is shared and frozen.
 */
export function checkAu3(event: AuditEvent, identityOk?: boolean): Required<Au3Fields> {
  const plaintext = isRecord(event.mesh) && event.mesh.mtls === false
  let missing = 0
  for (let i = 0; i < AU3_TABLE.length; i++) {
    const el = AU3_TABLE[i] as Au3Element
    if (el === IDENTITY) {
      if (plaintext) continue
      if (identityOk ?? satisfied(event, el)) continue
    } else if (satisfied(event, el)) continue
    missing |= 1 << i
  }
  let extras = 0
  for (let i = 0; i < AU3_EXTRAS.length; i++) if (!satisfied(event, AU3_EXTRAS[i] as Au3Element<string>)) extras |= 1 << i
  return verdict(missing, extras)
}

/** Writes audit.au3 on the event in place. */
export function annotateAu3(event: AuditEvent, identityOk?: boolean): void {
  if (!isRecord(event.audit)) (event as { audit: AuditEvent['audit'] }).audit = {}
  event.audit.au3 = checkAu3(event, identityOk)
}

function row(el: Au3Element<string>): string {
  const joiner = el.all === true ? ' and ' : ', '
  const list = (fs: readonly Au3Field[]): string => fs.map((x) => `\`${x.path}\`${x.test === 'present' ? '' : ` (${x.test})`}`).join(joiner)
  const fields = el.orAll === undefined ? list(el.fields) : `${list(el.fields)}; or ${list(el.orAll)}`
  return `| ${[el.element, el.control, el.question, fields, el.note ?? ''].map((c) => c.replaceAll('|', '\\|')).join(' | ')} |`
}

/** Markdown rendering of both tables, for the README and reports. */
export function renderAu3Markdown(): string {
  const head = '| element | control | establishes | satisfied by (any of) | note |\n|---|---|---|---|---|'
  return [
    '### AU-3 elements (required)',
    '',
    head,
    ...AU3_TABLE.map(row),
    '',
    '### AU-3(1) additional information (reported in `audit.au3.extras_missing`, not required)',
    '',
    head,
    ...AU3_EXTRAS.map(row),
    '',
    'Field tests: plain = non-empty value; `date` = parses as a date; `start_time` = a date that is the ' +
      "request's own start time (no `audit.time_source`); `positive` = number > 0 (TCP lines log code 0); " +
      '`known` = `success` or `failure`; `spiffe` = holds a valid SPIFFE ID.',
    '',
  ].join('\n')
}
