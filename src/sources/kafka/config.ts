/**
 * Configuration of the Kafka source (`source.kafka` in the run config): the Kafka connection
 * (src/connections/kafka-config.ts, shared with the dead-letter topic writer) plus the consumer's options.
 * Validated once at startup and frozen; every option has an explicit default except the brokers and
 * topics. Secrets never appear in the config: SASL passwords and key passphrases are named by
 * environment variable or file, so the config can be logged.
 */
import { loadConfigSection } from '../../config/validate.js'
import { z } from 'zod'
import { kafkaConnectionShape, topicName } from '../../connections/kafka-config.js'
import { clusterName } from '../../parse/config.js'

const ms = (min: number, max: number) => z.number().int().min(min).max(max)

export const kafkaSourceConfigSchema = z
  .object({
    ...kafkaConnectionShape,
    topics: z.array(topicName).min(1).max(100),
    /**
     * The cluster each topic's records come from (orchestrator.cluster.name), for one topic per cluster:
     * `{ mesh-east: east, mesh-west: west }`. A cluster the log envelope names wins over it.
     */
    clusters: z.record(topicName, clusterName).optional(),
    groupId: z.string().min(1).max(255).default('envoy-audit'),
    /**
     * What a record holds: `raw` one access-log line (or its collector envelope); `otlp_proto` / `otlp_json`
     * one OTLP logs export request, as the OpenTelemetry Collector's Kafka exporter writes it, whose log
     * records each become an event or a dead letter (src/sources/otlp/kafka-envelope.ts).
     */
    encoding: z.enum(['raw', 'otlp_proto', 'otlp_json']).default('raw'),
    /** Where a group with no committed offset starts: the oldest record, or only new ones. */
    fromBeginning: z.boolean().default(false),
    /** Must lie within brokerSessionTimeoutBounds: the broker refuses the join otherwise. */
    sessionTimeoutMs: ms(1_000, 1_800_000).default(30_000),
    /**
     * The brokers' group.min.session.timeout.ms and group.max.session.timeout.ms. Kafka's defaults;
     * declare your cluster's values only if it is configured otherwise.
     */
    brokerSessionTimeoutBounds: z
      .object({
        minMs: ms(1, 1_800_000).default(6_000),
        maxMs: ms(1, 3_600_000).default(1_800_000),
      })
      .strict()
      .default({ minMs: 6_000, maxMs: 1_800_000 }),
    heartbeatIntervalMs: ms(50, 60_000).default(3_000),
    /** How long the group waits for members to rejoin; also bounds how long a revoke may take. */
    rebalanceTimeoutMs: ms(1_000, 1_800_000).default(60_000),
    /**
     * Topic metadata is refreshed at least this often (Kafka's metadata.max.age.ms default): partitions
     * added to a topic while the group runs are picked up within it, and read from their start.
     */
    metadataMaxAgeMs: ms(1_000, 3_600_000).default(300_000),
    /** Longest a fetch waits for data; also the latency of stop() and of resuming paused partitions. */
    maxWaitTimeMs: ms(10, 30_000).default(1_000),
    minBytes: z.number().int().min(1).max(10_485_760).default(1),
    maxBytes: z.number().int().min(1_024).max(1_073_741_824).default(10_485_760),
    maxBytesPerPartition: z.number().int().min(1_024).max(104_857_600).default(1_048_576),
    /** Most records handed to the pipeline in one call. */
    batchMaxRecords: z.number().int().min(1).max(100_000).default(2_000),
    /**
     * Records and bytes delivered but not yet acknowledged; beyond either, partitions are paused.
     * Each unacknowledged record also holds its parsed event and bulk document (~10x the raw line),
     * so this budget is what bounds memory when the sink stalls. The default keeps a stalled `run`
     * within the memory target without costing throughput (2.5 batches of 2,000 still keep the sink
     * busy; the `memory` bench, docs/performance.md).
     */
    inFlight: z
      .object({
        maxRecords: z.number().int().min(1).max(10_000_000).default(5_000),
        maxBytes: z.number().int().min(1_024).max(4_294_967_296).default(16_777_216),
      })
      .strict()
      .default({ maxRecords: 5_000, maxBytes: 16_777_216 }),
    /** Capped, jittered backoff for re-delivering a batch whose acknowledgement failed and for resuming. */
    backoff: z
      .object({
        initialMs: ms(1, 60_000).default(200),
        maxMs: ms(1, 600_000).default(30_000),
      })
      .strict()
      .default({ initialMs: 200, maxMs: 30_000 }),
    /**
     * Capped, jittered backoff for restarting a consumer that kafkajs stopped for good on an error that
     * passes once the brokers are back (no broker named a group coordinator, connections refused):
     * the source rejoins the group itself, without limit on the number of attempts, and /readyz says
     * it is down meanwhile. The attempt count starts again at each successful join.
     */
    restart: z
      .object({
        initialMs: ms(1, 60_000).default(1_000),
        maxMs: ms(1, 600_000).default(30_000),
      })
      .strict()
      .default({ initialMs: 1_000, maxMs: 30_000 }),
    /** Acknowledged offsets are committed at most this often (0: after every acknowledgement). */
    commitIntervalMs: ms(0, 60_000).default(1_000),
    /** How long close() waits for in-flight batches to be acknowledged before committing and leaving. */
    drainTimeoutMs: ms(0, 600_000).default(30_000),
  })
  .strict()
  .refine((c) => c.heartbeatIntervalMs < c.sessionTimeoutMs, {
    message: 'heartbeatIntervalMs must be below sessionTimeoutMs',
    path: ['heartbeatIntervalMs'],
  })
  .superRefine((c, ctx) => {
    for (const topic of Object.keys(c.clusters ?? {}))
      if (!c.topics.includes(topic)) ctx.addIssue({ code: 'custom', path: ['clusters', topic], message: `${topic} is not one of topics` })
  })
  .refine((c) => c.backoff.maxMs >= c.backoff.initialMs, { message: 'maxMs must be >= initialMs', path: ['backoff', 'maxMs'] })
  .refine((c) => c.restart.maxMs >= c.restart.initialMs, { message: 'maxMs must be >= initialMs', path: ['restart', 'maxMs'] })
  .refine((c) => c.brokerSessionTimeoutBounds.maxMs >= c.brokerSessionTimeoutBounds.minMs, {
    message: 'maxMs must be >= minMs',
    path: ['brokerSessionTimeoutBounds', 'maxMs'],
  })
  .superRefine((c, ctx) => {
    const { minMs, maxMs } = c.brokerSessionTimeoutBounds
    const declared = (which: string): string =>
      minMs === 6_000 && maxMs === 1_800_000 ? "Kafka's default" : `declared in brokerSessionTimeoutBounds.${which}`
    if (c.sessionTimeoutMs < minMs) {
      ctx.addIssue({
        code: 'custom',
        path: ['sessionTimeoutMs'],
        message: `${c.sessionTimeoutMs} is below the brokers' group.min.session.timeout.ms (${minMs}, ${declared('minMs')}): the broker would refuse the join`,
      })
    } else if (c.sessionTimeoutMs > maxMs) {
      ctx.addIssue({
        code: 'custom',
        path: ['sessionTimeoutMs'],
        message: `${c.sessionTimeoutMs} is above the brokers' group.max.session.timeout.ms (${maxMs}, ${declared('maxMs')}): the broker would refuse the join`,
      })
    }
  })

export type KafkaSourceConfigInput = z.input<typeof kafkaSourceConfigSchema>
export type KafkaSourceConfig = Readonly<z.output<typeof kafkaSourceConfigSchema>>

export function loadKafkaSourceConfig(input: unknown, prefix = 'source.kafka'): KafkaSourceConfig {
  return loadConfigSection(kafkaSourceConfigSchema, input, prefix)
}
