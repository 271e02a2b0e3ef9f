/**
 * Every Kafka client of the project is built here: the source's consumer and its preflight admin, the
 * dead-letter topic writer, the alert output and the demo producer. One config vocabulary (brokers,
 * clientId, tls, sasl, timeouts, retry) is declared once as zod fragments, and one function turns it
 * into a kafkajs config: it reads CA/cert/key files and secrets (at start time, not build time) and
 * routes kafkajs' own log lines to our logger. TLS is verified unless `tls.rejectUnauthorized: false`.
 * Secrets never appear in the config (SASL passwords and key passphrases are named by environment
 * variable or file), and error messages name the variable or file, never the value.
 */
import { readFile } from 'node:fs/promises'
import { Kafka, logLevel, type KafkaConfig, type LogEntry, type SASLOptions } from 'kafkajs'
import { z } from 'zod'
import { EnvoyAuditError } from '../errors.js'

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

/**
 * What one client is built from. A validated KafkaConnectionConfig is one; clients with their own
 * timing options (the alert output, the demo producer) fill in the rest. Unset timeouts keep kafkajs'
 * defaults.
 */
export interface KafkaClientSettings {
  brokers: readonly string[]
  clientId: string
  tls?: KafkaTlsConfig
  sasl?: KafkaSaslConfig | undefined
  connectionTimeoutMs?: number
  requestTimeoutMs?: number
  retry?: { readonly retries: number; readonly initialMs: number; readonly maxMs: number }
  /** 'off' for clients whose failures surface elsewhere (a delivery report, a CLI error); default 'warn'. */
  log?: 'warn' | 'off'
}

/** The subset of a pino logger the Kafka components use. */
export interface KafkaLogger {
  debug(obj: object, msg: string): void
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
  error(obj: object, msg: string): void
}

export const silentLogger: KafkaLogger = { debug() {}, info() {}, warn() {}, error() {} }

export interface ClientDeps {
  env?: NodeJS.ProcessEnv
  logger?: KafkaLogger
  /** Builds the kafkajs client (tests substitute one); default `new Kafka(config)`. */
  kafka?: (config: KafkaConfig) => Kafka
}

/** The one place a kafkajs client is constructed. */
export function newKafka(config: KafkaConfig, deps: Pick<ClientDeps, 'kafka'> = {}): Kafka {
  return (deps.kafka ?? ((k) => new Kafka(k)))(config)
}

async function readConfigFile(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8')
  } catch (err) {
    throw new EnvoyAuditError('EA_CONFIG_INVALID', `${what}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, {
      cause: err,
    })
  }
}

/** The value of a secret's environment variable; EA_CONFIG_INVALID naming the option (`what`) and the variable if unset. */
export function requireEnv(env: NodeJS.ProcessEnv, name: string, what: string): string {
  const value = env[name]
  if (value === undefined || value === '') {
    throw new EnvoyAuditError('EA_CONFIG_INVALID', `${what}: environment variable ${name} is not set`)
  }
  return value
}

async function saslOptions(s: KafkaSaslConfig | undefined, env: NodeJS.ProcessEnv, prefix: string): Promise<SASLOptions | undefined> {
  if (s === undefined) return undefined
  const password =
    s.passwordEnv !== undefined
      ? requireEnv(env, s.passwordEnv, `${prefix}.sasl.passwordEnv`)
      : (await readConfigFile(s.passwordFile!, `${prefix}.sasl.passwordFile`)).replace(/\r?\n$/, '')
  // A fresh object per client: kafkajs caches its authenticator (holding the password) on it.
  return { mechanism: s.mechanism, username: s.username, password } as SASLOptions
}

async function tlsOptions(t: KafkaTlsConfig, env: NodeJS.ProcessEnv, prefix: string): Promise<KafkaConfig['ssl']> {
  if (!t.enabled) return false
  const opts: Record<string, unknown> = { rejectUnauthorized: t.rejectUnauthorized }
  if (t.caFile !== undefined) opts.ca = [await readConfigFile(t.caFile, `${prefix}.tls.caFile`)]
  if (t.certFile !== undefined) opts.cert = await readConfigFile(t.certFile, `${prefix}.tls.certFile`)
  if (t.keyFile !== undefined) opts.key = await readConfigFile(t.keyFile, `${prefix}.tls.keyFile`)
  if (t.keyPassphraseEnv !== undefined) opts.passphrase = requireEnv(env, t.keyPassphraseEnv, `${prefix}.tls.keyPassphraseEnv`)
  if (t.servername !== undefined) opts.servername = t.servername
  return opts
}

const LEVEL_NAMES: Record<number, keyof KafkaLogger> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'debug',
  [logLevel.DEBUG]: 'debug',
}

/**
 * kafkajs logs retries and rebalances at ERROR/WARN; they are forwarded with their message and a few
 * safe fields only (never the whole entry, which can carry request payloads).
 */
export function kafkajsLogCreator(logger: KafkaLogger, component: string): KafkaConfig['logCreator'] {
  return () =>
    ({ namespace, level, log }: LogEntry) => {
      const method = LEVEL_NAMES[level]
      if (method === undefined) return
      const { message, error, broker, groupId, topic, partition, retryCount } = log as Record<string, unknown>
      logger[method]({ component, kafkajs: namespace, error, broker, groupId, topic, partition, retryCount }, String(message))
    }
}

/**
 * The kafkajs config of one client. `prefix` is the option path of its settings (`source.kafka`,
 * `alerting.kafka`), for messages; `component` tags its forwarded log lines.
 */
export async function buildKafkaConfig(cfg: KafkaClientSettings, deps: ClientDeps, prefix: string, component: string): Promise<KafkaConfig> {
  const env = deps.env ?? process.env
  const sasl = await saslOptions(cfg.sasl, env, prefix)
  const config: KafkaConfig = {
    clientId: cfg.clientId,
    brokers: [...cfg.brokers],
    ssl: await tlsOptions(cfg.tls ?? TLS_DISABLED, env, prefix),
    ...(sasl !== undefined ? { sasl } : {}),
    ...(cfg.connectionTimeoutMs !== undefined ? { connectionTimeout: cfg.connectionTimeoutMs } : {}),
    ...(cfg.requestTimeoutMs !== undefined ? { requestTimeout: cfg.requestTimeoutMs } : {}),
    ...(cfg.retry !== undefined ? { retry: { retries: cfg.retry.retries, initialRetryTime: cfg.retry.initialMs, maxRetryTime: cfg.retry.maxMs } } : {}),
  }
  if (cfg.log === 'off') return { ...config, logLevel: logLevel.NOTHING }
  // WARN, not INFO: kafkajs logs every join and commit at INFO, which is noise at our scale.
  return { ...config, logLevel: logLevel.WARN, logCreator: kafkajsLogCreator(deps.logger ?? silentLogger, component) }
}

/** buildKafkaConfig, then the client. */
export async function createKafkaClient(cfg: KafkaClientSettings, deps: ClientDeps, prefix: string, component: string): Promise<Kafka> {
  return newKafka(await buildKafkaConfig(cfg, deps, prefix, component), deps)
}
