/**
 * Compiles one AuthorizationPolicy rule into a predicate over a request, following pilot's
 * authz/model (model.go, generator.go, permission.go, principal.go):
 * - rule = (any `from` source) AND (any `to` operation) AND (every `when` condition); an omitted list is any;
 * - inside a source/operation every set field must match; per field: (any value) AND NOT (any notValue);
 * - identity fields read the mTLS peer identity only, so on plaintext positive matches fail and
 *   negated ones succeed (ISTIO-SECURITY-2021-004; ztunnel rbac.rs not_namespaces => plaintext true);
 * - a `when` key Istio does not know makes the builder skip the whole rule, whatever the action;
 * - on a TCP chain HTTP-only attributes error out: an ALLOW rule using one is dropped entirely, while for
 *   DENY/AUDIT/CUSTOM only the offending values are dropped, which widens the rule (model checkError).
 */
import {
  anyOf,
  cidrMatcher,
  istioString,
  namespaceMatcher,
  pathMatcher,
  principalMatcher,
  requestPrincipalMatcher,
  serviceAccountMatcher,
  trustDomainMatcher,
  type StringMatch,
  type TrustBundle,
} from './match.js'
import type { Action, Condition, Operation, Rule, Source } from './model.js'

/** Request attributes as RBAC sees them (already normalized by the evaluator). */
export interface RbacContext {
  /** mTLS peer identity without `spiffe://`; null on plaintext. */
  principal: string | null
  sourceIp: string | undefined
  remoteIp: string | undefined
  destinationIp: string | undefined
  port: number
  sni: string | undefined
  http: boolean
  host: string | undefined
  method: string | undefined
  /** Normalized path without query. */
  path: string | undefined
  headers: Record<string, string>
  /** Validated JWT (only when a RequestAuthentication verified it), else null. */
  jwt: { iss: string; sub: string; aud: string[]; azp: string | undefined; claims: Record<string, unknown> } | null
  spaceDelimitedClaims: readonly string[]
}

export type RulePredicate = (ctx: RbacContext) => boolean

const HTTP_SOURCE_FIELDS = ['requestPrincipals', 'notRequestPrincipals'] as const
const HTTP_OPERATION_FIELDS = ['hosts', 'notHosts', 'methods', 'notMethods', 'paths', 'notPaths'] as const

export const KNOWN_WHEN_KEY =
  /^(request\.headers\[[^\]]+\]|source\.(ip|namespace|principal|serviceAccount|trustDomain)|remote\.ip|destination\.(ip|port)|connection\.sni|request\.auth\.(principal|audiences|presenter)|request\.auth\.claims(\[[^\]]+\])+|experimental\.envoy\.filters\.[\w.]+\[[^\]]+\](\[v\])?)$/

export function isHttpOnlyWhenKey(key: string): boolean {
  return key.startsWith('request.headers[') || key.startsWith('request.auth.')
}

export function ruleUsesHttpOnly(rule: Rule): boolean {
  for (const f of rule.from ?? []) if (HTTP_SOURCE_FIELDS.some((k) => (f.source?.[k]?.length ?? 0) > 0)) return true
  for (const t of rule.to ?? []) if (HTTP_OPERATION_FIELDS.some((k) => (t.operation?.[k]?.length ?? 0) > 0)) return true
  return (rule.when ?? []).some((c) => isHttpOnlyWhenKey(c.key))
}

export interface CompileOptions {
  action: Action
  tcp: boolean
  policyNamespace: string
  bundle: TrustBundle
}

/** Returns null when the rule can never match (nil rule, unknown `when` key, ALLOW rule dropped on TCP). */
export function compileRule(rule: Rule | null, opts: CompileOptions): RulePredicate | null {
  if (rule === null) return null
  if ((rule.when ?? []).some((c) => !KNOWN_WHEN_KEY.test(c.key))) return null
  if (opts.tcp && opts.action === 'ALLOW' && ruleUsesHttpOnly(rule)) return null
  const widen = opts.tcp
  const sources = (rule.from ?? []).map((f) => compileSource(f.source ?? {}, opts, widen))
  const operations = (rule.to ?? []).map((t) => compileOperation(t.operation ?? {}, widen))
  const conditions = (rule.when ?? []).filter((c) => !(widen && isHttpOnlyWhenKey(c.key))).map((c) => compileCondition(c, opts))
  return (ctx) =>
    (sources.length === 0 || sources.some((s) => s(ctx))) &&
    (operations.length === 0 || operations.some((o) => o(ctx))) &&
    conditions.every((c) => c(ctx))
}

type Getter = (ctx: RbacContext) => string | undefined

function field(
  values: string[] | undefined,
  notValues: string[] | undefined,
  make: (p: string) => StringMatch,
  get: Getter,
): RulePredicate[] {
  const out: RulePredicate[] = []
  const pos = anyOf(values, make)
  const neg = anyOf(notValues, make)
  if (pos !== null) out.push((ctx) => pos(get(ctx)))
  if (neg !== null) out.push((ctx) => !neg(get(ctx)))
  return out
}

const peer: Getter = (ctx) => ctx.principal ?? undefined

function compileSource(s: Source, opts: CompileOptions, widen: boolean): RulePredicate {
  const ps: RulePredicate[] = [
    ...field(s.principals, s.notPrincipals, (p) => principalMatcher(p, opts.bundle), peer),
    ...field(s.namespaces, s.notNamespaces, namespaceMatcher, peer),
    ...field(s.serviceAccounts, s.notServiceAccounts, (p) => serviceAccountMatcher(p, opts.policyNamespace), peer),
    ...field(s.trustDomains, s.notTrustDomains, (p) => trustDomainMatcher(p, opts.bundle), peer),
    ...field(s.ipBlocks, s.notIpBlocks, cidrMatcher, (ctx) => ctx.sourceIp),
    ...field(s.remoteIpBlocks, s.notRemoteIpBlocks, cidrMatcher, (ctx) => ctx.remoteIp),
  ]
  if (!widen) ps.push(...requestPrincipalPreds(s.requestPrincipals, s.notRequestPrincipals))
  return (ctx) => ps.every((p) => p(ctx))
}

function requestPrincipalPreds(values: string[] | undefined, notValues: string[] | undefined): RulePredicate[] {
  const out: RulePredicate[] = []
  const build = (vs: string[] | undefined): ((ctx: RbacContext) => boolean) | null => {
    if (vs === undefined || vs.length === 0) return null
    const ms = vs.map(requestPrincipalMatcher)
    return (ctx) => ctx.jwt !== null && ms.some((m) => m(ctx.jwt!.iss, ctx.jwt!.sub))
  }
  const pos = build(values)
  const neg = build(notValues)
  if (pos !== null) out.push(pos)
  if (neg !== null) out.push((ctx) => !neg(ctx))
  return out
}

function headerString(p: string, ignoreCase = false): StringMatch {
  // Headers and hosts compile `*` to Envoy present_match: any value, even empty.
  return p === '*' ? (v) => v !== undefined : istioString(p, ignoreCase)
}

/**
 * `when: request.headers[...]` values match any comma-separated element of the (merged) header value:
 * pilot compiles `v` to `^v$|^v,.*|.*,v,.*|.*,v$` (golden builder/testdata/http/allow-full-rule-out.yaml).
 */
function headerElement(p: string): StringMatch {
  if (p === '*') return (v) => v !== undefined
  const m = istioString(p)
  return (v) => v !== undefined && v.split(',').some((el) => m(el))
}

function compileOperation(o: Operation, widen: boolean): RulePredicate {
  const ps: RulePredicate[] = [
    ...field(
      o.ports,
      o.notPorts,
      (p) => (v) => v === p.trim(),
      (ctx) => String(ctx.port),
    ),
  ]
  if (!widen) {
    ps.push(
      ...field(
        o.hosts,
        o.notHosts,
        (p) => headerString(p, true),
        (ctx) => ctx.host,
      ),
      ...field(o.methods, o.notMethods, headerString, (ctx) => ctx.method),
      ...field(o.paths, o.notPaths, pathMatcher, (ctx) => ctx.path),
    )
  }
  return (ctx) => ps.every((p) => p(ctx))
}

function compileCondition(c: Condition, opts: CompileOptions): RulePredicate {
  const key = c.key
  const single = (make: (p: string) => StringMatch, get: Getter): RulePredicate => {
    const ps = field(c.values, c.notValues, make, get)
    return (ctx) => ps.every((p) => p(ctx))
  }
  const header = /^request\.headers\[([^\]]+)\]$/.exec(key)
  if (header !== null) {
    const name = header[1]!.toLowerCase()
    return single(headerElement, (ctx) => ctx.headers[name])
  }
  switch (key) {
    case 'source.ip':
      return single(cidrMatcher, (ctx) => ctx.sourceIp)
    case 'remote.ip':
      return single(cidrMatcher, (ctx) => ctx.remoteIp)
    case 'destination.ip':
      return single(cidrMatcher, (ctx) => ctx.destinationIp)
    case 'destination.port':
      return single(
        (p) => (v) => v === p.trim(),
        (ctx) => String(ctx.port),
      )
    case 'source.namespace':
      return single(namespaceMatcher, peer)
    case 'source.principal':
      return single((p) => principalMatcher(p, opts.bundle), peer)
    case 'source.serviceAccount':
      return single((p) => serviceAccountMatcher(p, opts.policyNamespace), peer)
    case 'source.trustDomain':
      return single((p) => trustDomainMatcher(p, opts.bundle), peer)
    case 'connection.sni':
      return single(istioString, (ctx) => ctx.sni)
    case 'request.auth.principal': {
      const ps = requestPrincipalPreds(c.values, c.notValues)
      return (ctx) => ps.every((p) => p(ctx))
    }
    case 'request.auth.presenter':
      return single(istioString, (ctx) => ctx.jwt?.azp)
  }
  if (key === 'request.auth.audiences') return listCondition(c, (ctx) => ctx.jwt?.aud)
  const claim = /^request\.auth\.claims((\[[^\]]+\])+)$/.exec(key)
  if (claim !== null) {
    const path = [...claim[1]!.matchAll(/\[([^\]]+)\]/g)].map((m) => m[1]!)
    return listCondition(c, (ctx) => claimValues(ctx, path))
  }
  // experimental.envoy.filters.* reads dynamic metadata another filter wrote: unknowable offline, so it
  // is treated as absent (positive values fail, notValues pass).
  return single(istioString, () => undefined)
}

/** A condition over a list attribute: it matches when any element matches (JWT list claims). */
function listCondition(c: Condition, get: (ctx: RbacContext) => string[] | undefined): RulePredicate {
  const pos = anyOf(c.values, istioString)
  const neg = anyOf(c.notValues, istioString)
  return (ctx) => {
    const vs = get(ctx)
    const hit = (m: StringMatch): boolean => vs !== undefined && vs.some((v) => m(v))
    return (pos === null || hit(pos)) && (neg === null || !hit(neg))
  }
}

function claimValues(ctx: RbacContext, path: string[]): string[] | undefined {
  if (ctx.jwt === null) return undefined
  let cur: unknown = ctx.jwt.claims
  for (const p of path) {
    if (typeof cur !== 'object' || cur === null || Array.isArray(cur) || !Object.prototype.hasOwnProperty.call(cur, p)) return undefined
    cur = (cur as Record<string, unknown>)[p]
  }
  const leaf = path[path.length - 1]!
  const flat = (v: unknown): string[] =>
    typeof v === 'string'
      ? path.length === 1 && ctx.spaceDelimitedClaims.includes(leaf)
        ? v.split(' ').filter((s) => s.length > 0)
        : [v]
      : typeof v === 'number' || typeof v === 'boolean'
        ? [String(v)]
        : []
  if (Array.isArray(cur)) return cur.flatMap(flat)
  return flat(cur)
}
