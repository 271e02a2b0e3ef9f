// The Kafka source against the real broker in KAFKA_BROKERS (npm run services:up starts one).
import { randomUUID } from 'node:crypto'
import { Kafka, logLevel } from 'kafkajs'
import { expect, test } from 'vitest'
import { describeKafka, kafkaBrokers as brokers } from '../../helpers/real-servers.js'
import { loadKafkaSourceConfig } from '../../../src/sources/kafka/config.js'
import { createKafkaSource } from '../../../src/sources/kafka/kafka-source.js'
import { cleanupAfterEach } from '../../helpers/cleanups.js'
import type { RawRecord } from '../../../src/pipeline/component.js'
import { ControlledPipeline, waitFor } from './helpers.js'
import { realAdmin, realKafka, realSourceConfig, tempTopic } from './real-kafka.js'

const cleanups = cleanupAfterEach()
const keyOf = (r: RawRecord): string => `${r.coords.partition}/${r.coords.offset}`

describeKafka('Kafka source', () => {
  test('real broker: consume, ack out of order, commit, resume after restart', async () => {
    const topic = `envoy-audit-it-${randomUUID()}`
    const groupId = `${topic}-group`
    const kafka = new Kafka({ brokers, clientId: 'envoy-audit-it', logLevel: logLevel.NOTHING })
    const admin = kafka.admin()
    await admin.connect()
    const producer = kafka.producer()
    try {
      await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true })
      await producer.connect()
      await producer.send({ topic, messages: Array.from({ length: 40 }, (_, i) => ({ partition: i % 2, value: `v${i}` })) })
      const config = loadKafkaSourceConfig({
        brokers,
        topics: [topic],
        groupId,
        fromBeginning: true,
        commitIntervalMs: 0,
        maxWaitTimeMs: 200,
        batchMaxRecords: 7,
      })
      const pipeline = new ControlledPipeline()
      pipeline.policy = () => 'hold'
      const source = createKafkaSource(config)
      await source.start()
      await source.run(pipeline.handler)
      await waitFor(() => pipeline.calls.reduce((n, c) => n + c.records.length, 0) === 40, 60_000, 'all records delivered')
      for (const c of [...pipeline.calls].reverse()) c.ack()
      await waitFor(
        async () => {
          const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] })
          return offsets!.partitions.every((p) => p.offset === '20')
        },
        30_000,
        'commits',
      )
      await source.close()

      await producer.send({ topic, messages: [{ partition: 0, value: 'after-restart' }] })
      const again = new ControlledPipeline()
      const restarted = createKafkaSource(config)
      await restarted.start()
      await restarted.run(again.handler)
      await waitFor(() => again.acked.length === 1, 60_000, 'resumed record')
      expect(again.acked[0]!.value.toString()).toBe('after-restart')
      await restarted.close()
    } finally {
      await producer.disconnect()
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined)
      await admin.disconnect()
    }
  }, 120_000)

  test('real broker, default session bounds: two members split the partitions, nothing lost, only unacknowledged records replayed, no commit past an unacknowledged record', async () => {
    const admin = await realAdmin(cleanups)
    const topic = await tempTopic(admin, cleanups, 'rebalance', 4)
    const groupId = `${topic}-g`
    const producer = realKafka().producer()
    await producer.connect()
    cleanups.push(() => producer.disconnect())
    const produceRound = (round: string) =>
      producer.send({ topic, messages: Array.from({ length: 200 }, (_, i) => ({ partition: i % 4, value: `${round}-${i}` })) })
    await produceRound('a')

    // Member A acks everything except its first delivery from partition 0, which it holds.
    const a = new ControlledPipeline()
    let heldOne = false
    a.policy = (records) => {
      if (records[0]!.coords.partition !== 0 || heldOne) return 'ack'
      heldOne = true
      return 'hold'
    }
    const config = realSourceConfig([topic], groupId, { sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 10_000, batchMaxRecords: 20 })
    const sourceA = createKafkaSource(config)
    cleanups.push(() => sourceA.close())
    await sourceA.start()
    await sourceA.run(a.handler)
    await waitFor(() => [1, 2, 3].every((p) => sourceA.stats().committed[`${topic}/${p}`] === 50), 30_000, 'partitions 1-3 committed by A')
    const held = a.held()
    expect(held).toHaveLength(1)
    expect(held[0]!.partition).toBe(0)
    const heldKeys = new Set(held[0]!.records.map(keyOf))
    // Partition 0 is delivered past the held chunk and acked, yet nothing of it is committed.
    await waitFor(() => a.acked.some((r) => r.coords.partition === 0), 30_000, 'later partition-0 records acked by A')
    await new Promise((r) => setTimeout(r, 1_000))
    const committedBefore = await admin.fetchOffsets({ groupId, topics: [topic] })
    expect(committedBefore[0]!.partitions.find((p) => p.partition === 0)!.offset).toBe('-1')

    // Member B joins: the group rebalances to two partitions each.
    const b = new ControlledPipeline()
    const sourceB = createKafkaSource(config)
    cleanups.push(() => sourceB.close())
    await sourceB.start()
    await sourceB.run(b.handler)
    await waitFor(() => sourceA.stats().assigned.length === 2 && sourceB.stats().assigned.length === 2, 60_000, 'two partitions each')
    expect([...sourceA.stats().assigned, ...sourceB.stats().assigned].sort()).toEqual([0, 1, 2, 3].map((p) => `${topic}/${p}`))
    // The held chunk is acknowledged only now, after the rebalance: it must not move any commit.
    held[0]!.ack()
    await produceRound('b')

    const all = new Set(Array.from({ length: 4 }, (_, p) => Array.from({ length: 100 }, (_, o) => `${p}/${o}`)).flat())
    const acked = () => [...a.acked, ...b.acked]
    await waitFor(() => new Set(acked().map(keyOf)).size === all.size, 60_000, 'every record acked by one member or the other')
    await waitFor(
      async () => {
        const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] })
        return offsets!.partitions.every((p) => p.offset === '100')
      },
      30_000,
      'everything committed',
    )
    expect(new Set(acked().map(keyOf))).toEqual(all)
    // At-least-once: only what was unacknowledged when partition 0 moved (or was restarted) is seen twice.
    const counts = new Map<string, number>()
    for (const k of acked().map(keyOf)) counts.set(k, (counts.get(k) ?? 0) + 1)
    const twice = [...counts].filter(([, n]) => n > 1).map(([k]) => k)
    for (const k of twice) expect(k.startsWith('0/'), `replayed ${k}`).toBe(true)
    for (const k of heldKeys) expect(counts.get(k), `held ${k} delivered again`).toBe(2)
    expect(Math.max(...counts.values())).toBeLessThanOrEqual(2)
    expect(a.acked.length).toBeGreaterThan(0)
    expect(b.acked.length).toBeGreaterThan(0)
  }, 180_000)
})
