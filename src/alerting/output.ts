/** The contract every alert output (webhook, Kafka topic) meets. */
import type { Lifecycle } from '../pipeline/component.js'
import type { Alert } from './select.js'

export interface DeliveryReport {
  delivered: number
  /** Alerts given up on after the output's own retries (or refused permanently). */
  failed: number
  attempts: number
  /** Last failure, for a log line; never carries credentials. */
  lastError: string | undefined
}

export interface AlertOutput extends Lifecycle {
  readonly name: string
  /** Delivers the alerts with the output's own retries; resolves with a report and never rejects. */
  send(alerts: readonly Alert[]): Promise<DeliveryReport>
}
