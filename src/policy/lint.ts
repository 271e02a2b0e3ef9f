/**
 * `policy lint`: the documented AuthorizationPolicy / PeerAuthentication mistakes
 * (docs/policy.md, `lint`, lists the 20 of them; code POLnnn is the mistake's number there).
 * Codes are stable: CI gates and SIEM queries key on them. Checks that need to know what runs in the
 * cluster (selectors matching nothing, unknown namespaces, Service vs container ports) run only when a
 * workload inventory is given.
 */
import { lintAuthn } from './lint-authn.js'
import { LINT_CODES, type Emit, type LintCode, type LintFinding, type LintOptions, type LintSeverity } from './lint-codes.js'
import { stripSpiffe } from './match.js'
import type { MeshConfig } from './mesh-config.js'
import { type AuthorizationPolicyObject, type PolicySet, type Rule } from './model.js'
import { isPathTemplate, templateProblem } from './path.js'
import { KNOWN_WHEN_KEY, ruleUsesHttpOnly } from './rule-compiler.js'
import { effectiveMtls, hasTargetRefs, labelsSubset, selectorLabels } from './scope.js'

export { LINT_CODES, type Emit, type LintCode, type LintFinding, type LintOptions, type LintSeverity } from './lint-codes.js'

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'])
const IDENTITY_FIELDS = ['principals', 'namespaces', 'serviceAccounts', 'trustDomains'] as const
const MTLS_WHEN_KEYS = new Set(['source.principal', 'source.namespace', 'source.serviceAccount', 'source.trustDomain', 'connection.sni'])
const SEVERITY_ORDER: Record<LintSeverity, number> = { error: 0, high: 1, medium: 2, low: 3, info: 4 }

/** Emitter bound to one object: code, severity, field path, message, fix. */
type Report = (code: LintCode, severity: LintSeverity, field: string, message: string, fix: string) => void

export function lintPolicies(set: PolicySet, opts: LintOptions): LintFinding[] {
  const out: LintFinding[] = []
  const emit: Emit = (code, severity, o, field, message, fix) =>
    out.push({ code, name: LINT_CODES[code], severity, file: o.file, object: `${o.kind} ${o.namespace}/${o.name}`, field, message, fix })
  for (const i of set.issues) {
    out.push({
      code: 'POL020',
      name: LINT_CODES.POL020,
      severity: 'error',
      file: i.file,
      object: i.object,
      field: i.field,
      message: `${i.message}; the API server rejects this object, so it is not applied`,
      fix: i.message.startsWith('unknown field')
        ? 'remove the field or move it where the schema defines it (e.g. `hosts` belongs under `to.operation`, not `from.source`)'
        : 'correct the value to match the CRD schema',
    })
  }
  for (const p of set.authorizationPolicies) lintAuthorizationPolicy(p, set, opts, emit)
  lintCustomProviders(set, opts, emit)
  lintAuthn(set, opts, emit)
  return out.sort(
    (a, b) => SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity] || a.file.localeCompare(b.file) || a.code.localeCompare(b.code),
  )
}

function lintAuthorizationPolicy(p: AuthorizationPolicyObject, set: PolicySet, opts: LintOptions, emit: Emit): void {
  const action = p.spec.action ?? 'ALLOW'
  const rules = p.spec.rules ?? []
  const e: Report = (code, sev, field, msg, fix) => emit(code, sev, p, field, msg, fix)

  // 12: what ValidateAuthorizationPolicy rejects.
  if ((action === 'DENY' || action === 'CUSTOM') && rules.length === 0) {
    e(
      'POL012',
      'error',
      'spec.rules',
      `${action} action without rules is rejected: it would never be triggered`,
      'add an empty rule `rules: [{}]` to match everything, or the rules you meant',
    )
  }
  if (action === 'CUSTOM' && (p.spec.provider?.name ?? '') === '')
    e('POL012', 'error', 'spec.provider', 'CUSTOM action requires provider.name', 'name an extensionProviders entry from mesh config')
  if (action !== 'CUSTOM' && p.spec.provider)
    e('POL012', 'error', 'spec.provider', 'provider is only allowed with action CUSTOM', 'remove provider or set action: CUSTOM')
  if (p.spec.selector && hasTargetRefs(p))
    e(
      'POL012',
      'error',
      'spec',
      'only one of targetRefs or selector can be set',
      'keep selector for sidecars, targetRefs for waypoints/gateways',
    )
  if (hasTargetRefs(p)) {
    e(
      'POL013',
      'medium',
      'spec.targetRefs',
      'policies with targetRefs are ignored by sidecars and classic gateways (and by ztunnel)',
      'use selector.matchLabels for sidecar workloads; keep targetRefs only for waypoints or Gateway API gateways',
    )
  }
  if (p.namespaceDefaulted) {
    e(
      'POL008',
      'medium',
      'metadata.namespace',
      'no metadata.namespace: the policy lands in whatever namespace kubectl targets (here assumed `default`), which is usually not the workload namespace',
      'set metadata.namespace to the namespace of the workloads it protects (or the root namespace for mesh-wide)',
    )
  }

  rules.forEach((rule, i) => {
    const f = `spec.rules[${i}]`
    if (rule === null) {
      e('POL012', 'error', f, 'nil rule: rejected by validation, skipped by istiod', 'remove the empty list item')
      return
    }
    lintRuleValidation(rule, f, e)
    lintRuleRisks(rule, f, p, action, set, opts, e)
  })

  // 1: `- from:` and `- to:` as separate list items are two rules, ORed (security-issues page).
  if (action === 'ALLOW' || action === 'DENY') {
    const onlyFrom = rules.flatMap((r, i) => (r !== null && r.from !== undefined && r.to === undefined && r.when === undefined ? [i] : []))
    const onlyTo = rules.flatMap((r, i) => (r !== null && r.to !== undefined && r.from === undefined && r.when === undefined ? [i] : []))
    if (onlyFrom.length > 0 && onlyTo.length > 0) {
      const effect =
        action === 'ALLOW'
          ? 'any request from those sources is allowed to every operation, and every source may perform those operations'
          : 'every request from those sources is denied, and those operations are denied for everyone'
      e(
        'POL001',
        action === 'ALLOW' ? 'high' : 'medium',
        `spec.rules[${onlyFrom[0]}] / spec.rules[${onlyTo[0]}]`,
        `rule ${onlyFrom[0]} has only \`from\` and rule ${onlyTo[0]} has only \`to\`: rules are ORed, so ${effect}`,
        'put `from` and `to` in the same rule (one list item: `- from: ...` followed by `  to: ...`, without a second `-`)',
      )
    }
  }

  // 7, 8: need an inventory of what runs where.
  const inv = opts.inventory
  if (inv !== undefined && !hasTargetRefs(p)) {
    const sel = selectorLabels(p)
    const inScope = inv.workloads.filter(
      (w) => (p.namespace === opts.mesh.rootNamespace || w.namespace === p.namespace) && labelsSubset(sel, w.labels),
    )
    if (inScope.length === 0) {
      const elsewhere = inv.workloads.filter((w) => labelsSubset(sel, w.labels) && w.namespace !== p.namespace)
      if (Object.keys(sel).length > 0 && elsewhere.length > 0 && p.namespace !== opts.mesh.rootNamespace) {
        e(
          'POL008',
          'high',
          'metadata.namespace',
          `selector matches ${elsewhere[0]!.namespace}/${elsewhere[0]!.name} but the policy is in ${p.namespace}; only the root and the workload's own namespace are searched`,
          `move the policy to namespace ${elsewhere[0]!.namespace}`,
        )
      } else {
        e(
          'POL007',
          'medium',
          Object.keys(sel).length > 0 ? 'spec.selector.matchLabels' : 'metadata.namespace',
          'no workload in scope matches this policy: it is silently unused (IST0127)',
          'fix the selector labels or the namespace',
        )
      }
    }
  }
}

function lintRuleValidation(rule: Rule, f: string, e: Report): void {
  if (rule.from !== undefined && rule.from.length === 0)
    e('POL012', 'error', `${f}.from`, '`from: []` is rejected', 'remove `from` to match any source')
  if (rule.to !== undefined && rule.to.length === 0)
    e('POL012', 'error', `${f}.to`, '`to: []` is rejected', 'remove `to` to match any operation')
  rule.from?.forEach((fr, j) => {
    const s = fr.source
    if (s === null || s === undefined || Object.values(s).every((v) => v === undefined || v.length === 0)) {
      e('POL012', 'error', `${f}.from[${j}].source`, 'empty source is rejected', 'remove the entry or add a field')
      return
    }
    if (
      (s.serviceAccounts?.length ?? 0) + (s.notServiceAccounts?.length ?? 0) > 0 &&
      (s.principals || s.notPrincipals || s.namespaces || s.notNamespaces)
    ) {
      e(
        'POL012',
        'error',
        `${f}.from[${j}].source.serviceAccounts`,
        'serviceAccounts cannot be combined with principals or namespaces',
        'use one identity form per source',
      )
    }
    for (const v of [...(s.serviceAccounts ?? []), ...(s.notServiceAccounts ?? [])]) {
      if (v.includes('*'))
        e(
          'POL012',
          'error',
          `${f}.from[${j}].source.serviceAccounts`,
          `wildcard in serviceAccounts value ${JSON.stringify(v)} is not supported`,
          'list service accounts explicitly or use principals with a wildcard',
        )
    }
    if ((s.serviceAccounts?.length ?? 0) > 16)
      e('POL012', 'error', `${f}.from[${j}].source.serviceAccounts`, 'at most 16 serviceAccounts per source', 'split into several sources')
    for (const v of [...(s.trustDomains ?? []), ...(s.notTrustDomains ?? [])]) {
      if ((v.match(/\*/g)?.length ?? 0) > 1 || (v.includes('*') && !v.startsWith('*') && !v.endsWith('*'))) {
        e(
          'POL012',
          'error',
          `${f}.from[${j}].source.trustDomains`,
          `trustDomains value ${JSON.stringify(v)}: at most one \`*\`, at the start or end`,
          'use a prefix or suffix wildcard',
        )
      }
    }
    emptyValues(Object.entries(s), `${f}.from[${j}].source`, e)
  })
  rule.to?.forEach((t, j) => {
    const o = t.operation
    if (o === null || o === undefined || Object.values(o).every((v) => v === undefined || v.length === 0)) {
      e('POL012', 'error', `${f}.to[${j}].operation`, 'empty operation is rejected', 'remove the entry or add a field')
      return
    }
    for (const v of [...(o.paths ?? []), ...(o.notPaths ?? [])]) {
      const why = templateProblem(v)
      if (why !== null) e('POL012', 'error', `${f}.to[${j}].operation.paths`, `${JSON.stringify(v)}: ${why}`, 'fix the path template')
    }
    for (const v of [...(o.ports ?? []), ...(o.notPorts ?? [])]) {
      if (!/^\d+$/.test(v.trim()) || Number(v) > 65535)
        e(
          'POL012',
          'error',
          `${f}.to[${j}].operation.ports`,
          `port ${JSON.stringify(v)} is not a port number (ports are exact only)`,
          'use a number between 0 and 65535',
        )
    }
    for (const m of [...(o.methods ?? []), ...(o.notMethods ?? [])]) {
      if (m !== '*' && !METHODS.has(m)) {
        e(
          'POL011',
          'medium',
          `${f}.to[${j}].operation.methods`,
          `method ${JSON.stringify(m)} is not an upper-case HTTP method: it never matches (methods are case-sensitive; gRPC is always POST)`,
          `use ${JSON.stringify(m.toUpperCase())} if that is a standard method`,
        )
      }
    }
    emptyValues(Object.entries(o), `${f}.to[${j}].operation`, e)
  })
  rule.when?.forEach((c, j) => {
    if (!KNOWN_WHEN_KEY.test(c.key)) {
      e(
        'POL012',
        'error',
        `${f}.when[${j}].key`,
        `unknown condition key ${JSON.stringify(c.key)}: rejected, and if it got in istiod skips the whole rule (even for DENY)`,
        'use a supported key (see the conditions reference); destination.labels is replaced by the selector',
      )
    }
    if ((c.values?.length ?? 0) === 0 && (c.notValues?.length ?? 0) === 0)
      e('POL012', 'error', `${f}.when[${j}]`, 'a condition needs values or notValues', 'add values')
  })
}

function emptyValues(entries: Array<[string, string[] | undefined]>, base: string, e: Report): void {
  for (const [k, vs] of entries)
    if (vs?.some((v) => v === '')) e('POL012', 'error', `${base}.${k}`, 'empty string value is rejected', 'remove the empty value')
}

function lintRuleRisks(
  rule: Rule,
  f: string,
  p: AuthorizationPolicyObject,
  action: string,
  set: PolicySet,
  opts: LintOptions,
  e: Report,
): void {
  const mesh = opts.mesh
  // 2: identity fields read the peer certificate; plaintext makes positive matches fail and negative ones pass.
  const scopeNs = p.namespace === mesh.rootNamespace ? '\u0000root' : p.namespace
  const strict = effectiveMtls(set.peerAuthentications, scopeNs, selectorLabels(p), null, mesh).mode === 'STRICT'
  if (!strict) {
    const negIdentity: string[] = []
    const posIdentity: string[] = []
    rule.from?.forEach((fr, j) => {
      for (const k of IDENTITY_FIELDS) {
        const neg = `not${k[0]!.toUpperCase()}${k.slice(1)}` as 'notPrincipals'
        // `notPrincipals: ["*"]` is the documented plaintext guard, not a mistake.
        if ((fr.source?.[neg]?.length ?? 0) > 0 && !(fr.source?.[neg]?.length === 1 && fr.source[neg]![0] === '*'))
          negIdentity.push(`${f}.from[${j}].source.${neg}`)
        if ((fr.source?.[k]?.length ?? 0) > 0) posIdentity.push(`${f}.from[${j}].source.${k}`)
      }
    })
    rule.when?.forEach((c, j) => {
      if (MTLS_WHEN_KEYS.has(c.key)) (c.notValues?.length ? negIdentity : posIdentity).push(`${f}.when[${j}]`)
    })
    const bypass = action === 'ALLOW' ? negIdentity : action === 'DENY' ? posIdentity : []
    if (bypass.length > 0) {
      e(
        'POL002',
        'high',
        bypass[0]!,
        `${action} on peer identity while the workload is not STRICT mTLS: plaintext requests ${action === 'ALLOW' ? 'satisfy the negated match and are allowed' : 'never match and bypass the DENY'} (ISTIO-SECURITY-2021-004)`,
        'apply a STRICT PeerAuthentication to the workload, or add `principals: ["*"]` (ALLOW) / a `notPrincipals: ["*"]` DENY rule',
      )
    } else if (posIdentity.length > 0 || negIdentity.length > 0) {
      e(
        'POL002',
        'low',
        (posIdentity[0] ?? negIdentity[0])!,
        'identity-based rule on a workload that is not STRICT mTLS: plaintext requests carry no identity',
        'apply a STRICT PeerAuthentication to the workload',
      )
    }
  }
  // 3: HTTP-only attributes on a TCP port.
  if (ruleUsesHttpOnly(rule)) {
    const hasPorts =
      (rule.to ?? []).some((t) => (t.operation?.ports?.length ?? 0) > 0) || (rule.when ?? []).some((c) => c.key === 'destination.port')
    if (action === 'DENY' && !hasPorts) {
      e(
        'POL003',
        'medium',
        f,
        'DENY rule uses HTTP-only attributes without `ports`: on TCP ports those attributes are dropped and the rule denies ALL TCP traffic to the workload',
        'scope the rule with `to.operation.ports` listing the HTTP ports',
      )
    } else if (action === 'ALLOW' && hasPorts) {
      e(
        'POL003',
        'info',
        f,
        'ALLOW rule mixes HTTP-only attributes with ports: if a listed port is TCP (port name not http-*), the whole rule is ignored there',
        'name the Service port http-* / set appProtocol, or split TCP ports into a rule without HTTP attributes',
      )
    }
  }
  rule.to?.forEach((t, j) => {
    const o = t.operation
    if (!o) return
    const base = `${f}.to[${j}].operation`
    // 4: negative matching in ALLOW is fragile under normalization differences.
    if (action === 'ALLOW' && ((o.notPaths?.length ?? 0) > 0 || (o.notHosts?.length ?? 0) > 0)) {
      e(
        'POL004',
        'medium',
        `${base}.${o.notPaths ? 'notPaths' : 'notHosts'}`,
        'ALLOW with negative matching: any path/host spelling the negation misses is allowed',
        'prefer ALLOW with positive matching, and put exclusions in a DENY policy',
      )
    }
    // 5: exact DENY paths are bypassed by `//`, `%2F` and case spellings unless the mesh merges slashes.
    const exact = (o.paths ?? []).filter((v) => !v.includes('*') && !isPathTemplate(v))
    if (action === 'DENY' && exact.length > 0 && !['MERGE_SLASHES', 'DECODE_AND_MERGE_SLASHES'].includes(mesh.pathNormalization)) {
      e(
        'POL005',
        'medium',
        `${base}.paths`,
        `DENY on exact path ${JSON.stringify(exact[0])} with pathNormalization ${mesh.pathNormalization}: ${JSON.stringify(exact[0]!.replace(/\//g, '//'))} or an upper-case variant is not denied`,
        'set meshConfig.pathNormalization to MERGE_SLASHES or DECODE_AND_MERGE_SLASHES, and match prefixes (`/admin*`) or use ALLOW with positive paths',
      )
    }
    // 6: hosts are compared to :authority as sent, port included.
    for (const h of o.hosts ?? []) {
      if (!h.includes('*') && !h.includes(':') && !(o.hosts ?? []).includes(`${h}:*`)) {
        e(
          'POL006',
          action === 'DENY' ? 'high' : 'medium',
          `${base}.hosts`,
          `host ${JSON.stringify(h)} is exact: a request with Host ${JSON.stringify(`${h}:80`)} does not match${action === 'DENY' ? ', bypassing the DENY' : ''}`,
          `list both ${JSON.stringify(h)} and ${JSON.stringify(`${h}:*`)}`,
        )
        break
      }
    }
    // 15: `ports` is the container port; a Service port only matches when it equals its targetPort.
    const inv = opts.inventory
    if (inv !== undefined) {
      const svcs = inv.services.filter((sv) => p.namespace === opts.mesh.rootNamespace || sv.namespace === p.namespace)
      const targets = new Set(svcs.flatMap((sv) => sv.ports.map((pt) => pt.targetPort)))
      for (const v of [...(o.ports ?? []), ...(o.notPorts ?? [])]) {
        const n = Number(v)
        const svcPort = svcs.flatMap((sv) => sv.ports.map((pt) => ({ sv, pt }))).find(({ pt }) => pt.port === n && pt.targetPort !== n)
        if (svcPort !== undefined && !targets.has(n)) {
          e(
            'POL015',
            'medium',
            `${base}.ports`,
            `port ${n} is the Service port of ${svcPort.sv.namespace}/${svcPort.sv.name}; authorization sees the container port ${svcPort.pt.targetPort}, so this value never matches`,
            `use ${svcPort.pt.targetPort}`,
          )
        }
      }
    }
    if (
      (o.hosts?.length ?? 0) + (o.notHosts?.length ?? 0) > 0 &&
      !Object.entries(selectorLabels(p)).some(([k, v]) => k === 'istio' || v.includes('gateway'))
    ) {
      e(
        'POL006',
        'low',
        `${base}.hosts`,
        'hosts on a policy that does not select a gateway: on sidecars the Host header is chosen by the client',
        'match hosts at the ingress/egress gateway; use identities on sidecars',
      )
    }
  })
  rule.from?.forEach((fr, j) => {
    const s = fr.source
    if (!s) return
    const base = `${f}.from[${j}].source`
    // 16: `*@issuer` has no `/`, so it is a suffix match on `sub`, not on the issuer.
    for (const v of [...(s.requestPrincipals ?? []), ...(s.notRequestPrincipals ?? [])]) {
      if (v !== '*' && !v.includes('/') && v.startsWith('*')) {
        e(
          'POL016',
          'medium',
          `${base}.requestPrincipals`,
          `${JSON.stringify(v)} matches JWTs whose sub ends with ${JSON.stringify(v.slice(1))}, from any issuer`,
          `use "<issuer>/*" to constrain the issuer`,
        )
      }
    }
    // 9, 10: references to namespaces / identities that do not exist.
    for (const k of ['namespaces', 'notNamespaces'] as const) {
      for (const ns of s[k] ?? []) {
        if (opts.inventory !== undefined && !ns.includes('*') && !opts.inventory.namespaces.has(ns)) {
          e(
            'POL009',
            'low',
            `${base}.${k}`,
            `namespace ${JSON.stringify(ns)} does not exist in the inventory (IST0101): the value never matches`,
            'fix the namespace name',
          )
        }
      }
    }
    for (const k of ['principals', 'notPrincipals'] as const) {
      for (const pr of s[k] ?? []) lintPrincipal(pr, `${base}.${k}`, opts, e)
    }
  })
}

function lintPrincipal(pr: string, field: string, opts: LintOptions, e: Report): void {
  if (pr.startsWith('spiffe://')) {
    e(
      'POL010',
      'medium',
      field,
      `principal ${JSON.stringify(pr)} starts with spiffe://: Istio adds that prefix itself, so this value never matches`,
      `write ${JSON.stringify(stripSpiffe(pr))}`,
    )
    return
  }
  if (pr.startsWith('*') || pr.endsWith('*')) return
  const segs = pr.split('/')
  if (segs.length !== 5 || segs[1] !== 'ns' || segs[3] !== 'sa') {
    e(
      'POL010',
      'medium',
      field,
      `principal ${JSON.stringify(pr)} is not <trust-domain>/ns/<namespace>/sa/<service-account>: it never matches an Istio identity`,
      'write the full SPIFFE path without spiffe://, e.g. cluster.local/ns/foo/sa/bar',
    )
    return
  }
  const bundle = [opts.mesh.trustDomain, ...opts.mesh.trustDomainAliases, 'cluster.local']
  if (!bundle.includes(segs[0]!)) {
    e(
      'POL010',
      'medium',
      field,
      `trust domain ${JSON.stringify(segs[0])} is neither the mesh trust domain nor an alias (KIA0108)`,
      'use cluster.local (expands to the mesh trust domain and aliases) or add the domain to trustDomainAliases',
    )
  }
  const inv = opts.inventory
  if (inv !== undefined && inv.workloads.some((w) => w.serviceAccount !== undefined)) {
    const known = inv.workloads.some((w) => w.namespace === segs[2] && w.serviceAccount === segs[4])
    if (!known)
      e(
        'POL010',
        'low',
        field,
        `no workload runs as service account ${segs[2]}/${segs[4]} (KIA0106)`,
        'fix the namespace or service account name',
      )
  }
}

// 14: more than one CUSTOM provider reaching one workload turns all CUSTOM rules into DENY.
function lintCustomProviders(set: PolicySet, opts: LintOptions, emit: Emit): void {
  const custom = set.authorizationPolicies.filter((p) => p.spec.action === 'CUSTOM' && !hasTargetRefs(p))
  for (let i = 0; i < custom.length; i++) {
    for (let j = i + 1; j < custom.length; j++) {
      const a = custom[i]!
      const b = custom[j]!
      if ((a.spec.provider?.name ?? '') === (b.spec.provider?.name ?? '')) continue
      const sameScope = a.namespace === b.namespace || a.namespace === opts.mesh.rootNamespace || b.namespace === opts.mesh.rootNamespace
      const sa = selectorLabels(a)
      const sb = selectorLabels(b)
      const compatible = Object.keys(sa).every((k) => !(k in sb) || sb[k] === sa[k])
      if (sameScope && compatible) {
        emit(
          'POL014',
          'high',
          b,
          'spec.provider',
          `CUSTOM providers ${JSON.stringify(a.spec.provider?.name)} (${a.namespace}/${a.name}) and ${JSON.stringify(b.spec.provider?.name)} can select the same workload: without PILOT_ENABLE_MULTIPLE_CUSTOM_AUTHZ_PROVIDERS istiod turns all CUSTOM rules into DENY`,
          'use one ext_authz provider per workload, or make the selectors disjoint',
        )
      }
    }
  }
}
