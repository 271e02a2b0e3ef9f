/**
 * Every Kafka client of the project is built here: the source's consumer and its preflight admin, the
 * dead-letter topic writer, the alert output and the demo producer. One function turns the one config
 * vocabulary (kafka-config.ts) into a kafkajs config: it reads CA/cert/key files and secrets (at start
 * time, not build time) and routes kafkajs' own log lines to our logger. TLS is verified unless
 * `tls.rejectUnauthorized: false`. Error messages name the variable or file, never the value.
 */
import { readFile } from 'node:fs/promises'
import { Kafka, logLevel, type KafkaConfig, type LogEntry, type SASLOptions } from 'kafkajs'
import { EnvoyAuditError } from '../errors.js'
import { TLS_DISABLED, type KafkaSaslConfig, type KafkaTlsConfig } from './kafka-config.js'

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
export async function buildKafkaConfig(
  cfg: KafkaClientSettings,
  deps: ClientDeps,
  prefix: string,
  component: string,
): Promise<KafkaConfig> {
  const env = deps.env ?? process.env
  const sasl = await saslOptions(cfg.sasl, env, prefix)
  const config: KafkaConfig = {
    clientId: cfg.clientId,
    brokers: [...cfg.brokers],
    ssl: await tlsOptions(cfg.tls ?? TLS_DISABLED, env, prefix),
    ...(sasl !== undefined ? { sasl } : {}),
    ...(cfg.connectionTimeoutMs !== undefined ? { connectionTimeout: cfg.connectionTimeoutMs } : {}),
    ...(cfg.requestTimeoutMs !== undefined ? { requestTimeout: cfg.requestTimeoutMs } : {}),
    ...(cfg.retry !== undefined
      ? { retry: { retries: cfg.retry.retries, initialRetryTime: cfg.retry.initialMs, maxRetryTime: cfg.retry.maxMs } }
      : {}),
  }
  if (cfg.log === 'off') return { ...config, logLevel: logLevel.NOTHING }
  // WARN, not INFO: kafkajs logs every join and commit at INFO, which is noise at our scale.
  return { ...config, logLevel: logLevel.WARN, logCreator: kafkajsLogCreator(deps.logger ?? silentLogger, component) }
}

/** buildKafkaConfig, then the client. */
export async function createKafkaClient(cfg: KafkaClientSettings, deps: ClientDeps, prefix: string, component: string): Promise<Kafka> {
  return newKafka(await buildKafkaConfig(cfg, deps, prefix, component), deps)
}
