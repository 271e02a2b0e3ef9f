/**
 * Graph node ids and the IDENTITY argument of `hunt --from` / `flows --identity`.
 *
 * Node ids (built by the backends): `spiffe://td/ns/NS/sa/SA` when a certificate named the workload,
 * `namespace/workload` from the Kubernetes envelope or the Istio principal, `name.namespace` (or a bare
 * host) for a service nobody could tie to an identity, and an IP for an unidentified peer.
 *
 * IDENTITY forms accepted: a SPIFFE ID, an Istio principal `td/ns/NS/sa/SA`, `namespace/serviceaccount`
 * (or `namespace/workload`), or a bare workload/service name. A bare name matching workloads in several
 * namespaces is ambiguous and refused with the candidates, because starting a hunt from the wrong
 * namespace gives a confidently wrong answer.
 */
import { EnvoyAuditError } from '../errors.js'
import { parseIdentity, parseSpiffeId } from '../enrich/spiffe-id.js'
import type { GraphNode, NodeKind } from './backend.js'

const IPV4 = /^\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?$/
const IPV6 = /^\[?[0-9a-fA-F:]+\]?(?::\d+)?$/

export function kindOfNode(id: string): NodeKind {
  if (id.startsWith('spiffe://')) return 'spiffe'
  if (id === '(unknown)' || id === '') return 'unknown'
  if (IPV4.test(id) || (id.includes(':') && IPV6.test(id))) return 'ip'
  if (id.includes('/')) return 'workload'
  return 'service'
}

export function spiffeParts(id: string): { namespace: string; serviceAccount: string } | undefined {
  const r = parseSpiffeId(id)
  if (!r.ok || r.id.namespace === undefined || r.id.serviceAccount === undefined) return undefined
  return { namespace: r.id.namespace, serviceAccount: r.id.serviceAccount }
}

/** The parsed IDENTITY argument: an exact node id, or namespace/name, or a bare name. */
export type IdentityQuery =
  | { kind: 'exact'; id: string; namespace?: string; name?: string }
  | { kind: 'namespaced'; namespace: string; name: string }
  | { kind: 'name'; name: string }

export function parseIdentityArg(text: string): IdentityQuery {
  const value = text.trim()
  if (value === '') throw new EnvoyAuditError('EA_USAGE', 'IDENTITY is empty')
  if (value.toLowerCase().startsWith('spiffe://') || /^[^/]+\/ns\/[^/]+\/sa\/[^/]+$/.test(value)) {
    // A SPIFFE URI or an Istio principal `td/ns/NS/sa/SA`: both name exactly one certificate identity.
    const r = parseIdentity(value)
    if (!r.ok) throw new EnvoyAuditError('EA_USAGE', `IDENTITY "${value}" is not a valid SPIFFE ID (${r.error})`)
    const q: IdentityQuery = { kind: 'exact', id: r.id.uri }
    if (r.id.namespace !== undefined) q.namespace = r.id.namespace
    if (r.id.serviceAccount !== undefined) q.name = r.id.serviceAccount
    return q
  }
  const parts = value.split('/')
  if (parts.length === 2 && parts[0] !== '' && parts[1] !== '') return { kind: 'namespaced', namespace: parts[0]!, name: parts[1]! }
  if (parts.length === 1) return { kind: 'name', name: value }
  throw new EnvoyAuditError('EA_USAGE', `IDENTITY "${value}": expected a SPIFFE ID, td/ns/NS/sa/SA, namespace/serviceaccount or a name`)
}

/** Whether a node is the one the query names; a node seen under several names matches any of them. */
export function matchesIdentity(node: GraphNode, q: IdentityQuery): boolean {
  switch (q.kind) {
    case 'exact':
      // The same workload seen before its certificate was logged is `namespace/serviceaccount`.
      return node.id === q.id || (q.namespace !== undefined && q.name !== undefined && node.id === `${q.namespace}/${q.name}`)
    case 'namespaced':
      if (node.id === `${q.namespace}/${q.name}` || node.id === `${q.name}.${q.namespace}`) return true
      return node.namespace === q.namespace && (node.serviceAccount === q.name || node.names.includes(q.name))
    case 'name': {
      if (node.id === q.name) return true
      if (node.kind === 'service' && node.id.split('.')[0] === q.name) return true
      return node.serviceAccount === q.name || node.names.includes(q.name)
    }
  }
}

/**
 * Resolves IDENTITY to the node ids to start from. Several ids are returned only when they are one
 * workload under different names (its SPIFFE ID and its namespace/name); different namespaces are refused.
 */
export function resolveIdentity(text: string, nodes: readonly GraphNode[]): string[] {
  const q = parseIdentityArg(text)
  const hits = nodes.filter((n) => matchesIdentity(n, q))
  if (hits.length === 0) {
    if (q.kind === 'exact') return [q.id]
    throw new EnvoyAuditError('EA_USAGE', `IDENTITY "${text}" matches no workload or service in the selected time range`)
  }
  const namespaces = new Set(hits.map((n) => n.namespace ?? '(none)'))
  const spiffe = new Set(hits.filter((n) => n.kind === 'spiffe').map((n) => n.id))
  if (q.kind !== 'exact' && (namespaces.size > 1 || spiffe.size > 1)) {
    const list = hits
      .map((n) => n.id)
      .sort()
      .slice(0, 20)
      .join(', ')
    throw new EnvoyAuditError('EA_USAGE', `IDENTITY "${text}" is ambiguous; give one of: ${list}`)
  }
  return hits.map((n) => n.id).sort()
}
