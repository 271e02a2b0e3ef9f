/**
 * /readyz of `envoy-audit run` as a process, against the test Kafka broker and the OpenSearch test
 * server (the faults a real server does not produce on demand): OpenSearch refusing connections,
 * OpenSearch never answering, the broker unreachable. Each is not ready once it has lasted longer than
 * service.readiness.outageGraceSeconds, says why in JSON, and is ready again when the fault ends;
 * /healthz (liveness) answers 200 throughout. The same on the real servers: readiness-real.test.ts.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Kafka, logLevel } from 'kafkajs'
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import { ErrorCode, startKafkaBroker, type KafkaTestBroker } from '../support/kafka-broker/index.js'
import { shortSessions } from '../support/kafka-broker/test-helpers.js'
import { TestOpenSearch } from '../support/opensearch-server/index.js'
import { setupOpenSearch, startService, waitFor, type ServiceProcess } from '../helpers/service-process.js'
import { listeningPort, probe, readinessConfig } from './readiness-helpers.js'

const LINE = (i: number) =>
  `[2024-05-01T10:00:${String(i % 60).padStart(2, '0')}.000Z] "GET /api/items/${i} HTTP/1.1" 200 - via_upstream - "-" 0 ${100 + i} 3 2 "-" "curl/8.0" "req-${i}" "catalog.shop:8080" "10.0.0.5:8080" inbound|8080|| 127.0.0.6:4000 10.0.0.5:8080 10.0.1.9:5000${i % 10} outbound_.8080_._.catalog.shop.svc.cluster.local default`

describe('/readyz with the test servers', () => {
  let broker: KafkaTestBroker
  let os: TestOpenSearch
  let svc: ServiceProcess | undefined
  const dir = mkdtempSync(join(tmpdir(), 'ea-readyz-'))
  let n = 0

  beforeAll(async () => {
    broker = await startKafkaBroker({ ...shortSessions, maxFetchWaitMs: 200 })
    broker.createTopic('envoy', 2)
    broker.createTopic('envoy-dlq', 1)
    // Below the ephemeral range, so that nothing else takes the port while the server is stopped.
    os = await TestOpenSearch.start({ port: 21_000 + (process.pid % 10_000) })
    await setupOpenSearch(os.url)
  }, 30_000)
  afterEach(async () => {
    os.faults.clear()
    broker.faults.clear()
    await os.resume()
    if (svc !== undefined && svc.child.exitCode === null) {
      svc.child.kill('SIGTERM')
      const killer = setTimeout(() => svc?.child.kill('SIGKILL'), 10_000)
      await svc.exited
      clearTimeout(killer)
    }
    svc = undefined
  })
  afterAll(async () => {
    await os?.close()
    await broker?.close()
  })

  async function readyService(kafka: Record<string, unknown> = {}): Promise<number> {
    svc = startService(readinessConfig(broker.brokers, os.url, `ea-readyz-${n++}`, kafka), join(dir, `r${n}.yaml`))
    const port = await listeningPort(svc)
    await waitFor(async () => (await probe(port, '/readyz')).status === 200, 30_000, 'ready')
    const ready = await probe(port, '/readyz')
    expect(ready.body).toMatchObject({
      ready: true,
      reasons: [],
      checks: { source: { ok: true }, sink: { ok: true }, pipeline: { ok: true } },
      graceSeconds: 2,
    })
    return port
  }

  test('OpenSearch refusing connections: ready within the grace, then 503 naming the sink, then ready again', async () => {
    const port = await readyService()
    await os.stopListening()
    const t0 = Date.now()
    await new Promise((r) => setTimeout(r, 500))
    // Within the grace an outage does not flap the probe.
    if (Date.now() - t0 < 1_800) expect((await probe(port, '/readyz')).status).toBe(200)
    await waitFor(async () => (await probe(port, '/readyz')).status === 503, 15_000, 'not ready')
    const r = await probe(port, '/readyz')
    if (process.env.EA_SHOW_READYZ) console.log(JSON.stringify(r.body))
    expect(r.body.ready).toBe(false)
    expect(r.body.reasons.join('\n')).toMatch(
      /^sink: opensearch: \w+ \/.*(ECONNREFUSED|ConnectionError).* \(failing for \d+ s, longer than the 2 s grace\)$/m,
    )
    expect(r.body.checks.sink).toMatchObject({ ok: false })
    expect(r.body.checks.sink?.failingSeconds).toBeGreaterThanOrEqual(2)
    expect((await probe(port, '/healthz')).status).toBe(200)
    await os.resume()
    await waitFor(async () => (await probe(port, '/readyz')).status === 200, 15_000, 'ready again')
  }, 90_000)

  test('OpenSearch that never answers: 503 saying which request has had no answer', async () => {
    const port = await readyService()
    os.faults.latencyMs = 120_000
    await waitFor(async () => (await probe(port, '/readyz')).status === 503, 15_000, 'not ready')
    const r = await probe(port, '/readyz')
    if (process.env.EA_SHOW_READYZ) console.log(JSON.stringify(r.body))
    expect(r.body.reasons.join('\n')).toMatch(/^sink: opensearch: (HEAD \/: no answer for \d+ s|.*TimeoutError.*)/m)
    expect((await probe(port, '/healthz')).status).toBe(200)
    os.faults.latencyMs = 0
    await waitFor(async () => (await probe(port, '/readyz')).status === 200, 20_000, 'ready again')
  }, 90_000)

  test('OpenSearch down while records arrive: consumer lag shows the backlog where fetch lag reads 0, the pipeline is named, lag back to 0 after', async () => {
    const port = await readyService()
    await os.stopListening()
    const producer = new Kafka({ brokers: broker.brokers, logLevel: logLevel.NOTHING }).producer()
    await producer.connect()
    await producer.send({ topic: 'envoy', messages: Array.from({ length: 60 }, (_, i) => ({ value: LINE(i), partition: i % 2 })) })
    await producer.disconnect()
    const metric = async (name: string): Promise<number> => {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
      return text
        .split('\n')
        .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
        .reduce((n, l) => n + Number(l.split(' ').at(-1)), 0)
    }
    await waitFor(
      async () => (await metric('envoy_audit_kafka_consumer_lag')) >= 60,
      20_000,
      'the backlog in envoy_audit_kafka_consumer_lag',
    )
    expect(await metric('envoy_audit_kafka_fetch_lag')).toBe(0)
    await waitFor(
      async () => (await probe(port, '/readyz')).body.reasons.some((r) => r.startsWith('pipeline: the oldest unacknowledged batch')),
      20_000,
      'the pipeline named',
    )
    expect(await metric('envoy_audit_kafka_oldest_unacked_age_seconds')).toBeGreaterThan(2)
    await os.resume()
    await waitFor(async () => (await metric('envoy_audit_kafka_consumer_lag')) === 0, 30_000, 'the backlog committed')
    await waitFor(async () => (await probe(port, '/readyz')).status === 200, 20_000, 'ready again')
    expect(await metric('envoy_audit_kafka_oldest_unacked_age_seconds')).toBe(0)
  }, 90_000)

  test('Kafka unreachable: 503 naming the source once heartbeats stop for longer than the grace, ready again after it rejoins', async () => {
    const port = await readyService()
    broker.faults.refuseConnections(12_000)
    broker.faults.dropConnections()
    await waitFor(async () => (await probe(port, '/readyz')).status === 503, 20_000, 'not ready')
    const r = await probe(port, '/readyz')
    if (process.env.EA_SHOW_READYZ) console.log(JSON.stringify(r.body))
    expect(r.body.reasons.join('\n')).toMatch(
      /^source: kafka: (no heartbeat answered for \d+ s|consumer stopped|rebalancing).*longer than the 2 s grace/m,
    )
    expect(r.body.checks.source?.ok).toBe(false)
    expect((await probe(port, '/healthz')).status).toBe(200)
    await waitFor(async () => (await probe(port, '/readyz')).status === 200, 60_000, 'ready again')
  }, 120_000)

  test('a coordinator kafkajs cannot find (a crash it does not restart): 503 naming the restart, up and ready again', async () => {
    // One restart waits 4 s, longer than the 2 s grace, so a single crash shows.
    const port = await readyService({ restart: { initialMs: 4_000, maxMs: 4_000 } })
    // Heartbeat "not me", then "not me" from the only broker asked for the coordinator: kafkajs crashes
    // with KafkaJSGroupCoordinatorNotFound and restart: false.
    broker.faults.failNext('FindCoordinator', ErrorCode.NOT_COORDINATOR, 3)
    broker.faults.failNext('Heartbeat', ErrorCode.NOT_COORDINATOR, 1)
    await waitFor(
      async () => {
        if (svc!.child.exitCode !== null) throw new Error(`the service exited: ${svc!.stderr().slice(-2000)}`)
        return (await probe(port, '/readyz')).status === 503
      },
      20_000,
      'not ready',
    )
    const r = await probe(port, '/readyz')
    if (process.env.EA_SHOW_READYZ) console.log(JSON.stringify(r.body))
    expect(r.body.reasons.join('\n')).toMatch(
      /^source: kafka: consumer stopped \(Failed to find group coordinator\), restart \d+ in \d+\.\d s.*longer than the 2 s grace/m,
    )
    expect((await probe(port, '/healthz')).status).toBe(200)
    await waitFor(
      async () => {
        if (svc!.child.exitCode !== null) throw new Error(`the service exited: ${svc!.stderr().slice(-2000)}`)
        return (await probe(port, '/readyz')).status === 200
      },
      60_000,
      'ready again',
    )
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
    expect(Number(/^envoy_audit_kafka_consumer_restarts_total (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1)
    expect(svc!.stderr()).toMatch(/kafka consumer stopped on an error kafkajs does not retry; restarting it/)
  }, 90_000)
})
