/**
 * `policy check` for Istio ambient mode (docs/ambient.md): which ztunnel and waypoint lines were written
 * where a decision was made, and the request each decision saw, in the shape `policy eval` evaluates with
 * its ambient attachment (scope.ts appliesAt: ztunnel L4 only, selector policies; waypoint targetRefs only).
 *
 * - ztunnel: only the destination node's ztunnel (`direction = inbound`) authorizes; the client's
 *   (`outbound`) sees the peer's refusal as an error. The envelope is the ztunnel pod's own, so neither
 *   kubernetes.namespace nor kubernetes.labels describe the destination: the namespace is dst.namespace
 *   and the labels come from the inventory (pod IP, then workload or service name) or, without one, from
 *   the service name as a guess. A `connection complete` line without an error was allowed; a policy
 *   rejection was denied; any other error or an opened/failed line says nothing about the policy.
 * - waypoint: every waypoint line is a decision (it serves the destinations enrolled to it). Policies
 *   attach by targetRefs to the waypoint's Gateway (its name from the pod label
 *   gateway.networking.k8s.io/gateway-name, else the pod name without its ReplicaSet suffixes) or to the
 *   Service the client addressed (mesh.destination.service). A waypoint accepts only HBONE, which is mTLS,
 *   so a line whose mTLS is unknown (its inner listener logs no peer SAN, istio/istio#59046) counts as mTLS
 *   with an unlogged peer: decidable only where no applicable policy reads the identity.
 */
import type { AuditEvent } from '../generated/types.js'
import type { GuessedWorkloads } from './guessed-workloads.js'
import { stripSpiffe } from './match.js'
import type { PolicyRequest } from './request.js'
import type { Inventory } from './workload-inventory.js'

type Skip = 'not-a-decision-point' | 'mtls-unknown' | 'identity-not-logged' | 'labels-unknown' | 'not-evaluable'

interface Ctx {
  inventory?: Inventory | undefined
  guessed?: GuessedWorkloads | undefined
}

const POLICY_REJECTION = 'connection closed due to policy rejection'

/** The verdict a ztunnel line shows, or null when it shows none. */
export function ztunnelVerdict(e: AuditEvent): 'ALLOW' | 'DENY' | null {
  if (e.event.action === 'denied') return 'DENY'
  const z = e.ztunnel
  if (z?.message !== 'connection complete') return null
  return z.error === undefined || z.error === '' ? 'ALLOW' : z.error.startsWith(POLICY_REJECTION) ? 'DENY' : null
}

const shortName = (service: string | undefined): string | undefined => {
  const s = service?.split('.')[0]
  return s === undefined || s === '' ? undefined : s
}

function headersOf(e: AuditEvent): Record<string, string> {
  const headers = Object.create(null) as Record<string, string>
  if (e.envoy?.x_forwarded_for !== undefined) headers['x-forwarded-for'] = e.envoy.x_forwarded_for
  return headers
}

function copyLabels(labels: Record<string, string | undefined>): Record<string, string> {
  const out = Object.create(null) as Record<string, string>
  for (const [k, v] of Object.entries(labels)) if (v !== undefined) out[k] = v
  return out
}

export function ztunnelRequest(e: AuditEvent, ctx: Ctx, allowUnknownIdentity: boolean): PolicyRequest | Skip {
  if (e.network?.direction !== 'inbound') return 'not-a-decision-point'
  const mtls = e.mesh?.mtls
  if (mtls === undefined || mtls === null) return 'mtls-unknown'
  const spiffe = e.mesh?.source?.spiffe_id
  if (mtls && spiffe === undefined && !allowUnknownIdentity) return 'identity-not-logged'
  const dest = e.mesh?.destination
  let namespace = dest?.namespace
  let labels: Record<string, string> | undefined
  const ip = e.destination?.ip
  if (ctx.inventory !== undefined) {
    const names = [dest?.workload, shortName(dest?.service)].filter((n): n is string => n !== undefined)
    const w =
      (ip === undefined
        ? undefined
        : ctx.inventory.workloads.find((x) => x.ips.includes(ip) && (namespace === undefined || x.namespace === namespace))) ??
      (namespace === undefined ? undefined : ctx.inventory.workloads.find((x) => x.namespace === namespace && names.includes(x.name)))
    if (w !== undefined) {
      labels = w.labels
      namespace = w.namespace
    }
  } else if (ctx.guessed !== undefined) {
    const g = ctx.guessed.guess(e, namespace)
    if (g !== undefined) {
      labels = g.labels
      namespace = g.namespace
    }
  }
  if (namespace === undefined || labels === undefined) return 'labels-unknown'
  const port = e.destination?.port
  if (port === undefined) return 'not-evaluable'
  return {
    enforcement: 'ztunnel',
    service: shortName(dest?.service),
    waypoint: undefined,
    principal: mtls && spiffe !== undefined ? stripSpiffe(spiffe) : null,
    sourceIp: e.source?.ip,
    namespace,
    labels: copyLabels(labels),
    destinationIp: ip,
    port,
    protocol: 'tcp',
    mtls,
    sni: undefined,
    remoteIp: undefined,
    host: undefined,
    method: undefined,
    path: undefined,
    headers: Object.create(null) as Record<string, string>,
    jwt: null,
  }
}

// A Deployment's pod: <deployment>-<pod-template-hash>-<5 random>.
const REPLICASET_POD = /^(.+)-[a-z0-9]{5,10}-[a-z0-9]{5}$/

/** The waypoint's Gateway name: the label Istio's deployment controller sets, else from the pod name. */
export function waypointName(e: AuditEvent): string | undefined {
  const labels = e.kubernetes?.labels
  const byLabel = labels?.['gateway.networking.k8s.io/gateway-name'] ?? labels?.['istio.io/gateway-name']
  if (byLabel !== undefined && byLabel !== '') return byLabel
  const pod = e.kubernetes?.pod
  if (pod === undefined) return undefined
  return REPLICASET_POD.exec(pod)?.[1] ?? pod
}

export function waypointRequest(e: AuditEvent, ctx: Ctx, allowUnknownIdentity: boolean, port: number | undefined): PolicyRequest | Skip {
  // Only HBONE reaches a waypoint: unknown means an unlogged peer, not plaintext.
  const mtls = e.mesh?.mtls ?? true
  const spiffe = e.mesh?.source?.spiffe_id
  if (mtls && spiffe === undefined && !allowUnknownIdentity) return 'identity-not-logged'
  const dest = e.mesh?.destination
  const namespace = dest?.namespace ?? e.kubernetes?.namespace
  if (namespace === undefined) return 'labels-unknown'
  const service = shortName(dest?.service)
  const ip = e.destination?.ip
  // targetRefs decide what attaches; labels only matter to a workload-level PeerAuthentication.
  const w =
    ctx.inventory === undefined
      ? undefined
      : ((ip === undefined ? undefined : ctx.inventory.workloads.find((x) => x.ips.includes(ip) && x.namespace === namespace)) ??
        ctx.inventory.workloads.find((x) => x.namespace === namespace && x.name === service))
  if (port === undefined) return 'not-evaluable'
  const method = e.http?.request?.method
  const isHttp = method !== undefined
  return {
    enforcement: 'waypoint',
    service,
    waypoint: waypointName(e),
    principal: mtls && spiffe !== undefined ? stripSpiffe(spiffe) : null,
    sourceIp: e.source?.ip,
    namespace,
    labels: copyLabels(w?.labels ?? {}),
    destinationIp: ip,
    port,
    protocol: isHttp ? 'http' : 'tcp',
    mtls,
    sni: undefined,
    remoteIp: undefined,
    host: e.envoy?.authority ?? e.url?.domain,
    method,
    path: isHttp ? (e.url?.path ?? '/') : undefined,
    headers: headersOf(e),
    jwt: null,
  }
}
