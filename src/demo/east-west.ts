/**
 * The demo's second cluster. The mesh is Istio multi-primary on two networks (istio.io, "Install
 * Multi-Primary on different networks"): both clusters share the trust domain, each has its own
 * control plane and cluster id, pods of one network cannot reach the other's, so a call into the
 * other cluster goes to that cluster's east-west gateway on port 15443. The client sidecar dials the
 * gateway's address with the Istio SNI `outbound_.PORT_._.FQDN` (BuildDNSSrvSubsetKey); the gateway
 * (AUTO_PASSTHROUGH) does not terminate the mTLS, it routes the TCP stream by SNI to the cluster of
 * the same name and logs a TCP line with that SNI (istio/istio#40624 shows the line, #45010 the
 * SNI-named cluster it connects to); the server sidecar sees the gateway as its downstream and the
 * client's certificate end to end. Each proxy logs its own cluster id (%ENVIRONMENT(ISTIO_META_CLUSTER_ID)%)
 * and the peer's from Istio's peer metadata (istio/istio#48148, #53769).
 *
 * The second cluster runs the `finance` namespace (tagged sensitive): `statements` calls `ledger`
 * locally, and payments in the first cluster posts ledger entries across the gateway. The
 * lateral-movement incident continues here: the compromised frontend's probe of ledger is refused,
 * then checkout's identity (the pivot) exports accounts from ledger across the gateway and sends the
 * data out of the mesh, the first egress checkout ever made. Its own PRNG and builder, so the first
 * cluster's traffic is the same with or without it.
 */
import { Prng } from './prng.js'
import { fqdn, istioSni, nodeAddress, spiffeId } from './mesh-topology.js'
import type { Pod, Topology, Workload } from './mesh-topology.js'
import { MTLS_CIPHER, MTLS_VERSION, TrafficBuilder } from './traffic-builder.js'
import type { HopSpec } from './traffic-builder.js'
import type { ExpectedFlow } from './incidents.js'
import { destinationNamesOf, namesOf } from './incidents.js'

/** The clusters' names, which are also their Istio cluster ids (values.global.multiCluster.clusterName). */
export const CLUSTERS = { first: 'east', second: 'west' } as const

/** The namespace of the second cluster that the demo's rules treat as sensitive. */
export const SENSITIVE_NAMESPACE = 'finance'

/** Where checkout sends the exported accounts (documentation address block, RFC 5737). */
export const EXFIL_HOST = { host: 'files.transfer-drop.example', address: '203.0.113.200:443' } as const

/** The internal load balancer in front of the second cluster's east-west gateway, as the first cluster dials it. */
export const EAST_WEST_ADDRESS = '10.30.200.15:15443'

const NODES = ['ip-10-30-1-12.ec2.internal', 'ip-10-30-2-87.ec2.internal']

function pod(name: string, ip: string, node: number, seed: string): Pod {
  const hex = (n: number) => seed.repeat(Math.ceil(n / seed.length)).slice(0, n)
  return { name, ip, node: NODES[node]!, uid: `${hex(8)}-${hex(4)}-4${hex(3)}-8${hex(3)}-${hex(12)}`, containerId: hex(64) }
}

function workload(name: string, namespace: string, port: number, clusterIp: string, pods: Pod[], serviceAccount = name): Workload {
  return {
    name,
    namespace,
    serviceAccount,
    port,
    protocol: 'http',
    clusterIp,
    sidecar: true,
    format: 'istio-json',
    envelope: 'fluent-bit',
    version: 'v1',
    pods,
    cluster: CLUSTERS.second,
  }
}

export interface SecondCluster {
  gateway: Workload
  ledger: Workload
  statements: Workload
}

export function secondCluster(): SecondCluster {
  return {
    gateway: {
      ...workload(
        'istio-eastwestgateway',
        'istio-system',
        15443,
        '10.97.0.40',
        [pod('istio-eastwestgateway-7d9f6c5b8-q4znr', '10.245.1.20', 0, 'e1')],
        'istio-eastwestgateway-service-account',
      ),
      protocol: 'tcp',
    },
    ledger: workload('ledger', SENSITIVE_NAMESPACE, 8080, '10.97.12.31', [
      pod('ledger-5c8d7f9b6-hx2kp', '10.245.2.31', 1, 'a7'),
      pod('ledger-5c8d7f9b6-w9tmr', '10.245.1.32', 0, 'b3'),
    ]),
    statements: workload('statements', SENSITIVE_NAMESPACE, 8080, '10.97.12.48', [
      pod('statements-6b7f8d9c4-m2xvq', '10.245.2.40', 1, 'c9'),
    ]),
  }
}

/** What the lateral-movement incident gains in the second cluster. */
export interface EastWestTraffic {
  builder: TrafficBuilder
  cluster: SecondCluster
  /** Appended to the lateral-movement incident: indices continue after its own flows. */
  lateralFlows: (offset: number) => ExpectedFlow[]
}

type Side = { workload: Workload; pod: Pod }

/**
 * One request from a pod of the first cluster to `server` in the second, through the east-west gateway:
 * the client sidecar's outbound line, the gateway's TCP passthrough line, the server sidecar's inbound line.
 */
function crossClusterHop(b: TrafficBuilder, prng: Prng, caller: Side, server: Workload, gw: Workload, atMs: number, spec: HopSpec): void {
  const target = b.pod(server)
  const gwPod = gw.pods[0]!
  const denied = spec.deniedBy !== undefined
  const requestId = spec.requestId ?? prng.uuid()
  const clientSocket = b.ephemeral(caller.pod.ip)
  // The gateway sees the first cluster's node address (pod addresses do not cross networks) and opens its own connection.
  const natSocket = b.ephemeral(nodeAddress(caller.pod.node))
  const gwSocket = b.ephemeral(gwPod.ip)
  const serverLatency = denied ? prng.int(0, 1) : prng.latency(spec.latencyMs ?? 15)
  const status = denied ? 403 : (spec.status ?? 200)
  const bytesOut = denied ? 19 : (spec.bytesOut ?? prng.int(180, 4200))
  const bytesIn = spec.method === 'POST' ? prng.int(90, 1500) : 0
  const sni = istioSni(server)
  const http = {
    method: spec.method ?? 'GET',
    path: spec.path ?? '/',
    protocol: 'HTTP/1.1',
    requestId,
    authority: `${server.name}.${server.namespace}:${server.port}`,
    userAgent: spec.userAgent,
  }
  const rbac = denied ? `rbac_access_denied_matched_policy[${spec.deniedBy}]` : undefined
  b.emit(server, target, {
    ...http,
    startMs: atMs + 2,
    code: status,
    details: rbac ?? 'via_upstream',
    bytesIn,
    bytesOut,
    durationMs: serverLatency,
    upstreamServiceTimeMs: denied ? undefined : serverLatency,
    upstreamHost: denied ? undefined : `${target.ip}:${server.port}`,
    cluster: `inbound|${server.port}||`,
    upstreamLocal: denied ? undefined : b.ephemeral('127.0.0.6'),
    downstreamLocal: `${target.ip}:${server.port}`,
    downstreamRemote: gwSocket,
    sni,
    route: 'default',
    peerUriSan: spiffeId(caller.workload),
    localUriSan: spiffeId(server),
    tlsVersion: MTLS_VERSION,
    tlsCipher: MTLS_CIPHER,
    clusterId: CLUSTERS.second,
    downstreamPeerCluster: CLUSTERS.first,
  })
  const tunnelMs = serverLatency + prng.int(1, 3)
  b.emit(gw, gwPod, {
    startMs: atMs + 1,
    code: 0,
    // The encrypted stream carries the request and the TLS records around it.
    bytesIn: bytesIn + prng.int(1800, 2600),
    bytesOut: bytesOut + prng.int(2900, 3900),
    durationMs: tunnelMs,
    upstreamHost: `${target.ip}:${server.port}`,
    cluster: sni,
    upstreamLocal: gwSocket,
    downstreamLocal: `${gwPod.ip}:${gw.port}`,
    downstreamRemote: natSocket,
    sni,
    clusterId: CLUSTERS.second,
  })
  b.emit(caller.workload, caller.pod, {
    ...http,
    startMs: atMs,
    code: status,
    details: 'via_upstream',
    bytesIn,
    bytesOut,
    durationMs: tunnelMs + prng.int(1, 4),
    upstreamServiceTimeMs: serverLatency,
    upstreamHost: EAST_WEST_ADDRESS,
    cluster: `outbound|${server.port}||${fqdn(server)}`,
    upstreamLocal: clientSocket,
    // The first cluster resolves the service name to its own ClusterIP for it (DNS proxying).
    downstreamLocal: `10.96.200.${12 + (server.name === 'ledger' ? 0 : 1)}:${server.port}`,
    downstreamRemote: b.ephemeral(caller.pod.ip),
    route: 'default',
    upstreamPeerUriSan: spiffeId(server),
    clusterId: CLUSTERS.first,
    upstreamPeerCluster: CLUSTERS.second,
  })
}

/**
 * The second cluster's traffic over [startMs, endMs) and the cross-cluster calls of the first, with the
 * incident's part planted after the pivot of the first cluster's lateral movement (at 60% of the window
 * plus at most 50 s, src/demo/incidents.ts).
 */
export function eastWestTraffic(topo: Topology, seed: number, startMs: number, endMs: number): EastWestTraffic {
  const prng = new Prng(seed ^ 0x0e57)
  const b = new TrafficBuilder(prng)
  const cluster = secondCluster()
  const { ledger, statements, gateway } = cluster
  const span = endMs - startMs
  const at = (fraction: number): number => startMs + Math.floor(span * fraction)

  // Inside the second cluster: statements reads ledger balances.
  for (let t = startMs + 4_000; t < endMs - 30_000; t += prng.int(8_000, 14_000)) {
    const s = { kind: 'pod' as const, workload: statements, pod: statements.pods[0]! }
    b.hop(s, ledger, t, { method: 'GET', path: `/v1/balances/${prng.int(1000, 9999)}`, userAgent: 'statements/1.4 (grpc-gateway)' })
  }
  // Across the gateway, the normal way: payments posts ledger entries.
  const payments = topo.get('payments')
  for (let t = startMs + 9_000; t < endMs - 30_000; t += prng.int(25_000, 40_000)) {
    crossClusterHop(b, prng, { workload: payments, pod: b.pod(payments) }, ledger, gateway, t, {
      method: 'POST',
      path: '/v1/entries',
      status: 201,
      userAgent: 'payments/2.3',
    })
  }

  // The incident: the compromised frontend pod probes ledger (no ALLOW rule admits it), then checkout's
  // identity, which a stale rule of ledger's ALLOW policy admits, exports the accounts and sends them out.
  const frontend = topo.get('frontend')
  const checkout = topo.get('checkout')
  const fe = { workload: frontend, pod: frontend.pods[0]! }
  const co = { workload: checkout, pod: checkout.pods[0]! }
  let t = at(0.6) + 75_000
  crossClusterHop(b, prng, fe, ledger, gateway, t, { method: 'GET', path: '/v1/accounts', deniedBy: 'none', userAgent: 'curl/8.5.0' })
  t += 40_000
  crossClusterHop(b, prng, co, ledger, gateway, t, {
    method: 'GET',
    path: '/v1/accounts/export?format=csv',
    bytesOut: 31_457_280,
    latencyMs: 9_000,
    userAgent: 'curl/8.5.0',
  })
  t += 30_000
  b.egress(co, EXFIL_HOST.host, EXFIL_HOST.address, t, false)

  const across = { source: CLUSTERS.first, destination: CLUSTERS.second }
  return {
    builder: b,
    cluster,
    lateralFlows: (offset) => [
      { finding: 'authz_denied', source: namesOf(frontend), destination: destinationNamesOf(ledger), clusters: across },
      // Follows the pivot into checkout (the lateral-movement incident's flow `offset - 2`).
      { source: namesOf(checkout), destination: destinationNamesOf(ledger), after: offset - 2, clusters: across },
      { finding: 'unregistered_egress', source: namesOf(checkout), destination: [EXFIL_HOST.host], after: offset + 1 },
    ],
  }
}
