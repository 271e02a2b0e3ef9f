import { describe, test, expect } from 'vitest'
import { loadAlertingConfig } from '../../src/alerting/config.js'
import { makeTestPki } from '../support/kafka-broker/test-certs.js'
import { createAlertSink } from '../../src/alerting/alert-sink.js'
import { KafkaAlertOutput } from '../../src/alerting/kafka-output.js'
import { startKafkaBroker } from '../support/kafka-broker/index.js'
import { passthroughEgress, rbacDenied } from './fixtures.js'
import type { Alert } from '../../src/alerting/select.js'

describe('kafka alert output (through kafkajs and the wire-compatible test broker)', () => {
  test('publishes one message per alert, keyed and headed by the dedupe key', async () => {
    const broker = await startKafkaBroker()
    broker.createTopic('envoy-audit-alerts', 3)
    const sink = createAlertSink({ enabled: true, kafka: { brokers: broker.brokers, topic: 'envoy-audit-alerts' } })!
    try {
      await sink.start()
      await sink.write([rbacDenied('2026-11-23T10:00:01Z'), rbacDenied('2026-11-23T10:00:02Z'), passthroughEgress('2026-11-23T10:00:03Z')])
      await sink.flush()
      expect(sink.stats.delivered.kafka).toBe(2)
      const msgs = (await Promise.all([0, 1, 2].map((p) => broker.messages('envoy-audit-alerts', p)))).flat()
      expect(msgs).toHaveLength(2)
      const bodies = msgs.map((m) => JSON.parse(String(m.value)) as Alert)
      expect(bodies.map((b) => b.finding.code).sort()).toEqual(['authz_denied', 'unregistered_egress'])
      for (const [i, m] of msgs.entries()) {
        expect(String(m.key)).toBe(bodies[i]!.dedupe_key)
        expect(String(m.headers?.['dedupe-key'])).toBe(bodies[i]!.dedupe_key)
        expect(String(m.headers?.['finding-code'])).toBe(bodies[i]!.finding.code)
      }
      expect(broker.protocolErrors()).toEqual([])
    } finally {
      await sink.close()
      await broker.close()
    }
  })

  test('a send after close reports failure instead of throwing', async () => {
    const cfg = loadAlertingConfig({ enabled: true, kafka: { brokers: ['127.0.0.1:1'], topic: 't' } })
    const out = new KafkaAlertOutput(cfg.kafka!)
    await out.close()
    const rep = await out.send([{ dedupe_key: 'k' } as unknown as Alert])
    expect(rep).toMatchObject({ delivered: 0, failed: 1, lastError: 'closed' })
  })

  test('unreachable brokers fail start() with a retryable source error', async () => {
    const cfg = loadAlertingConfig({ enabled: true, kafka: { brokers: ['127.0.0.1:1'], topic: 't', maxAttempts: 1, timeoutMs: 500 } })
    const out = new KafkaAlertOutput(cfg.kafka!)
    await expect(out.start()).rejects.toMatchObject({ code: 'EA_SOURCE_UNAVAILABLE', retryable: true })
    await out.close()
  })

  const pki = makeTestPki()
  const tlsBroker = async () => {
    const broker = await startKafkaBroker({ tls: { key: pki.serverKey, cert: pki.serverCert } })
    broker.createTopic('alerts', 1)
    return broker
  }

  test('tls: the brokers are verified against tls.caFile, and refused without it (verification on by default)', async () => {
    const broker = await tlsBroker()
    try {
      const kafka = { brokers: broker.brokers, topic: 'alerts', maxAttempts: 1, timeoutMs: 2_000 }
      const trusted = new KafkaAlertOutput(
        loadAlertingConfig({ enabled: true, kafka: { ...kafka, tls: { enabled: true, caFile: pki.caFile } } }).kafka!,
      )
      await trusted.start()
      expect(await trusted.send([{ dedupe_key: 'k1', finding: { code: 'c', severity: 'high' } } as unknown as Alert])).toMatchObject({
        delivered: 1,
        failed: 0,
      })
      await trusted.close()
      expect((await broker.messages('alerts', 0)).map((m) => String(m.key))).toEqual(['k1'])

      const untrusted = new KafkaAlertOutput(loadAlertingConfig({ enabled: true, kafka: { ...kafka, tls: { enabled: true } } }).kafka!)
      await expect(untrusted.start()).rejects.toMatchObject({
        code: 'EA_SOURCE_UNAVAILABLE',
        message: expect.stringMatching(/certificate/i),
      })
      await untrusted.close()
    } finally {
      await broker.close()
    }
  })

  test('the deprecated ssl: section still configures TLS (read as tls)', async () => {
    const broker = await tlsBroker()
    try {
      const cfg = loadAlertingConfig({
        enabled: true,
        kafka: { brokers: broker.brokers, topic: 'alerts', ssl: { enabled: true, caFile: pki.caFile } },
      })
      expect(cfg.kafka?.tls).toMatchObject({ enabled: true, caFile: pki.caFile, rejectUnauthorized: true })
      const out = new KafkaAlertOutput(cfg.kafka!)
      await out.start()
      expect(await out.send([{ dedupe_key: 'k2', finding: { code: 'c', severity: 'high' } } as unknown as Alert])).toMatchObject({
        delivered: 1,
      })
      await out.close()
    } finally {
      await broker.close()
    }
  })

  test('an unreadable CA file or an unset password variable is a config error naming the option, never an outage', async () => {
    const tls = loadAlertingConfig({
      enabled: true,
      kafka: { brokers: ['127.0.0.1:1'], topic: 't', tls: { enabled: true, caFile: '/nonexistent/ca.pem' } },
    })
    const out = new KafkaAlertOutput(tls.kafka!)
    await expect(out.start()).rejects.toMatchObject({
      code: 'EA_CONFIG_INVALID',
      message: expect.stringContaining('alerting.kafka.tls.caFile: cannot read /nonexistent/ca.pem'),
    })
    const sasl = loadAlertingConfig({
      enabled: true,
      kafka: { brokers: ['127.0.0.1:1'], topic: 't', sasl: { mechanism: 'plain', username: 'u', passwordEnv: 'ALERT_KAFKA_PW' } },
    })
    expect(() => new KafkaAlertOutput(sasl.kafka!, { env: {} })).toThrow(
      'alerting.kafka.sasl.passwordEnv: environment variable ALERT_KAFKA_PW is not set',
    )
  })
})
