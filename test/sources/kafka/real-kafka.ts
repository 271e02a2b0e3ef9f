/**
 * Helpers for tests against the real broker in KAFKA_BROKERS: a kafkajs admin on unique topics that
 * are deleted afterwards, and Kafka's own console producer and consumer (from the jars
 * `npm run services:up` fetched), a client this project did not write.
 */
import { randomUUID } from 'node:crypto'
import { Kafka, logLevel, type Admin, type ITopicConfig } from 'kafkajs'
import { runKafkaTool, servicesOptions } from '../../services/services.js'
import { kafkaBrokers } from '../../helpers/real-servers.js'
import type { CleanupStack } from '../../helpers/cleanups.js'
import { loadKafkaSourceConfig, type KafkaSourceConfigInput } from '../../../src/sources/kafka/config.js'

export const realKafka = (clientId = 'envoy-audit-it'): Kafka =>
  new Kafka({
    brokers: kafkaBrokers,
    clientId,
    logLevel: logLevel.NOTHING,
    retry: { retries: 8, initialRetryTime: 100, maxRetryTime: 2_000 },
  })

export const uniqueName = (what: string): string => `envoy-audit-it-${what}-${randomUUID().slice(0, 8)}`

/** An admin client closed after the test. */
export async function realAdmin(cleanups: CleanupStack): Promise<Admin> {
  const admin = realKafka().admin()
  await admin.connect()
  cleanups.push(() => admin.disconnect())
  return admin
}

/** Creates a topic (with topic-level configs) that is deleted after the test. */
export async function tempTopic(
  admin: Admin,
  cleanups: CleanupStack,
  what: string,
  partitions = 1,
  configs: Record<string, string> = {},
): Promise<string> {
  const topic = uniqueName(what)
  const spec: ITopicConfig = {
    topic,
    numPartitions: partitions,
    configEntries: Object.entries(configs).map(([name, value]) => ({ name, value })),
  }
  await admin.createTopics({ topics: [spec], waitForLeaders: true })
  cleanups.push(() => admin.deleteTopics({ topics: [topic] }))
  // Until the partition answers ListOffsets, a producer may still be told UNKNOWN_TOPIC_OR_PARTITION.
  for (let i = 0; ; i++) {
    try {
      await admin.fetchTopicOffsets(topic)
      break
    } catch (err) {
      if (i >= 50) throw err
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  return topic
}

const tools = () => servicesOptions(process.env, () => undefined)

/** Kafka's ConsoleProducer: one record per input line (the line's UTF-8 bytes, without the newline). */
export function consoleProduce(topic: string, lines: readonly string[], extraArgs: string[] = []): void {
  runKafkaTool(
    tools(),
    'org.apache.kafka.tools.ConsoleProducer',
    ['--bootstrap-server', kafkaBrokers[0]!, '--topic', topic, ...extraArgs],
    `${lines.join('\n')}\n`,
  )
}

/** Kafka's ConsoleConsumer from the beginning: the values it printed, one per line. */
export function consoleConsume(topic: string, maxMessages: number, extraArgs: string[] = []): string[] {
  const out = runKafkaTool(tools(), 'org.apache.kafka.tools.consumer.ConsoleConsumer', [
    '--bootstrap-server',
    kafkaBrokers[0]!,
    '--topic',
    topic,
    '--from-beginning',
    '--max-messages',
    String(maxMessages),
    '--timeout-ms',
    '20000',
    ...extraArgs,
  ])
  return out.split('\n').slice(0, maxMessages)
}

/** Source settings for the real broker: its default session-timeout bounds, short waits otherwise. */
export function realSourceConfig(topics: string[], groupId: string, overrides: Partial<KafkaSourceConfigInput> = {}) {
  return loadKafkaSourceConfig({
    brokers: kafkaBrokers,
    topics,
    groupId,
    fromBeginning: true,
    sessionTimeoutMs: 10_000,
    heartbeatIntervalMs: 500,
    rebalanceTimeoutMs: 10_000,
    maxWaitTimeMs: 200,
    commitIntervalMs: 0,
    backoff: { initialMs: 20, maxMs: 200 },
    drainTimeoutMs: 5_000,
    ...overrides,
  })
}
