/**
 * Turns simulated requests into the access-log records each proxy on the path would write. One mesh
 * request between two sidecars yields two lines sharing x-request-id: the client sidecar's outbound
 * line (cluster `outbound|port||fqdn`, plaintext from its own app, so no SNI) and the server sidecar's
 * inbound line (cluster `inbound|port||`, Istio mTLS SNI, peer URI SAN). The addresses are consistent
 * across the pair: the server's downstream_remote_address is the client's upstream_local_address
 * (the two ends of one connection).
 */
import type { AccessRecord } from './envoy-lines.js'
import type { Prng } from './prng.js'
import { fqdn, istioSni, spiffeId } from './mesh-topology.js'
import type { Pod, Workload } from './mesh-topology.js'

/** Who opens the connection: a pod of a mesh workload, or a peer this cluster only sees by address. */
export type Caller = { kind: 'pod'; workload: Workload; pod: Pod } | { kind: 'remote'; ip: string; spiffe?: string }

export interface EmittedRecord {
  workload: Workload
  pod: Pod
  record: AccessRecord
  writtenMs: number
}

export interface HopSpec {
  method?: string
  path?: string
  /** Response the application gives when the request is allowed. */
  status?: number
  requestId?: string
  userAgent?: string
  xff?: string
  /** Set to a policy id (`ns[..]-policy[..]-rule[..]` or `none`) to have the server sidecar's RBAC deny it. */
  deniedBy?: string
  /** Server latency in ms (median); the hop's duration also covers `inner`. */
  latencyMs?: number
  bytesOut?: number
  /** Downstream calls the server makes while handling this request; returns the time they took. */
  inner?: (atMs: number, server: { workload: Workload; pod: Pod }) => number
  /** False when the caller's line is written in another shape (the ingress gateway's). */
  logClientSide?: boolean
}

export interface HopResult {
  durationMs: number
  status: number
  bytesOut: number
  /** The client socket (the caller's upstream_local_address) and the server endpoint it reached. */
  clientSocket: string
  target: string
}

export const MTLS_VERSION = 'TLSv1.3'
export const MTLS_CIPHER = 'TLS_AES_128_GCM_SHA256'

export class TrafficBuilder {
  readonly records: EmittedRecord[] = []

  constructor(private readonly prng: Prng) {}

  ephemeral(ip: string): string {
    return `${ip}:${this.prng.int(32768, 60999)}`
  }

  pod(w: Workload): Pod {
    return this.prng.pick(w.pods)
  }

  emit(workload: Workload, pod: Pod, record: AccessRecord): void {
    // Envoy stamps the start but writes the line when the stream ends, through a buffered writer.
    this.records.push({ workload, pod, record, writtenMs: record.startMs + record.durationMs + this.prng.int(5, 900) })
  }

  /**
   * One request or TCP connection from caller to a pod of `server`. Returns the duration the caller
   * observed. mTLS is automatic when both ends have sidecars; a caller without one speaks plaintext,
   * which a PERMISSIVE server accepts (and logs without SNI or peer identity).
   */
  hop(caller: Caller, server: Workload, atMs: number, spec: HopSpec = {}): HopResult {
    const pod = this.pod(server)
    const tcp = server.protocol === 'tcp'
    const callerSpiffe = caller.kind === 'pod' ? (caller.workload.sidecar ? spiffeId(caller.workload) : undefined) : caller.spiffe
    const mtls = callerSpiffe !== undefined && server.sidecar
    const callerIp = caller.kind === 'pod' ? caller.pod.ip : caller.ip
    const clientSocket = this.ephemeral(callerIp)
    const target = `${pod.ip}:${server.port}`
    const requestId = tcp ? undefined : (spec.requestId ?? this.prng.uuid())
    const denied = spec.deniedBy !== undefined

    const serverLatency = denied ? this.prng.int(0, 1) : this.prng.latency(spec.latencyMs ?? 12)
    const innerMs = denied || spec.inner === undefined ? 0 : spec.inner(atMs + 1 + Math.floor(serverLatency / 2), { workload: server, pod })
    const serverDuration = serverLatency + innerMs
    const status = denied ? 403 : (spec.status ?? 200)
    const bytesOut = denied ? 19 : (spec.bytesOut ?? this.prng.int(180, 4200))
    const bytesIn = spec.method === 'POST' || spec.method === 'PUT' ? this.prng.int(90, 1500) : 0
    const authority = tcp ? undefined : `${server.name}.${server.namespace}:${server.port}`
    const rbacDetail = denied ? `rbac_access_denied_matched_policy[${spec.deniedBy}]` : undefined

    const http = tcp
      ? {}
      : {
          method: spec.method ?? 'GET',
          path: spec.path ?? '/',
          protocol: 'HTTP/1.1',
          requestId,
          authority,
          userAgent: spec.userAgent,
          xff: spec.xff,
        }

    if (server.sidecar) {
      this.emit(server, pod, {
        ...http,
        startMs: atMs + 1,
        code: tcp ? 0 : status,
        details: tcp ? undefined : (rbacDetail ?? 'via_upstream'),
        termination: tcp ? rbacDetail : undefined,
        bytesIn: tcp && !denied ? this.prng.int(2000, 90000) : bytesIn,
        bytesOut: tcp ? (denied ? 0 : bytesOut) : bytesOut,
        durationMs: serverDuration,
        upstreamServiceTimeMs: denied || tcp ? undefined : serverDuration,
        upstreamHost: denied ? undefined : target,
        cluster: `inbound|${server.port}||`,
        upstreamLocal: denied ? undefined : this.ephemeral('127.0.0.6'),
        downstreamLocal: target,
        downstreamRemote: clientSocket,
        sni: mtls ? istioSni(server) : undefined,
        route: tcp ? undefined : 'default',
        peerUriSan: mtls ? callerSpiffe : undefined,
        localUriSan: mtls ? spiffeId(server) : undefined,
        tlsVersion: mtls ? MTLS_VERSION : undefined,
        tlsCipher: mtls ? MTLS_CIPHER : undefined,
      })
    }
    const clientDuration = serverDuration + this.prng.int(1, 3)
    if (caller.kind === 'pod' && caller.workload.sidecar && spec.logClientSide !== false) {
      // The client side cannot tell an RBAC denial from an application 403: it logs via_upstream.
      this.emit(caller.workload, caller.pod, {
        ...http,
        startMs: atMs,
        code: tcp ? 0 : status,
        details: tcp ? undefined : 'via_upstream',
        bytesIn: tcp ? 0 : bytesIn,
        bytesOut: tcp ? (denied ? 0 : bytesOut) : bytesOut,
        durationMs: clientDuration,
        upstreamServiceTimeMs: tcp ? undefined : serverDuration,
        upstreamHost: target,
        cluster: `outbound|${server.port}||${fqdn(server)}`,
        upstreamLocal: clientSocket,
        downstreamLocal: `${server.clusterIp}:${server.port}`,
        downstreamRemote: this.ephemeral(caller.pod.ip),
        route: tcp ? undefined : 'default',
        upstreamPeerUriSan: mtls ? spiffeId(server) : undefined,
      })
    }
    return { durationMs: clientDuration, status, bytesOut, clientSocket, target }
  }

  /** A request from the internet through the ingress gateway to `backend`; the gateway terminates TLS. */
  ingress(
    gateway: Workload,
    clientIp: string,
    backend: Workload,
    atMs: number,
    spec: HopSpec & {
      host: string
      tlsVersion?: string
      tlsCipher?: string
      extAuthzDenied?: boolean
    },
  ): number {
    const gwPod = this.pod(gateway)
    const requestId = spec.requestId ?? this.prng.uuid()
    const denied = spec.extAuthzDenied === true
    const backendHop = denied
      ? undefined
      : this.hop({ kind: 'pod', workload: gateway, pod: gwPod }, backend, atMs + 1, {
          ...spec,
          requestId,
          xff: clientIp,
          logClientSide: false,
        })
    const backendMs = backendHop?.durationMs ?? 0
    this.emit(gateway, gwPod, {
      startMs: atMs,
      method: spec.method ?? 'GET',
      path: spec.path ?? '/',
      protocol: 'HTTP/2',
      code: backendHop?.status ?? 403,
      flags: denied ? 'UAEX' : '-',
      details: denied ? 'ext_authz_denied' : 'via_upstream',
      bytesIn: 0,
      bytesOut: backendHop?.bytesOut ?? 0,
      durationMs: backendMs + this.prng.int(1, 4),
      upstreamServiceTimeMs: denied ? undefined : backendMs,
      xff: clientIp,
      userAgent: spec.userAgent,
      requestId,
      authority: spec.host,
      upstreamHost: backendHop?.target,
      cluster: `outbound|${backend.port}||${fqdn(backend)}`,
      upstreamLocal: backendHop?.clientSocket,
      downstreamLocal: `${gwPod.ip}:${gateway.port}`,
      downstreamRemote: `${clientIp}:${this.prng.int(1024, 65000)}`,
      sni: spec.host,
      tlsVersion: spec.tlsVersion ?? 'TLSv1.3',
      tlsCipher: spec.tlsCipher ?? 'TLS_AES_256_GCM_SHA384',
      upstreamPeerUriSan: denied ? undefined : spiffeId(backend),
    })
    return backendMs
  }

  /**
   * A plaintext connection refused by a STRICT server: only the listener-level log sees it, as
   * `"- - -" 0 NR filter_chain_not_found` (envoyproxy/ratelimit#296, istio/istio#51982).
   */
  strictReject(callerIp: string, server: Workload, atMs: number): void {
    const pod = this.pod(server)
    this.emit(server, pod, {
      startMs: atMs,
      code: 0,
      flags: 'NR',
      details: 'filter_chain_not_found',
      bytesIn: 0,
      bytesOut: 0,
      durationMs: 0,
      downstreamLocal: `${pod.ip}:${server.port}`,
      downstreamRemote: this.ephemeral(callerIp),
    })
  }

  /**
   * Egress to a host outside the registry. PassthroughCluster (ALLOW_ANY) forwards it; BlackHoleCluster
   * (REGISTRY_ONLY) drops it with UH. The app speaks TLS itself, so the sidecar sees a TCP stream and
   * only the SNI says where it went.
   */
  egress(caller: { workload: Workload; pod: Pod }, host: string, address: string, atMs: number, blocked: boolean): void {
    const durationMs = blocked ? 0 : this.prng.latency(220)
    this.emit(caller.workload, caller.pod, {
      startMs: atMs,
      code: 0,
      flags: blocked ? 'UH' : '-',
      bytesIn: blocked ? 0 : this.prng.int(600, 4000),
      bytesOut: blocked ? 0 : this.prng.int(2000, 9000),
      durationMs,
      upstreamHost: blocked ? undefined : address,
      cluster: blocked ? 'BlackHoleCluster' : 'PassthroughCluster',
      upstreamLocal: blocked ? undefined : this.ephemeral(caller.pod.ip),
      downstreamLocal: address,
      downstreamRemote: this.ephemeral(caller.pod.ip),
      sni: host,
    })
  }
}
