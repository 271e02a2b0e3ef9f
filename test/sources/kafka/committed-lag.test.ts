/**
 * Committed lag (log end minus the group's committed offset) and the age of the oldest unacknowledged
 * batch (src/sources/kafka/committed-lag.ts, kafka-source.ts): while the pipeline acknowledges nothing,
 * the committed lag shows every record not committed and the age grows, where the fetch lag reads 0
 * (everything was fetched). Decided on the real broker (ListOffsets, OffsetFetch) and the test broker.
 */
import { expect, test } from 'vitest'
import { cleanupAfterEach } from '../../helpers/cleanups.js'
import { describeKafka } from '../../helpers/real-servers.js'
import { createKafkaSource } from '../../../src/sources/kafka/kafka-source.js'
import type { KafkaSource } from '../../../src/sources/kafka/index.js'
import { startKafkaBroker } from '../../support/kafka-broker/index.js'
import { shortSessions } from '../../support/kafka-broker/test-helpers.js'
import { ControlledPipeline, produce, sourceConfig, waitFor } from './helpers.js'
import { realAdmin, realKafka, realSourceConfig, tempTopic, uniqueName } from './real-kafka.js'

const cleanups = cleanupAfterEach()

/** Holds every batch unacknowledged, then acks all: the lag is the whole backlog, then 0. */
async function holdThenAck(
  source: KafkaSource,
  pipeline: ControlledPipeline,
  topic: string,
  perPartition: Record<number, number>,
): Promise<void> {
  pipeline.policy = () => 'hold'
  await source.start()
  await source.run(pipeline.handler)
  const total = Object.values(perPartition).reduce((a, b) => a + b, 0)
  await waitFor(() => pipeline.calls.reduce((n, c) => n + c.records.length, 0) >= total, 20_000, 'every record delivered')
  await new Promise((r) => setTimeout(r, 1_200))

  const held = await source.committedLag(5_000)
  const stats = source.stats()
  for (const [p, n] of Object.entries(perPartition)) {
    expect(held.lag[`${topic}/${p}`]).toBe(n)
    expect(held.logEnd[`${topic}/${p}`]).toBe(n)
    // The fetch lag of the same partition: everything fetched, so 0, although nothing is committed.
    expect(stats.lag[`${topic}/${p}`]).toBe(0)
  }
  expect(stats.oldestUnackedSeconds).toBeGreaterThanOrEqual(1)

  for (const c of pipeline.held()) c.ack()
  await waitFor(
    async () => Object.values((await source.committedLag(5_000)).lag).every((v) => v === 0),
    20_000,
    'lag back to 0 once committed',
  )
  expect(source.stats().oldestUnackedSeconds).toBe(0)
}

test('test broker: committed lag shows the unacknowledged backlog, then 0 once committed', async () => {
  const broker = await startKafkaBroker({ ...shortSessions, maxFetchWaitMs: 100 })
  cleanups.push(() => broker.close())
  broker.createTopic('logs', 2)
  await produce(broker, 'logs', { 0: 7, 1: 4 })
  const pipeline = new ControlledPipeline()
  const source = createKafkaSource(sourceConfig(broker))
  cleanups.push(() => source.close())
  await holdThenAck(source, pipeline, 'logs', { 0: 7, 1: 4 })
}, 60_000)

describeKafka('committed lag on the real broker', () => {
  test('the unacknowledged backlog per partition, then 0 once committed', async () => {
    const admin = await realAdmin(cleanups)
    const topic = await tempTopic(admin, cleanups, 'lag', 2)
    const producer = realKafka().producer()
    await producer.connect()
    await producer.send({
      topic,
      messages: [
        ...Array.from({ length: 5 }, (_, i) => ({ partition: 0, value: `a${i}` })),
        ...Array.from({ length: 3 }, (_, i) => ({ partition: 1, value: `b${i}` })),
      ],
    })
    await producer.disconnect()
    const groupId = uniqueName('lag-group')
    cleanups.push(() => admin.deleteGroups([groupId]).catch(() => undefined))
    const pipeline = new ControlledPipeline()
    const source = createKafkaSource(realSourceConfig([topic], groupId))
    cleanups.push(() => source.close())
    await holdThenAck(source, pipeline, topic, { 0: 5, 1: 3 })
  }, 90_000)
})
