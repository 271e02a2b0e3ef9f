/**
 * Kafka alert output: one message per alert on the alert topic, keyed by the dedupe key so duplicates
 * land on the same partition (a compacted topic or a consumer can then drop them), with acks=-1 by
 * default. kafkajs retries retriable broker errors itself, with its own capped backoff.
 */
import type { Producer } from 'kafkajs'
import { createKafkaClient, requireEnv } from '../connections/kafka.js'
import { EnvoyAuditError } from '../errors.js'
import type { KafkaAlertConfig } from './config.js'
import type { AlertOutput, DeliveryReport } from './output.js'
import type { Alert } from './select.js'

export interface KafkaOutputOptions {
  env?: NodeJS.ProcessEnv
}

export class KafkaAlertOutput implements AlertOutput {
  readonly name = 'kafka'
  private producer: Producer | undefined
  private started = false
  private closed = false
  private readonly env: NodeJS.ProcessEnv

  constructor(
    private readonly cfg: KafkaAlertConfig,
    opts: KafkaOutputOptions = {},
  ) {
    this.env = opts.env ?? process.env
    // As the webhook's token: an unset password variable fails when the service is built, not at the first alert.
    if (cfg.sasl?.passwordEnv !== undefined) requireEnv(this.env, cfg.sasl.passwordEnv, 'alerting.kafka.sasl.passwordEnv')
  }

  async start(): Promise<void> {
    if (this.started || this.closed) return
    const { brokers, clientId, tls, sasl, timeoutMs, maxAttempts } = this.cfg
    // Files and secrets are read here; a missing one is a config error (EA_CONFIG_INVALID naming the option), not an outage.
    const kafka = await createKafkaClient(
      {
        brokers,
        clientId,
        tls,
        sasl,
        connectionTimeoutMs: Math.min(timeoutMs, 10_000),
        requestTimeoutMs: timeoutMs,
        retry: { retries: Math.max(0, maxAttempts - 1), initialMs: 200, maxMs: 10_000 },
        // Failures surface through DeliveryReport and the sink's warn(), once per batch, not per retry.
        log: 'off',
      },
      { env: this.env },
      'alerting.kafka',
      'kafka-alerts',
    )
    this.producer = kafka.producer({ allowAutoTopicCreation: false })
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
    if (this.started) await this.producer?.disconnect()
  }

  async send(alerts: readonly Alert[]): Promise<DeliveryReport> {
    const report: DeliveryReport = { delivered: 0, failed: 0, attempts: 0, lastError: undefined }
    if (alerts.length === 0) return report
    if (!this.started || this.closed || this.producer === undefined) {
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
