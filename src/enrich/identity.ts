/**
 * Fills mesh.source.*, mesh.destination.* and mesh.mtls from the raw Envoy signals the parser kept
 * (envoy.*, mesh.upstream_cluster, kubernetes.*). Each side records in `signal` the field its SPIFFE
 * ID came from (else its service name, else its namespace), so a reviewer can tell a cryptographic
 * identity (a peer certificate URI SAN) from a name inferred from routing (cluster, SNI, :authority)
 * or from the collector envelope.
 *
 * Robust to any event shape: every read is type-checked, nothing here throws.
 */
import type { AuditEvent, MeshDestinationFields, MeshSourceFields } from '../generated/types.js'
import type { TransformsConfig } from '../config/transforms.js'
import { parseSanList, type SpiffeId } from './spiffe-id.js'
import {
  directionOf,
  isFilterChainNotFound,
  parseAuthority,
  parseIstioSni,
  parseUpstreamCluster,
  serviceFromHost,
  type ClusterInfo,
  type Direction,
} from './signals.js'

/** Signal names written to mesh.source.signal / mesh.destination.signal (documented in docs/au3-and-findings.md). */
export const SIGNALS = {
  downstreamPeerUriSan: 'downstream_peer_uri_san',
  upstreamPeerUriSan: 'upstream_peer_uri_san',
  downstreamLocalUriSan: 'downstream_local_uri_san',
  requestedServerName: 'requested_server_name',
  upstreamCluster: 'upstream_cluster',
  authority: 'authority',
  kubernetes: 'kubernetes',
  /** The identities an ambient ztunnel logged itself: the mTLS peer it verified, the workload it resolved. */
  ztunnel: 'ztunnel',
} as const

export interface IdentityContext {
  direction: Direction
  cluster: ClusterInfo | undefined
  /** Every valid SPIFFE ID seen in peer or local certificates, for the trust-domain check. */
  identities: SpiffeId[]
}

/** Reads a string field, treating non-strings, '', '-' and oversized values as absent. */
export function str(value: unknown, max: number): string | undefined {
  return typeof value === 'string' && value !== '' && value !== '-' && value.length <= max ? value : undefined
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Direction, cluster and certificate identities of an event: what both enrichment and detection start from. */
export function identityContext(event: AuditEvent, config: TransformsConfig): IdentityContext {
  const max = config.maxFieldLength
  const mesh = isObject(event.mesh) ? event.mesh : undefined
  const cluster = parseUpstreamCluster(str(mesh?.upstream_cluster, max))
  const direction = directionOf(event, cluster)
  const peer = isObject(event.envoy) && isObject(event.envoy.peer) ? event.envoy.peer : undefined
  const identities: SpiffeId[] = []
  if (peer !== undefined) {
    pushAll(identities, parseSanList(str(peer.downstream_uri_san, max)).ids)
    pushAll(identities, parseSanList(str(peer.upstream_uri_san, max)).ids)
    pushAll(identities, parseSanList(str(peer.downstream_local_uri_san, max)).ids)
  }
  const zt = ztunnelOf(event)
  if (zt !== undefined) {
    pushAll(identities, parseSanList(str(zt.src_identity, max)).ids)
    pushAll(identities, parseSanList(str(zt.dst_identity, max)).ids)
  }
  return { direction, cluster, identities }
}

function pushAll<T>(into: T[], from: readonly T[]): void {
  for (let i = 0; i < from.length; i++) into.push(from[i] as T)
}

/** Workload name from envelope labels, most specific first, else the pod name. */
export function workloadOf(event: AuditEvent, max: number): string | undefined {
  const k = isObject(event.kubernetes) ? event.kubernetes : undefined
  if (k === undefined) return undefined
  const labels = isObject(k.labels) ? k.labels : undefined
  if (labels !== undefined) {
    for (const key of ['service.istio.io/canonical-name', 'app.kubernetes.io/name', 'app']) {
      const v = Object.hasOwn(labels, key) ? str(labels[key], max) : undefined
      if (v !== undefined) return v
    }
  }
  return str(k.pod, max)
}

function setIfAbsent<T extends object, K extends keyof T>(target: T, key: K, value: T[K] | undefined): boolean {
  if (value === undefined || target[key] !== undefined) return false
  target[key] = value
  return true
}

/**
 * Fills one side (mesh.source or mesh.destination) and remembers which signal added each field, so
 * `signal` can name the one that matters most: the source of the SPIFFE ID if any, else of the
 * service name, else of the namespace, else the first signal that added anything. Set `signal`
 * before each fill. A class rather than closures: it runs twice for every event.
 */
class SideFiller {
  signal = ''
  private first: string | undefined
  private spiffe: string | undefined
  private service: string | undefined
  private namespace: string | undefined

  constructor(readonly target: Record<string, unknown>) {}

  /** Sets the field when it is absent; a key that did not exist before is credited to the current signal. */
  set(key: string, value: unknown): boolean {
    const t = this.target
    if (value === undefined || t[key] !== undefined) return false
    const added = !Object.hasOwn(t, key)
    t[key] = value
    if (added) {
      this.first ??= this.signal
      if (key === 'spiffe_id') this.spiffe ??= this.signal
      else if (key === 'service') this.service ??= this.signal
      else if (key === 'namespace') this.namespace ??= this.signal
    }
    return true
  }

  pick(): string | undefined {
    return this.spiffe ?? this.service ?? this.namespace ?? this.first
  }

  applyId(id: SpiffeId): void {
    this.set('spiffe_id', id.uri)
    this.set('trust_domain', id.trustDomain)
    this.set('namespace', id.namespace)
    this.set('service_account', id.serviceAccount)
  }

  fillService(svc: { service: string; namespace?: string } | undefined, port: number | undefined, subset: string | undefined): void {
    if (svc !== undefined) {
      this.set('service', svc.service)
      this.set('namespace', svc.namespace)
    }
    this.set('port', port)
    this.set('subset', subset)
  }
}

/**
 * Decides mesh.mtls per direction (reference d.3): inbound lines show mTLS by a peer URI SAN or by
 * Istio's `outbound_.` SNI, and plaintext by its absence; outbound lines show it only through an
 * upstream peer URI SAN, so without one it is unknowable (null), as it is on egress passthrough.
 */
export function decideMtls(event: AuditEvent, ctx: IdentityContext, max: number): boolean | null {
  const envoy = isObject(event.envoy) ? event.envoy : undefined
  const peer = envoy !== undefined && isObject(envoy.peer) ? envoy.peer : undefined
  const downstreamIds = parseSanList(str(peer?.downstream_uri_san, max)).ids
  const upstreamIds = parseSanList(str(peer?.upstream_uri_san, max)).ids
  if (isFilterChainNotFound(event) && !isGateway(event)) return false
  if (ctx.direction === 'inbound') {
    if (downstreamIds.length > 0) return true
    const sni = str(envoy?.requested_server_name, max)
    if (parseIstioSni(sni) !== undefined) return true
    // A waypoint's inner listener logs no peer SAN even under mTLS (istio/istio#59046).
    if (ctx.cluster?.kind === 'inbound-vip') return null
    // TLS terminated without a logged client identity, or a non-Istio SNI (app TLS passed through): cannot tell.
    if (sni !== undefined) return null
    if (isObject(event.tls) && event.tls.established === true) return null
    return false
  }
  if (upstreamIds.length > 0) return true
  if (ctx.direction === 'unknown' && downstreamIds.length > 0) return true
  return null
}

/** The raw ztunnel fields of a line ztunnel wrote, else undefined. */
export function ztunnelOf(event: AuditEvent): Record<string, unknown> | undefined {
  return event.mesh?.reporter === 'ztunnel' && isObject(event.ztunnel) ? event.ztunnel : undefined
}

/**
 * Did the connection travel over HBONE (ztunnel's mTLS tunnel)? ztunnel logs dst.hbone_addr for a tunnelled
 * connection, and dst.addr is then the peer's HBONE port 15008 (istio/ztunnel src/proxy/metrics.rs).
 */
export function ztunnelHbone(zt: Record<string, unknown>, max: number): boolean {
  if (str(zt.dst_hbone_addr, max) !== undefined) return true
  const dst = str(zt.dst_addr, max)
  return dst !== undefined && dst.endsWith(':15008')
}

/**
 * mesh.mtls of a ztunnel line: HBONE is mTLS; a complete or opened connection without it is plaintext
 * (into a captured pod inbound, or out of one); a `connection failed` line without HBONE may have been
 * refused before the tunnel was known: unknowable.
 */
function ztunnelMtls(zt: Record<string, unknown>, max: number): boolean | null {
  if (ztunnelHbone(zt, max) || str(zt.src_identity, max) !== undefined) return true
  return zt.message === 'connection failed' ? null : false
}

/** Fills mesh.source / mesh.destination from what ztunnel logged; signal `ztunnel` for what it names. */
function enrichZtunnel(
  zt: Record<string, unknown>,
  event: AuditEvent,
  source: MeshSourceFields,
  dest: MeshDestinationFields,
  max: number,
): boolean | null {
  const src = new SideFiller(source as Record<string, unknown>)
  src.signal = SIGNALS.ztunnel
  const srcId = parseSanList(str(zt.src_identity, max)).ids[0]
  if (srcId !== undefined) src.applyId(srcId)
  src.set('namespace', str(zt.src_namespace, max))
  src.set('workload', str(zt.src_workload, max))
  const dst = new SideFiller(dest as Record<string, unknown>)
  dst.signal = SIGNALS.ztunnel
  const dstId = parseSanList(str(zt.dst_identity, max)).ids[0]
  if (dstId !== undefined) dst.applyId(dstId)
  const svcText = str(zt.dst_service, max)
  const port = typeof event.destination?.port === 'number' ? event.destination.port : undefined
  dst.fillService(svcText === undefined ? undefined : serviceFromHost(svcText), port, undefined)
  dst.set('namespace', str(zt.dst_namespace, max))
  dst.set('workload', str(zt.dst_workload, max))
  if (source.signal === undefined) setIfAbsent(source, 'signal', src.pick())
  if (dest.signal === undefined) setIfAbsent(dest, 'signal', dst.pick())
  return ztunnelMtls(zt, max)
}

export function isGateway(event: AuditEvent): boolean {
  return event.mesh?.reporter === 'gateway' || event.network?.direction === 'ingress'
}

/** Enriches one event in place and returns the context for later stages. */
export function enrichIdentity(event: AuditEvent, config: TransformsConfig): IdentityContext {
  const max = config.maxFieldLength
  const ctx = identityContext(event, config)
  if (!isObject(event.mesh)) event.mesh = {}
  const mesh = event.mesh
  const source: MeshSourceFields = isObject(mesh.source) ? mesh.source : {}
  const dest: MeshDestinationFields = isObject(mesh.destination) ? mesh.destination : {}
  const envoy = isObject(event.envoy) ? event.envoy : undefined
  const peer = envoy !== undefined && isObject(envoy.peer) ? envoy.peer : undefined
  const k8s = isObject(event.kubernetes) ? event.kubernetes : undefined
  const k8sNamespace = str(k8s?.namespace, max)
  const gateway = isGateway(event)
  const inbound = ctx.direction === 'inbound'
  const zt = ztunnelOf(event)
  if (zt !== undefined) {
    mesh.mtls = enrichZtunnel(zt, event, source, dest, max)
    if (Object.keys(source).length > 0) mesh.source = source
    if (Object.keys(dest).length > 0) mesh.destination = dest
    return ctx
  }
  // A waypoint's own pod is not the destination it serves.
  const waypoint = mesh.reporter === 'waypoint'

  // Source: the client certificate on the inbound hop, else the reporting pod when it is the client.
  const src = new SideFiller(source as Record<string, unknown>)
  const dsId = parseSanList(str(peer?.downstream_uri_san, max)).ids[0]
  if (dsId !== undefined) {
    src.signal = SIGNALS.downstreamPeerUriSan
    src.applyId(dsId)
  }
  if (ctx.direction === 'outbound' && !gateway && k8sNamespace !== undefined) {
    src.signal = SIGNALS.kubernetes
    src.set('namespace', k8sNamespace)
    src.set('workload', workloadOf(event, max))
  }

  // Destination: strongest signal first; each only fills what is still missing.
  const dst = new SideFiller(dest as Record<string, unknown>)
  const usId = parseSanList(str(peer?.upstream_uri_san, max)).ids[0]
  if (usId !== undefined) {
    dst.signal = SIGNALS.upstreamPeerUriSan
    dst.applyId(usId)
  }
  if (inbound) {
    const localId = parseSanList(str(peer?.downstream_local_uri_san, max)).ids[0]
    if (localId !== undefined) {
      dst.signal = SIGNALS.downstreamLocalUriSan
      dst.applyId(localId)
    }
  }
  const sniText = str(envoy?.requested_server_name, max)
  const sni = parseIstioSni(sniText)
  if (inbound && sni !== undefined) {
    dst.signal = SIGNALS.requestedServerName
    dst.fillService(serviceFromHost(sni.host), sni.port, sni.subset)
  }
  const c = ctx.cluster
  if (c !== undefined) {
    dst.signal = SIGNALS.upstreamCluster
    if (c.kind === 'outbound' || c.kind === 'inbound-vip')
      dst.fillService(serviceFromHost(c.host), c.port, c.kind === 'outbound' ? c.subset : undefined)
    else if (c.kind === 'inbound') dst.fillService(c.host === undefined ? undefined : serviceFromHost(c.host), c.port, undefined)
  }
  const egress = c?.kind === 'passthrough' || c?.kind === 'blackhole'
  if (!inbound && egress && sni === undefined && sniText !== undefined && dest.service === undefined) {
    // App-originated TLS to an unknown host: the SNI is the only name of the destination.
    const host = serviceFromHost(sniText)
    if (host !== undefined) {
      dst.signal = SIGNALS.requestedServerName
      dst.fillService({ service: host.service }, undefined, undefined)
    }
  }
  const auth = parseAuthority(str(envoy?.authority, max), {
    twoLabelIsNamespace: inbound,
    ...(egress || k8sNamespace === undefined || gateway ? {} : { defaultNamespace: k8sNamespace }),
  })
  // :authority only names the destination when nothing stronger did, or when it agrees with it.
  if (auth !== undefined && (dest.service === undefined || dest.service === auth.service)) {
    dst.signal = SIGNALS.authority
    dst.fillService(auth, inbound ? undefined : auth.port, undefined)
  }
  if (inbound && !waypoint && k8sNamespace !== undefined) {
    dst.signal = SIGNALS.kubernetes
    dst.set('namespace', k8sNamespace)
    dst.set('workload', workloadOf(event, max))
  }

  if (source.signal === undefined) setIfAbsent(source, 'signal', src.pick())
  if (dest.signal === undefined) setIfAbsent(dest, 'signal', dst.pick())
  if (Object.keys(source).length > 0) mesh.source = source
  if (Object.keys(dest).length > 0) mesh.destination = dest
  mesh.mtls = decideMtls(event, ctx, max)
  return ctx
}
