/**
 * The demo's ambient namespace: `analytics` runs without sidecars, enrolled in Istio's ambient mode, so its
 * traffic is logged by the node proxies (ztunnel) in their own format (istio/ztunnel src/proxy/metrics.rs;
 * docs/ambient.md). `reports` queries `warehouse` over HBONE (an outbound line on the client's node and an
 * inbound line on the server's), a `scraper` pod is refused by the L4 AuthorizationPolicy that admits only
 * `reports`, and the legacy workload outside the mesh is refused as plaintext under STRICT mTLS
 * (istio_converted_static_strict). The lines leave the node like the sidecars' do, through Fluent Bit, as
 * written by the ztunnel pod of each node. Its own PRNG, so the rest of the demo is unchanged by it.
 */
import { Prng } from './prng.js'
import { fluentBitLine, rfc3339Nano } from './envoy-lines.js'
import type { Pod, Topology, Workload } from './mesh-topology.js'
import { TRUST_DOMAIN } from './mesh-topology.js'

export const AMBIENT_NAMESPACE = 'analytics'

export interface AmbientLine {
  text: string
  writtenMs: number
  pod: string
}

interface AmbientPod {
  name: string
  ip: string
  node: string
  sa: string
  app: string
}

const NODES = ['ip-10-20-1-17.ec2.internal', 'ip-10-20-2-41.ec2.internal', 'ip-10-20-3-9.ec2.internal']

function ztunnelWorkload(node: number): { w: Workload; pod: Pod } {
  const pod: Pod = {
    name: `ztunnel-${['k2xqp', 'm8fzt', 'r4wvd'][node]}`,
    ip: `10.20.${node + 1}.200`,
    node: NODES[node]!,
    uid: `7a1c0de${node}-0000-4000-8000-00000000000${node}`,
    containerId: `${'ab'.repeat(31)}0${node}`,
  }
  const w: Workload = {
    name: 'ztunnel',
    namespace: 'istio-system',
    serviceAccount: 'ztunnel',
    port: 15008,
    protocol: 'tcp',
    clusterIp: '',
    sidecar: false,
    format: 'istio-text',
    envelope: 'fluent-bit',
    version: '1.26.2',
    pods: [pod],
  }
  return { w, pod }
}

const q = (s: string): string => JSON.stringify(s)

/** One ztunnel `connection complete` line in its default text form. */
function ztunnelLine(
  atMs: number,
  nanos: number,
  o: {
    src: AmbientPod | { ip: string; port: number }
    dst: AmbientPod
    port: number
    direction: 'inbound' | 'outbound'
    hbone: boolean
    sent: number
    recv: number
    durationMs: number
    error?: string
    srcPort: number
  },
): string {
  const src = o.src
  const parts = [`src.addr=${src.ip}:${o.srcPort}`]
  if ('name' in src) {
    parts.push(`src.workload=${q(src.name)}`, `src.namespace=${q(AMBIENT_NAMESPACE)}`)
    if (o.hbone) parts.push(`src.identity=${q(`spiffe://${TRUST_DOMAIN}/ns/${AMBIENT_NAMESPACE}/sa/${src.sa}`)}`)
  }
  parts.push(`dst.addr=${o.dst.ip}:${o.hbone ? 15008 : o.port}`)
  if (o.hbone) parts.push(`dst.hbone_addr=${o.dst.ip}:${o.port}`)
  parts.push(
    `dst.service=${q(`${o.dst.app}.${AMBIENT_NAMESPACE}.svc.cluster.local`)}`,
    `dst.workload=${q(o.dst.name)}`,
    `dst.namespace=${q(AMBIENT_NAMESPACE)}`,
  )
  if (o.hbone) parts.push(`dst.identity=${q(`spiffe://${TRUST_DOMAIN}/ns/${AMBIENT_NAMESPACE}/sa/${o.dst.sa}`)}`)
  parts.push(`direction=${q(o.direction)}`, `bytes_sent=${o.sent}`, `bytes_recv=${o.recv}`, `duration=${q(`${o.durationMs}ms`)}`)
  if (o.error !== undefined) parts.push(`error=${q(o.error)}`)
  const level = o.error === undefined ? 'info' : 'error'
  return `${rfc3339Nano(atMs + o.durationMs, nanos)}\t${level}\taccess\tconnection complete\t${parts.join(' ')}`
}

/** The ambient namespace's connections over the window, as Fluent Bit ships the ztunnel pods' lines. */
export function ambientTraffic(topo: Topology, seed: number, startMs: number, endMs: number): AmbientLine[] {
  const prng = new Prng(seed ^ 0x5a5a)
  const reports: AmbientPod = { name: 'reports-6f7c9d8b5-tq2lm', ip: '10.20.1.150', node: NODES[0]!, sa: 'reports', app: 'reports' }
  const warehouse: AmbientPod = { name: 'warehouse-0', ip: '10.20.2.150', node: NODES[1]!, sa: 'warehouse', app: 'warehouse' }
  const scraper: AmbientPod = { name: 'scraper-5d4f8c7b9-wx8kd', ip: '10.20.3.151', node: NODES[2]!, sa: 'scraper', app: 'scraper' }
  const legacy = topo.get('legacy-billing').pods[0]!
  const out: AmbientLine[] = []
  const emit = (node: number, atMs: number, text: string): void => {
    const { w, pod } = ztunnelWorkload(node)
    const writtenMs = atMs + prng.int(1, 40)
    out.push({ text: fluentBitLine(writtenMs, prng.int(0, 999_999), text, w, pod), writtenMs, pod: pod.name })
  }
  const nodeOf = (p: AmbientPod): number => NODES.indexOf(p.node)
  // reports -> warehouse: a query every ~20 s, logged by both ztunnels.
  for (let t = startMs + 5_000; t < endMs - 60_000; t += prng.int(15_000, 25_000)) {
    const srcPort = prng.int(32768, 60999)
    const durationMs = prng.int(3, 120)
    const sent = prng.int(200, 900)
    const recv = prng.int(2_000, 60_000)
    const c = { src: reports, dst: warehouse, port: 5433, hbone: true, durationMs, srcPort }
    emit(nodeOf(reports), t, ztunnelLine(t, prng.int(0, 999_999), { ...c, direction: 'outbound', sent, recv }))
    emit(nodeOf(warehouse), t, ztunnelLine(t, prng.int(0, 999_999), { ...c, direction: 'inbound', sent: recv, recv: sent }))
  }
  // scraper -> warehouse: refused by the L4 ALLOW policy that admits only reports.
  for (let i = 0; i < 3; i++) {
    const t = startMs + (i + 1) * 180_000 + prng.int(0, 30_000)
    emit(
      nodeOf(warehouse),
      t,
      ztunnelLine(t, prng.int(0, 999_999), {
        src: scraper,
        dst: warehouse,
        port: 5433,
        hbone: true,
        direction: 'inbound',
        sent: 0,
        recv: 0,
        durationMs: 0,
        srcPort: prng.int(32768, 60999),
        error: 'connection closed due to policy rejection: allow policies exist, but none allowed',
      }),
    )
  }
  // legacy-billing (no mesh identity) -> warehouse in plaintext: STRICT mTLS refuses it.
  const t = startMs + 420_000
  emit(
    nodeOf(warehouse),
    t,
    ztunnelLine(t, prng.int(0, 999_999), {
      src: { ip: legacy.ip, port: 0 },
      dst: warehouse,
      port: 5433,
      hbone: false,
      direction: 'inbound',
      sent: 0,
      recv: 0,
      durationMs: 0,
      srcPort: prng.int(32768, 60999),
      error: 'connection closed due to policy rejection: explicitly denied by: istio-system/istio_converted_static_strict',
    }),
  )
  return out
}
