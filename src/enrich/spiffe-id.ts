/**
 * SPIFFE ID parsing and validation, per the SPIFFE ID specification (spiffe/spiffe
 * standards/SPIFFE-ID.md): §2 scheme `spiffe`, non-empty trust domain, no query or fragment;
 * §2.1 trust domain is lowercase [a-z0-9.-_], no userinfo, no port, no percent-encoding;
 * §2.2 path segments are [a-zA-Z0-9.-_], never empty, `.` or `..`, no trailing `/`;
 * §2.3 at most 2048 bytes in all, trust domain at most 255 bytes; §2.4 the scheme is case-insensitive.
 *
 * Never throws: every input, however hostile, yields a typed result.
 */

export type SpiffeIdError =
  | 'empty'
  | 'too_long'
  | 'wrong_scheme'
  | 'missing_trust_domain'
  | 'trust_domain_too_long'
  | 'trust_domain_chars'
  | 'userinfo'
  | 'port'
  | 'percent_encoded'
  | 'query'
  | 'fragment'
  | 'empty_segment'
  | 'dot_segment'
  | 'trailing_slash'
  | 'path_chars'

export interface SpiffeId {
  /** Canonical form `spiffe://<td><path>` (scheme lowercased). */
  readonly uri: string
  readonly trustDomain: string
  /** '' for a trust-domain ID, else starts with '/'. */
  readonly path: string
  readonly segments: readonly string[]
  /** Istio workload path `/ns/<ns>/sa/<sa>`. */
  readonly namespace?: string
  readonly serviceAccount?: string
  /** Whether the input was a URI or an Istio principal `td/ns/NS/sa/SA`. */
  readonly form: 'uri' | 'istio-principal'
}

export type SpiffeIdResult = { readonly ok: true; readonly id: SpiffeId } | { readonly ok: false; readonly error: SpiffeIdError }

export const MAX_SPIFFE_ID_BYTES = 2048
export const MAX_TRUST_DOMAIN_BYTES = 255

const TRUST_DOMAIN_CHARS = /^[a-z0-9._-]+$/
const SEGMENT_CHARS = /^[a-zA-Z0-9._-]+$/
const SCHEME = 'spiffe://'

function fail(error: SpiffeIdError): SpiffeIdResult {
  return { ok: false, error }
}

/** Parses `spiffe://td/path`. */
export function parseSpiffeId(input: unknown): SpiffeIdResult {
  return parse(input, 'uri')
}

function parse(input: unknown, form: SpiffeId['form']): SpiffeIdResult {
  if (typeof input !== 'string' || input.length === 0) return fail('empty')
  // Length first, so no later step ever scans an unbounded string. The spec counts bytes; anything
  // non-ASCII is invalid anyway, so Buffer.byteLength only matters for the error reported.
  if (input.length > MAX_SPIFFE_ID_BYTES || Buffer.byteLength(input, 'utf8') > MAX_SPIFFE_ID_BYTES) return fail('too_long')
  if (input.slice(0, SCHEME.length).toLowerCase() !== SCHEME) return fail('wrong_scheme')
  const rest = input.slice(SCHEME.length)
  const authorityEnd = firstIndexOf(rest, '/?#')
  const authority = authorityEnd === -1 ? rest : rest.slice(0, authorityEnd)
  const tail = authorityEnd === -1 ? '' : rest.slice(authorityEnd)

  if (authority.includes('@')) return fail('userinfo')
  if (authority.includes(':')) return fail('port')
  if (authority.length === 0) return fail('missing_trust_domain')
  if (authority.length > MAX_TRUST_DOMAIN_BYTES) return fail('trust_domain_too_long')
  if (authority.includes('%')) return fail('percent_encoded')
  if (!TRUST_DOMAIN_CHARS.test(authority)) return fail('trust_domain_chars')

  if (tail.includes('?')) return fail('query')
  if (tail.includes('#')) return fail('fragment')
  if (tail.includes('%')) return fail('percent_encoded')

  const segments: string[] = []
  if (tail.length > 0) {
    if (tail.endsWith('/')) return fail('trailing_slash')
    const parts = tail.slice(1).split('/')
    for (const seg of parts) {
      if (seg.length === 0) return fail('empty_segment')
      if (seg === '.' || seg === '..') return fail('dot_segment')
      if (!SEGMENT_CHARS.test(seg)) return fail('path_chars')
      segments.push(seg)
    }
  }
  const workload = istioWorkload(segments)
  const id: SpiffeId = {
    uri: `${SCHEME}${authority}${tail}`,
    trustDomain: authority,
    path: tail,
    segments: Object.freeze(segments),
    ...(workload === undefined ? {} : { namespace: workload.namespace, serviceAccount: workload.serviceAccount }),
    form,
  }
  return { ok: true, id }
}

function firstIndexOf(s: string, chars: string): number {
  let best = -1
  for (const c of chars) {
    const i = s.indexOf(c)
    if (i !== -1 && (best === -1 || i < best)) best = i
  }
  return best
}

/** Istio's workload identity path is exactly `/ns/<namespace>/sa/<service-account>`. */
export function istioWorkload(segments: readonly string[]): { namespace: string; serviceAccount: string } | undefined {
  if (segments.length !== 4 || segments[0] !== 'ns' || segments[2] !== 'sa') return undefined
  const namespace = segments[1]
  const serviceAccount = segments[3]
  if (namespace === undefined || serviceAccount === undefined) return undefined
  return { namespace, serviceAccount }
}

/**
 * Parses an Istio principal `<td>/ns/<ns>/sa/<sa>` (AuthorizationPolicy `principals`, the
 * `source.principal` attribute): the SPIFFE URI without its scheme. Only the Istio workload shape is
 * accepted, so an arbitrary relative path is not mistaken for an identity.
 */
export function parseIstioPrincipal(input: unknown): SpiffeIdResult {
  if (typeof input !== 'string' || input.length === 0) return fail('empty')
  if (input.length > MAX_SPIFFE_ID_BYTES - SCHEME.length) return fail('too_long')
  if (input.includes('://')) return fail('wrong_scheme')
  const r = parse(SCHEME + input, 'istio-principal')
  if (r.ok && r.id.namespace === undefined) return fail('wrong_scheme')
  return r
}

/** Accepts either form: a SPIFFE URI, or an Istio principal. */
export function parseIdentity(input: unknown): SpiffeIdResult {
  if (typeof input === 'string' && !input.includes('://') && input.length > 0) return parseIstioPrincipal(input)
  return parseSpiffeId(input)
}

export interface SanList {
  /** Valid SPIFFE IDs, in the order Envoy printed them. */
  readonly ids: readonly SpiffeId[]
  /** Entries that were not valid SPIFFE IDs (DNS-style or other URI SANs, or malformed ones). */
  readonly invalid: readonly { readonly value: string; readonly error: SpiffeIdError }[]
}

const MAX_SANS = 32
const NO_SANS: SanList = Object.freeze({ ids: Object.freeze([]), invalid: Object.freeze([]) })

/**
 * A mesh has few distinct identities and every line repeats them, while the identity, AU-3 and
 * detect stages each read the same SAN fields: parsing each distinct value once turns five parses
 * per event into map lookups. Results are frozen so a cached value cannot be changed by one caller
 * under another. Bounded: values longer than CACHE_MAX_KEY are parsed without caching, and the cache
 * is dropped whole when it reaches CACHE_MAX_ENTRIES (a flood of distinct junk SANs costs a re-parse,
 * never memory).
 */
const CACHE_MAX_ENTRIES = 4096
const CACHE_MAX_KEY = 512
const sanCache = new Map<string, SanList>()

/**
 * Envoy's %DOWNSTREAM_PEER_URI_SAN% and friends join several URI SANs with ',' (absl::StrJoin in
 * stream_info_formatter.cc); '-' or '' is the unset value in text formats. A SPIFFE ID can never
 * contain ',', so splitting on it is exact.
 */
export function parseSanList(value: unknown): SanList {
  if (typeof value !== 'string' || value === '' || value === '-') return NO_SANS
  if (value.length > CACHE_MAX_KEY) return parseSanListUncached(value)
  let list = sanCache.get(value)
  if (list === undefined) {
    if (sanCache.size >= CACHE_MAX_ENTRIES) sanCache.clear()
    list = parseSanListUncached(value)
    sanCache.set(value, list)
  }
  return list
}

function parseSanListUncached(value: string): SanList {
  const ids: SpiffeId[] = []
  const invalid: { value: string; error: SpiffeIdError }[] = []
  const parts = value.split(',', MAX_SANS)
  for (const raw of parts) {
    const v = raw.trim()
    if (v === '' || v === '-') continue
    const r = parseSpiffeId(v)
    if (r.ok) ids.push(Object.freeze(r.id))
    else invalid.push(Object.freeze({ value: v.slice(0, 256), error: r.error }))
  }
  return Object.freeze({ ids: Object.freeze(ids), invalid: Object.freeze(invalid) })
}
