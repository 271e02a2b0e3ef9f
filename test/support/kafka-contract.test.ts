/**
 * Contract between the project's test Kafka broker (test/support/kafka-broker) and real Apache Kafka
 * (KAFKA_BROKERS): the same requests, through kafkajs as the product sends them, to both; the answers
 * are normalised (names, timings, ids) and must agree. A difference found here is a test-broker bug
 * (or a limit it must refuse clearly), never a reason to loosen the product.
 */
import { randomUUID } from 'node:crypto'
import { CompressionTypes, Kafka, logLevel, type Admin } from 'kafkajs'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { describeKafka, kafkaBrokers } from '../helpers/real-servers.js'
import { KAFKA_CODECS, registerKafkaCodecs, type KafkaCodecName } from '../../src/sources/kafka/codecs.js'
import { startKafkaBroker, type KafkaTestBroker } from './kafka-broker/index.js'

interface Side {
  name: 'fake' | 'real'
  kafka: Kafka
  admin: Admin
  topics: string[]
}

let fake: KafkaTestBroker
const sides: Side[] = []

const kafkaFor = (brokers: string[]): Kafka =>
  new Kafka({
    brokers,
    clientId: 'contract',
    logLevel: logLevel.NOTHING,
    retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 1_000 },
  })

async function side(name: Side['name'], brokers: string[]): Promise<Side> {
  const kafka = kafkaFor(brokers)
  const admin = kafka.admin()
  await admin.connect()
  return { name, kafka, admin, topics: [] }
}

/** A fresh topic on one side (created through CreateTopics, so configs go the same way on both). */
async function topicOn(s: Side, partitions = 1, configs: Record<string, string> = {}): Promise<string> {
  const topic = `contract-${randomUUID().slice(0, 8)}`
  await s.admin.createTopics({
    topics: [{ topic, numPartitions: partitions, configEntries: Object.entries(configs).map(([name, value]) => ({ name, value })) }],
    waitForLeaders: true,
  })
  s.topics.push(topic)
  for (let i = 0; i < 50; i++) {
    try {
      await s.admin.fetchTopicOffsets(topic)
      break
    } catch {
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  return topic
}

/** Runs the same scenario on both sides; returns [fake, real]. */
async function both<T>(scenario: (s: Side) => Promise<T>): Promise<[T, T]> {
  return [await scenario(sides[0]!), await scenario(sides[1]!)]
}

const byPartition = <T extends { partition: number }>(xs: T[]): T[] => [...xs].sort((a, b) => a.partition - b.partition)

/** The kafkajs error a call ends with, reduced to what both sides must agree on. */
async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p
    return 'no error'
  } catch (err) {
    const e = err as { name?: string; type?: string; cause?: { type?: string }; partitions?: { error?: { type?: string } }[] }
    return { name: e.name, type: e.type ?? e.cause?.type ?? e.partitions?.[0]?.error?.type }
  }
}

describeKafka('contract: test broker vs real Kafka', () => {
  beforeAll(async () => {
    registerKafkaCodecs()
    fake = await startKafkaBroker()
    sides.push(await side('fake', fake.brokers), await side('real', kafkaBrokers))
  })
  afterAll(async () => {
    for (const s of sides) {
      if (s.topics.length > 0) await s.admin.deleteTopics({ topics: s.topics }).catch(() => undefined)
      await s.admin.disconnect()
    }
    await fake?.close()
  })

  test('topic metadata: partitions, leaders, replicas and in-sync replicas of one node', async () => {
    const [f, r] = await both(async (s) => {
      const topic = await topicOn(s, 3)
      const meta = await s.admin.fetchTopicMetadata({ topics: [topic] })
      return meta.topics.map((t) =>
        t.partitions
          .map((p) => ({
            partitionId: p.partitionId,
            errorCode: p.partitionErrorCode,
            hasLeader: p.leader >= 0,
            replicas: p.replicas.length,
            isr: p.isr.length,
          }))
          .sort((a, b) => a.partitionId - b.partitionId),
      )
    })
    expect(f).toEqual(r)
  })

  test('CreateTopics: an existing topic and an invalid partition count', async () => {
    const [f, r] = await both(async (s) => {
      const topic = await topicOn(s)
      return {
        again: await s.admin.createTopics({ topics: [{ topic }] }),
        zero: await failure(s.admin.createTopics({ topics: [{ topic: `${topic}-z`, numPartitions: 0 }] })),
      }
    })
    expect(f).toEqual(r)
  })

  test('produce and ListOffsets: base offsets, earliest/latest, by timestamp', async () => {
    const [f, r] = await both(async (s) => {
      const topic = await topicOn(s, 2)
      const producer = s.kafka.producer()
      await producer.connect()
      const t0 = Date.now()
      const first = await producer.send({
        topic,
        messages: [0, 1, 0].map((partition, i) => ({ partition, value: `m${i}`, timestamp: String(t0 + i) })),
      })
      const second = await producer.send({ topic, messages: [{ partition: 0, value: 'm3', timestamp: String(t0 + 100) }] })
      await producer.disconnect()
      return {
        baseOffsets: [...first, ...second].map((x) => [x.partition, x.baseOffset, x.errorCode]).sort(),
        // Partition order within a response is not part of the contract.
        offsets: byPartition(await s.admin.fetchTopicOffsets(topic)),
        byTimestamp: byPartition(await s.admin.fetchTopicOffsetsByTimestamp(topic, t0 + 50)),
      }
    })
    expect(f).toEqual(r)
  })

  test('fetch of batches compressed with every codec: the same records at the same offsets', async () => {
    const types: Record<KafkaCodecName, CompressionTypes> = {
      none: CompressionTypes.None,
      gzip: CompressionTypes.GZIP,
      snappy: CompressionTypes.Snappy,
      lz4: CompressionTypes.LZ4,
      zstd: CompressionTypes.ZSTD,
    }
    const [f, r] = await both(async (s) => {
      const topic = await topicOn(s)
      const producer = s.kafka.producer()
      await producer.connect()
      for (const codec of KAFKA_CODECS) {
        await producer.send({
          topic,
          compression: types[codec],
          messages: Array.from({ length: 20 }, (_, i) => ({ key: `k${i}`, value: `${codec}-${i}`, headers: { h: codec } })),
        })
      }
      await producer.disconnect()
      const seen: string[] = []
      const consumer = s.kafka.consumer({ groupId: `${topic}-g`, sessionTimeout: 10_000, maxWaitTimeInMs: 100 })
      await consumer.connect()
      await consumer.subscribe({ topic, fromBeginning: true })
      await consumer.run({
        eachMessage: async ({ message }) => void seen.push(`${message.offset}:${message.key}:${message.value}:${message.headers?.h}`),
      })
      const deadline = Date.now() + 20_000
      while (seen.length < 100 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50))
      await consumer.disconnect()
      return seen
    })
    expect(f).toHaveLength(100)
    expect(f).toEqual(r)
  })

  test('OffsetCommit/OffsetFetch: admin setOffsets, fetchOffsets of a group and of an unknown one', async () => {
    const [f, r] = await both(async (s) => {
      const topic = await topicOn(s, 2)
      const groupId = `${topic}-g`
      const before = await s.admin.fetchOffsets({ groupId, topics: [topic] })
      await s.admin.setOffsets({ groupId, topic, partitions: [{ partition: 1, offset: '0' }] })
      const after = await s.admin.fetchOffsets({ groupId, topics: [topic] })
      const shape = (x: typeof before) => x.map((t) => ({ topic: t.topic === topic, partitions: byPartition(t.partitions) }))
      return { before: shape(before), after: shape(after) }
    })
    expect(f).toEqual(r)
  })

  /** DescribeGroups answers an error code per group; kafkajs passes it on but its types leave it out. */
  const errorCodeOf = (group: object): unknown => (group as { errorCode?: number }).errorCode

  test('DescribeGroups: an unknown group, and a stable one-member consumer group', async () => {
    const [f, r] = await both(async (s) => {
      const topic = await topicOn(s, 2)
      const groupId = `${topic}-g`
      const unknown = await s.admin.describeGroups([`${groupId}-none`])
      const consumer = s.kafka.consumer({ groupId, sessionTimeout: 10_000, maxWaitTimeInMs: 100 })
      let joined = false
      consumer.on(consumer.events.GROUP_JOIN, () => (joined = true))
      await consumer.connect()
      await consumer.subscribe({ topic })
      await consumer.run({ eachMessage: async () => undefined })
      const deadline = Date.now() + 20_000
      while (!joined && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50))
      const described = await s.admin.describeGroups([groupId])
      await consumer.disconnect()
      const g = described.groups[0]!
      const afterLeave = (await s.admin.describeGroups([groupId])).groups[0]!
      return {
        unknown: unknown.groups.map((x) => ({
          errorCode: errorCodeOf(x),
          state: x.state,
          protocolType: x.protocolType,
          members: x.members.length,
        })),
        stable: {
          errorCode: errorCodeOf(g),
          state: g.state,
          protocolType: g.protocolType,
          protocol: g.protocol,
          members: g.members.map((m) => ({
            clientId: m.clientId,
            host: m.clientHost,
            hasMetadata: m.memberMetadata.length > 0,
            hasAssignment: m.memberAssignment.length > 0,
          })),
        },
        afterLeave: { state: afterLeave.state, members: afterLeave.members.length },
      }
    })
    expect(f).toEqual(r)
  })

  test('JoinGroup with a session timeout outside the default bounds: INVALID_SESSION_TIMEOUT', async () => {
    const [f, r] = await both(async (s) => {
      const topic = await topicOn(s)
      const consumer = s.kafka.consumer({ groupId: `${topic}-g`, sessionTimeout: 3_000, heartbeatInterval: 300, retry: { retries: 0 } })
      let crash: unknown
      consumer.on(consumer.events.CRASH, (e) => (crash = { restart: e.payload.restart, type: (e.payload.error as { type?: string }).type }))
      await consumer.connect()
      await consumer.subscribe({ topic })
      await consumer.run({ eachMessage: async () => undefined })
      await consumer.disconnect()
      return crash
    })
    expect(r).toEqual({ restart: false, type: 'INVALID_SESSION_TIMEOUT' })
    expect(f).toEqual(r)
  })

  test("a batch over the topic's max.message.bytes: MESSAGE_TOO_LARGE, nothing written", async () => {
    const [f, r] = await both(async (s) => {
      const topic = await topicOn(s, 1, { 'max.message.bytes': '20000' })
      const producer = s.kafka.producer({ retry: { retries: 0 } })
      await producer.connect()
      const big = await failure(
        producer.send({ topic, messages: Array.from({ length: 50 }, (_, i) => ({ value: `${i}:${randomUUID().repeat(15)}` })) }),
      )
      const small = await producer.send({ topic, messages: [{ value: 'fits' }] })
      await producer.disconnect()
      return { big, small: small.map((x) => [x.errorCode, x.baseOffset]), offsets: await s.admin.fetchTopicOffsets(topic) }
    })
    expect(f).toEqual(r)
  })

  test('DeleteRecords: the log start moves, beyond the end is refused', async () => {
    const [f, r] = await both(async (s) => {
      const topic = await topicOn(s)
      const producer = s.kafka.producer()
      await producer.connect()
      for (let b = 0; b < 4; b++) await producer.send({ topic, messages: Array.from({ length: 5 }, (_, i) => ({ value: `${b}-${i}` })) })
      await producer.disconnect()
      await s.admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '7' }] })
      const beyond = await failure(s.admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '21' }] }))
      return { offsets: await s.admin.fetchTopicOffsets(topic), beyond }
    })
    expect(f).toEqual(r)
  })

  test('CreatePartitions: growing works, shrinking is INVALID_PARTITIONS', async () => {
    const [f, r] = await both(async (s) => {
      const topic = await topicOn(s, 2)
      await s.admin.createPartitions({ topicPartitions: [{ topic, count: 3 }] })
      const shrink = await failure(s.admin.createPartitions({ topicPartitions: [{ topic, count: 2 }] }))
      return { shrink, partitions: (await s.admin.fetchTopicOffsets(topic)).map((o) => o.partition).sort() }
    })
    expect(f).toEqual(r)
  })

  test('a producer that may not create topics, on an unknown topic: UNKNOWN_TOPIC_OR_PARTITION, nothing created', async () => {
    const [f, r] = await both(async (s) => {
      const topic = `contract-missing-${randomUUID().slice(0, 8)}`
      s.topics.push(topic)
      const producer = s.kafka.producer({ allowAutoTopicCreation: false, retry: { retries: 1, initialRetryTime: 100 } })
      await producer.connect()
      const sent = await failure(producer.send({ topic, messages: [{ value: 'x' }] }))
      await producer.disconnect()
      return { sent, exists: (await s.admin.listTopics()).includes(topic) }
    })
    expect(r).toMatchObject({ exists: false })
    expect(f).toEqual(r)
  })
})
