/**
 * No configured secret may appear in what the service logs, whatever goes wrong: a wrong Kafka SASL
 * password, OpenSearch answering 401, OpenSearch unreachable, a DLQ write failing. The service runs as
 * a real child process (`envoy-audit run --config`) against the test Kafka broker (SASL PLAIN) and the
 * OpenSearch test server; its whole stderr (pino JSON at debug level) is grepped for each secret in
 * every form a leak could take (as is, base64 in a Basic header, URL-encoded).
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Kafka, logLevel } from 'kafkajs'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startKafkaBroker, type KafkaTestBroker } from '../support/kafka-broker/index.js'
import { TestOpenSearch } from '../support/opensearch-server/index.js'
import { setupOpenSearch, startService, waitFor } from '../helpers/service-process.js'
import { validateConfig } from '../../src/compose/config.js'
import { configSecretWarnings, transportWarnings } from '../../src/service/service.js'

const KAFKA_USER = 'svc-envoy-audit'
const KAFKA_PW = 'kafka-Pw-7f3c9e1d2b'
const WRONG_KAFKA_PW = 'wrong-kafka-Pw-44aa01'
const OS_USER = 'ea-writer'
const OS_PW = 'os-Pw-91c2d0e8ff'
const INTEGRITY_KEY = 'integrity-key-5e7b3a0c9d1f2e4a'
/** A secret in the traffic itself: must be redacted before it is stored, dead-lettered or logged. */
const QUERY_SECRET = 'qs-Tok-0d9e8f7a6b'

const LINE = (i: number) =>
  `[2024-05-01T10:00:${String(i % 60).padStart(2, '0')}.000Z] "GET /cb?code=${QUERY_SECRET}&i=${i} HTTP/1.1" 200 - via_upstream - "-" 0 10 3 2 "-" "curl/8.0" "req-${i}" "catalog.shop:8080" "10.0.0.5:8080" inbound|8080|| 127.0.0.6:4000 10.0.0.5:8080 10.0.1.9:50000 - default`
const JUNK = (i: number) => `not an access log, token=${QUERY_SECRET} #${i}`

/** Every spelling of each secret a leak could take. */
function forms(): string[] {
  const plain = [KAFKA_PW, WRONG_KAFKA_PW, OS_PW, INTEGRITY_KEY, QUERY_SECRET]
  return [
    ...plain,
    Buffer.from(`${OS_USER}:${OS_PW}`).toString('base64'),
    Buffer.from(`\0${KAFKA_USER}\0${KAFKA_PW}`).toString('base64'),
    Buffer.from(`\0${KAFKA_USER}\0${WRONG_KAFKA_PW}`).toString('base64'),
    ...plain.map((s) => Buffer.from(s).toString('base64').slice(0, 12)),
  ]
}

function config(brokers: string[], osUrl: string, dir: string, groupId: string, extra: Record<string, unknown> = {}) {
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
        sessionTimeoutMs: 6000,
        heartbeatIntervalMs: 500,
        batchMaxRecords: 50,
        connectionTimeoutMs: 1000,
        retry: { retries: 2, initialMs: 100, maxMs: 500 },
        sasl: { mechanism: 'plain', username: KAFKA_USER, passwordEnv: 'EA_TEST_KAFKA_PW' },
      },
    },
    sink: {
      kind: 'opensearch',
      opensearch: {
        // The test server speaks http://: sending a password there takes insecure: true.
        connection: { node: osUrl, username: OS_USER, password: OS_PW, requestTimeoutMs: 1000, insecure: true },
        sink: { flushIntervalMs: 20, retry: { initialMs: 20, maxMs: 200 } },
      },
    },
    deadLetter: { kind: 'kafka', topic: 'envoy-dlq' },
    service: { port: 0, host: '127.0.0.1', shutdownTimeoutSeconds: 5 },
    log: { level: 'debug' },
    ...extra,
  }
}

async function runAndCollect(
  cfg: unknown,
  path: string,
  until: (stderr: string) => boolean | Promise<boolean>,
  ms: number,
): Promise<string> {
  const svc = startService(cfg, path)
  try {
    await waitFor(async () => (await until(svc.stderr())) || svc.child.exitCode !== null, ms, 'the scenario').catch(() => undefined)
  } finally {
    if (svc.child.exitCode === null) svc.child.kill('SIGTERM')
    const killer = setTimeout(() => svc.child.kill('SIGKILL'), 8000)
    await svc.exited
    clearTimeout(killer)
  }
  return svc.stderr()
}

function expectNoSecret(stderr: string): void {
  expect(stderr.length).toBeGreaterThan(0)
  for (const s of forms()) expect(stderr.includes(s), `stderr contains a secret form ${s.slice(0, 4)}…`).toBe(false)
}

describe('no configured secret in the service logs', () => {
  let broker: KafkaTestBroker
  let os: TestOpenSearch
  const dir = mkdtempSync(join(tmpdir(), 'ea-secrets-'))
  const saved = process.env.EA_TEST_KAFKA_PW

  beforeAll(async () => {
    broker = await startKafkaBroker({ maxFetchWaitMs: 200, sasl: { users: { [KAFKA_USER]: KAFKA_PW } } })
    broker.createTopic('envoy', 1)
    broker.createTopic('envoy-dlq', 1)
    // Below the ephemeral range: while it is stopped, a client reconnecting to a port in that range
    // can connect to itself (TCP simultaneous open) and keep the port from being listened on again.
    os = await TestOpenSearch.start({ port: 20_000 + (process.pid % 10_000) })
    await setupOpenSearch(os.url)
    const kafka = new Kafka({
      brokers: broker.brokers,
      logLevel: logLevel.NOTHING,
      sasl: { mechanism: 'plain', username: KAFKA_USER, password: KAFKA_PW },
    })
    const producer = kafka.producer()
    await producer.connect()
    await producer.send({ topic: 'envoy', messages: Array.from({ length: 40 }, (_, i) => ({ value: i % 4 === 3 ? JUNK(i) : LINE(i) })) })
    await producer.disconnect()
  }, 30_000)
  afterAll(async () => {
    if (saved === undefined) delete process.env.EA_TEST_KAFKA_PW
    else process.env.EA_TEST_KAFKA_PW = saved
    await os?.close()
    await broker?.close()
  })

  test('integrity key: a missing key file is reported by option path; the key from the environment never appears', async () => {
    process.env.EA_TEST_KAFKA_PW = KAFKA_PW
    const embedded = { kind: 'embedded', embedded: { path: join(dir, 'store.duckdb') } }
    const missing = config(broker.brokers, os.url, dir, 'ea-secrets-a', {
      sink: embedded,
      deadLetter: { kind: 'file', path: join(dir, 'dl.ndjson') },
      integrity: { keyFile: join(dir, 'missing-key-file') },
    })
    const a = await runAndCollect(missing, join(dir, 'a.yaml'), () => false, 15_000)
    expect(a).toMatch(/integrity\.keyFile/)
    expectNoSecret(a)
    process.env.ENVOY_AUDIT_INTEGRITY_KEY = INTEGRITY_KEY
    try {
      const keyed = config(broker.brokers, os.url, dir, 'ea-secrets-a', {
        sink: embedded,
        deadLetter: { kind: 'file', path: join(dir, 'dl.ndjson') },
        integrity: { requireKey: true },
      })
      const b = await runAndCollect(keyed, join(dir, 'a2.yaml'), (e) => /joined consumer group/.test(e), 15_000)
      expect(b).toMatch(/envoy-audit starting/)
      expectNoSecret(b)
    } finally {
      delete process.env.ENVOY_AUDIT_INTEGRITY_KEY
    }
  }, 45_000)

  test('a wrong SASL password: authentication errors logged, never the password', async () => {
    process.env.EA_TEST_KAFKA_PW = WRONG_KAFKA_PW
    const cfg = config(broker.brokers, os.url, dir, 'ea-secrets-b')
    const stderr = await runAndCollect(cfg, join(dir, 'b.yaml'), (e) => /SASL|authenticat/i.test(e), 20_000)
    expect(stderr).toMatch(/SASL|authenticat/i)
    expectNoSecret(stderr)
  }, 40_000)

  test('OpenSearch 401 then unreachable, DLQ failing: errors logged, never a password, a Basic header or a query secret', async () => {
    process.env.EA_TEST_KAFKA_PW = KAFKA_PW
    os.faults.failRequests(/_bulk/, 401, 20)
    broker.faults.failNext('Produce', 3 /* UNKNOWN_TOPIC_OR_PARTITION: the DLQ write fails */, 5)
    const cfg = config(broker.brokers, os.url, dir, 'ea-secrets-c')
    const svc = startService(cfg, join(dir, 'c.yaml'))
    try {
      await waitFor(() => /EA_SINK_AUTH|\b401\b/.test(svc.stderr()), 20_000, 'the 401 to be logged')
      await os.stopListening()
      await new Promise((r) => setTimeout(r, 2500))
      await os.resume()
      os.faults.clear()
      await waitFor(() => os.docs('envoy-audit-events*').length >= 30, 30_000, 'recovery after the outage')
    } finally {
      svc.child.kill('SIGTERM')
      await svc.exited
    }
    const stderr = svc.stderr()
    expect(stderr).toMatch(/401|EA_SINK_AUTH/)
    expectNoSecret(stderr)
    // The traffic's own secret was redacted before indexing.
    const docs = JSON.stringify(os.docs('envoy-audit-events*'))
    expect(docs).toContain('code=[REDACTED]')
    expect(docs).not.toContain(QUERY_SECRET)
    for (const m of await broker.messages('envoy-dlq', 0)) expect(String(m.value)).not.toContain(QUERY_SECRET)
  }, 90_000)
})

describe('transport security warnings at startup', () => {
  const kafka = { brokers: ['k:9093'], topics: ['envoy'] }
  test('verification on by default: a default config warns about nothing', () => {
    const c = validateConfig({
      source: { kind: 'kafka', kafka },
      sink: { kind: 'opensearch', opensearch: { connection: { node: 'https://os:9200' } } },
    })
    expect(c.source.kafka?.tls.rejectUnauthorized).toBe(true)
    expect(c.sink.opensearch?.connection.insecure).toBe(false)
    expect(transportWarnings(c)).toEqual([])
  })
  test('every explicit opt-out and every credential over plaintext is named by its option path', () => {
    const c = validateConfig({
      source: { kind: 'kafka', kafka: { ...kafka, tls: { enabled: true, rejectUnauthorized: false } } },
      sink: { kind: 'opensearch', opensearch: { connection: { node: 'http://os:9200', username: 'u', password: 'p', insecure: true } } },
      alerting: {
        enabled: true,
        webhook: { url: 'http://hooks.example/x', bearerTokenEnv: 'T', tls: { rejectUnauthorized: false } },
        kafka: {
          brokers: ['k:9092'],
          topic: 'alerts',
          ssl: { enabled: false },
          sasl: { mechanism: 'plain', username: 'a', passwordEnv: 'P' },
        },
      },
    })
    const w = transportWarnings(c).join('\n')
    for (const path of [
      'source.kafka.tls.rejectUnauthorized',
      'sink.opensearch.connection.insecure',
      'sink.opensearch.connection.node is http://',
      'alerting.webhook.tls.rejectUnauthorized',
      'alerting.webhook.url is http://',
      'alerting.kafka.sasl without TLS',
    ]) {
      expect(w).toContain(path)
    }
    const sasl = validateConfig({
      source: { kind: 'kafka', kafka: { ...kafka, sasl: { mechanism: 'plain', username: 'u', passwordEnv: 'P' } } },
    })
    expect(transportWarnings(sasl)).toEqual(['source.kafka.sasl without TLS: the SASL credentials and the records travel in plaintext'])
  })
  test('OPENSEARCH_PASSWORD from the environment over http:// is warned about, not only a config-file password', () => {
    const c = validateConfig({
      sink: { kind: 'opensearch', opensearch: { connection: { node: 'http://os:9200', insecure: true } } },
    })
    const env = { OPENSEARCH_USERNAME: 'svc', OPENSEARCH_PASSWORD: 'pw' }
    expect(transportWarnings(c, env).join('\n')).toContain(
      'sink.opensearch.connection.node is http:// with OPENSEARCH_PASSWORD from the environment: basic-auth credentials travel in plaintext',
    )
    expect(transportWarnings(c, {}).join('\n')).not.toContain('node is http://')
  })
  test('a secret written in the config file is named by its option path, never its value', () => {
    const c = validateConfig({
      source: { kind: 'kafka', kafka },
      sink: { kind: 'opensearch', opensearch: { connection: { node: 'https://os:9200', username: 'u', password: OS_PW } } },
    })
    const w = configSecretWarnings(c)
    expect(w).toHaveLength(1)
    expect(w[0]).toContain('sink.opensearch.connection.password')
    expect(w.join('\n')).not.toContain(OS_PW)
    const clean = validateConfig({
      source: { kind: 'kafka', kafka },
      sink: { kind: 'opensearch', opensearch: { connection: { node: 'https://os:9200' } } },
    })
    expect(configSecretWarnings(clean)).toEqual([])
  })
})
