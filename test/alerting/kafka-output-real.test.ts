// The Kafka alert output, built by the shared Kafka client builder, against the real broker in KAFKA_BROKERS.
import { expect, test } from 'vitest'
import { cleanupAfterEach } from '../helpers/cleanups.js'
import { describeKafka, kafkaBrokers } from '../helpers/real-servers.js'
import { loadAlertingConfig } from '../../src/alerting/config.js'
import { KafkaAlertOutput } from '../../src/alerting/kafka-output.js'
import type { Alert } from '../../src/alerting/select.js'
import { consoleConsume, realAdmin, tempTopic } from '../sources/kafka/real-kafka.js'

const cleanups = cleanupAfterEach()

const alert = (key: string): Alert => ({ dedupe_key: key, finding: { code: 'authz_denied', severity: 'high' } }) as unknown as Alert

describeKafka('Kafka alert output', () => {
  test("every alert is acknowledged (acks=-1) and Kafka's Java console consumer reads them back, keyed by the dedupe key", async () => {
    const admin = await realAdmin(cleanups)
    const topic = await tempTopic(admin, cleanups, 'alerts')
    const out = new KafkaAlertOutput(loadAlertingConfig({ enabled: true, kafka: { brokers: kafkaBrokers, topic } }).kafka!)
    cleanups.push(() => out.close())
    await out.start()
    const report = await out.send(['a', 'b', 'c'].map(alert))
    expect(report).toMatchObject({ delivered: 3, failed: 0, attempts: 1 })
    const lines = consoleConsume(topic, 3, ['--property', 'print.key=true', '--property', 'key.separator=|'])
    expect(lines.map((l) => l.split('|')[0])).toEqual(['a', 'b', 'c'])
    expect(lines.map((l) => (JSON.parse(l.slice(l.indexOf('|') + 1)) as Alert).dedupe_key)).toEqual(['a', 'b', 'c'])
  }, 60_000)

  test('a topic that does not exist is never created: the delivery fails and is reported', async () => {
    const admin = await realAdmin(cleanups)
    const missing = `envoy-audit-it-alerts-missing-${Date.now()}`
    // Should the output create it after all, the test still leaves the broker as it found it.
    cleanups.push(async () => {
      if ((await admin.listTopics()).includes(missing)) await admin.deleteTopics({ topics: [missing] })
    })
    const out = new KafkaAlertOutput(
      loadAlertingConfig({ enabled: true, kafka: { brokers: kafkaBrokers, topic: missing, maxAttempts: 2, timeoutMs: 2_000 } }).kafka!,
    )
    cleanups.push(() => out.close())
    await out.start()
    const report = await out.send([alert('x')])
    expect(report.delivered).toBe(0)
    expect(report.failed).toBe(1)
    expect(await admin.listTopics()).not.toContain(missing)
  }, 60_000)
})
