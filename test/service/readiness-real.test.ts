/**
 * /readyz on the real servers. OpenSearch is the shared real node seen through a TCP proxy this test
 * controls (refusing connections, then accepting and never answering: how a dead node and a hung one
 * look to a client), so the shared node itself is never stopped. Kafka is a broker of this test's own
 * (test/services, in .services-readyz on free ports), stopped and started again; the shared broker is
 * never touched.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { Kafka, logLevel } from 'kafkajs'
import type { Client } from '@opensearch-project/opensearch'
import { describeKafkaAndOpenSearch, opensearchUrl } from '../helpers/real-servers.js'
import { startService, waitFor, type ServiceProcess } from '../helpers/service-process.js'
import { repoRoot, servicesOptions, startKafka, stopService, type ServicesOptions } from '../services/services.js'
import { createOpenSearchClient, loadConnectionConfig } from '../../src/connections/opensearch.js'
import { loadLifecycleConfig } from '../../src/lifecycle/config.js'
import { runSetup } from '../../src/lifecycle/setup.js'
import { templateName } from '../../src/lifecycle/index-template.js'
import { listeningPort, probe, readinessConfig } from './readiness-helpers.js'

/** A TCP proxy to host:port: forwarding, refusing (not listening) or hanging (accepting, never forwarding). */
class Proxy {
  private server: net.Server | undefined
  private readonly sockets = new Set<net.Socket>()
  mode: 'forward' | 'hang' = 'forward'
  port = 0
  constructor(private readonly target: URL) {}

  async listen(): Promise<void> {
    this.server = net.createServer((client) => {
      this.sockets.add(client)
      client.on('close', () => this.sockets.delete(client))
      client.on('error', () => undefined)
      if (this.mode === 'hang') return
      const up = net.connect(Number(this.target.port), this.target.hostname)
      this.sockets.add(up)
      up.on('close', () => this.sockets.delete(up))
      up.on('error', () => client.destroy())
      client.pipe(up).pipe(client)
    })
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve))
    this.port = (this.server.address() as net.AddressInfo).port
  }

  /** Cuts every open connection (a request in flight fails), then new ones meet `mode` or a refusal. */
  cut(): void {
    for (const s of this.sockets) s.destroy()
  }

  async refuse(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server?.close(() => resolve()))
    this.cut()
    await closed
    this.server = undefined
  }
}

/** Two consecutive free ports (Kafka's listener and its controller). */
async function freePortPair(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const p = 20_000 + Math.floor(Math.random() * 20_000)
    const free = async (port: number): Promise<boolean> =>
      new Promise((resolve) => {
        const s = net.createServer()
        s.once('error', () => resolve(false))
        s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)))
      })
    if ((await free(p)) && (await free(p + 1))) return p
  }
  throw new Error('no two free ports')
}

describeKafkaAndOpenSearch('/readyz with the real servers', () => {
  const prefix = `ea-readyz-${randomBytes(4).toString('hex')}`
  const lifecycle = loadLifecycleConfig({
    eventsAlias: `${prefix}-events`,
    findingsAlias: `${prefix}-findings`,
    policyId: `${prefix}-retention`,
    replicas: 0,
  })
  const dir = mkdtempSync(join(tmpdir(), 'ea-readyz-real-'))
  let client: Client
  let kafka: ServicesOptions
  let brokers: string[]
  let proxy: Proxy
  let svc: ServiceProcess | undefined

  beforeAll(async () => {
    client = await createOpenSearchClient(loadConnectionConfig({ node: opensearchUrl! }), { maxRetries: 3 })
    await runSetup(client, lifecycle)
    proxy = new Proxy(new URL(opensearchUrl!))
    await proxy.listen()
    const port = await freePortPair()
    kafka = servicesOptions({ EA_SERVICES_DIR: join(repoRoot, '.services-readyz'), EA_KAFKA_PORT: String(port) }, () => undefined)
    brokers = [(await startKafka(kafka)).url]
    const admin = new Kafka({ brokers, logLevel: logLevel.NOTHING }).admin()
    await admin.connect()
    await admin.createTopics({
      topics: [
        { topic: 'envoy', numPartitions: 2 },
        { topic: 'envoy-dlq', numPartitions: 1 },
      ],
      waitForLeaders: true,
    })
    await admin.disconnect()
  }, 240_000)

  afterAll(async () => {
    if (svc !== undefined && svc.child.exitCode === null) {
      svc.child.kill('SIGKILL')
      await svc.exited
    }
    await proxy?.refuse().catch(() => undefined)
    if (kafka !== undefined) await stopService(kafka, 'kafka', { graceMs: 20_000 })
    if (client !== undefined) {
      await client.indices.delete({ index: `${prefix}-*` }, { ignore: [404] }).catch(() => undefined)
      for (const alias of [lifecycle.eventsAlias, lifecycle.findingsAlias])
        await client.indices.deleteIndexTemplate({ name: templateName(alias) }, { ignore: [404] }).catch(() => undefined)
      await client.transport
        .request({ method: 'DELETE', path: `/_plugins/_ism/policies/${lifecycle.policyId}` }, { ignore: [400, 404] })
        .catch(() => undefined)
      await client.close()
    }
  }, 60_000)

  test('OpenSearch refusing, then hanging, then Kafka stopped: each 503 with its reason after the grace, ready again after each', async () => {
    // Kafka's own group.min.session.timeout.ms (6 s) bounds the session here.
    const cfg = readinessConfig(brokers, `http://127.0.0.1:${proxy.port}`, `${prefix}-group`, {
      sessionTimeoutMs: 6_000,
      brokerSessionTimeoutBounds: { minMs: 6_000 },
      heartbeatIntervalMs: 500,
    })
    Object.assign(cfg.sink.opensearch.sink, { eventsAlias: lifecycle.eventsAlias, findingsAlias: lifecycle.findingsAlias })
    svc = startService(cfg, join(dir, 'real.yaml'))
    const port = await listeningPort(svc)
    const ready = async (): Promise<boolean> => {
      if (svc!.child.exitCode !== null) throw new Error(`the service exited: ${svc!.stderr().slice(-3000)}`)
      return (await probe(port, '/readyz')).status === 200
    }
    const reasons = async (): Promise<string> => (await probe(port, '/readyz')).body.reasons.join('\n')
    let t0 = Date.now()
    // EA_SHOW_READYZ=1 prints how long each fault took to show and what /readyz said.
    const show = async (what: string): Promise<void> => {
      if (process.env.EA_SHOW_READYZ)
        console.log(`${what} after ${Date.now() - t0} ms: ${JSON.stringify((await probe(port, '/readyz')).body.reasons)}`)
      t0 = Date.now()
    }
    await waitFor(ready, 60_000, 'ready')

    t0 = Date.now()
    await proxy.refuse()
    await waitFor(async () => !(await ready()), 20_000, 'not ready while OpenSearch refuses')
    await show('opensearch refusing: 503')
    expect(await reasons()).toMatch(/^sink: opensearch: .*ECONNREFUSED.*longer than the 2 s grace/m)
    expect((await probe(port, '/healthz')).status).toBe(200)
    await proxy.listen()
    await waitFor(ready, 20_000, 'ready after OpenSearch is back')
    await show('opensearch back: 200')

    proxy.mode = 'hang'
    proxy.cut()
    await waitFor(async () => !(await ready()), 20_000, 'not ready while OpenSearch hangs')
    await show('opensearch hanging: 503')
    expect(await reasons()).toMatch(/^sink: opensearch: .*(TimeoutError|no answer for).*longer than the 2 s grace/m)
    proxy.mode = 'forward'
    proxy.cut()
    await waitFor(ready, 30_000, 'ready after OpenSearch answers again')
    await show('opensearch answering: 200')

    await stopService(kafka, 'kafka', { graceMs: 20_000 })
    t0 = Date.now()
    await waitFor(async () => !(await ready()), 30_000, 'not ready while Kafka is stopped')
    await show('kafka stopped: 503')
    expect(await reasons()).toMatch(/^source: kafka: .*longer than the 2 s grace/m)
    expect((await probe(port, '/healthz')).status).toBe(200)
    await startKafka(kafka)
    t0 = Date.now()
    await waitFor(ready, 120_000, 'ready after Kafka is back')
    await show('kafka started again: 200')
  }, 300_000)
})
