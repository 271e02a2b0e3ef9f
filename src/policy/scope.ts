/**
 * Which objects apply to a workload, and the effective PeerAuthentication mode for one of its ports.
 *
 * AuthorizationPolicy / RequestAuthentication (pilot/pkg/model/authorization.go ListAuthorizationPolicies,
 * policyattachment.go): only the root namespace and the workload's namespace are searched; a missing or
 * empty selector selects every workload in scope; a selector must be a subset of the workload labels (in
 * the root namespace too, where it then applies in every namespace); a policy with targetRef(s) is ignored
 * entirely on sidecars and classic gateways.
 *
 * PeerAuthentication (policy_applier.go ComposePeerAuthentication): mesh level = root namespace without a
 * (non-empty) selector; namespace level = other namespace without selector; workload level = non-root
 * namespace with a non-empty selector. A selector PA in the root namespace is ignored. Narrowest level
 * wins, UNSET inherits, the oldest object wins within a level, portLevelMtls only counts on the workload
 * level, and with no policy at all the mode is PERMISSIVE.
 */
import type { MeshConfig } from './mesh-config.js'
import type { MtlsMode, ObjectMeta, PeerAuthenticationObject } from './model.js'

interface Selectable extends ObjectMeta {
  spec: { selector?: { matchLabels?: Record<string, string> | null } | null; targetRef?: unknown; targetRefs?: unknown[] | null }
}

export function hasTargetRefs(o: Selectable): boolean {
  return (o.spec.targetRef !== null && o.spec.targetRef !== undefined) || (o.spec.targetRefs?.length ?? 0) > 0
}

export function selectorLabels(o: { spec: { selector?: { matchLabels?: Record<string, string> | null } | null } }): Record<string, string> {
  return o.spec.selector?.matchLabels ?? {}
}

export function labelsSubset(selector: Record<string, string>, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(selector)) {
    if (!Object.prototype.hasOwnProperty.call(labels, k) || labels[k] !== v) return false
  }
  return true
}

/** AuthorizationPolicy / RequestAuthentication selection for a sidecar or gateway workload. */
export function appliesTo(o: Selectable, namespace: string, labels: Record<string, string>, mesh: MeshConfig): boolean {
  if (o.namespace !== mesh.rootNamespace && o.namespace !== namespace) return false
  if (hasTargetRefs(o)) return false
  return labelsSubset(selectorLabels(o), labels)
}

/** Creation order, oldest first; objects without a timestamp sort after dated ones, then by namespace/name. */
export function byAge(a: ObjectMeta, b: ObjectMeta): number {
  const ta = a.createdAt ?? Number.POSITIVE_INFINITY
  const tb = b.createdAt ?? Number.POSITIVE_INFINITY
  if (ta !== tb) return ta < tb ? -1 : 1
  return `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`)
}

export type PaLevel = 'mesh' | 'namespace' | 'workload'

export function paLevel(pa: PeerAuthenticationObject, mesh: MeshConfig): PaLevel | 'ignored' {
  const hasSelector = Object.keys(selectorLabels(pa)).length > 0
  if (pa.namespace === mesh.rootNamespace) return hasSelector ? 'ignored' : 'mesh'
  return hasSelector ? 'workload' : 'namespace'
}

export interface EffectiveMtls {
  mode: Exclude<MtlsMode, 'UNSET'>
  /** The PeerAuthentication objects that decided it, narrowest last: `ns/name` (+ `:port`). */
  decidedBy: string[]
}

export function effectiveMtls(
  pas: readonly PeerAuthenticationObject[],
  namespace: string,
  labels: Record<string, string>,
  port: number | null,
  mesh: MeshConfig,
): EffectiveMtls {
  const pick = (level: PaLevel): PeerAuthenticationObject | undefined =>
    pas
      .filter((pa) => paLevel(pa, mesh) === level)
      .filter((pa) => level === 'mesh' || pa.namespace === namespace)
      .filter((pa) => level !== 'workload' || labelsSubset(selectorLabels(pa), labels))
      .sort(byAge)[0]
  let mode: EffectiveMtls['mode'] = 'PERMISSIVE'
  const decidedBy: string[] = []
  for (const level of ['mesh', 'namespace', 'workload'] as const) {
    const pa = pick(level)
    if (pa === undefined) continue
    const m = pa.spec.mtls?.mode
    if (m !== undefined && m !== 'UNSET') {
      mode = m
      decidedBy.push(`${pa.namespace}/${pa.name}`)
    }
    if (level === 'workload' && port !== null) {
      const pm = pa.spec.portLevelMtls?.[String(port)]?.mode
      if (pm !== undefined && pm !== 'UNSET') {
        mode = pm
        decidedBy.push(`${pa.namespace}/${pa.name}:${port}`)
      }
    }
  }
  return { mode, decidedBy }
}

/**
 * Ambient attachment (istio.io docs, ambient/usage/l4-policy and the AuthorizationPolicy reference):
 * - ztunnel enforces the policies a sidecar would (namespace, root namespace, selector), never one with
 *   targetRefs;
 * - a waypoint enforces only policies with targetRefs: to its Gateway (kind Gateway, by name), to the
 *   Service or ServiceEntry the client addressed, in the policy's own namespace; or, from the root
 *   namespace, to the GatewayClass `istio-waypoint` (every waypoint). Selector policies never reach it.
 */
export type Enforcement = 'sidecar' | 'ztunnel' | 'waypoint'

interface TargetRef {
  group?: string | undefined
  kind: string
  name: string
  namespace?: string | undefined
}

function targetRefsOf(o: Selectable): TargetRef[] {
  const refs: TargetRef[] = []
  const one = o.spec.targetRef as TargetRef | null | undefined
  if (one !== null && one !== undefined) refs.push(one)
  for (const r of (o.spec.targetRefs ?? []) as (TargetRef | null)[]) if (r !== null) refs.push(r)
  return refs
}

export function appliesAt(
  o: Selectable,
  at: {
    enforcement: Enforcement
    namespace: string
    labels: Record<string, string>
    service?: string | undefined
    waypoint?: string | undefined
  },
  mesh: MeshConfig,
): boolean {
  if (at.enforcement !== 'waypoint') return appliesTo(o, at.namespace, at.labels, mesh)
  if (!hasTargetRefs(o)) return false
  return targetRefsOf(o).some((r) => {
    if (r.kind === 'GatewayClass') return o.namespace === mesh.rootNamespace && r.name === 'istio-waypoint'
    if (o.namespace !== at.namespace || (r.namespace !== undefined && r.namespace !== o.namespace)) return false
    if (r.kind === 'Gateway') return at.waypoint !== undefined && r.name === at.waypoint
    if (r.kind === 'Service' || r.kind === 'ServiceEntry') return at.service !== undefined && r.name === at.service
    return false
  })
}

// The attributes ztunnel can enforce: the L4 rows of the "Allowed policy attributes" table in Istio's
// ambient L4 policy guide. Anything else is L7.
const L4_SOURCE = new Set(['principals', 'notPrincipals', 'namespaces', 'notNamespaces', 'ipBlocks', 'notIpBlocks'])
const L4_OPERATION = new Set(['ports', 'notPorts'])
const L4_CONDITIONS = new Set(['source.ip', 'source.namespace', 'source.principal', 'destination.ip', 'destination.port'])

type RuleShape = {
  from?: { source?: Record<string, unknown> | null }[] | undefined
  to?: { operation?: Record<string, unknown> | null }[] | undefined
  when?: { key: string }[] | undefined
} | null

/** Does any rule of the policy use an attribute ztunnel cannot enforce? */
export function hasL7Attributes(rules: readonly RuleShape[] | null | undefined): boolean {
  for (const rule of rules ?? []) {
    if (rule === null) continue
    for (const f of rule.from ?? []) for (const k of Object.keys(f.source ?? {})) if (!L4_SOURCE.has(k)) return true
    for (const t of rule.to ?? []) for (const k of Object.keys(t.operation ?? {})) if (!L4_OPERATION.has(k)) return true
    for (const w of rule.when ?? []) if (!L4_CONDITIONS.has(w.key)) return true
  }
  return false
}
