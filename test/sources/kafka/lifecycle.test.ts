import { CompressionCodecs, CompressionTypes } from 'kafkajs'
import { expect, test } from 'vitest'
import { cleanupAfterEach } from '../../helpers/cleanups.js'
import { createKafkaSource } from '../../../src/sources/kafka/kafka-source.js'
import { ErrorCode, startKafkaBroker, type KafkaTestBroker } from '../../support/kafka-broker/index.js'
import { quietKafka } from '../../support/kafka-broker/test-helpers.js'
import { ControlledPipeline, sourceConfig, waitFor } from './helpers.js'

const cleanups = cleanupAfterEach()

async function broker(): Promise<KafkaTestBroker> {
  const b = await startKafkaBroker()
  cleanups.push(() => b.close())
  b.createTopic('logs', 1)
  return b
}

test('close() is idempotent and safe before start(); run() before start() is refused', async () => {
  const b = await broker()
  const source = createKafkaSource(sourceConfig(b))
  await expect(source.run(async () => undefined)).rejects.toMatchObject({ code: 'EA_SOURCE_UNAVAILABLE' })
  await source.close()
  await source.close()
  await expect(source.stopped).resolves.toBeUndefined()
  await source.start() // after close: a no-op, opens nothing
  expect(b.requestCounts().ApiVersions ?? 0).toBe(0)
})

test('a non-retriable consumer failure rejects `stopped` instead of failing silently', async () => {
  const b = await broker()
  b.faults.failNext('JoinGroup', ErrorCode.INCONSISTENT_GROUP_PROTOCOL, 1)
  const source = createKafkaSource(sourceConfig(b))
  cleanups.push(() => source.close())
  await source.start()
  await source.run(new ControlledPipeline().handler)
  await expect(source.stopped).rejects.toMatchObject({ code: 'EA_SOURCE_UNAVAILABLE', message: expect.stringMatching(/protocols are incompatible/i) })
})

test('a batch in a codec kafkajs lacks (snappy, lz4, zstd) stops the source with nothing committed past it', async () => {
  const b = await broker()
  const producer = quietKafka(b.brokers).producer()
  await producer.connect()
  cleanups.push(() => producer.disconnect())
  const pipeline = new ControlledPipeline()
  const source = createKafkaSource(sourceConfig(b))
  cleanups.push(() => source.close())
  await source.start()
  await source.run(pipeline.handler)
  await producer.send({ topic: 'logs', compression: CompressionTypes.GZIP, messages: [{ value: 'gzip' }] })
  await waitFor(() => b.committedOffsets('envoy-audit-test', 'logs')[0] === 1, 5_000, 'the gzip record committed')

  // A pass-through "snappy" is registered only while producing, so the consumer meets a real
  // snappy-flagged batch and kafkajs' own "not implemented" codec.
  const codecs = CompressionCodecs as Record<number, unknown>
  const notImplemented = codecs[CompressionTypes.Snappy]
  codecs[CompressionTypes.Snappy] = () => ({ compress: async (e: { buffer: Buffer }) => e.buffer, decompress: async (x: Buffer) => x })
  try {
    await producer.send({ topic: 'logs', compression: CompressionTypes.Snappy, messages: [{ value: 'snappy' }] })
  } finally {
    codecs[CompressionTypes.Snappy] = notImplemented
  }
  await expect(source.stopped).rejects.toMatchObject({ code: 'EA_SOURCE_UNAVAILABLE', message: expect.stringMatching(/snappy/i) })
  expect(pipeline.acked.map((r) => r.value.toString())).toEqual(['gzip'])
  expect(b.committedOffsets('envoy-audit-test', 'logs')).toEqual({ 0: 1 })
})
