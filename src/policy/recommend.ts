/**
 * `policy recommend`: least-privilege policies from observed inbound traffic.
 *
 * Per destination workload (namespace + a stable selector label), the legitimate flows are the mTLS,
 * non-denied ones with a known peer identity. They become one ALLOW rule per principal whose operations
 * are (port, method, paths), with ID-like path segments generalised to `{*}`. A generalisation is dropped
 * back to the exact paths whenever it would also match a request that was seen denied for the same
 * principal, port and method, so the result allows every legitimate flow and nothing else that was seen:
 * plaintext flows carry no principal and so never match, denied flows are excluded by construction, and a
 * workload that only ever saw denied or plaintext traffic gets an allow-nothing policy (`spec: {}`).
 * A STRICT PeerAuthentication is proposed for a workload when every inbound request seen was mTLS.
 * Flows that cannot be attributed (peer identity not logged, unknown labels) are reported, not guessed.
 *
 * Allowed traffic is not legitimate traffic: a request from a foreign trust domain was let through, and
 * that is the incident, not a requirement. Flows whose events carry a flagged finding (isFlaggedFinding:
 * high or critical, an invalid peer identity, a denial) are therefore excluded like denied ones (they
 * also stop a template from covering their paths) and listed in a comment block of the YAML with their
 * findings and counts; `includeFlagged` (`--include-flagged`) keeps them, and says so in the same block.
 */
import { stringify } from 'yaml'
import { isFlaggedFinding } from '../detect/catalogue.js'
import type { AuditEvent } from '../generated/types.js'
import { observedVerdict, requestFromEvent } from './check.js'
import type { Inventory } from './workload-inventory.js'
import type { GuessedWorkloads } from './guessed-workloads.js'
import type { MeshConfig } from './mesh-config.js'
import { normalizePath, templateRegex } from './path.js'

export interface ObservedFlow {
  namespace: string
  labels: Record<string, string>
  /** Peer identity without spiffe://; null for plaintext. */
  principal: string | null
  mtls: boolean
  port: number
  protocol: 'http' | 'tcp'
  method?: string
  /** Raw request path (query allowed); normalized with the mesh mode before use. */
  path?: string
  denied: boolean
  /** The flagged findings of its events, as `code (severity)`, sorted; absent or empty when clean. */
  flagged?: string[]
  /** How many events this flow stands for (DistinctFlows counts them); 1 when absent. */
  count?: number
}

/** A flow the recommendation does not allow because its events carry flagged findings. */
export interface ExcludedFlow {
  namespace: string
  workload: string
  principal: string
  port: number
  method: string | null
  path: string | null
  findings: string[]
  count: number
}

export interface Recommendation {
  /** Kubernetes objects, ready for YAML. */
  objects: Array<Record<string, unknown>>
  notes: string[]
  /** Flagged flows left out of the rules (or, with includeFlagged, allowed anyway). */
  flagged?: ExcludedFlow[]
  includeFlagged?: boolean
}

// Labels that identify a workload across pods and versions, most specific convention first.
const SELECTOR_KEYS = ['app', 'app.kubernetes.io/name', 'k8s-app', 'service.istio.io/canonical-name']
const POD_LABELS = new Set([
  'pod-template-hash',
  'controller-revision-hash',
  'statefulset.kubernetes.io/pod-name',
  'security.istio.io/tlsMode',
  'service.istio.io/canonical-revision',
  'pod-template-generation',
])
const ID_SEGMENT = [
  /^\d+$/,
  /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i,
  /^[0-9a-f]{12,}$/i,
  /^(?=.*\d)[A-Za-z0-9_-]{16,}$/,
]

export function selectorFor(labels: Record<string, string>): Record<string, string> | null {
  for (const k of SELECTOR_KEYS) if (labels[k] !== undefined) return { [k]: labels[k]! }
  const rest = Object.entries(labels).filter(([k]) => !POD_LABELS.has(k))
  return rest.length === 0 ? null : Object.fromEntries(rest.sort(([a], [b]) => a.localeCompare(b)))
}

/** Replaces ID-like segments (numbers, UUIDs, long hex or tokens) with the `{*}` template operator. */
export function generalisePath(path: string): string {
  return path
    .split('/')
    .map((s) => (ID_SEGMENT.some((re) => re.test(s)) ? '{*}' : s))
    .join('/')
}

/** Flows from canonical events (same decision-point rules as `policy check`). */
export function flowsFromEvents(
  events: Iterable<AuditEvent>,
  ctx: { inventory?: Inventory | undefined; guessed?: GuessedWorkloads | undefined },
): { flows: ObservedFlow[]; unattributed: Record<string, number> } {
  const flows: ObservedFlow[] = []
  const unattributed: Record<string, number> = {}
  for (const e of events) {
    const observed = observedVerdict(e)
    const req = requestFromEvent(e, ctx)
    if (typeof req === 'string' || observed === null) {
      const why = typeof req === 'string' ? req : 'not-evaluable'
      if (why !== 'not-a-decision-point') unattributed[why] = (unattributed[why] ?? 0) + 1
      continue
    }
    const flow: ObservedFlow = {
      namespace: req.namespace,
      labels: req.labels,
      principal: req.principal,
      mtls: req.mtls,
      port: req.port,
      protocol: req.protocol === 'tcp' ? 'tcp' : 'http',
      denied: observed === 'DENY',
    }
    const flagged = flaggedFindings(e)
    if (flagged.length > 0) flow.flagged = flagged
    if (req.method !== undefined) flow.method = req.method
    if (req.path !== undefined) flow.path = req.path
    flows.push(flow)
  }
  return { flows, unattributed }
}

/** `code (severity)` of each flagged finding of an event, sorted and distinct. */
export function flaggedFindings(e: AuditEvent): string[] {
  const out = new Set<string>()
  for (const f of e.audit?.findings ?? []) if (isFlaggedFinding(f)) out.add(`${f.code} (${f.severity})`)
  return [...out].sort()
}

/**
 * Observed flows without repeats: what recommendPolicies reads of them is sets (paths, principals,
 * ports, whether all were mTLS), so one copy per distinct flow gives the same policies, and memory grows
 * with the distinct flows of the traffic instead of with its events.
 */
export class DistinctFlows {
  private readonly byKey = new Map<string, ObservedFlow>()

  add(flows: Iterable<ObservedFlow>): void {
    for (const f of flows) {
      const labels = Object.entries(f.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      const key = JSON.stringify([
        f.namespace,
        labels,
        f.principal,
        f.mtls,
        f.port,
        f.protocol,
        f.method ?? null,
        f.path ?? null,
        f.denied,
        f.flagged ?? [],
      ])
      const seen = this.byKey.get(key)
      if (seen === undefined) this.byKey.set(key, { ...f, count: f.count ?? 1 })
      else seen.count = (seen.count ?? 1) + (f.count ?? 1)
    }
  }

  get size(): number {
    return this.byKey.size
  }

  values(): ObservedFlow[] {
    return [...this.byKey.values()]
  }
}

interface WorkloadTraffic {
  namespace: string
  selector: Record<string, string>
  flows: ObservedFlow[]
}

export function recommendPolicies(
  flows: readonly ObservedFlow[],
  mesh: MeshConfig,
  options: { namespace?: string; includeFlagged?: boolean } = {},
): Recommendation {
  const notes: string[] = []
  const flagged: ExcludedFlow[] = []
  const includeFlagged = options.includeFlagged === true
  const byWorkload = new Map<string, WorkloadTraffic>()
  for (const f of flows) {
    if (options.namespace !== undefined && f.namespace !== options.namespace) continue
    const selector = selectorFor(f.labels)
    if (selector === null) {
      notes.push(`skipped a flow to ${f.namespace}: the destination has no labels to select it by`)
      continue
    }
    const key = `${f.namespace}\u0000${JSON.stringify(selector)}`
    const w = byWorkload.get(key) ?? { namespace: f.namespace, selector, flows: [] }
    w.flows.push(f)
    byWorkload.set(key, w)
  }
  const objects: Array<Record<string, unknown>> = []
  const names = new Set<string>()
  for (const w of [...byWorkload.values()].sort((a, b) =>
    `${a.namespace}/${JSON.stringify(a.selector)}`.localeCompare(`${b.namespace}/${JSON.stringify(b.selector)}`),
  )) {
    const base = uniqueName(`${Object.values(w.selector)[0] ?? 'workload'}`, w.namespace, names)
    const rules = rulesFor(w, base, mesh, notes, { includeFlagged, flagged })
    const spec: Record<string, unknown> = { selector: { matchLabels: w.selector }, action: 'ALLOW' }
    if (rules.length > 0) spec['rules'] = rules
    else notes.push(`${w.namespace}/${base}: no legitimate mTLS traffic seen, so the policy allows nothing (spec without rules)`)
    objects.push({
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: { name: `${base}-least-privilege`, namespace: w.namespace },
      spec,
    })
    if (w.flows.every((f) => f.mtls)) {
      objects.push({
        apiVersion: 'security.istio.io/v1',
        kind: 'PeerAuthentication',
        metadata: { name: `${base}-strict`, namespace: w.namespace },
        spec: { selector: { matchLabels: w.selector }, mtls: { mode: 'STRICT' } },
      })
    } else {
      notes.push(`${w.namespace}/${base}: plaintext requests were seen, so STRICT mTLS is not proposed (migrate those clients first)`)
    }
  }
  return { objects, notes, flagged: sortExcluded(flagged), includeFlagged }
}

function rulesFor(
  w: WorkloadTraffic,
  workload: string,
  mesh: MeshConfig,
  notes: string[],
  flags: { includeFlagged: boolean; flagged: ExcludedFlow[] },
): Array<Record<string, unknown>> {
  const norm = (p: string | undefined): string | null => {
    if (p === undefined) return null
    const n = normalizePath(p, mesh.pathNormalization)
    return n.ok ? n.path : null
  }
  // principal → "port method" → { legit paths, denied paths }
  const table = new Map<string, Map<string, { port: number; method: string | null; legit: Set<string>; denied: Set<string> }>>()
  for (const f of w.flows) {
    if (f.principal === null || !f.mtls) continue
    const ops = table.get(f.principal) ?? new Map()
    table.set(f.principal, ops)
    const method = f.protocol === 'tcp' ? null : (f.method ?? null)
    const k = `${f.port} ${method ?? ''}`
    const op = ops.get(k) ?? { port: f.port, method, legit: new Set<string>(), denied: new Set<string>() }
    ops.set(k, op)
    const path = f.protocol === 'tcp' ? '' : norm(f.path ?? '/')
    if (path === null) continue
    const isFlagged = (f.flagged?.length ?? 0) > 0
    // A denied flow was never allowed, so only an allowed flagged one is worth listing.
    if (isFlagged && !f.denied)
      flags.flagged.push({
        namespace: w.namespace,
        workload,
        principal: f.principal,
        port: f.port,
        method,
        path: f.protocol === 'tcp' ? null : path,
        findings: f.flagged!,
        count: f.count ?? 1,
      })
    ;(f.denied || (isFlagged && !flags.includeFlagged) ? op.denied : op.legit).add(path)
  }
  const rules: Array<Record<string, unknown>> = []
  for (const [principal, ops] of [...table.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    // TCP operations get their own rule: on a TCP chain an ALLOW rule that also names methods/paths is
    // dropped whole, TCP ports included (model checkError).
    const http: Array<Record<string, unknown>> = []
    const tcp: Array<Record<string, unknown>> = []
    for (const op of [...ops.values()].sort((a, b) => a.port - b.port || (a.method ?? '').localeCompare(b.method ?? ''))) {
      if (op.legit.size === 0) continue
      if (op.method === null) {
        if (op.denied.size > 0) notes.push(`${w.namespace}: ${principal} → TCP :${op.port} was both allowed and denied; allowed here`)
        tcp.push({ operation: { ports: [String(op.port)] } })
        continue
      }
      const paths = pathsFor(op.legit, op.denied)
      for (const c of [...op.legit].filter((p) => op.denied.has(p)))
        notes.push(`${w.namespace}: ${principal} → ${op.method} ${c} :${op.port} was both allowed and denied; allowed here`)
      http.push({ operation: { ports: [String(op.port)], methods: [op.method], paths } })
    }
    for (const to of [http, tcp]) if (to.length > 0) rules.push({ from: [{ source: { principals: [principal] } }], to })
  }
  return rules
}

/** Generalised templates where safe; exact paths where a template would also admit a denied path. */
function pathsFor(legit: Set<string>, denied: Set<string>): string[] {
  const groups = new Map<string, string[]>()
  for (const p of legit) {
    const t = generalisePath(p)
    groups.set(t, [...(groups.get(t) ?? []), p])
  }
  const out = new Set<string>()
  for (const [t, members] of groups) {
    const isTemplate = t.includes('{*}')
    const re = isTemplate ? templateRegex(t) : null
    const leaks = re !== null && [...denied].some((d) => re.test(d) && !legit.has(d))
    if (isTemplate && !leaks) out.add(t)
    else for (const m of members) out.add(m)
  }
  return [...out].sort()
}

function uniqueName(raw: string, namespace: string, used: Set<string>): string {
  const base =
    raw
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 40) || 'workload'
  let name = base
  for (let i = 2; used.has(`${namespace}/${name}`); i++) name = `${base}-${i}`
  used.add(`${namespace}/${name}`)
  return name
}

/** Same flow seen with several event copies (or from several files) sums into one line. */
function sortExcluded(list: ExcludedFlow[]): ExcludedFlow[] {
  const byKey = new Map<string, ExcludedFlow>()
  for (const x of list) {
    const key = JSON.stringify([x.namespace, x.workload, x.principal, x.port, x.method, x.path, x.findings])
    const seen = byKey.get(key)
    if (seen === undefined) byKey.set(key, { ...x })
    else seen.count += x.count
  }
  const text = (x: ExcludedFlow): string => `${x.namespace}/${x.workload} ${x.principal} ${x.port} ${x.method ?? ''} ${x.path ?? ''}`
  return [...byKey.values()].sort((a, b) => text(a).localeCompare(text(b)))
}

/** The comment block naming every flagged flow: what it was, which findings, how many events. */
export function flaggedBlock(r: Recommendation): string[] {
  const flagged = r.flagged ?? []
  if (flagged.length === 0) return []
  const what = `${flagged.length} flow(s) whose events carry high/critical, invalid-identity or denial findings`
  const head =
    r.includeFlagged === true
      ? `ALLOWED ALTHOUGH FLAGGED (--include-flagged): ${what}:`
      : `Excluded as flagged traffic, not allowed: ${what} (--include-flagged keeps them):`
  const lines = flagged.map((x) => {
    const op = x.method === null ? `TCP :${x.port}` : `${x.method} ${x.path ?? '/'} :${x.port}`
    return `  ${x.principal} → ${x.namespace}/${x.workload} ${op}: ${x.findings.join(', ')}; ${x.count} event(s)`
  })
  return [head, ...lines]
}

export function recommendationYaml(r: Recommendation): string {
  const header = [...r.notes, ...flaggedBlock(r)].map((n) => `# ${n.replace(/\n/g, ' ')}`).join('\n')
  const docs = r.objects.map((o) => stringify(o, { lineWidth: 0 }).trimEnd())
  return `${header.length > 0 ? `${header}\n` : ''}${docs.join('\n---\n')}\n`
}
