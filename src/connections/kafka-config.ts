/**
 * The one Kafka config vocabulary (brokers, clientId, tls, sasl, timeouts, retry) as zod fragments,
 * for every Kafka client's section: `source.kafka` (and the dead-letter topic on its cluster),
 * `alerting.kafka`. Secrets never appear in the config: SASL passwords and key passphrases are named
 * by environment variable or file, so the config can be logged. No kafkajs here: reading a config
 * does not load the client library (kafka.ts builds the clients).
 */
import { z } from 'zod'

export const brokerAddress = z.string().regex(/^[^\s:]+:\d{1,5}$/, 'broker must be host:port')
export const topicName = z
  .string()
  .min(1)
  .max(249)
  .regex(/^[A-Za-z0-9._-]+$/, 'topic must match [A-Za-z0-9._-]+')
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name')
const ms = (min: number, max: number) => z.number().int().min(min).max(max)

export const kafkaTlsSchema = z
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

export const TLS_DISABLED = { enabled: false, rejectUnauthorized: true } as const

export const kafkaSaslSchema = z
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

/** Where the brokers are and how to reach them securely: the part every Kafka client shares. */
export const kafkaAccessShape = {
  brokers: z.array(brokerAddress).min(1).max(64),
  tls: kafkaTlsSchema.default(TLS_DISABLED),
  sasl: kafkaSaslSchema.optional(),
}

/** The connection of a long-lived client (the source, the dead-letter writer): access plus timeouts and retries. */
export const kafkaConnectionShape = {
  brokers: kafkaAccessShape.brokers,
  clientId: z.string().min(1).max(255).default('envoy-audit'),
  connectionTimeoutMs: ms(100, 120_000).default(3_000),
  requestTimeoutMs: ms(1_000, 300_000).default(30_000),
  /**
   * Longest time start() may take to reach a broker, authenticate and find its topics. Past it the
   * component fails naming each broker and what it answered (kafkajs alone retries a refused
   * connection for about a minute before it gives up): kafka-startup.ts.
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
  tls: kafkaAccessShape.tls,
  sasl: kafkaAccessShape.sasl,
}

export const kafkaConnectionSchema = z.object(kafkaConnectionShape).strict()

export type KafkaTlsConfig = Readonly<z.output<typeof kafkaTlsSchema>>
export type KafkaSaslConfig = Readonly<z.output<typeof kafkaSaslSchema>>
export type KafkaConnectionConfig = Readonly<z.output<typeof kafkaConnectionSchema>>
