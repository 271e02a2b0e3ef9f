/**
 * The simulated mesh: a shop split over several namespaces, an Istio ingress gateway, and one legacy
 * workload outside the mesh. Each workload says how its sidecar logs (Istio default JSON with identity
 * extras, or the default TEXT format) and how the lines leave the node (Fluent Bit's Kafka output, or
 * raw CRI container logs), so the demo exercises every shape the parser must handle.
 */
import type { Prng } from './prng.js'

export const TRUST_DOMAIN = 'cluster.local'

export type LogFormat = 'istio-json' | 'istio-text'
export type Envelope = 'fluent-bit' | 'cri'

export interface Pod {
  name: string
  ip: string
  node: string
  uid: string
  containerId: string
}

export interface Workload {
  /** Deployment name; also the `app` label and the Service name. */
  name: string
  namespace: string
  serviceAccount: string
  port: number
  /** HTTP services speak HTTP/1.1 or HTTP/2; the database is plain TCP. */
  protocol: 'http' | 'tcp'
  clusterIp: string
  /** Workloads outside the mesh have no sidecar, so they write no access log and present no certificate. */
  sidecar: boolean
  format: LogFormat
  envelope: Envelope
  version: string
  pods: Pod[]
  /** The cluster it runs in, when the demo has several (east-west.ts); the first cluster otherwise. */
  cluster?: string
}

interface WorkloadSpec {
  name: string
  namespace: string
  port: number
  protocol?: 'http' | 'tcp'
  sidecar?: boolean
  format: LogFormat
  envelope: Envelope
  replicas: number
  serviceAccount?: string
}

/**
 * Formats and envelopes vary, as they do in real clusters where teams adopt the Telemetry API at
 * different times: the catalog namespace still logs the default TEXT format, which cannot carry the
 * peer identity (that gap shows up in the AU-3 section of the report), and some nodes ship raw CRI
 * files, which carry no Kubernetes metadata at all.
 */
const SPECS: readonly WorkloadSpec[] = [
  {
    name: 'istio-ingressgateway',
    namespace: 'istio-system',
    port: 8443,
    format: 'istio-json',
    envelope: 'fluent-bit',
    replicas: 2,
    serviceAccount: 'istio-ingressgateway-service-account',
  },
  { name: 'frontend', namespace: 'shop', port: 8080, format: 'istio-json', envelope: 'fluent-bit', replicas: 2 },
  { name: 'cart', namespace: 'shop', port: 8080, format: 'istio-json', envelope: 'fluent-bit', replicas: 2 },
  { name: 'checkout', namespace: 'shop', port: 8080, format: 'istio-json', envelope: 'fluent-bit', replicas: 1 },
  { name: 'catalog', namespace: 'catalog', port: 9080, format: 'istio-text', envelope: 'fluent-bit', replicas: 2 },
  { name: 'reviews', namespace: 'catalog', port: 9080, format: 'istio-text', envelope: 'fluent-bit', replicas: 1 },
  { name: 'ratings', namespace: 'catalog', port: 9080, format: 'istio-text', envelope: 'cri', replicas: 1 },
  { name: 'auth', namespace: 'identity', port: 8443, format: 'istio-json', envelope: 'cri', replicas: 1 },
  { name: 'payments', namespace: 'payments', port: 8080, format: 'istio-json', envelope: 'fluent-bit', replicas: 2 },
  { name: 'payments-db', namespace: 'payments', port: 5432, protocol: 'tcp', format: 'istio-json', envelope: 'cri', replicas: 1 },
  { name: 'notifications', namespace: 'shop', port: 8080, format: 'istio-json', envelope: 'fluent-bit', replicas: 1 },
  { name: 'legacy-billing', namespace: 'legacy', port: 8080, sidecar: false, format: 'istio-text', envelope: 'cri', replicas: 1 },
]

const NODES = ['ip-10-20-1-17.ec2.internal', 'ip-10-20-2-41.ec2.internal', 'ip-10-20-3-9.ec2.internal']

/** A node's own address, from its EC2 private DNS name: what a peer network sees a pod's traffic come from (SNAT). */
export const nodeAddress = (node: string): string => {
  const m = /^ip-(\d+)-(\d+)-(\d+)-(\d+)\./.exec(node)
  if (m === null) throw new Error(`not an EC2 private DNS name: ${node}`)
  return `${m[1]}.${m[2]}.${m[3]}.${m[4]}`
}

export interface Topology {
  workloads: Map<string, Workload>
  get(name: string): Workload
}

export function buildTopology(prng: Prng): Topology {
  const workloads = new Map<string, Workload>()
  SPECS.forEach((spec, i) => {
    const pods: Pod[] = []
    const hash = prng.hex(10).replace(/[0-9]/g, (d) => 'bcdfghjklm'[Number(d)]!)
    for (let r = 0; r < spec.replicas; r++) {
      const suffix = prng.hex(5).replace(/[0-9]/g, (d) => 'bcdfghjklm'[Number(d)]!)
      pods.push({
        name: `${spec.name}-${hash.slice(0, 9)}-${suffix}`,
        ip: `10.244.${(i % 3) + 1}.${10 + i * 8 + r}`,
        node: NODES[(i + r) % NODES.length]!,
        uid: `${prng.hex(8)}-${prng.hex(4)}-${prng.hex(4)}-${prng.hex(4)}-${prng.hex(12)}`,
        containerId: prng.hex(64),
      })
    }
    workloads.set(spec.name, {
      name: spec.name,
      namespace: spec.namespace,
      serviceAccount: spec.serviceAccount ?? spec.name,
      port: spec.port,
      protocol: spec.protocol ?? 'http',
      clusterIp: `10.96.${10 + i}.${prng.int(2, 250)}`,
      sidecar: spec.sidecar ?? true,
      format: spec.format,
      envelope: spec.envelope,
      version: 'v1',
      pods,
    })
  })
  return {
    workloads,
    get(name) {
      const w = workloads.get(name)
      if (w === undefined) throw new Error(`unknown demo workload ${name}`)
      return w
    },
  }
}

export const spiffeId = (w: Pick<Workload, 'namespace' | 'serviceAccount'>, trustDomain = TRUST_DOMAIN): string =>
  `spiffe://${trustDomain}/ns/${w.namespace}/sa/${w.serviceAccount}`

export const fqdn = (w: Pick<Workload, 'name' | 'namespace'>): string => `${w.name}.${w.namespace}.svc.cluster.local`

/** Istio's mTLS SNI for a service port (BuildDNSSrvSubsetKey): outbound_.PORT_._.FQDN. */
export const istioSni = (w: Workload): string => `outbound_.${w.port}_._.${fqdn(w)}`

/** External clients reaching the ingress gateway (documentation address blocks, RFC 5737). */
export const INTERNET_CLIENTS = ['198.51.100.23', '198.51.100.87', '203.0.113.9', '203.0.113.54', '192.0.2.141', '192.0.2.200']

export const BROWSER_AGENTS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15',
  'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148',
]
