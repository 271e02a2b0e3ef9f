// Retention on the real broker: records deleted upstream (DeleteRecords, as retention does) below the
// group's committed offset. The fetch there fails with OFFSET_OUT_OF_RANGE; the source resumes where
// `fromBeginning` says (kafkajs' rule, like auto.offset.reset) and counts and logs the loss.
import { expect, test } from 'vitest'
import type { Admin } from 'kafkajs'
import { cleanupAfterEach } from '../../helpers/cleanups.js'
import { describeKafka } from '../../helpers/real-servers.js'
import type { KafkaLogger } from '../../../src/connections/kafka.js'
import { createKafkaSource } from '../../../src/sources/kafka/kafka-source.js'
import { startKafkaBroker } from '../../support/kafka-broker/index.js'
import { quietKafka, shortSessions } from '../../support/kafka-broker/test-helpers.js'
import { ControlledPipeline, sourceConfig, waitFor } from './helpers.js'
import { realAdmin, realKafka, realSourceConfig, tempTopic } from './real-kafka.js'

const cleanups = cleanupAfterEach()

function recordingLogger(): KafkaLogger & { warnings: { obj: Record<string, unknown>; msg: string }[] } {
  const warnings: { obj: Record<string, unknown>; msg: string }[] = []
  return {
    warnings,
    debug() {},
    info() {},
    error() {},
    warn: (obj, msg) => void warnings.push({ obj: obj as Record<string, unknown>, msg }),
  }
}

async function produce(topic: string, from: number, n: number): Promise<void> {
  const producer = realKafka().producer()
  await producer.connect()
  await producer.send({ topic, messages: Array.from({ length: n }, (_, i) => ({ partition: 0, value: `v${from + i}` })) })
  await producer.disconnect()
}

/** Consumes and commits offsets 0..29 of a 100-record partition, then deletes records below 60. */
async function committedBelowLogStart(admin: Admin, what: string): Promise<{ topic: string; groupId: string }> {
  const topic = await tempTopic(admin, cleanups, what)
  const groupId = `${topic}-g`
  await produce(topic, 0, 100)
  const first = new ControlledPipeline()
  first.policy = (records) => (Number(records[0]!.coords.offset) < 30 ? 'ack' : 'hold')
  const source = createKafkaSource(realSourceConfig([topic], groupId, { batchMaxRecords: 10 }))
  await source.start()
  await source.run(first.handler)
  await waitFor(() => source.stats().committed[`${topic}/0`] === 30, 30_000, 'offset 30 committed')
  await source.close()
  // kafkajs 2.2.4 looks the leader up before loading the topic's metadata: load it first.
  await admin.fetchTopicOffsets(topic)
  await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '60' }] })
  expect(await admin.fetchTopicOffsets(topic)).toEqual([{ partition: 0, offset: '100', high: '100', low: '60' }])
  return { topic, groupId }
}

describeKafka('retention: a committed offset below the log start', () => {
  test('fromBeginning: resumes at the log start; 30 records counted and logged as lost upstream, naming the partition and the gap', async () => {
    const admin = await realAdmin(cleanups)
    const { topic, groupId } = await committedBelowLogStart(admin, 'retention-earliest')
    const logger = recordingLogger()
    const pipeline = new ControlledPipeline()
    const source = createKafkaSource(realSourceConfig([topic], groupId, { fromBeginning: true }), { logger })
    cleanups.push(() => source.close())
    await source.start()
    await source.run(pipeline.handler)
    await waitFor(() => pipeline.acked.length >= 40, 30_000, 'records 60..99')
    expect(pipeline.acked.map((r) => r.value.toString())).toEqual(Array.from({ length: 40 }, (_, i) => `v${60 + i}`))
    await waitFor(() => source.stats().recordsLostUpstream > 0, 10_000, 'the loss accounted')
    expect(source.stats()).toMatchObject({
      offsetResets: 1,
      recordsLostUpstream: 30,
      recordsSkippedByReset: 0,
      lostByPartition: { [`${topic}/0`]: 30 },
    })
    const warning = logger.warnings.find((w) => w.obj.recordsLostUpstream !== undefined)
    expect(warning?.obj).toMatchObject({ topic, partition: 0, fetchOffset: 30, logStartOffset: 60, resetTo: 60, recordsLostUpstream: 30 })
    expect(warning?.msg).toMatch(new RegExp(`offsets 30\\.\\.59 \\(30 records\\) were deleted upstream`))
    await waitFor(() => source.stats().committed[`${topic}/0`] === 100, 10_000, 'commit at the end')
  }, 90_000)

  test('fromBeginning false: resumes at the log end; the deleted and the skipped retained records are both counted', async () => {
    const admin = await realAdmin(cleanups)
    const { topic, groupId } = await committedBelowLogStart(admin, 'retention-latest')
    const logger = recordingLogger()
    const pipeline = new ControlledPipeline()
    const source = createKafkaSource(realSourceConfig([topic], groupId, { fromBeginning: false }), { logger })
    cleanups.push(() => source.close())
    await source.start()
    await source.run(pipeline.handler)
    await waitFor(() => source.stats().offsetResets === 1 && source.stats().recordsLostUpstream > 0, 30_000, 'the reset accounted')
    expect(source.stats()).toMatchObject({ recordsLostUpstream: 30, recordsSkippedByReset: 40, lostByPartition: { [`${topic}/0`]: 70 } })
    expect(logger.warnings.find((w) => w.obj.recordsLostUpstream !== undefined)?.msg).toMatch(/skipping 40 retained records too/)
    await produce(topic, 100, 1)
    await waitFor(() => pipeline.acked.length >= 1, 30_000, 'the record produced after the reset')
    expect(pipeline.acked.map((r) => r.value.toString())).toEqual(['v100'])
  }, 90_000)
})

test('test broker: DeleteRecords moves the log start as on Kafka; the source resets and counts the loss the same way', async () => {
  const broker = await startKafkaBroker(shortSessions)
  cleanups.push(() => broker.close())
  broker.createTopic('logs', 1)
  const kafka = quietKafka(broker.brokers)
  const admin = kafka.admin()
  await admin.connect()
  cleanups.push(() => admin.disconnect())
  const producer = kafka.producer()
  await producer.connect()
  cleanups.push(() => producer.disconnect())
  // Five batches of 20, so the deletion drops whole batches and cuts one in the middle.
  for (let b = 0; b < 5; b++)
    await producer.send({ topic: 'logs', messages: Array.from({ length: 20 }, (_, i) => ({ value: `v${b * 20 + i}` })) })
  await admin.fetchTopicOffsets('logs')
  await admin.deleteTopicRecords({ topic: 'logs', partitions: [{ partition: 0, offset: '50' }] })
  expect(await admin.fetchTopicOffsets('logs')).toEqual([{ partition: 0, offset: '100', high: '100', low: '50' }])
  expect((await broker.messages('logs', 0)).map((m) => m.offset)).toEqual(Array.from({ length: 50 }, (_, i) => 50 + i))
  await expect(admin.deleteTopicRecords({ topic: 'logs', partitions: [{ partition: 0, offset: '101' }] })).rejects.toThrow(
    /Error while deleting records/,
  )
  await admin.setOffsets({ groupId: 'g', topic: 'logs', partitions: [{ partition: 0, offset: '20' }] })

  const logger = recordingLogger()
  const pipeline = new ControlledPipeline()
  const source = createKafkaSource(sourceConfig(broker, { groupId: 'g', fromBeginning: true }), { logger })
  cleanups.push(() => source.close())
  await source.start()
  await source.run(pipeline.handler)
  await waitFor(() => pipeline.acked.length >= 50 && source.stats().recordsLostUpstream > 0, 10_000, 'records 50..99 and the accounting')
  expect(pipeline.acked.map((r) => r.value.toString())).toEqual(Array.from({ length: 50 }, (_, i) => `v${50 + i}`))
  expect(source.stats()).toMatchObject({ offsetResets: 1, recordsLostUpstream: 30, lostByPartition: { 'logs/0': 30 } })
  expect(logger.warnings.find((w) => w.obj.recordsLostUpstream !== undefined)?.obj).toMatchObject({
    fetchOffset: 20,
    logStartOffset: 50,
    resetTo: 50,
  })
})
