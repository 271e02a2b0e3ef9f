/**
 * The long-running service end to end, as a user runs it: `envoy-audit run --config` in its own
 * process, consuming from the wire-compatible test Kafka broker through kafkajs and indexing into the
 * OpenSearch test server through the real client (both test servers, never the real products: those
 * run in test/integration when KAFKA_BROKERS / OPENSEARCH_URL are set).
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Kafka, logLevel } from 'kafkajs'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startKafkaBroker, type KafkaTestBroker } from '../support/kafka-broker/index.js'
import { TestOpenSearch } from '../support/opensearch-server/index.js'
import { setupOpenSearch, startService, waitFor } from '../helpers/service-process.js'
import { expectedEventId } from '../helpers/event-ids.js'

const GOOD = (i: number) =>
  `[2024-05-01T10:00:${String(i % 60).padStart(2, '0')}.000Z] "GET /api/items/${i} HTTP/1.1" 200 - via_upstream - "-" 0 ${100 + i} 3 2 "-" "curl/8.0" "req-${i}" "catalog.shop:8080" "10.0.0.5:8080" inbound|8080|| 127.0.0.6:4000 10.0.0.5:8080 10.0.1.9:5000${i % 10} outbound_.8080_._.catalog.shop.svc.cluster.local default`
const JUNK = (i: number) => `2024-05-01T10:00:00.000000Z info envoy proxy message ${i}`

export function serviceConfig(brokers: string[], osUrl: string, extra: Record<string, unknown> = {}) {
  return {
    source: {
      kind: 'kafka',
      kafka: {
        brokers,
        topics: ['envoy'],
        groupId: 'ea-e2e',
        fromBeginning: true,
        maxWaitTimeMs: 100,
        commitIntervalMs: 100,
        sessionTimeoutMs: 6000,
        heartbeatIntervalMs: 500,
        batchMaxRecords: 200,
      },
    },
    sink: {
      kind: 'opensearch',
      opensearch: { connection: { node: osUrl }, sink: { flushIntervalMs: 20, retry: { initialMs: 20, maxMs: 200 } } },
    },
    deadLetter: { kind: 'kafka', topic: 'envoy-dlq' },
    service: { port: 0, host: '127.0.0.1', shutdownTimeoutSeconds: 20 },
    log: { level: 'info' },
    ...extra,
  }
}

describe('envoy-audit run (kafka → opensearch), graceful shutdown', () => {
  let broker: KafkaTestBroker
  let os: TestOpenSearch
  const dir = mkdtempSync(join(tmpdir(), 'ea-run-'))

  beforeAll(async () => {
    broker = await startKafkaBroker({ maxFetchWaitMs: 200 })
    broker.createTopic('envoy', 2)
    broker.createTopic('envoy-dlq', 1)
    os = await TestOpenSearch.start()
    // As an operator would: run refuses to start without setup's index templates.
    await setupOpenSearch(os.url)
  })
  afterAll(async () => {
    await os?.close()
    await broker?.close()
  })

  test('every record is indexed or dead-lettered, offsets are committed to the end, metrics are served', async () => {
    const kafka = new Kafka({ brokers: broker.brokers, logLevel: logLevel.NOTHING })
    const producer = kafka.producer()
    await producer.connect()
    const values = Array.from({ length: 300 }, (_, i) => (i % 10 === 9 ? JUNK(i) : GOOD(i)))
    await producer.send({ topic: 'envoy', messages: values.map((value, i) => ({ key: String(i), value, partition: i % 2 })) })
    await producer.disconnect()

    const svc = startService(serviceConfig(broker.brokers, os.url), join(dir, 'run.yaml'))
    try {
      const dlqCount = async () => (await broker.messages('envoy-dlq', 0)).length
      await waitFor(async () => os.docs('envoy-audit-events*').length + (await dlqCount()) >= 300, 30_000, 'all records acknowledged')
      expect(os.docs('envoy-audit-events*')).toHaveLength(270)
      expect(await dlqCount()).toBe(30)

      // Every indexed document has the deterministic id of the record it came from.
      const ids = new Set(os.docs('envoy-audit-events*').map((d) => d._id))
      let checked = 0
      for (const partition of [0, 1]) {
        for (const m of await broker.messages('envoy', partition)) {
          const value = m.value as Buffer
          if (value.toString().includes(' info ')) continue
          expect(ids.has(expectedEventId(value) ?? 'no event')).toBe(true)
          checked++
        }
      }
      expect(checked).toBe(270)

      const port = Number(/"port":(\d+),"msg":"metrics and health listening"/.exec(svc.stderr())?.[1])
      expect(port).toBeGreaterThan(0)
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
      expect(metrics).toMatch(/envoy_audit_records_in_total 300/)
      expect(metrics).toMatch(/envoy_audit_dead_letters_total\{reason="EA_PARSE_NOT_ACCESS_LOG"\} 30/)
      expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200)
    } finally {
      svc.child.kill('SIGTERM')
    }
    expect(await svc.exited).toBe(0)
    // Graceful stop committed everything that was acknowledged: the whole topic.
    expect(broker.committedOffsets('ea-e2e', 'envoy')).toEqual({ 0: 150, 1: 150 })
    expect(svc.stderr()).toMatch(/read 300 records: 270 events, 30 dead letters/)
  }, 60_000)

  test('a bad config fails fast with the option path and exit code 2', async () => {
    const svc = startService({ source: { kind: 'kafka', kafka: { brokers: ['nohostport'], topics: ['t'] } } }, join(dir, 'bad.yaml'))
    expect(await svc.exited).toBe(2)
    expect(svc.stderr()).toMatch(/source\.kafka\.brokers\.0: broker must be host:port/)
  })
})

describe('envoy-audit run takes OpenSearch credentials from the environment', () => {
  test('OPENSEARCH_USERNAME/OPENSEARCH_PASSWORD fill a connection without a username; an explicit one wins', async () => {
    const { withEnvCredentials } = await import('../../src/service/service.js')
    const { loadConnectionConfig } = await import('../../src/connections/opensearch.js')
    const bare = loadConnectionConfig({ node: 'https://os:9200' })
    const filled = withEnvCredentials(bare, { OPENSEARCH_USERNAME: 'envoy-audit', OPENSEARCH_PASSWORD: 's3cret!' })
    expect(filled).toMatchObject({ node: 'https://os:9200', username: 'envoy-audit', password: 's3cret!' })
    expect(Object.isFrozen(filled)).toBe(true)
    const explicit = loadConnectionConfig({ node: 'https://os:9200', username: 'a', password: 'b' })
    expect(withEnvCredentials(explicit, { OPENSEARCH_USERNAME: 'x', OPENSEARCH_PASSWORD: 'y' })).toBe(explicit)
    expect(withEnvCredentials(bare, {})).toBe(bare)
    expect(() => withEnvCredentials(bare, { OPENSEARCH_USERNAME: 'u' })).toThrow(/sink\.opensearch\.connection/)
  })

  test('credentials from the environment for an http:// node are refused unless insecure: true', async () => {
    const { withEnvCredentials } = await import('../../src/service/service.js')
    const { loadConnectionConfig } = await import('../../src/connections/opensearch.js')
    const env = { OPENSEARCH_USERNAME: 'envoy-audit', OPENSEARCH_PASSWORD: 's3cret!' }
    expect(() => withEnvCredentials(loadConnectionConfig({ node: 'http://os:9200' }), env)).toThrow(
      /sink\.opensearch\.connection\.node: is http:\/\/ and basic-auth credentials are set.*plaintext/,
    )
    expect(() => loadConnectionConfig({ node: 'http://os:9200', username: 'a', password: 'b' })).toThrow(/opensearch\.node: is http:\/\//)
    expect(withEnvCredentials(loadConnectionConfig({ node: 'http://os:9200', insecure: true }), env).password).toBe('s3cret!')
  })
})
