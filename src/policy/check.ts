/**
 * `policy check`: replays observed inbound decisions against the declared policies. Only lines written at
 * a decision point are used: the destination sidecar (mesh.reporter = destination), gateways, and in
 * ambient mode the destination's ztunnel and waypoints (check-ambient.ts); a client sidecar's outbound
 * line never went through authorization. Per event the request is rebuilt from the
 * canonical fields (mesh.source.spiffe_id, mesh.mtls, mesh.destination.namespace / kubernetes.namespace,
 * kubernetes.labels or the inventory, the container port from the downstream local address, http method,
 * url.path, envoy.authority, SNI, XFF) and evaluated; disagreements become `policy_violation` findings:
 * - enforcement gap: the log shows it allowed, the declared policy denies (policy not applied, PERMISSIVE
 *   where STRICT is declared, missing sidecar, or a manual change in the cluster);
 * - drift: the log shows an RBAC/ext_authz denial, the declared policy allows.
 * Events whose verdict cannot be known offline are counted, never guessed: unknown mTLS state, mTLS
 * without a logged peer identity, unknown destination labels, or a denial that hinges on JWTs or headers
 * that access logs do not carry.
 */
import type { AuditEvent, Finding } from '../generated/types.js'
import type { TransformStage } from '../pipeline/component.js'
import { perEventStage } from '../pipeline/transforms.js'
import { applyFindings } from '../detect/detectors.js'
import { compilePolicies, type Decision, type Evaluator } from './evaluator.js'
import { assertNoIssues, loadPolicies } from './loader.js'
import { DEFAULT_MESH_CONFIG, type MeshConfig } from './mesh-config.js'
import type { Inventory } from './workload-inventory.js'
import { stripSpiffe } from './match.js'
import type { PolicySet } from './model.js'
import type { PolicyRequest } from './request.js'
import type { GuessedWorkloads } from './guessed-workloads.js'
import { appliesAt } from './scope.js'
import { waypointRequest, ztunnelRequest, ztunnelVerdict } from './check-ambient.js'

export const POLICY_VIOLATION = 'policy_violation'

export type SkipReason =
  'not-a-decision-point' | 'mtls-unknown' | 'identity-not-logged' | 'labels-unknown' | 'depends-on-unlogged-attributes' | 'not-evaluable'

export interface CheckResult {
  kind: 'gap' | 'drift'
  eventId: string
  timestamp: string
  decision: Decision
  finding: Finding
}

export interface CheckStats {
  events: number
  checked: number
  agree: number
  gaps: number
  drift: number
  skipped: Partial<Record<SkipReason, number>>
}

export interface CheckContext {
  evaluator: Evaluator
  set: PolicySet
  inventory?: Inventory
  /** Without an inventory: guess unlabelled destinations from the events, and count each guess. */
  guessed?: GuessedWorkloads
}

/** Rebuilds the request a decision point saw, or says why it cannot. Pure. */
export function requestFromEvent(
  e: AuditEvent,
  ctx: { inventory?: Inventory | undefined; guessed?: GuessedWorkloads | undefined },
  options: { allowUnknownIdentity?: boolean } = {},
): PolicyRequest | SkipReason {
  const reporter = e.mesh?.reporter
  if (reporter === 'ztunnel') return ztunnelRequest(e, ctx, options.allowUnknownIdentity === true)
  if (reporter === 'waypoint')
    return waypointRequest(
      e,
      ctx,
      options.allowUnknownIdentity === true,
      e.mesh?.destination?.port ?? portOf(e.envoy?.downstream_local_address),
    )
  if (reporter !== 'destination' && reporter !== 'gateway') return 'not-a-decision-point'
  const mtls = e.mesh?.mtls
  const spiffe = e.mesh?.source?.spiffe_id
  if (mtls === undefined || mtls === null) return 'mtls-unknown'
  // Istio's default log formats do not record the peer identity; the caller decides whether it matters.
  if (mtls && spiffe === undefined && options.allowUnknownIdentity !== true) return 'identity-not-logged'
  const localPort = portOf(e.envoy?.downstream_local_address)
  const localIp = hostOf(e.envoy?.downstream_local_address) ?? e.destination?.ip
  // A gateway decides for itself: its own pod (envelope) is the workload, not the upstream service.
  let namespace = reporter === 'gateway' ? e.kubernetes?.namespace : (e.mesh?.destination?.namespace ?? e.kubernetes?.namespace)
  let labels: Record<string, string | undefined> | undefined = e.kubernetes?.labels
  if (labels === undefined && ctx.inventory !== undefined) {
    // The pod IP identifies the workload best; the service name only within a known namespace.
    const name = reporter === 'gateway' ? e.kubernetes?.pod : (e.mesh?.destination?.workload ?? e.mesh?.destination?.service)
    const byIp =
      localIp === undefined
        ? undefined
        : ctx.inventory.workloads.find((x) => x.ips.includes(localIp) && (namespace === undefined || x.namespace === namespace))
    const w =
      byIp ??
      (namespace === undefined
        ? undefined
        : ctx.inventory.workloads.find((x) => x.namespace === namespace && name !== undefined && x.name === name))
    if (w !== undefined) {
      labels = w.labels
      namespace = w.namespace
    }
  }
  if (labels === undefined && ctx.inventory === undefined && ctx.guessed !== undefined && reporter === 'destination') {
    const g = ctx.guessed.guess(e, namespace)
    if (g !== undefined) {
      labels = g.labels
      namespace = g.namespace
    }
  }
  if (namespace === undefined) return 'labels-unknown'
  if (labels === undefined) return 'labels-unknown'
  const port = reporter === 'destination' ? (e.destination?.port ?? localPort) : (localPort ?? e.destination?.port)
  if (port === undefined) return 'not-evaluable'
  const method = e.http?.request?.method
  const isHttp = method !== undefined
  const headers = Object.create(null) as Record<string, string>
  if (e.envoy?.x_forwarded_for !== undefined) headers['x-forwarded-for'] = e.envoy.x_forwarded_for
  const safeLabels = Object.create(null) as Record<string, string>
  for (const [k, v] of Object.entries(labels)) if (v !== undefined) safeLabels[k] = v
  return {
    principal: mtls && spiffe !== undefined ? stripSpiffe(spiffe) : null,
    sourceIp: e.source?.ip,
    namespace,
    labels: safeLabels,
    destinationIp: localIp,
    port,
    protocol: isHttp ? 'http' : 'tcp',
    mtls,
    sni: e.envoy?.requested_server_name ?? e.tls?.client?.server_name,
    remoteIp: undefined,
    host: e.envoy?.authority ?? e.url?.domain,
    method,
    path: isHttp ? (e.url?.path ?? '/') : undefined,
    headers,
    jwt: null,
  }
}

/** Observed decision: RBAC or ext_authz denial vs anything that reached the application. */
export function observedVerdict(e: AuditEvent): 'ALLOW' | 'DENY' | null {
  if (e.mesh?.reporter === 'ztunnel') return ztunnelVerdict(e)
  const action = e.event.action
  if (action === 'denied') return 'DENY'
  if (action === 'allowed' || action === 'connection') return 'ALLOW'
  return null
}

const IDENTITY_SOURCE_FIELDS = [
  'principals',
  'notPrincipals',
  'namespaces',
  'notNamespaces',
  'serviceAccounts',
  'notServiceAccounts',
  'trustDomains',
  'notTrustDomains',
] as const

const atOf = (req: PolicyRequest) => ({
  enforcement: req.enforcement ?? 'sidecar',
  namespace: req.namespace,
  labels: req.labels,
  service: req.service,
  waypoint: req.waypoint,
})

function usesIdentity(set: PolicySet, req: PolicyRequest, ctx: CheckContext): boolean {
  return set.authorizationPolicies.some(
    (p) =>
      appliesAt(p, atOf(req), ctx.evaluator.mesh) &&
      (p.spec.rules ?? []).some(
        (r) =>
          (r?.from ?? []).some((f) => IDENTITY_SOURCE_FIELDS.some((k) => (f.source?.[k]?.length ?? 0) > 0)) ||
          (r?.when ?? []).some((c) => /^source\.(principal|namespace|serviceAccount|trustDomain)$/.test(c.key)),
      ),
  )
}

function usesUnloggedAttributes(set: PolicySet, req: PolicyRequest, ctx: CheckContext): boolean {
  return set.authorizationPolicies.some(
    (p) =>
      appliesAt(p, atOf(req), ctx.evaluator.mesh) &&
      (p.spec.rules ?? []).some(
        (r) =>
          (r?.from ?? []).some((f) => (f.source?.requestPrincipals?.length ?? 0) + (f.source?.notRequestPrincipals?.length ?? 0) > 0) ||
          (r?.when ?? []).some(
            (c) =>
              c.key.startsWith('request.auth.') ||
              (c.key.startsWith('request.headers[') && !/x-forwarded-for/i.test(c.key)) ||
              c.key.startsWith('experimental.'),
          ),
      ),
  )
}

/** Checks one event; returns a result only when the log and the declared policy disagree. */
export function checkEvent(e: AuditEvent, ctx: CheckContext, stats?: CheckStats): CheckResult | null {
  if (stats) stats.events++
  const skip = (r: SkipReason): null => {
    if (stats) stats.skipped[r] = (stats.skipped[r] ?? 0) + 1
    return null
  }
  const observed = observedVerdict(e)
  if (observed === null) return skip('not-evaluable')
  const req = requestFromEvent(e, ctx, { allowUnknownIdentity: true })
  if (typeof req === 'string') return skip(req)
  // mTLS with an unlogged peer: decidable only when no applicable policy looks at the identity.
  if (req.mtls && req.principal === null && usesIdentity(ctx.set, req, ctx)) return skip('identity-not-logged')
  const d = ctx.evaluator.evaluate(req)
  if (d.verdict === observed || (d.delegatedTo !== undefined && observed === 'DENY')) {
    if (stats) {
      stats.checked++
      stats.agree++
    }
    return null
  }
  if (d.verdict === 'DENY' && d.layer === 'authz' && usesUnloggedAttributes(ctx.set, req, ctx))
    return skip('depends-on-unlogged-attributes')
  if (stats) stats.checked++
  const who = req.principal ?? (req.mtls ? 'unknown peer' : `plaintext from ${req.sourceIp ?? 'unknown ip'}`)
  const what = req.protocol === 'tcp' ? `TCP :${req.port}` : `${req.method} ${req.path} :${req.port}`
  const app = req.labels['app'] ?? req.labels['app.kubernetes.io/name']
  const target = `${req.namespace}/${
    app !== undefined
      ? `app=${app}`
      : req.enforcement === 'waypoint' && req.service !== undefined
        ? `service=${req.service}`
        : Object.entries(req.labels)
            .slice(0, 3)
            .map(([k, v]) => `${k}=${v}`)
            .join(',') || '*'
  }`
  if (observed === 'ALLOW') {
    if (stats) stats.gaps++
    const cause =
      d.layer === 'peer-authn'
        ? 'STRICT mTLS is declared but plaintext was accepted (PERMISSIVE in the cluster or no sidecar)'
        : 'the declared policy is not enforced (not applied, wrong namespace, missing sidecar, or changed in the cluster)'
    const finding: Finding = {
      code: POLICY_VIOLATION,
      severity: 'high',
      controls: d.layer === 'peer-authn' ? ['AC-3', 'SC-8'] : ['AC-3', 'AC-4'],
      message: `Enforcement gap: ${who} → ${target} ${what} was allowed, but declared ${d.layer} denies it (${d.reason}); ${cause}.`,
      policy: d.policies.join(',') || d.layer,
    }
    return { kind: 'gap', eventId: e.event.id, timestamp: e['@timestamp'], decision: d, finding }
  }
  if (stats) stats.drift++
  const by = e.envoy?.rbac_policy ?? e.envoy?.response_code_details ?? e.ztunnel?.error ?? 'RBAC'
  const finding: Finding = {
    code: POLICY_VIOLATION,
    severity: 'medium',
    controls: ['AC-3', 'CM-6'],
    message: `Policy drift: ${who} → ${target} ${what} was denied in the mesh (${by}), but the declared policies allow it (${d.reason}).`,
    policy: e.envoy?.rbac_policy ?? e.ztunnel?.policy ?? 'drift',
  }
  return { kind: 'drift', eventId: e.event.id, timestamp: e['@timestamp'], decision: d, finding }
}

/** Pure batch form: every disagreement plus counts. */
export function checkEvents(events: Iterable<AuditEvent>, ctx: CheckContext): { results: CheckResult[]; stats: CheckStats } {
  const stats: CheckStats = { events: 0, checked: 0, agree: 0, gaps: 0, drift: 0, skipped: {} }
  const results: CheckResult[] = []
  for (const e of events) {
    const r = checkEvent(e, ctx, stats)
    if (r !== null) results.push(r)
  }
  return { results, stats }
}

/**
 * The same check as a pipeline stage: findings are written on the events (audit.findings and the derived
 * finding_codes/controls/severity). An event that makes the evaluator throw is dead-lettered like any
 * other stage's (transformDeadLetter: original line, event_id, never the event itself), never lost.
 */
export function createPolicyCheckStage(ctx: CheckContext): TransformStage {
  return perEventStage('policy-check', (e) => {
    const r = checkEvent(e, ctx)
    if (r !== null) applyFindings(e, [r.finding])
  })
}

function portOf(addr: string | undefined): number | undefined {
  if (addr === undefined) return undefined
  const m = /:(\d+)$/.exec(addr)
  return m === null ? undefined : Number(m[1])
}

function hostOf(addr: string | undefined): string | undefined {
  if (addr === undefined) return undefined
  const m = /^\[?([^\]]+?)\]?:\d+$/.exec(addr)
  return m === null ? undefined : m[1]
}

/**
 * The stage built from a policy directory (what a pipeline config names): manifests are loaded, validated
 * and compiled once here, at startup; invalid manifests fail fast with EA_CONFIG_INVALID.
 */
export function policyCheckStageFromFiles(
  paths: readonly string[],
  options: { mesh?: MeshConfig; inventory?: Inventory } = {},
): TransformStage {
  const set = loadPolicies(paths)
  assertNoIssues(set)
  const evaluator = compilePolicies(set, options.mesh ?? DEFAULT_MESH_CONFIG)
  return createPolicyCheckStage({ set, evaluator, ...(options.inventory === undefined ? {} : { inventory: options.inventory }) })
}
