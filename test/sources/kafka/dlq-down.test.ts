import { expect, test } from 'vitest'
import { cleanupAfterEach } from '../../helpers/cleanups.js'
import { deadLetterFor } from '../../../src/pipeline/dead-letter.js'
import type { BatchHandler, RawRecord } from '../../../src/pipeline/component.js'
import { createKafkaDeadLetterSink, loadKafkaDlqConfig } from '../../../src/sinks/kafka-dlq.js'
import { createKafkaSource } from '../../../src/sources/kafka/kafka-source.js'
import { ErrorCode, startKafkaBroker, type KafkaTestBroker } from '../../support/kafka-broker/index.js'
import { quietKafka, shortSessions } from '../../support/kafka-broker/test-helpers.js'
import { sourceConfig, waitFor } from './helpers.js'

const cleanups = cleanupAfterEach()

async function broker(): Promise<KafkaTestBroker> {
  const b = await startKafkaBroker(shortSessions)
  cleanups.push(() => b.close())
  return b
}

test('while the dead-letter topic is down nothing is committed past the record that must be dead-lettered', async () => {
  const source = await broker()
  const dlqCluster = await broker()
  source.createTopic('logs', 1)
  dlqCluster.createTopic('dlq', 1)
  const producer = quietKafka(source.brokers).producer()
  await producer.connect()
  cleanups.push(() => producer.disconnect())
  const values = Array.from({ length: 20 }, (_, i) => (i === 12 ? 'bad-record' : `good-${i}`))
  await producer.send({ topic: 'logs', messages: values.map((value, i) => ({ value, headers: { seq: String(i) } })) })

  const dlq = createKafkaDeadLetterSink(
    loadKafkaDlqConfig({ brokers: dlqCluster.brokers, topic: 'dlq', retry: { retries: 1, initialMs: 20, maxMs: 50 } }),
  )
  cleanups.push(() => dlq.close())
  await dlq.start()
  const indexed: RawRecord[] = []
  // What the runner does: good records go to the sink, the rest to the dead-letter output, and
  // the batch is acknowledged only when both writes succeeded.
  const handler: BatchHandler = async (records) => {
    const bad = records.filter((r) => r.value.toString().startsWith('bad'))
    indexed.push(...records.filter((r) => !bad.includes(r)))
    if (bad.length > 0) await dlq.write(bad.map((r) => deadLetterFor(r, 'EA_PARSE_NOT_ACCESS_LOG', 'not an access log', 'parse')))
  }

  dlqCluster.faults.failNext('Produce', ErrorCode.NOT_ENOUGH_REPLICAS, 1_000_000)
  const kafkaSource = createKafkaSource(sourceConfig(source, { batchMaxRecords: 5, backoff: { initialMs: 30, maxMs: 100 } }))
  cleanups.push(() => kafkaSource.close())
  await kafkaSource.start()
  await kafkaSource.run(handler)
  await waitFor(() => source.committedOffsets('envoy-audit-test', 'logs')[0] === 10, 10_000, 'commit up to the failing batch')
  await waitFor(() => kafkaSource.stats().redeliveries >= 3, 10_000, 're-deliveries while the DLQ is down')
  // Batch 15-19 was acked meanwhile; still nothing past offset 10 is committed.
  expect(new Set(indexed.map((r) => r.coords.offset))).toContain('19')
  expect(source.committedOffsets('envoy-audit-test', 'logs')).toEqual({ 0: 10 })
  expect(dlqCluster.highWatermark('dlq', 0)).toBe(0)

  dlqCluster.faults.clear()
  await waitFor(() => source.committedOffsets('envoy-audit-test', 'logs')[0] === 20, 10_000, 'commit after the DLQ recovers')
  const dead = await dlqCluster.messages('dlq', 0)
  expect(dead.map((m) => m.value?.toString())).toEqual(['bad-record'])
  expect(String(dead[0]!.headers['envoy-audit.source.offset'])).toBe('12')
  expect(String(dead[0]!.headers['envoy-audit.reason'])).toBe('EA_PARSE_NOT_ACCESS_LOG')
  expect(String(dead[0]!.headers.seq)).toBe('12')
})
