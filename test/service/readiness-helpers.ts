/** Helpers of the /readyz tests: the service config with a short grace, and the probes. */
import { waitFor, type ServiceProcess } from '../helpers/service-process.js'

/** Kafka → OpenSearch with readiness settings short enough for a test: 2 s grace, 1 s answer window. */
export function readinessConfig(brokers: string[], osUrl: string, groupId: string, kafka: Record<string, unknown> = {}) {
  return {
    source: {
      kind: 'kafka',
      kafka: {
        brokers,
        topics: ['envoy'],
        groupId,
        fromBeginning: true,
        maxWaitTimeMs: 100,
        commitIntervalMs: 100,
        sessionTimeoutMs: 3_000,
        brokerSessionTimeoutBounds: { minMs: 500 },
        heartbeatIntervalMs: 300,
        rebalanceTimeoutMs: 3_000,
        connectionTimeoutMs: 1_000,
        retry: { retries: 5, initialMs: 100, maxMs: 1_000 },
        ...kafka,
      },
    },
    sink: {
      kind: 'opensearch',
      opensearch: {
        connection: { node: osUrl, requestTimeoutMs: 3_000 },
        sink: { flushIntervalMs: 20, retry: { initialMs: 20, maxMs: 200, probeMaxMs: 200 } },
      },
    },
    deadLetter: { kind: 'kafka', topic: 'envoy-dlq' },
    integrity: { enabled: false },
    service: {
      port: 0,
      host: '127.0.0.1',
      shutdownTimeoutSeconds: 5,
      readiness: { outageGraceSeconds: 2, sinkAnswerSeconds: 1, probeIntervalSeconds: 0.5 },
    },
    log: { level: 'info' },
  }
}

export interface Probe {
  status: number
  body: {
    ready: boolean
    reasons: string[]
    checks: Record<string, { ok: boolean; reason?: string; failingSeconds?: number; detail?: string }>
    graceSeconds: number
    live?: boolean
  }
}

export async function probe(port: number, path: '/readyz' | '/healthz'): Promise<Probe> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`)
  return { status: res.status, body: (await res.json()) as Probe['body'] }
}

/** The metrics/health port the service logged at startup. */
export async function listeningPort(svc: ServiceProcess): Promise<number> {
  const re = /"port":(\d+),"msg":"metrics and health listening"/
  await waitFor(() => re.test(svc.stderr()) || svc.child.exitCode !== null, 30_000, 'the health listener')
  const m = re.exec(svc.stderr())
  if (m === null) throw new Error(`the service did not start: ${svc.stderr().slice(-2000)}`)
  return Number(m[1])
}
