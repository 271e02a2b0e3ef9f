/**
 * Lint checks on authentication objects: PeerAuthentication precedence traps (mistake 18), STRICT servers
 * whose clients are told to send plaintext (19), and RequestAuthentication believed to require a token (17).
 */
import type { Emit, LintOptions } from './lint-codes.js'
import type { DestinationRuleObject, PeerAuthenticationObject, PolicySet } from './model.js'
import { appliesTo, byAge, hasTargetRefs, paLevel, selectorLabels } from './scope.js'

export function lintAuthn(set: PolicySet, opts: LintOptions, emit: Emit): void {
  const mesh = opts.mesh
  for (const pa of set.peerAuthentications) {
    const level = paLevel(pa, mesh)
    if (level === 'ignored') {
      emit(
        'POL018',
        'medium',
        pa,
        'spec.selector',
        'PeerAuthentication with a workload selector in the root namespace is ignored (unlike AuthorizationPolicy)',
        'move it to the workload namespace, or drop the selector to make it mesh-wide',
      )
    }
    if (pa.spec.portLevelMtls && Object.keys(pa.spec.portLevelMtls).length > 0 && Object.keys(selectorLabels(pa)).length === 0) {
      emit(
        'POL012',
        'error',
        pa,
        'spec.portLevelMtls',
        'portLevelMtls requires a selector (CRD validation)',
        'add selector.matchLabels for the workload',
      )
    }
    if (pa.spec.mtls?.mode === 'DISABLE' && level === 'mesh') {
      emit(
        'POL019',
        'high',
        pa,
        'spec.mtls.mode',
        'mesh-wide mTLS DISABLE: no workload accepts mTLS, every identity-based policy is void',
        'use PERMISSIVE during migration, STRICT after',
      )
    }
  }
  // Within one level and scope the oldest object wins and the others are ignored.
  const groups = new Map<string, PeerAuthenticationObject[]>()
  for (const pa of set.peerAuthentications) {
    const level = paLevel(pa, mesh)
    if (level === 'ignored') continue
    const key = level === 'mesh' ? 'mesh' : `${level}:${pa.namespace}:${JSON.stringify(Object.entries(selectorLabels(pa)).sort())}`
    groups.set(key, [...(groups.get(key) ?? []), pa])
  }
  for (const list of groups.values()) {
    if (list.length < 2) continue
    const sorted = [...list].sort(byAge)
    const winner = sorted[0]!
    const undated = list.some((p) => p.createdAt === null)
    for (const loser of sorted.slice(1)) {
      emit(
        'POL018',
        'medium',
        loser,
        'metadata',
        `several PeerAuthentications at the same level: Istio keeps the oldest${undated ? ' (no creationTimestamp here, so which one wins depends on apply order)' : ` (${winner.namespace}/${winner.name})`} and ignores this one`,
        'keep one PeerAuthentication per mesh/namespace/workload',
      )
    }
  }
  lintStrictVsClients(set, opts, emit)
  lintRequestAuthn(set, opts, emit)
}

function drAffects(dr: DestinationRuleObject, namespace: string | null): boolean {
  if (namespace === null) return true
  const host = dr.spec.host
  if (host.endsWith(`.${namespace}.svc.cluster.local`) || host === `*.${namespace}.svc.cluster.local`) return true
  return !host.includes('.') && dr.namespace === namespace
}

function lintStrictVsClients(set: PolicySet, opts: LintOptions, emit: Emit): void {
  const mesh = opts.mesh
  for (const pa of set.peerAuthentications) {
    const level = paLevel(pa, mesh)
    if (level === 'ignored' || pa.spec.mtls?.mode !== 'STRICT') continue
    const ns = level === 'mesh' ? null : pa.namespace
    const disabling = set.destinationRules.find((dr) => dr.spec.trafficPolicy?.tls?.mode === 'DISABLE' && drAffects(dr, ns))
    if (disabling !== undefined) {
      emit(
        'POL019',
        'high',
        pa,
        'spec.mtls.mode',
        `STRICT mTLS but DestinationRule ${disabling.namespace}/${disabling.name} (host ${disabling.spec.host}) makes clients send plaintext: those connections fail (KIA0207)`,
        'remove `tls.mode: DISABLE` from the DestinationRule (auto mTLS picks ISTIO_MUTUAL), or set PERMISSIVE while migrating',
      )
    } else if (!mesh.enableAutoMtls) {
      const enabling = set.destinationRules.some((dr) => dr.spec.trafficPolicy?.tls?.mode === 'ISTIO_MUTUAL' && drAffects(dr, ns))
      if (!enabling) {
        emit(
          'POL019',
          'high',
          pa,
          'spec.mtls.mode',
          'STRICT mTLS with enableAutoMtls: false and no DestinationRule setting ISTIO_MUTUAL: clients send plaintext and fail (KIA0401/KIA0501)',
          'add a DestinationRule with tls.mode ISTIO_MUTUAL, or enable auto mTLS',
        )
      }
    }
  }
}

// 17: a RequestAuthentication only rejects invalid tokens; a request without one is accepted.
function lintRequestAuthn(set: PolicySet, opts: LintOptions, emit: Emit): void {
  for (const ra of set.requestAuthentications) {
    if (hasTargetRefs(ra)) continue
    const labels = selectorLabels(ra)
    const requiring = set.authorizationPolicies.some((ap) => {
      if (
        !appliesTo(
          ap,
          ra.namespace === opts.mesh.rootNamespace ? ap.namespace : ra.namespace,
          { ...labels, ...selectorLabels(ap) },
          opts.mesh,
        )
      )
        return false
      const action = ap.spec.action ?? 'ALLOW'
      return (ap.spec.rules ?? []).some(
        (r) =>
          (r?.from ?? []).some((f) =>
            action === 'ALLOW'
              ? (f.source?.requestPrincipals?.length ?? 0) > 0
              : action === 'DENY' && (f.source?.notRequestPrincipals ?? []).includes('*'),
          ) || (r?.when ?? []).some((c) => c.key.startsWith('request.auth.')),
      )
    })
    if (!requiring) {
      emit(
        'POL017',
        'medium',
        ra,
        'spec.jwtRules',
        'RequestAuthentication alone does not require a token: requests without a JWT are accepted (only invalid tokens are rejected)',
        'add an AuthorizationPolicy: ALLOW with `requestPrincipals: ["*"]`, or DENY with `notRequestPrincipals: ["*"]`',
      )
    }
  }
}
