import { CompressionCodecs, CompressionTypes } from 'kafkajs'
import { expect, test } from 'vitest'
import { cleanupAfterEach } from '../../helpers/cleanups.js'
import { createKafkaSource } from '../../../src/sources/kafka/kafka-source.js'
import { ErrorCode, startKafkaBroker, type KafkaTestBroker } from '../../support/kafka-broker/index.js'
import { quietKafka, shortSessions } from '../../support/kafka-broker/test-helpers.js'
import { ControlledPipeline, sourceConfig, waitFor } from './helpers.js'

const cleanups = cleanupAfterEach()

async function broker(): Promise<KafkaTestBroker> {
  const b = await startKafkaBroker(shortSessions)
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
  // Refused at the first join: run() itself fails, so startup does too.
  await expect(source.run(new ControlledPipeline().handler)).rejects.toMatchObject({ code: 'EA_SOURCE_UNAVAILABLE' })
  await expect(source.stopped).rejects.toMatchObject({
    code: 'EA_SOURCE_UNAVAILABLE',
    message: expect.stringMatching(/protocols are incompatible/i),
  })
})

test('a batch that does not decompress stops the source with nothing committed past it', async () => {
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

  // A pass-through "snappy" is registered only while producing, so the consumer meets a
  // snappy-flagged batch whose bytes are not snappy, and the product's codec refuses it.
  const codecs = CompressionCodecs as Record<number, unknown>
  const real = codecs[CompressionTypes.Snappy]
  codecs[CompressionTypes.Snappy] = () => ({ compress: async (e: { buffer: Buffer }) => e.buffer, decompress: async (x: Buffer) => x })
  try {
    await producer.send({ topic: 'logs', compression: CompressionTypes.Snappy, messages: [{ value: 'snappy' }] })
  } finally {
    codecs[CompressionTypes.Snappy] = real
  }
  await expect(source.stopped).rejects.toMatchObject({
    code: 'EA_SOURCE_CORRUPT_BATCH',
    retryable: false,
    message: expect.stringMatching(/snappy: cannot decompress/),
  })
  expect(pipeline.acked.map((r) => r.value.toString())).toEqual(['gzip'])
  expect(b.committedOffsets('envoy-audit-test', 'logs')).toEqual({ 0: 1 })
})
