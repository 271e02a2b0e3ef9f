// The dead-letter topic writer against the real broker in KAFKA_BROKERS (npm run services:up starts one).
import { expect, test } from 'vitest'
import { cleanupAfterEach } from '../helpers/cleanups.js'
import { describeKafka, kafkaBrokers } from '../helpers/real-servers.js'
import { deadLetterFor } from '../../src/pipeline/dead-letter.js'
import type { RawRecord } from '../../src/pipeline/component.js'
import { createKafkaDeadLetterSink, loadKafkaDlqConfig } from '../../src/sinks/kafka-dlq.js'
import { KAFKA_CODECS } from '../../src/sources/kafka/codecs.js'
import { consoleConsume, realAdmin, tempTopic } from '../sources/kafka/real-kafka.js'

const cleanups = cleanupAfterEach()

const record = (value: string, offset: number): RawRecord => ({ value: Buffer.from(value), coords: { kind: 'kafka', topic: 'logs', partition: 0, offset: String(offset) } })

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
})
