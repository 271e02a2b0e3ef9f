import { describe, expect, test } from 'vitest'
import { CompressionTypes } from 'kafkajs'
import { compress as snappyRaw } from 'snappy'
import { cleanupAfterEach } from '../../helpers/cleanups.js'
import { describeKafka } from '../../helpers/real-servers.js'
import {
  decompressedBatches,
  KAFKA_CODECS,
  registerKafkaCodecs,
  snappyDecode,
  snappyEncode,
  type KafkaCodecName,
} from '../../../src/sources/kafka/codecs.js'
import { createKafkaSource } from '../../../src/sources/kafka/kafka-source.js'
import { startKafkaBroker } from '../../support/kafka-broker/index.js'
import { quietKafka, shortSessions } from '../../support/kafka-broker/test-helpers.js'
import { ControlledPipeline, sourceConfig, waitFor } from './helpers.js'
import { consoleProduce, realAdmin, realSourceConfig, tempTopic } from './real-kafka.js'

const cleanups = cleanupAfterEach()

/** Envoy-like lines with multi-byte UTF-8, long enough that a few thousand span several batches. */
const lines = (n: number, tag: string): string[] =>
  Array.from({ length: n }, (_, i) =>
    JSON.stringify({
      start_time: `2026-01-02T03:04:${String(i % 60).padStart(2, '0')}.000Z`,
      method: 'GET',
      path: `/api/v1/items/${i}`,
      tag,
      note: i % 7 === 0 ? 'prüfung 検査 ✓' : 'x'.repeat(i % 90),
    }),
  )

/** Consumes a topic with the envoy-audit source until `n` records are acknowledged; returns their values in offset order. */
async function consumeWithSource(config: ReturnType<typeof realSourceConfig>, n: number): Promise<Buffer[]> {
  const pipeline = new ControlledPipeline()
  const source = createKafkaSource(config)
  cleanups.push(() => source.close())
  await source.start()
  await source.run(pipeline.handler)
  await waitFor(() => pipeline.acked.length >= n, 60_000, `${n} records`)
  await source.close()
  return pipeline.acked.sort((a, b) => Number(a.coords.offset) - Number(b.coords.offset)).map((r) => Buffer.from(r.value))
}

describe('snappy framing', () => {
  test('decodes xerial framing with several blocks and a repeated header, and a bare raw block', async () => {
    const data = Buffer.from(lines(2_000, 'framing').join('\n'))
    const framed = snappyEncode(data)
    expect(framed.subarray(0, 8)).toEqual(Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]))
    expect(data.length).toBeGreaterThan(3 * 32 * 1024) // more than one 32 KB block
    expect(snappyDecode(framed)).toEqual(data)
    // Two framed streams back to back, as SnappyInputStream accepts.
    expect(snappyDecode(Buffer.concat([framed, snappyEncode(Buffer.from('tail'))]))).toEqual(Buffer.concat([data, Buffer.from('tail')]))
    // librdkafka's form: one raw snappy block, no framing.
    expect(snappyDecode(await snappyRaw(data))).toEqual(data)
  })

  test('a truncated framed batch is an error naming the codec, not garbage', () => {
    const framed = snappyEncode(Buffer.from('x'.repeat(100_000)))
    expect(() => snappyDecode(framed.subarray(0, framed.length - 10))).toThrow(/xerial block .* overruns/)
  })
})

test('test broker: batches compressed by kafkajs with every codec reach the source byte-identical', async () => {
  const broker = await startKafkaBroker({ ...shortSessions, autoCreateTopics: false })
  cleanups.push(() => broker.close())
  const types: Record<KafkaCodecName, CompressionTypes> = {
    none: CompressionTypes.None,
    gzip: CompressionTypes.GZIP,
    snappy: CompressionTypes.Snappy,
    lz4: CompressionTypes.LZ4,
    zstd: CompressionTypes.ZSTD,
  }
  broker.createTopic('logs', 1)
  registerKafkaCodecs() // the producer compresses before any source exists
  const producer = quietKafka(broker.brokers).producer()
  await producer.connect()
  cleanups.push(() => producer.disconnect())
  const sent: string[] = []
  for (const codec of KAFKA_CODECS) {
    const batch = lines(300, codec)
    sent.push(...batch)
    await producer.send({ topic: 'logs', compression: types[codec], messages: batch.map((value) => ({ value })) })
  }
  const before = decompressedBatches()
  const pipeline = new ControlledPipeline()
  const source = createKafkaSource(sourceConfig(broker, { groupId: 'codecs' }))
  cleanups.push(() => source.close())
  await source.start()
  await source.run(pipeline.handler)
  await waitFor(() => pipeline.acked.length >= sent.length, 20_000, 'every record')
  expect(pipeline.acked.map((r) => r.value.toString())).toEqual(sent)
  const after = decompressedBatches()
  for (const codec of ['gzip', 'snappy', 'lz4', 'zstd'] as const) expect(after[codec] - before[codec], codec).toBeGreaterThan(0)
  expect(broker.protocolErrors()).toEqual([])
})

describeKafka("codecs from Kafka's own Java producer", () => {
  for (const codec of KAFKA_CODECS) {
    test(`${codec}: every record the console producer sent arrives byte-identical`, async () => {
      const admin = await realAdmin(cleanups)
      const topic = await tempTopic(admin, cleanups, `codec-${codec}`)
      const sent = lines(3_000, codec)
      consoleProduce(topic, sent, ['--compression-codec', codec, '--producer-property', 'linger.ms=20'])
      const before = decompressedBatches()
      const got = await consumeWithSource(realSourceConfig([topic], `${topic}-g`), sent.length)
      expect(got).toEqual(sent.map((l) => Buffer.from(l, 'utf8')))
      const after = decompressedBatches()
      // Several batches, each decoded by this codec (and by no other): the producer did compress.
      for (const other of ['gzip', 'snappy', 'lz4', 'zstd'] as const) {
        if (other === codec) expect(after[other] - before[other], other).toBeGreaterThan(1)
        else expect(after[other] - before[other], other).toBe(0)
      }
    }, 90_000)
  }

  test('a topic with compression.type=zstd stores zstd whatever the producer sent; records arrive byte-identical', async () => {
    const admin = await realAdmin(cleanups)
    const topic = await tempTopic(admin, cleanups, 'codec-topic-zstd', 1, { 'compression.type': 'zstd' })
    const sent = lines(3_000, 'topic-zstd')
    consoleProduce(topic, sent, ['--producer-property', 'compression.type=none', '--producer-property', 'linger.ms=20'])
    const before = decompressedBatches()
    const got = await consumeWithSource(realSourceConfig([topic], `${topic}-g`), sent.length)
    expect(got).toEqual(sent.map((l) => Buffer.from(l, 'utf8')))
    expect(decompressedBatches().zstd - before.zstd).toBeGreaterThan(1)
  }, 90_000)
})
