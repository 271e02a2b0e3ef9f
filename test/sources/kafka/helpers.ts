import type { BatchHandler, RawRecord } from '../../../src/pipeline/component.js'
import { loadKafkaSourceConfig, type KafkaSourceConfigInput } from '../../../src/sources/kafka/config.js'
import { createKafkaSource, type KafkaSource } from '../../../src/sources/kafka/kafka-source.js'
import type { KafkaTestBroker } from '../../support/kafka-broker/index.js'
import { quietKafka } from '../../support/kafka-broker/test-helpers.js'

export { waitFor } from '../../support/kafka-broker/test-helpers.js'

/** Source settings that keep joins, rebalances, retries and shutdown in the sub-second range. */
export function sourceConfig(broker: KafkaTestBroker, overrides: Partial<KafkaSourceConfigInput> = {}) {
  return loadKafkaSourceConfig({
    brokers: broker.brokers,
    topics: ['logs'],
    groupId: 'envoy-audit-test',
    fromBeginning: true,
    sessionTimeoutMs: 3_000,
    // Below Kafka's default minimum: these tests start their broker with shortSessions.
    brokerSessionTimeoutBounds: { minMs: 500 },
    heartbeatIntervalMs: 100,
    rebalanceTimeoutMs: 3_000,
    maxWaitTimeMs: 100,
    commitIntervalMs: 0,
    connectionTimeoutMs: 1_000,
    retry: { retries: 5, initialMs: 50, maxMs: 500 },
    backoff: { initialMs: 20, maxMs: 200 },
    drainTimeoutMs: 5_000,
    ...overrides,
  })
}

export const offsetOf = (r: RawRecord): number => Number(r.coords.offset)
export const partitionOf = (r: RawRecord): number => r.coords.partition!

export interface Call {
  records: RawRecord[]
  first: number
  partition: number
  settled: boolean
  ack(): void
  fail(err?: Error): void
}

/**
 * A pipeline stand-in whose acknowledgements the test controls. `policy` decides per call whether to
 * ack at once, fail at once, or hold the call until the test settles it.
 */
export class ControlledPipeline {
  calls: Call[] = []
  acked: RawRecord[] = []
  policy: (records: RawRecord[]) => 'ack' | 'hold' | 'fail' = () => 'ack'

  readonly handler: BatchHandler = (records) =>
    new Promise<void>((resolve, reject) => {
      const call: Call = {
        records,
        first: offsetOf(records[0]!),
        partition: partitionOf(records[0]!),
        settled: false,
        ack: () => {
          if (call.settled) return
          call.settled = true
          this.acked.push(...records)
          resolve()
        },
        fail: (err = new Error('sink unavailable')) => {
          if (call.settled) return
          call.settled = true
          reject(err)
        },
      }
      this.calls.push(call)
      const decision = this.policy(records)
      if (decision === 'ack') call.ack()
      else if (decision === 'fail') call.fail()
    })

  held(): Call[] {
    return this.calls.filter((c) => !c.settled)
  }

  /** Distinct "partition/offset" keys acknowledged so far. */
  ackedKeys(): Set<string> {
    return new Set(this.acked.map((r) => `${partitionOf(r)}/${offsetOf(r)}`))
  }
}

/** Produces `n` records per partition: value `${prefix}-${partition}-${i}`, header trace=t${i}. */
export async function produce(broker: KafkaTestBroker, topic: string, perPartition: Record<number, number>, prefix = 'r'): Promise<void> {
  const producer = quietKafka(broker.brokers).producer()
  await producer.connect()
  try {
    for (const [p, n] of Object.entries(perPartition)) {
      const messages = Array.from({ length: n }, (_, i) => ({
        partition: Number(p),
        value: `${prefix}-${p}-${i}`,
        headers: { trace: `t${i}` },
      }))
      await producer.send({ topic, messages })
    }
  } finally {
    await producer.disconnect()
  }
}

export const allKeys = (perPartition: Record<number, number>): Set<string> =>
  new Set(Object.entries(perPartition).flatMap(([p, n]) => Array.from({ length: n }, (_, i) => `${p}/${i}`)))

export function startSource(
  broker: KafkaTestBroker,
  pipeline: ControlledPipeline,
  overrides: Partial<KafkaSourceConfigInput> = {},
): KafkaSource & { begin(): Promise<void> } {
  const source = createKafkaSource(sourceConfig(broker, overrides))
  return Object.assign(source, {
    async begin() {
      await source.start()
      await source.run(pipeline.handler)
    },
  })
}
