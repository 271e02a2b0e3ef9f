/**
 * The demo's traffic generator: deterministic (seeded) user sessions through the ingress gateway of a
 * small shop mesh, plus the planted incidents, rendered as the lines collectors would deliver. Reused
 * by the Kafka demo producer and the benchmarks, so it is a pure function of its options.
 */
import { Prng } from './prng.js'
import { BROWSER_AGENTS, INTERNET_CLIENTS, TRUST_DOMAIN, buildTopology } from './mesh-topology.js'
import type { Envelope, LogFormat, Topology, Workload } from './mesh-topology.js'
import { TrafficBuilder } from './traffic-builder.js'
import type { Caller } from './traffic-builder.js'
import { criFileName, criLine, fluentBitLine, istioJsonLine, istioTextLine, rfc3339Nano } from './envoy-lines.js'
import { plantIncidents } from './incidents.js'
import { ambientTraffic } from './ambient.js'
import { CLUSTERS, eastWestTraffic } from './east-west.js'
import type { AccessRecord } from './envoy-lines.js'
import type { EmittedRecord } from './traffic-builder.js'
import type { PlantedIncident } from './incidents.js'

export interface MeshTrafficOptions {
  seed?: number
  /** Start of the simulated window, ISO 8601. Fixed by default so runs are reproducible. */
  start?: string
  durationMinutes?: number
  /** User sessions entering through the ingress gateway (each fans out to 2-10 proxy lines). */
  sessions?: number
  /** Adds the non-access-log lines a real istio-proxy stream carries, which must become dead letters. */
  noise?: boolean
  /** Adds the ambient namespace, whose connections ztunnel logs (ambient.ts); the demo command turns it on. */
  ambient?: boolean
  /**
   * Adds a second cluster (east-west.ts): every line then names its cluster, the lateral-movement
   * incident continues into the second cluster through its east-west gateway. The demo command turns it on.
   */
  eastWest?: boolean
}

export const MESH_TRAFFIC_DEFAULTS = {
  seed: 42,
  start: '2026-11-20T14:00:00.000Z',
  durationMinutes: 15,
  sessions: 1500,
  noise: true,
} as const

export interface MeshLine {
  /** Collector file the line belongs to: the Fluent Bit Kafka dump, or a pod's CRI log. */
  file: string
  text: string
  writtenMs: number
  namespace: string
  pod: string
  envelope: Envelope
  format: LogFormat | 'noise' | 'ztunnel'
  /** The cluster whose collector shipped the line, when the traffic has several (eastWest). */
  cluster?: string
}

export interface MeshTraffic {
  lines: MeshLine[]
  incidents: PlantedIncident[]
  topology: Topology
  window: { start: string; end: string }
}

export const FLUENT_BIT_FILE = 'fluent-bit-kafka.ndjson'
/** The second cluster's collector output (eastWest). */
export const FLUENT_BIT_FILE_SECOND = 'fluent-bit-kafka-west.ndjson'

export function generateMeshTraffic(options: MeshTrafficOptions = {}): MeshTraffic {
  const opts = { ...MESH_TRAFFIC_DEFAULTS, ...options }
  const prng = new Prng(opts.seed)
  const topo = buildTopology(prng)
  const b = new TrafficBuilder(prng)
  const startMs = Date.parse(opts.start)
  if (!Number.isFinite(startMs)) throw new RangeError(`start is not a date: ${opts.start}`)
  const endMs = startMs + opts.durationMinutes * 60_000

  for (let i = 0; i < opts.sessions; i++) {
    session(b, topo, prng, startMs + Math.floor(prng.next() * (endMs - startMs - 60_000)))
  }
  databasePool(b, topo, startMs, endMs)
  const incidents = plantIncidents(b, topo, prng, startMs, endMs)

  const multi = opts.eastWest === true
  const lines: MeshLine[] = b.records.map((r) => renderLine(r, prng, multi ? CLUSTERS.first : undefined))
  if (opts.noise) lines.push(...noise(topo, prng, startMs, lines))
  if (opts.ambient === true) {
    for (const l of ambientTraffic(topo, opts.seed, startMs, endMs))
      lines.push({ file: FLUENT_BIT_FILE, ...l, namespace: 'istio-system', envelope: 'fluent-bit', format: 'ztunnel' })
  }
  if (multi) {
    const ew = eastWestTraffic(topo, opts.seed, startMs, endMs)
    const render = new Prng(opts.seed ^ 0x0e58)
    for (const r of ew.builder.records) lines.push(renderLine(r, render, r.workload.cluster ?? CLUSTERS.first))
    const lateral = incidents.find((i) => i.id === 'lateral-movement')!
    lateral.title = 'Compromised frontend probes, pivots through checkout, reaches payments-db and, across clusters, ledger'
    lateral.flows.push(...ew.lateralFlows(lateral.flows.length))
    for (const l of lines) l.cluster ??= CLUSTERS.first
  }
  lines.sort((a, b) => a.writtenMs - b.writtenMs)
  return { lines, incidents, topology: topo, window: { start: new Date(startMs).toISOString(), end: new Date(endMs).toISOString() } }
}

/** One record as its proxy writes it and its collector ships it; with a cluster, as a multi-cluster mesh logs it. */
function renderLine({ workload, pod, record, writtenMs }: EmittedRecord, prng: Prng, cluster: string | undefined): MeshLine {
  const r = cluster === undefined ? record : withClusters(record, cluster)
  const text = workload.format === 'istio-json' ? istioJsonLine(r) : istioTextLine(r)
  const nanos = prng.int(0, 999_999)
  const second = cluster !== undefined && cluster !== CLUSTERS.first
  const base = {
    writtenMs,
    namespace: workload.namespace,
    pod: pod.name,
    format: workload.format,
    ...(cluster === undefined ? {} : { cluster }),
  }
  return workload.envelope === 'fluent-bit'
    ? {
        ...base,
        file: second ? FLUENT_BIT_FILE_SECOND : FLUENT_BIT_FILE,
        text: fluentBitLine(writtenMs, nanos, text, workload, pod, cluster),
        envelope: 'fluent-bit',
      }
    : { ...base, file: criFileName(workload, pod), text: criLine(writtenMs, nanos, text), envelope: 'cri' }
}

/**
 * The cluster ids a proxy of `cluster` logs: its own, and a mesh peer's from the peer metadata, which is
 * the same cluster unless the record already names another (a call through the east-west gateway).
 */
function withClusters(r: AccessRecord, cluster: string): AccessRecord {
  const local = (san: string | undefined): boolean => san !== undefined && san.startsWith(`spiffe://${TRUST_DOMAIN}/`)
  return {
    ...r,
    clusterId: r.clusterId ?? cluster,
    ...(r.downstreamPeerCluster === undefined && local(r.peerUriSan) ? { downstreamPeerCluster: cluster } : {}),
    ...(r.upstreamPeerCluster === undefined && local(r.upstreamPeerUriSan) ? { upstreamPeerCluster: cluster } : {}),
  }
}

/** Groups lines by collector file, keeping write order inside each file. */
export function linesByFile(lines: readonly MeshLine[]): Map<string, string[]> {
  const files = new Map<string, string[]>()
  for (const line of lines) {
    let list = files.get(line.file)
    if (list === undefined) files.set(line.file, (list = []))
    list.push(line.text)
  }
  return files
}

/** One user session: a page through the gateway, fanning out the way the shop's services call each other. */
function session(b: TrafficBuilder, topo: Topology, prng: Prng, atMs: number): void {
  const w = (name: string) => topo.get(name)
  const client = prng.pick(INTERNET_CLIENTS)
  const userAgent = prng.pick(BROWSER_AGENTS)
  const requestId = prng.uuid()
  const hop = (from: Caller, to: string, t: number, spec: Parameters<TrafficBuilder['hop']>[3]) =>
    b.hop(from, w(to), t, { requestId, userAgent, ...spec }).durationMs
  const product = prng.int(1, 480)
  const kind = prng.weighted([
    ['browse', 40],
    ['product', 20],
    ['cart', 20],
    ['login', 8],
    ['checkout', 12],
  ] as const)

  const catalogChain = (from: Caller, t: number, path: string): number =>
    hop(from, 'catalog', t, {
      path,
      status: prng.chance(0.01) ? 404 : 200,
      inner: (t2, catalog) =>
        hop({ kind: 'pod', ...catalog }, 'reviews', t2, {
          path: `/reviews/${product}`,
          inner: (t3, reviews) => hop({ kind: 'pod', ...reviews }, 'ratings', t3, { path: `/ratings/${product}`, latencyMs: 4 }),
        }),
    })

  const frontendWork = (t: number, server: { workload: Workload; pod: Workload['pods'][number] }): number => {
    const fe: Caller = { kind: 'pod', ...server }
    switch (kind) {
      case 'browse':
        return catalogChain(fe, t, `/products?page=${prng.int(1, 20)}`)
      case 'product':
        return catalogChain(fe, t, `/products/${product}`)
      case 'cart':
        return hop(fe, 'cart', t, prng.chance(0.5) ? { path: '/api/cart' } : { method: 'POST', path: '/api/cart/items', status: 201 })
      case 'login':
        return hop(fe, 'auth', t, { method: 'POST', path: '/oauth/token', status: prng.chance(0.06) ? 401 : 200 })
      case 'checkout':
        return hop(fe, 'checkout', t, {
          method: 'POST',
          path: '/api/checkout',
          latencyMs: 30,
          inner: (t2, co) => {
            const from: Caller = { kind: 'pod', ...co }
            let spent = hop(from, 'cart', t2, { path: '/api/cart' })
            spent += hop(from, 'payments', t2 + spent, {
              method: 'POST',
              path: '/v1/charges',
              status: prng.chance(0.03) ? 402 : 200,
              latencyMs: 80,
            })
            spent += hop(from, 'notifications', t2 + spent, { method: 'POST', path: '/v1/notify', status: 202 })
            return spent
          },
        })
    }
  }

  const path = { browse: '/', product: `/products/${product}`, cart: '/cart', login: '/login', checkout: '/checkout' }[kind]
  b.ingress(w('istio-ingressgateway'), client, w('frontend'), atMs, {
    host: 'shop.example.com',
    path,
    method: kind === 'checkout' || kind === 'login' ? 'POST' : 'GET',
    requestId,
    userAgent,
    inner: frontendWork,
  })
}

/** payments keeps pooled TCP connections to its database; each is logged when it closes. */
function databasePool(b: TrafficBuilder, topo: Topology, startMs: number, endMs: number): void {
  const payments = topo.get('payments')
  for (let t = startMs + 30_000; t < endMs - 60_000; t += 60_000) {
    for (const pod of payments.pods) b.hop({ kind: 'pod', workload: payments, pod }, topo.get('payments-db'), t, { latencyMs: 55_000 })
  }
}

/**
 * What else shares an istio-proxy stream: istio-agent's own log lines, and a record the collector cut
 * short. They must end up as dead letters, never as events and never silently dropped.
 */
function noise(topo: Topology, prng: Prng, startMs: number, lines: readonly MeshLine[]): MeshLine[] {
  const out: MeshLine[] = []
  const auth = topo.get('auth')
  const pod = auth.pods[0]!
  const agent = [
    'info\tEnvoy proxy is ready',
    'info\tcache\tgenerated new workload certificate',
    'warn\txdsproxy\tupstream [0] terminated with unexpected error ' +
      'rpc error: code = Unavailable desc = closing transport due to: connection error',
  ]
  agent.forEach((message, i) => {
    const ms = startMs + 1000 + i * 290_000
    const stamp = rfc3339Nano(ms, prng.int(0, 999_999))
    out.push({
      file: criFileName(auth, pod),
      text: criLine(ms, prng.int(0, 999_999), `${stamp}\t${message}`),
      writtenMs: ms,
      namespace: auth.namespace,
      pod: pod.name,
      envelope: 'cri',
      format: 'noise',
    })
  })
  const victim = lines.find((l) => l.envelope === 'fluent-bit' && l.writtenMs > startMs + 400_000)
  if (victim !== undefined) {
    out.push({
      ...victim,
      text: victim.text.slice(0, Math.floor(victim.text.length * 0.6)),
      writtenMs: victim.writtenMs + 1,
      format: 'noise',
    })
  }
  return out
}
