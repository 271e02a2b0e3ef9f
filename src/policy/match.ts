/**
 * Attribute matchers with Istio's value syntax (proto `message Rule`, concepts "Value matching"):
 * `abc` exact, `abc*` prefix, `*abc` suffix, `*` presence (non-empty). Only a leading or trailing `*` is
 * special; `a*b` is the literal string. Every matcher returns false for an absent attribute, so a
 * `not*` list (implemented as NOT any-of) matches an absent attribute, as Envoy does.
 */
import { isIP } from 'node:net'
import { isPathTemplate, templateRegex } from './path.js'

export type StringMatch = (value: string | undefined) => boolean

export function istioString(pattern: string, ignoreCase = false): StringMatch {
  const p = ignoreCase ? pattern.toLowerCase() : pattern
  const norm = (v: string): string => (ignoreCase ? v.toLowerCase() : v)
  if (p === '*') return (v) => v !== undefined && v.length > 0
  if (p.startsWith('*')) {
    const suffix = p.slice(1)
    return (v) => v !== undefined && norm(v).endsWith(suffix)
  }
  if (p.endsWith('*')) {
    const prefix = p.slice(0, -1)
    return (v) => v !== undefined && norm(v).startsWith(prefix)
  }
  return (v) => v !== undefined && norm(v) === p
}

/**
 * Envoy's prefix/suffix matchers are non-empty-remainder agnostic, but Istio compiles a principal `*` to
 * the regex `.+`; istioString already treats `*` as non-empty, which is the same thing.
 */
export function anyOf(patterns: readonly string[] | undefined, make: (p: string) => StringMatch): StringMatch | null {
  if (patterns === undefined || patterns.length === 0) return null
  const ms = patterns.map(make)
  return (v) => ms.some((m) => m(v))
}

/** Path values: templates, or istioString on the normalized path (case-sensitive). */
export function pathMatcher(pattern: string): StringMatch {
  if (isPathTemplate(pattern)) {
    const re = templateRegex(pattern)
    return (v) => v !== undefined && re.test(v)
  }
  return istioString(pattern)
}

// ---- IP / CIDR ------------------------------------------------------------------------------------

interface Cidr {
  v6: boolean
  bits: bigint
  prefix: number
}

function ipToBigInt(ip: string): { v6: boolean; value: bigint } | null {
  const kind = isIP(ip)
  if (kind === 4) {
    const parts = ip.split('.').map(Number)
    return { v6: false, value: parts.reduce((acc, n) => (acc << 8n) | BigInt(n), 0n) }
  }
  if (kind === 6) {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)
    if (mapped !== null) return ipToBigInt(mapped[1]!)
    const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined]
    const h = head === '' || head === undefined ? [] : head.split(':')
    const t = tail === undefined || tail === '' ? [] : tail.split(':')
    const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t]
    return { v6: true, value: groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n) }
  }
  return null
}

export function parseCidr(text: string): Cidr | null {
  const [addr, len] = text.split('/')
  const ip = ipToBigInt(addr ?? '')
  if (ip === null) return null
  const max = ip.v6 ? 128 : 32
  const prefix = len === undefined ? max : Number(len)
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max) return null
  return { v6: ip.v6, bits: ip.value, prefix }
}

export function cidrMatcher(text: string): StringMatch {
  const c = parseCidr(text)
  if (c === null) return () => false
  const max = c.v6 ? 128 : 32
  const shift = BigInt(max - c.prefix)
  return (v) => {
    if (v === undefined) return false
    const ip = ipToBigInt(v)
    if (ip === null || ip.v6 !== c.v6) return false
    return ip.value >> shift === c.bits >> shift
  }
}

// ---- identities -----------------------------------------------------------------------------------

/** `spiffe://td/ns/x/sa/y` or `td/ns/x/sa/y` → `td/ns/x/sa/y`. */
export function stripSpiffe(principal: string): string {
  return principal.startsWith('spiffe://') ? principal.slice('spiffe://'.length) : principal
}

export interface TrustBundle {
  trustDomain: string
  aliases: readonly string[]
}

function bundleDomains(b: TrustBundle): string[] {
  return [b.trustDomain, ...b.aliases.filter((a) => a !== b.trustDomain)]
}

/**
 * pilot/pkg/security/trustdomain/bundle.go ReplaceTrustDomainAliases: a 5-segment principal whose trust
 * domain is the local one, an alias, or the literal `cluster.local` stands for every domain in the
 * bundle (and `cluster.local` itself then only matches if it is in the bundle). A `*` trust domain or a
 * foreign one is kept verbatim.
 */
export function expandPrincipal(value: string, bundle: TrustBundle): string[] {
  const segs = value.split('/')
  if (segs.length !== 5 || segs[0]!.includes('*')) return [value]
  const td = segs[0]!
  const domains = bundleDomains(bundle)
  if (td !== 'cluster.local' && !domains.includes(td)) return [value]
  return domains.map((d) => [d, ...segs.slice(1)].join('/'))
}

export function principalMatcher(value: string, bundle: TrustBundle): StringMatch {
  const ms = expandPrincipal(value, bundle).map((p) => istioString(p))
  return (v) => v !== undefined && ms.some((m) => m(v))
}

const escapeRe = (s: string): string => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')

// generator srcNamespaceGenerator: regex `.*` + `/ns/<ns>/` + `.*` over the SPIFFE URI, every `*` in <ns> becoming `.*`.
export function namespaceMatcher(value: string): StringMatch {
  const re = new RegExp(`^.*/ns/${escapeRe(value).replace(/\*/g, '.*')}/.*$`)
  return (v) => v !== undefined && re.test(`spiffe://${v}`)
}

/** `spiffe://.+/ns/<ns>/(.+/|)sa/<sa>(/.+)?`; a bare SA name means the policy's own namespace. */
export function serviceAccountMatcher(value: string, policyNamespace: string): StringMatch {
  const [ns, sa] = value.includes('/')
    ? [value.slice(0, value.indexOf('/')), value.slice(value.indexOf('/') + 1)]
    : [policyNamespace, value]
  const re = new RegExp(`^spiffe://.+/ns/${escapeRe(ns)}/(.+/|)sa/${escapeRe(sa)}(/.+)?$`)
  return (v) => v !== undefined && re.test(`spiffe://${v}`)
}

/** `trustDomains`: prefix `td/`, `*` any, one leading/trailing `*` inside the domain label. Aliases expand. */
export function trustDomainMatcher(value: string, bundle: TrustBundle): StringMatch {
  const domains = bundleDomains(bundle)
  const values = domains.includes(value) ? domains : [value]
  const ms = values.map((td): StringMatch => {
    if (td === '*') return (v) => v !== undefined && v.length > 0
    const body = td.startsWith('*')
      ? `[^/]*${escapeRe(td.slice(1))}`
      : td.endsWith('*')
        ? `${escapeRe(td.slice(0, -1))}[^/]*`
        : escapeRe(td)
    const re = new RegExp(`^${body}/`)
    return (v) => v !== undefined && re.test(v)
  })
  return (v) => ms.some((m) => m(v))
}

/** Trust domain of a stripped principal (`td/ns/x/sa/y` → `td`). */
export function trustDomainOf(principal: string): string {
  const i = principal.indexOf('/')
  return i === -1 ? principal : principal.slice(0, i)
}

/**
 * requestPrincipals (generator requestPrincipalGenerator): iss and sub are matched separately, split at
 * the LAST `/`. Without a `/`: `*` any, `foo*` iss prefix, `*foo` sub suffix (so `*@issuer` constrains
 * `sub`, not the issuer), `foo` exact on the whole `iss/sub` string.
 */
export function requestPrincipalMatcher(value: string): (iss: string | undefined, sub: string | undefined) => boolean {
  const present = (v: string | undefined): v is string => v !== undefined && v.length > 0
  if (value === '*') return (iss, sub) => present(iss) && present(sub)
  const slash = value.lastIndexOf('/')
  if (slash === -1) {
    if (value.endsWith('*')) {
      const m = istioString(value)
      return (iss, sub) => m(iss) && present(sub)
    }
    if (value.startsWith('*')) {
      const m = istioString(value)
      return (iss, sub) => present(iss) && m(sub)
    }
    return (iss, sub) => present(iss) && present(sub) && `${iss}/${sub}` === value
  }
  const issPart = value.slice(0, slash)
  const subPart = value.slice(slash + 1)
  const issM: StringMatch = issPart === '*' ? (v) => v !== undefined : istioString(issPart)
  const subM = istioString(subPart)
  return (iss, sub) => present(iss) && present(sub) && issM(iss) && subM(sub)
}
