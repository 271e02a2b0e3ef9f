// The Kafka source against the real broker in KAFKA_BROKERS (npm run services:up starts one).
import { randomUUID } from 'node:crypto'
import { Kafka, logLevel } from 'kafkajs'
import { expect, test } from 'vitest'
import { describeKafka, kafkaBrokers as brokers } from '../../helpers/real-servers.js'
import { loadKafkaSourceConfig } from '../../../src/sources/kafka/config.js'
import { createKafkaSource } from '../../../src/sources/kafka/kafka-source.js'
import { ControlledPipeline, waitFor } from './helpers.js'


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
      const config = loadKafkaSourceConfig({ brokers, topics: [topic], groupId, fromBeginning: true, commitIntervalMs: 0, maxWaitTimeMs: 200, batchMaxRecords: 7 })
      const pipeline = new ControlledPipeline()
      pipeline.policy = () => 'hold'
      const source = createKafkaSource(config)
      await source.start()
      await source.run(pipeline.handler)
      await waitFor(() => pipeline.calls.reduce((n, c) => n + c.records.length, 0) === 40, 60_000, 'all records delivered')
      for (const c of [...pipeline.calls].reverse()) c.ack()
      await waitFor(async () => {
        const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] })
        return offsets!.partitions.every((p) => p.offset === '20')
      }, 30_000, 'commits')
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
})
