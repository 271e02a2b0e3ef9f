/**
 * Configuration of the Kafka source (`source.kafka` in the run config) and of the Kafka connection
 * shared with the dead-letter topic writer. Validated once at startup and frozen; every option has an
 * explicit default except the brokers and topics. Secrets never appear in the config: SASL passwords
 * and key passphrases are named by environment variable or file, so the config can be logged.
 */
import { loadConfigSection } from '../../config/validate.js'
import { z } from 'zod'

const hostPort = z.string().regex(/^[^\s:]+:\d{1,5}$/, 'broker must be host:port')
export const topicName = z
  .string()
  .min(1)
  .max(249)
  .regex(/^[A-Za-z0-9._-]+$/, 'topic must match [A-Za-z0-9._-]+')
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name')
const ms = (min: number, max: number) => z.number().int().min(min).max(max)

const tlsSchema = z
  .object({
    enabled: z.boolean().default(false),
    /** PEM CA bundle for a private CA; without it the system roots are used. */
    caFile: z.string().min(1).optional(),
    /** PEM client certificate and key, for brokers that authenticate clients by certificate. */
    certFile: z.string().min(1).optional(),
    keyFile: z.string().min(1).optional(),
    /** Environment variable holding the client key's passphrase, if the key is encrypted. */
    keyPassphraseEnv: envName.optional(),
    /** Verification is never turned off by omission. */
    rejectUnauthorized: z.boolean().default(true),
    /** SNI / certificate host name, when it differs from the broker address. */
    servername: z.string().min(1).optional(),
  })
  .strict()
  .refine((t) => (t.certFile === undefined) === (t.keyFile === undefined), {
    message: 'certFile and keyFile go together',
    path: ['certFile'],
  })

const saslSchema = z
  .object({
    mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']),
    username: z.string().min(1).max(1024),
    /** Environment variable holding the password. */
    passwordEnv: envName.optional(),
    /** File holding the password (a mounted Kubernetes secret); one trailing newline is ignored. */
    passwordFile: z.string().min(1).optional(),
  })
  .strict()
  .refine((s) => (s.passwordEnv === undefined) !== (s.passwordFile === undefined), {
    message: 'set exactly one of passwordEnv or passwordFile',
    path: ['passwordEnv'],
  })

const connectionShape = {
  brokers: z.array(hostPort).min(1).max(64),
  clientId: z.string().min(1).max(255).default('envoy-audit'),
  connectionTimeoutMs: ms(100, 120_000).default(3_000),
  requestTimeoutMs: ms(1_000, 300_000).default(30_000),
  /**
   * Longest time start() may take to reach a broker, authenticate and find its topics. Past it the
   * service exits non-zero naming each broker and what it answered (kafkajs alone retries a refused
   * connection for about a minute before it gives up).
   */
  startupTimeoutMs: ms(1_000, 600_000).default(10_000),
  /** kafkajs' own retries of broker requests (metadata, fetch, commit, produce). */
  retry: z
    .object({
      retries: z.number().int().min(0).max(100).default(8),
      initialMs: ms(10, 60_000).default(300),
      maxMs: ms(10, 300_000).default(30_000),
    })
    .strict()
    .default({ retries: 8, initialMs: 300, maxMs: 30_000 }),
  tls: tlsSchema.default({ enabled: false, rejectUnauthorized: true }),
  sasl: saslSchema.optional(),
}

export const kafkaConnectionSchema = z.object(connectionShape).strict()

export const kafkaSourceConfigSchema = z
  .object({
    ...connectionShape,
    topics: z.array(topicName).min(1).max(100),
    groupId: z.string().min(1).max(255).default('envoy-audit'),
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
     * so this budget is what bounds memory when the sink stalls: 5,000 records kept a stalled
     * `run` at ~265 MB RSS where 20,000 reached ~450 MB (test/bench/memory.ts), with no measurable
     * throughput loss (2.5 batches of 2,000 still keep the sink busy).
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
  .refine((c) => c.backoff.maxMs >= c.backoff.initialMs, { message: 'maxMs must be >= initialMs', path: ['backoff', 'maxMs'] })
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

export type KafkaConnectionConfig = Readonly<z.output<typeof kafkaConnectionSchema>>
export type KafkaSourceConfigInput = z.input<typeof kafkaSourceConfigSchema>
export type KafkaSourceConfig = Readonly<z.output<typeof kafkaSourceConfigSchema>>

export function loadKafkaSourceConfig(input: unknown, prefix = 'source.kafka'): KafkaSourceConfig {
  return loadConfigSection(kafkaSourceConfigSchema, input, prefix)
}
