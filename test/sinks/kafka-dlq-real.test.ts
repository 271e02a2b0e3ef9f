// The dead-letter topic writer against the real broker in KAFKA_BROKERS (npm run services:up starts one).
import { createHash, randomBytes } from 'node:crypto'
import { expect, test } from 'vitest'
import { cleanupAfterEach } from '../helpers/cleanups.js'
import { describeKafka, kafkaBrokers } from '../helpers/real-servers.js'
import { deadLetterFor } from '../../src/pipeline/dead-letter.js'
import type { RawRecord } from '../../src/pipeline/component.js'
import { createKafkaDeadLetterSink, loadKafkaDlqConfig } from '../../src/sinks/kafka-dlq.js'
import { KAFKA_CODECS } from '../../src/sources/kafka/codecs.js'
import { consoleConsume, realAdmin, realKafka, tempTopic } from '../sources/kafka/real-kafka.js'

const cleanups = cleanupAfterEach()

const record = (value: string, offset: number): RawRecord => ({
  value: Buffer.from(value),
  coords: { kind: 'kafka', topic: 'logs', partition: 0, offset: String(offset) },
})

async function dlqSink(topic: string, extra: Record<string, unknown> = {}) {
  const sink = createKafkaDeadLetterSink(loadKafkaDlqConfig({ brokers: kafkaBrokers, topic, ...extra }))
  cleanups.push(() => sink.close())
  await sink.start()
  return sink
}

describeKafka('Kafka dead-letter topic', () => {
  for (const codec of KAFKA_CODECS) {
    test(`compression ${codec}: Kafka's Java console consumer reads every dead letter back unchanged`, async () => {
      const admin = await realAdmin(cleanups)
      const topic = await tempTopic(admin, cleanups, `dlq-${codec}`)
      const sink = await dlqSink(topic, { compression: codec })
      const values = Array.from({ length: 500 }, (_, i) => `{"bad":${i},"pad":"${'p'.repeat(i % 200)}","u":"é✓"`)
      await sink.write(values.map((v, i) => deadLetterFor(record(v, i), 'EA_PARSE_INVALID_JSON', 'truncated', 'parse')))
      expect(consoleConsume(topic, values.length)).toEqual(values)
    }, 60_000)
  }

  // Random hex does not compress, so the sizes below are what the broker sees.
  const bulky = (n: number, bytes: number) => Array.from({ length: n }, (_, i) => `${i}:${randomBytes(bytes / 2).toString('hex')}`)

  async function readAll(topic: string, n: number) {
    const consumer = realKafka().consumer({ groupId: `${topic}-reader`, maxBytesPerPartition: 10_485_760 })
    cleanups.push(() => consumer.disconnect())
    const got: { value: Buffer; headers: Record<string, string>; key: string | undefined; partition: number }[] = []
    await consumer.connect()
    await consumer.subscribe({ topic, fromBeginning: true })
    await consumer.run({
      eachMessage: async ({ message, partition }) => {
        got.push({
          value: message.value!,
          headers: Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)])),
          key: message.key?.toString(),
          partition,
        })
      },
    })
    const deadline = Date.now() + 30_000
    while (got.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    return got
  }

  test('a bad line dead-lettered again after a crash (the same offset replayed) or re-sent at a new offset: the same key, on the same partition', async () => {
    const admin = await realAdmin(cleanups)
    const topic = await tempTopic(admin, cleanups, 'dlq-replay', 4)
    const sink = await dlqSink(topic, { compression: 'none' })
    const { createParser } = await import('../../src/parse/index.js')
    const bad = (i: number) => `2021-03-16T09:29:2${i}.896837Z info sds SDS: PUSH resource=default ${i}`
    const batch = (offsets: number[]) => createParser().parseBatch(offsets.map((o, i) => record(bad(i), o))).deadLetters
    await sink.write(batch([10, 11, 12]))
    // The member was killed before it committed: the replay dead-letters the same lines again.
    await sink.write(batch([10, 11, 12]))
    // A forwarder retry put the same lines at new offsets.
    await sink.write(batch([50, 51, 52]))
    const got = await readAll(topic, 9)
    expect(got).toHaveLength(9)
    const byKey = new Map<string, Set<string>>()
    for (const m of got) {
      const where = byKey.get(m.key!) ?? new Set<string>()
      where.add(`${m.partition}`)
      byKey.set(m.key!, where)
    }
    // Three bad lines, three keys, each on one partition: a consumer (or compaction) keeps one copy of each.
    expect(byKey.size).toBe(3)
    for (const where of byKey.values()) expect(where.size).toBe(1)
    expect([...byKey.keys()].sort()).toEqual(
      batch([0, 1, 2])
        .map((d) => d.id)
        .sort(),
    )
  }, 60_000)

  test('a topic with max.message.bytes=20000: a write larger than that is cut into requests the broker accepts, in order', async () => {
    const admin = await realAdmin(cleanups)
    const topic = await tempTopic(admin, cleanups, 'dlq-small', 1, { 'max.message.bytes': '20000' })
    const values = bulky(200, 500) // ~100 KB in one write, to the topic's one partition
    const letters = values.map((v, i) => deadLetterFor(record(v, i), 'EA_PARSE_NOT_ACCESS_LOG', 'x', 'parse'))
    // What the broker does to one request over the limit: the old writer's single send.
    const oversized = await dlqSink(topic, { compression: 'none', maxBatchBytes: 1_000_000 })
    await expect(oversized.write(letters)).rejects.toMatchObject({
      code: 'EA_DLQ_UNAVAILABLE',
      message: expect.stringMatching(
        /refused a request of up to 1000000 bytes as too large \(MESSAGE_TOO_LARGE\): set deadLetter\.maxBatchBytes at or below the topic's max\.message\.bytes/,
      ),
    })
    const sink = await dlqSink(topic, { compression: 'none', maxBatchBytes: 20_000 })
    await sink.write(letters)
    expect(sink.written).toBe(200)
    expect(sink.truncated).toBe(0)
    expect((await readAll(topic, 200)).map((m) => m.value.toString())).toEqual(values)
  }, 60_000)

  test('a single dead letter larger than the limit is truncated, marked, and keeps its original length and SHA-256', async () => {
    const admin = await realAdmin(cleanups)
    const topic = await tempTopic(admin, cleanups, 'dlq-huge', 1, { 'max.message.bytes': '20000' })
    const [huge] = bulky(1, 50_000)
    for (const format of ['raw', 'json'] as const) {
      const sink = await dlqSink(topic, { compression: 'none', maxBatchBytes: 20_000, format })
      await sink.write([deadLetterFor(record(huge!, 7), 'EA_PARSE_TOO_LONG', 'too long', 'parse')])
      expect(sink.truncated).toBe(1)
    }
    const [raw, json] = await readAll(topic, 2)
    const marks = {
      'envoy-audit.truncated': 'true',
      'envoy-audit.original-length': String(huge!.length),
      'envoy-audit.original-sha256': createHash('sha256').update(huge!).digest('hex'),
    }
    expect(raw!.headers).toMatchObject({ ...marks, 'envoy-audit.source.offset': '7' })
    expect(raw!.value.length).toBeLessThan(20_000)
    expect(huge!.startsWith(raw!.value.toString())).toBe(true)
    expect(json!.headers).toMatchObject(marks)
    const doc = JSON.parse(json!.value.toString()) as { raw: string; reason: string }
    expect(doc.reason).toBe('EA_PARSE_TOO_LONG')
    expect(huge!.startsWith(doc.raw)).toBe(true)
    expect(doc.raw.length).toBeGreaterThan(10_000)
  }, 60_000)

  test('a dead-letter topic that does not exist fails start() with EA_CONFIG_INVALID naming it (never auto-created)', async () => {
    const admin = await realAdmin(cleanups)
    const topic = `envoy-audit-missing-dlq-${randomBytes(4).toString('hex')}`
    const sink = createKafkaDeadLetterSink(loadKafkaDlqConfig({ brokers: kafkaBrokers, topic }))
    cleanups.push(() => sink.close())
    await expect(sink.start()).rejects.toMatchObject({
      code: 'EA_CONFIG_INVALID',
      retryable: false,
      message: expect.stringContaining(topic),
    })
    expect(await admin.listTopics()).not.toContain(topic)
  }, 60_000)
})
