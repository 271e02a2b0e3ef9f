// Child process for the crash test: runs the Kafka source with a file sink that appends each
// record's coordinates (synchronously, before acknowledging) and a Kafka dead-letter topic.
//   node --import tsx crash-consumer.ts '<json: { brokers, sinkFile }>'
import { appendFileSync } from 'node:fs'
import { deadLetterFor } from '../../../src/pipeline/dead-letter.js'
import type { BatchHandler } from '../../../src/pipeline/component.js'
import { createKafkaDeadLetterSink, loadKafkaDlqConfig } from '../../../src/sinks/kafka-dlq.js'
import { loadKafkaSourceConfig } from '../../../src/sources/kafka/config.js'
import { createKafkaSource } from '../../../src/sources/kafka/kafka-source.js'

const { brokers, sinkFile } = JSON.parse(process.argv[2]!) as { brokers: string[]; sinkFile: string }
const retry = { retries: 5, initialMs: 50, maxMs: 500 }
const dlq = createKafkaDeadLetterSink(loadKafkaDlqConfig({ brokers, topic: 'crash-dlq', retry }))
const source = createKafkaSource(
  loadKafkaSourceConfig({
    brokers,
    topics: ['crash'],
    groupId: 'crash-group',
    fromBeginning: true,
    sessionTimeoutMs: 1_500,
    brokerSessionTimeoutBounds: { minMs: 500 }, // crash.test.ts starts its broker with shortSessions
    heartbeatIntervalMs: 100,
    rebalanceTimeoutMs: 3_000,
    maxWaitTimeMs: 100,
    commitIntervalMs: 50,
    batchMaxRecords: 50,
    retry,
  }),
)

const handler: BatchHandler = async (records) => {
  const bad = records.filter((r) => r.value.toString().startsWith('bad'))
  const good = records.filter((r) => !bad.includes(r))
  if (good.length > 0) appendFileSync(sinkFile, good.map((r) => `${r.coords.partition}/${r.coords.offset}\n`).join(''))
  if (bad.length > 0) await dlq.write(bad.map((r) => deadLetterFor(r, 'EA_PARSE_NOT_ACCESS_LOG', 'bad', 'parse')))
  // A little sink latency so the kill lands with batches in flight.
  await new Promise((r) => setTimeout(r, 5))
}

await dlq.start()
await source.start()
await source.run(handler)
process.stdout.write('running\n')
const stop = async (): Promise<void> => {
  await source.close()
  await dlq.close()
  process.exit(0)
}
process.once('SIGTERM', () => void stop())
