import { Kafka, logLevel, type Consumer, type ConsumerConfig, type KafkaConfig } from 'kafkajs'

// Silences kafkajs (including the partitioner warning) and keeps retries short so tests
// that inject faults converge quickly.
export const quietKafka = (brokers: string[], extra: Partial<KafkaConfig> = {}): Kafka =>
  new Kafka({
    clientId: 'broker-test',
    brokers,
    logLevel: logLevel.NOTHING,
    retry: { initialRetryTime: 50, maxRetryTime: 500, retries: 10 },
    ...extra,
  })

/**
 * Broker options for tests whose members use sessions shorter than Kafka's default minimum of
 * 6,000 ms (fastConsumer, the source tests' sourceConfig), so evictions take a second, not six.
 */
export const shortSessions = { groupMinSessionTimeoutMs: 500 } as const

/** Consumer settings that keep rebalances and shutdowns in the sub-second range. */
export const fastConsumer = (groupId: string, extra: Partial<ConsumerConfig> = {}): ConsumerConfig => ({
  groupId,
  sessionTimeout: 3000,
  rebalanceTimeout: 3000,
  heartbeatInterval: 100,
  maxWaitTimeInMs: 100,
  retry: { initialRetryTime: 50, maxRetryTime: 500, retries: 10 },
  ...extra,
})

export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** Tracks the partitions a consumer currently owns, from its GROUP_JOIN events. */
export function trackAssignment(consumer: Consumer, topic: string): { partitions: () => number[]; joins: () => number } {
  let current: number[] = []
  let joins = 0
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    joins += 1
    current = [...(e.payload.memberAssignment[topic] ?? [])].sort((a, b) => a - b)
  })
  return { partitions: () => current, joins: () => joins }
}
