/**
 * The ledger under the real service: `envoy-audit run` consuming three partitions concurrently into
 * the embedded store, killed with SIGKILL mid-stream and restarted (replaying from the last commit),
 * then `verify`: every stored event ledgered exactly once, one unbroken chain per partition (no
 * epochs: replays were recognised), every checkpoint signed and valid.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Kafka, logLevel } from 'kafkajs'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startKafkaBroker, type KafkaTestBroker } from '../support/kafka-broker/index.js'
import { startService, waitFor } from '../helpers/service-process.js'
import { DuckDbStore } from '../../src/store/duckdb-store.js'
import { verifyDuckDbStore } from '../../src/integrity/verify-duckdb.js'
import { loadIntegrityKey } from '../../src/integrity/config.js'

const KEY = 'service-crash-key-0123456789abcdef'
const RECORDS = 6000
const PARTITIONS = 3
const line = (i: number): string =>
  i % 20 === 19
    ? `2024-05-01T10:00:00.000000Z info xds ADS: PUSH ${i}`
    : `[2024-05-01T12:${String(Math.floor(i / 60) % 60).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}.000Z] "GET /cart/${i}?session=s${i} HTTP/1.1" 200 - via_upstream - "-" 0 ${i % 700} 5 4 "-" "go-http/1.1" "c-${i}" "cart.shop:8080" "10.0.0.9:8080" inbound|8080|| 127.0.0.6:4000 10.0.0.9:8080 10.0.4.${i % 200}:6${i % 1000} outbound_.8080_._.cart.shop.svc.cluster.local default`

describe('integrity ledger through a SIGKILL and restart of the service', () => {
  let broker: KafkaTestBroker
  const dir = mkdtempSync(join(tmpdir(), 'ea-integrity-svc-'))
  const saved = process.env.ENVOY_AUDIT_INTEGRITY_KEY

  beforeAll(async () => {
    broker = await startKafkaBroker({ maxFetchWaitMs: 200, groupMinSessionTimeoutMs: 1_000 })
    broker.createTopic('envoy', PARTITIONS)
    const producer = new Kafka({ brokers: broker.brokers, logLevel: logLevel.NOTHING }).producer()
    await producer.connect()
    for (let from = 0; from < RECORDS; from += 1000) {
      await producer.send({
        topic: 'envoy',
        messages: Array.from({ length: 1000 }, (_, k) => ({ value: line(from + k), partition: (from + k) % PARTITIONS })),
      })
    }
    await producer.disconnect()
  }, 30_000)
  afterAll(async () => {
    if (saved === undefined) delete process.env.ENVOY_AUDIT_INTEGRITY_KEY
    else process.env.ENVOY_AUDIT_INTEGRITY_KEY = saved
    await broker?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  test('verify finds the store intact, one chain per partition, every event ledgered once', async () => {
    process.env.ENVOY_AUDIT_INTEGRITY_KEY = KEY
    const storePath = join(dir, 'audit.duckdb')
    const config = {
      source: {
        kind: 'kafka',
        kafka: {
          brokers: broker.brokers,
          topics: ['envoy'],
          groupId: 'ea-integrity',
          fromBeginning: true,
          maxWaitTimeMs: 100,
          commitIntervalMs: 50,
          sessionTimeoutMs: 3000,
          brokerSessionTimeoutBounds: { minMs: 1000 },
          heartbeatIntervalMs: 300,
          rebalanceTimeoutMs: 3000,
          batchMaxRecords: 100,
        },
      },
      sink: { kind: 'embedded', embedded: { path: storePath } },
      deadLetter: { kind: 'file', path: join(dir, 'dead-letters.ndjson') },
      integrity: { requireKey: true },
      service: { enabled: false },
      log: { level: 'warn' },
    }
    const committed = (): number => Object.values(broker.committedOffsets('ea-integrity', 'envoy')).reduce((a, b) => a + b, 0)
    const first = startService(config, join(dir, 'a.yaml'))
    await waitFor(() => committed() > 300 || first.child.exitCode !== null, 60_000, 'progress before the kill')
    const atKill = committed()
    first.child.kill('SIGKILL')
    await first.exited
    expect(atKill).toBeLessThan(RECORDS)

    const second = startService(config, join(dir, 'b.yaml'))
    await waitFor(() => committed() >= RECORDS || second.child.exitCode !== null, 90_000, 'every record committed after the restart')
    second.child.kill('SIGTERM')
    await second.exited
    expect(committed()).toBe(RECORDS)

    const store = new DuckDbStore({ path: storePath, threads: 1 })
    try {
      const report = await verifyDuckDbStore(store, loadIntegrityKey({ keyEnv: 'ENVOY_AUDIT_INTEGRITY_KEY', requireKey: true }))
      expect(report.issues).toEqual([])
      expect(report.ok).toBe(true)
      expect(report.events).toBe(RECORDS - RECORDS / 20)
      expect(report.ledgered).toBe(report.events)
      expect(report.signedVerified).toBe(report.checkpoints)
      expect(report.heads.map((h) => h.stream).sort()).toEqual(['kafka:envoy/0', 'kafka:envoy/1', 'kafka:envoy/2'])
      expect(report.heads.reduce((n, h) => n + h.count, 0)).toBe(report.events)
      // The secret in the traffic was redacted before it was stored.
      const leaked = (await store.sql(`SELECT count(*)::INTEGER AS n FROM events WHERE event_json LIKE '%session=s%'`)).rows[0]!.n
      expect(leaked).toBe(0)
    } finally {
      await store.close()
    }
  }, 180_000)
})
