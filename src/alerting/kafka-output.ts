/**
 * Kafka alert output: one message per alert on the alert topic, keyed by the dedupe key so duplicates
 * land on the same partition (a compacted topic or a consumer can then drop them), with acks=-1 by
 * default. kafkajs retries retriable broker errors itself, with its own capped backoff.
 */
import { readFileSync } from 'node:fs'
import { Kafka, logLevel, type Producer, type SASLOptions } from 'kafkajs'
import { EnvoyAuditError } from '../errors.js'
import type { KafkaAlertConfig } from './config.js'
import type { AlertOutput, DeliveryReport } from './output.js'
import type { Alert } from './select.js'

export interface KafkaOutputOptions {
  env?: NodeJS.ProcessEnv
}

function saslFrom(cfg: KafkaAlertConfig, env: NodeJS.ProcessEnv): SASLOptions | undefined {
  if (cfg.sasl === undefined) return undefined
  const password = env[cfg.sasl.passwordEnv]
  if (password === undefined || password === '') {
    throw new EnvoyAuditError('EA_CONFIG_INVALID', `alerting.kafka.sasl.passwordEnv: environment variable ${cfg.sasl.passwordEnv} is not set`)
  }
  return { mechanism: cfg.sasl.mechanism, username: cfg.sasl.username, password } as SASLOptions
}

export class KafkaAlertOutput implements AlertOutput {
  readonly name = 'kafka'
  private readonly producer: Producer
  private started = false
  private closed = false

  constructor(
    private readonly cfg: KafkaAlertConfig,
    opts: KafkaOutputOptions = {},
  ) {
    const sasl = saslFrom(cfg, opts.env ?? process.env)
    const ssl = cfg.ssl.enabled
      ? { rejectUnauthorized: cfg.ssl.rejectUnauthorized, ...(cfg.ssl.caFile !== undefined ? { ca: [readFileSync(cfg.ssl.caFile, 'utf8')] } : {}) }
      : false
    const kafka = new Kafka({
      clientId: cfg.clientId,
      brokers: [...cfg.brokers],
      ssl,
      ...(sasl !== undefined ? { sasl } : {}),
      connectionTimeout: Math.min(cfg.timeoutMs, 10_000),
      requestTimeout: cfg.timeoutMs,
      // Failures surface through DeliveryReport and the sink's warn(), once per batch, not per retry.
      logLevel: logLevel.NOTHING,
      retry: { retries: Math.max(0, cfg.maxAttempts - 1), initialRetryTime: 200, maxRetryTime: 10_000 },
    })
    this.producer = kafka.producer({ allowAutoTopicCreation: false })
  }

  async start(): Promise<void> {
    if (this.started || this.closed) return
    try {
      await this.producer.connect()
      this.started = true
    } catch (err) {
      throw new EnvoyAuditError('EA_SOURCE_UNAVAILABLE', `alert topic brokers unreachable: ${(err as Error).message}`, { cause: err })
    }
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    if (this.started) await this.producer.disconnect()
  }

  async send(alerts: readonly Alert[]): Promise<DeliveryReport> {
    const report: DeliveryReport = { delivered: 0, failed: 0, attempts: 0, lastError: undefined }
    if (alerts.length === 0) return report
    if (!this.started || this.closed) {
      return { ...report, failed: alerts.length, lastError: this.closed ? 'closed' : 'not started' }
    }
    report.attempts++
    try {
      await this.producer.send({
        topic: this.cfg.topic,
        acks: this.cfg.acks,
        timeout: this.cfg.timeoutMs,
        messages: alerts.map((a) => ({
          key: a.dedupe_key,
          value: JSON.stringify(a),
          headers: { 'dedupe-key': a.dedupe_key, 'finding-code': a.finding.code, severity: a.finding.severity },
        })),
      })
      report.delivered = alerts.length
    } catch (err) {
      report.failed = alerts.length
      report.lastError = (err as Error).message
    }
    return report
  }
}
