// The scale-out procedure of docs/production.md on the real broker: partitions added to the topic
// while the group runs are picked up (metadata refresh, then a rebalance) and read from their start,
// so records written to them before the group noticed them are not skipped.
import { expect, test } from 'vitest'
import { cleanupAfterEach } from '../../helpers/cleanups.js'
import { describeKafka } from '../../helpers/real-servers.js'
import type { RawRecord } from '../../../src/pipeline/component.js'
import { createKafkaSource } from '../../../src/sources/kafka/kafka-source.js'
import { startKafkaBroker } from '../../support/kafka-broker/index.js'
import { quietKafka, shortSessions } from '../../support/kafka-broker/test-helpers.js'
import { ControlledPipeline, sourceConfig, waitFor } from './helpers.js'
import { realAdmin, realKafka, realSourceConfig, tempTopic } from './real-kafka.js'

const cleanups = cleanupAfterEach()
const keyOf = (r: RawRecord): string => `${r.coords.partition}/${r.coords.offset}`

describeKafka('scale-out: CreatePartitions while the group runs', () => {
  for (const fromBeginning of [true, false]) {
    test(`fromBeginning ${fromBeginning}: new partitions are picked up and every record written to them is consumed`, async () => {
      const admin = await realAdmin(cleanups)
      const topic = await tempTopic(admin, cleanups, 'scale', 2)
      // A fresh producer per round, records spread by key: right after CreatePartitions, kafkajs 2.2.4
      // producers were seen to drop or misplace records sent to explicit partitions (no error raised).
      const send = async (n: number, round: string) => {
        const producer = realKafka().producer({ idempotent: true, maxInFlightRequests: 1 })
        await producer.connect()
        await producer.send({ topic, messages: Array.from({ length: n }, (_, i) => ({ key: `${round}-${i}`, value: `${round}-${i}` })) })
        await producer.disconnect()
      }
      const allKeys = async () =>
        new Set(
          (await admin.fetchTopicOffsets(topic)).flatMap((o) => Array.from({ length: Number(o.high) }, (_, i) => `${o.partition}/${i}`)),
        )

      // The group starts with offsets committed at 0, as a group that has been running would have.
      await admin.setOffsets({ groupId: `${topic}-g`, topic, partitions: [0, 1].map((partition) => ({ partition, offset: '0' })) })
      const pipeline = new ControlledPipeline()
      const metadataMaxAgeMs = 2_000
      const source = createKafkaSource(realSourceConfig([topic], `${topic}-g`, { fromBeginning, metadataMaxAgeMs }))
      cleanups.push(() => source.close())
      await source.start()
      await source.run(pipeline.handler)
      await waitFor(() => source.stats().assigned.length === 2, 30_000, 'two partitions assigned')
      await send(50, 'before')
      await waitFor(() => pipeline.acked.length === 50, 30_000, 'records of the first two partitions')

      const resized = Date.now()
      await admin.createPartitions({ topicPartitions: [{ topic, count: 4 }] })
      await waitFor(
        async () => {
          const meta = await admin.fetchTopicMetadata({ topics: [topic] })
          return meta.topics[0]!.partitions.filter((p) => p.leader >= 0).length === 4
        },
        10_000,
        'leaders for the new partitions',
      )
      // Written at once, before the group can know of the new partitions.
      await send(200, 'after')
      const produced = await allKeys()
      expect(produced.size).toBe(250)
      const inNew = [...produced].filter((k) => k.startsWith('2/') || k.startsWith('3/')).length
      expect(inNew).toBeGreaterThan(50) // about half of the 200 land on the new partitions
      await waitFor(() => source.stats().assigned.length === 4, 60_000, 'the new partitions assigned')
      const pickedUpMs = Date.now() - resized
      await waitFor(() => pipeline.acked.length >= 250, 30_000, 'every record, the new partitions included')
      expect(new Set(pipeline.acked.map(keyOf))).toEqual(produced)
      expect(pipeline.acked).toHaveLength(250)
      expect(pickedUpMs).toBeLessThan(metadataMaxAgeMs + 20_000)
      const highs = Object.fromEntries((await admin.fetchTopicOffsets(topic)).map((o) => [`${topic}/${o.partition}`, Number(o.high)]))
      await waitFor(
        () => Object.entries(highs).every(([k, h]) => h === 0 || source.stats().committed[k] === h),
        10_000,
        'commits at the end of every partition',
      )
    }, 120_000)
  }
})

test('test broker: CreatePartitions as on Kafka; the running source picks the new partitions up and reads them from their start', async () => {
  const broker = await startKafkaBroker(shortSessions)
  cleanups.push(() => broker.close())
  broker.createTopic('logs', 2)
  const admin = quietKafka(broker.brokers).admin()
  await admin.connect()
  cleanups.push(() => admin.disconnect())
  await admin.setOffsets({ groupId: 'g', topic: 'logs', partitions: [0, 1].map((partition) => ({ partition, offset: '0' })) })
  const pipeline = new ControlledPipeline()
  const source = createKafkaSource(sourceConfig(broker, { groupId: 'g', fromBeginning: false, metadataMaxAgeMs: 1_000 }))
  cleanups.push(() => source.close())
  await source.start()
  await source.run(pipeline.handler)
  await waitFor(() => source.stats().assigned.length === 2, 10_000, 'two partitions')
  await expect(admin.createPartitions({ topicPartitions: [{ topic: 'logs', count: 2 }] })).rejects.toThrow(
    /higher than the requested 2|INVALID_PARTITIONS|partitions/i,
  )
  await admin.createPartitions({ topicPartitions: [{ topic: 'logs', count: 4 }] })
  const producer = quietKafka(broker.brokers).producer()
  await producer.connect()
  cleanups.push(() => producer.disconnect())
  await producer.send({
    topic: 'logs',
    messages: [2, 3].flatMap((partition) => Array.from({ length: 5 }, (_, i) => ({ partition, value: `${partition}-${i}` }))),
  })
  await waitFor(() => pipeline.acked.length === 10, 15_000, 'records of the new partitions')
  expect(source.stats().assigned).toHaveLength(4)
  expect(pipeline.acked.map((r) => r.value.toString()).sort()).toEqual(
    [2, 3].flatMap((p) => Array.from({ length: 5 }, (_, i) => `${p}-${i}`)),
  )
})
