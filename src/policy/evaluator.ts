/**
 * Offline decision for one inbound request, in the order a sidecar applies it:
 * 1. peer-authn: the effective PeerAuthentication mode for the workload port; STRICT refuses plaintext at
 *    the connection (curl 000, not an RBAC 403), DISABLE means no peer identity reaches RBAC;
 * 2. request-authn: a RequestAuthentication selecting the workload rejects an invalid token (401) or one
 *    from an issuer it does not list; a request without a token passes (concepts "Request authentication");
 *    without any RequestAuthentication the token is never validated, so request.auth.* stay empty;
 * 3. authz (proto header): CUSTOM → DENY → ALLOW; allow when no enforced ALLOW policy selects the workload,
 *    otherwise allow only if an ALLOW rule matches. AUDIT never decides. `istio.io/dry-run: "true"` policies
 *    never decide; `dryRun` reports what the verdict would be if they were enforced too.
 * A CUSTOM rule match delegates to an ext_authz server whose answer is unknowable offline: the verdict then
 * assumes the provider allows and `delegatedTo` names it. More than one provider on a workload, or a
 * provider missing from meshConfig.extensionProviders, turns CUSTOM rules into DENY rules (builder
 * getBadCustomDenyRules).
 */
import type { MeshConfig } from './mesh-config.js'
import type { Action, AuthorizationPolicyObject, PolicySet } from './model.js'
import { normalizePath } from './path.js'
import type { PolicyRequest } from './request.js'
import { compileRule, type RbacContext, type RulePredicate } from './rule-compiler.js'
import { appliesAt, appliesTo, byAge, effectiveMtls, hasL7Attributes } from './scope.js'

export type Verdict = 'ALLOW' | 'DENY'
export type Layer = 'peer-authn' | 'request-authn' | 'authz'

export interface Decision {
  verdict: Verdict
  layer: Layer
  /** Matched Envoy RBAC policy ids `ns[..]-policy[..]-rule[..]` (or the PeerAuthentication that decided). */
  policies: string[]
  dryRun: Verdict | null
  reason: string
  mtlsMode: 'DISABLE' | 'PERMISSIVE' | 'STRICT'
  delegatedTo?: string
  audit?: string[]
}

interface CompiledRule {
  id: string
  http: RulePredicate | null
  tcp: RulePredicate | null
}

interface CompiledPolicy {
  object: AuthorizationPolicyObject
  action: Action
  dryRun: boolean
  provider: string | null
  rules: CompiledRule[]
}

export function isDryRun(p: AuthorizationPolicyObject): boolean {
  return p.annotations['istio.io/dry-run']?.toLowerCase() === 'true'
}

export function ruleId(p: { namespace: string; name: string }, index: number): string {
  return `ns[${p.namespace}]-policy[${p.name}]-rule[${index}]`
}

export interface Evaluator {
  readonly mesh: MeshConfig
  evaluate(req: PolicyRequest): Decision
}

/** Compiles every rule once; the returned evaluator is pure and safe to call per event. */
export function compilePolicies(set: PolicySet, mesh: MeshConfig): Evaluator {
  const bundle = { trustDomain: mesh.trustDomain, aliases: mesh.trustDomainAliases }
  const policies: CompiledPolicy[] = [...set.authorizationPolicies].sort(byAge).map((object) => {
    const action = object.spec.action ?? 'ALLOW'
    const rules = (object.spec.rules ?? []).map((rule, i) => {
      const opts = { action, policyNamespace: object.namespace, bundle }
      return { id: ruleId(object, i), http: compileRule(rule, { ...opts, tcp: false }), tcp: compileRule(rule, { ...opts, tcp: true }) }
    })
    return { object, action, dryRun: isDryRun(object), provider: object.spec.provider?.name ?? null, rules }
  })
  // Only the root and the workload's namespace are ever searched: index once instead of scanning all.
  const byNamespace = new Map<string, CompiledPolicy[]>()
  for (const p of policies) byNamespace.set(p.object.namespace, [...(byNamespace.get(p.object.namespace) ?? []), p])
  const candidates = (ns: string): CompiledPolicy[] => {
    const own = byNamespace.get(ns) ?? []
    const root = ns === mesh.rootNamespace ? [] : (byNamespace.get(mesh.rootNamespace) ?? [])
    return root.length === 0 ? own : own.length === 0 ? root : [...root, ...own].sort((a, b) => byAge(a.object, b.object))
  }

  function evaluate(req: PolicyRequest): Decision {
    const d = decideAll(req)
    // Stable key order for NDJSON readers: the documented fields first.
    const { verdict, layer, policies: matched, dryRun, reason, ...rest } = d
    return { verdict, layer, policies: matched, dryRun, reason, ...rest }
  }

  function decideAll(req: PolicyRequest): Decision {
    const computed = effectiveMtls(set.peerAuthentications, req.namespace, req.labels, req.port, mesh)
    // Ambient ignores DISABLE: ztunnel and waypoints always speak HBONE mTLS to each other.
    const mtls =
      (req.enforcement ?? 'sidecar') !== 'sidecar' && computed.mode === 'DISABLE' ? { ...computed, mode: 'PERMISSIVE' as const } : computed
    const base = { mtlsMode: mtls.mode, dryRun: null }
    if (mtls.mode === 'STRICT' && !req.mtls) {
      return {
        ...base,
        verdict: 'DENY',
        layer: 'peer-authn',
        policies: mtls.decidedBy,
        reason: 'plaintext connection refused: STRICT mTLS',
      }
    }
    const isHttp = req.protocol !== 'tcp'
    const ras = set.requestAuthentications.filter((ra) => appliesTo(ra, req.namespace, req.labels, mesh))
    let jwt: RbacContext['jwt'] = null
    if (isHttp && ras.length > 0 && req.jwt !== null) {
      const names = ras.map((ra) => `${ra.namespace}/${ra.name}`)
      if ('invalid' in req.jwt)
        return { ...base, verdict: 'DENY', layer: 'request-authn', policies: names, reason: 'invalid JWT rejected (401)' }
      const iss = req.jwt.iss
      const rules = ras.flatMap((ra) => ra.spec.jwtRules ?? []).filter((r) => r.issuer === iss)
      if (rules.length === 0) {
        return {
          ...base,
          verdict: 'DENY',
          layer: 'request-authn',
          policies: names,
          reason: `JWT issuer ${JSON.stringify(iss)} is not configured (401)`,
        }
      }
      const aud = req.jwt.aud
      const audOk = rules.some((r) => r.audiences === undefined || r.audiences.length === 0 || r.audiences.some((a) => aud.includes(a)))
      if (!audOk) return { ...base, verdict: 'DENY', layer: 'request-authn', policies: names, reason: 'JWT audience not allowed (401)' }
      jwt = req.jwt
    }
    let path: string | undefined
    if (isHttp && req.path !== undefined) {
      const n = normalizePath(req.path, mesh.pathNormalization)
      if (!n.ok) return { ...base, verdict: 'DENY', layer: 'authz', policies: [], reason: n.reason }
      path = n.path
    }
    const ctx: RbacContext = {
      principal: req.mtls && mtls.mode !== 'DISABLE' ? req.principal : null,
      sourceIp: req.sourceIp,
      remoteIp: remoteIp(req, mesh.numTrustedProxies),
      destinationIp: req.destinationIp,
      port: req.port,
      sni: req.sni,
      http: isHttp,
      host: isHttp ? req.host : undefined,
      method: isHttp ? req.method : undefined,
      path,
      headers: isHttp ? req.headers : (Object.create(null) as Record<string, string>),
      jwt,
      spaceDelimitedClaims: mesh.spaceDelimitedClaims,
    }
    const enforcement = req.enforcement ?? 'sidecar'
    const at = { enforcement, namespace: req.namespace, labels: req.labels, service: req.service, waypoint: req.waypoint }
    const applicable = candidates(req.namespace).filter((p) => appliesAt(p.object, at, mesh))
    if (enforcement === 'ztunnel') {
      // ztunnel cannot enforce L7 attributes: such a policy fails safe by becoming a DENY (Istio's ambient L4 policy guide).
      const l7 = applicable.filter((p) => !p.dryRun && p.action !== 'AUDIT' && hasL7Attributes(p.object.spec.rules))
      if (l7.length > 0) {
        return {
          ...base,
          verdict: 'DENY',
          layer: 'authz',
          policies: l7.map((p) => `${p.object.namespace}/${p.object.name}`),
          reason: 'policy with L7 attributes enforced by ztunnel (L4 only): it fails safe as a DENY',
        }
      }
    }
    const enforced = decide(
      applicable.filter((p) => !p.dryRun),
      ctx,
      mesh,
    )
    const withDryRun = applicable.some((p) => p.dryRun && p.action !== 'AUDIT') ? decide(applicable, ctx, mesh).verdict : null
    const audit = matchingRules(
      applicable.filter((p) => p.action === 'AUDIT'),
      ctx,
    )
    const d: Decision = { ...base, ...enforced, dryRun: withDryRun }
    if (audit.length > 0) d.audit = audit
    return d
  }

  return { mesh, evaluate }
}

function matchingRules(ps: readonly CompiledPolicy[], ctx: RbacContext): string[] {
  const out: string[] = []
  for (const p of ps) {
    for (const r of p.rules) {
      const pred = ctx.http ? r.http : r.tcp
      if (pred !== null && pred(ctx)) out.push(r.id)
    }
  }
  return out
}

function decide(
  ps: readonly CompiledPolicy[],
  ctx: RbacContext,
  mesh: MeshConfig,
): Pick<Decision, 'verdict' | 'layer' | 'policies' | 'reason' | 'delegatedTo'> {
  const custom = ps.filter((p) => p.action === 'CUSTOM')
  const providers = new Set(custom.map((p) => p.provider ?? ''))
  const badCustom =
    providers.size > 1 || [...providers].some((n) => n === '' || (mesh.extensionProviders !== null && !mesh.extensionProviders.includes(n)))
  const denyPolicies = badCustom ? [...custom, ...ps.filter((p) => p.action === 'DENY')] : ps.filter((p) => p.action === 'DENY')
  let delegatedTo: string | undefined
  if (!badCustom && custom.length > 0 && matchingRules(custom, ctx).length > 0) delegatedTo = [...providers][0]
  const denied = matchingRules(denyPolicies, ctx)
  const extra = delegatedTo === undefined ? {} : { delegatedTo }
  if (denied.length > 0) {
    const customIds = new Set(custom.flatMap((c) => c.rules.map((r) => r.id)))
    const why =
      badCustom && denied.some((id) => customIds.has(id)) ? ' (CUSTOM rules turned into DENY: multiple or unknown ext_authz providers)' : ''
    return { verdict: 'DENY', layer: 'authz', policies: denied, reason: `matched DENY rule${why}`, ...extra }
  }
  const allow = ps.filter((p) => p.action === 'ALLOW')
  const note = delegatedTo === undefined ? '' : `; CUSTOM provider ${delegatedTo} must also allow`
  if (allow.length === 0)
    return { verdict: 'ALLOW', layer: 'authz', policies: [], reason: `no ALLOW policy selects the workload${note}`, ...extra }
  const allowed = matchingRules(allow, ctx)
  if (allowed.length > 0) return { verdict: 'ALLOW', layer: 'authz', policies: allowed, reason: `matched ALLOW rule${note}`, ...extra }
  const names = allow.map((p) => `${p.object.namespace}/${p.object.name}`).join(', ')
  return { verdict: 'DENY', layer: 'authz', policies: [], reason: `no ALLOW rule matched (ALLOW policies: ${names})`, ...extra }
}

/**
 * remote.ip: explicit `remoteIp`, else derived like Envoy's use_remote_address with xff_num_trusted_hops
 * = numTrustedProxies (the peer is appended to XFF, then the (N+1)-th address from the right is the
 * client), else the direct peer.
 */
function remoteIp(req: PolicyRequest, trusted: number): string | undefined {
  if (req.remoteIp !== undefined) return req.remoteIp
  const xff = req.headers['x-forwarded-for']
  if (trusted === 0 || xff === undefined) return req.sourceIp
  const chain = xff
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
  if (req.sourceIp !== undefined) chain.push(req.sourceIp)
  return chain[chain.length - 1 - trusted] ?? req.sourceIp
}
