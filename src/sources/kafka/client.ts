/**
 * Turns a validated Kafka connection config into a kafkajs client config: reads CA/cert/key files and
 * secrets (at start time, not build time), and routes kafkajs' own log lines to our logger. Secrets
 * are read into the kafkajs config only; error messages name the variable or file, never the value.
 */
import { readFile } from 'node:fs/promises'
import { logLevel, type KafkaConfig, type LogEntry, type SASLOptions } from 'kafkajs'
import { EnvoyAuditError } from '../../errors.js'
import type { KafkaConnectionConfig } from './config.js'

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

function fromEnv(env: NodeJS.ProcessEnv, name: string, what: string): string {
  const value = env[name]
  if (value === undefined || value === '') {
    throw new EnvoyAuditError('EA_CONFIG_INVALID', `${what}: environment variable ${name} is not set`)
  }
  return value
}

async function saslOptions(cfg: KafkaConnectionConfig, env: NodeJS.ProcessEnv, prefix: string): Promise<SASLOptions | undefined> {
  const s = cfg.sasl
  if (s === undefined) return undefined
  const password =
    s.passwordEnv !== undefined
      ? fromEnv(env, s.passwordEnv, `${prefix}.sasl.passwordEnv`)
      : (await readConfigFile(s.passwordFile!, `${prefix}.sasl.passwordFile`)).replace(/\r?\n$/, '')
  // A fresh object per client: kafkajs caches its authenticator (holding the password) on it.
  return { mechanism: s.mechanism, username: s.username, password } as SASLOptions
}

async function tlsOptions(cfg: KafkaConnectionConfig, env: NodeJS.ProcessEnv, prefix: string): Promise<KafkaConfig['ssl']> {
  const t = cfg.tls
  if (!t.enabled) return false
  const opts: Record<string, unknown> = { rejectUnauthorized: t.rejectUnauthorized }
  if (t.caFile !== undefined) opts.ca = [await readConfigFile(t.caFile, `${prefix}.tls.caFile`)]
  if (t.certFile !== undefined) opts.cert = await readConfigFile(t.certFile, `${prefix}.tls.certFile`)
  if (t.keyFile !== undefined) opts.key = await readConfigFile(t.keyFile, `${prefix}.tls.keyFile`)
  if (t.keyPassphraseEnv !== undefined) opts.passphrase = fromEnv(env, t.keyPassphraseEnv, `${prefix}.tls.keyPassphraseEnv`)
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

export async function buildKafkaConfig(cfg: KafkaConnectionConfig, deps: ClientDeps, prefix: string, component: string): Promise<KafkaConfig> {
  const env = deps.env ?? process.env
  const sasl = await saslOptions(cfg, env, prefix)
  return {
    clientId: cfg.clientId,
    brokers: [...cfg.brokers],
    ssl: await tlsOptions(cfg, env, prefix),
    ...(sasl !== undefined ? { sasl } : {}),
    connectionTimeout: cfg.connectionTimeoutMs,
    requestTimeout: cfg.requestTimeoutMs,
    // WARN, not INFO: kafkajs logs every join and commit at INFO, which is noise at our scale.
    logLevel: logLevel.WARN,
    logCreator: kafkajsLogCreator(deps.logger ?? silentLogger, component),
    retry: { retries: cfg.retry.retries, initialRetryTime: cfg.retry.initialMs, maxRetryTime: cfg.retry.maxMs },
  }
}
