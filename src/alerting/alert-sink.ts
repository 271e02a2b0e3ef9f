/**
 * The alert path as a pipeline Sink: write() selects alerts (pure, select.ts), queues them and returns
 * at once; a single drain loop delivers them to every output. Alerts never push back on ingestion: a
 * webhook outage must not stall the audit record, which the events and findings indices already hold.
 * The queue is bounded; on overflow the oldest alerts are dropped and counted.
 */
import type { AuditEvent } from '../generated/types.js'
import type { Sink, SinkWriteResult } from '../pipeline/component.js'
import { loadAlertingConfig, type AlertingConfig } from './config.js'
import { KafkaAlertOutput } from './kafka-output.js'
import type { AlertOutput } from './output.js'
import { emptyAlertState, selectAlerts, type Alert, type AlertState } from './select.js'
import { WebhookOutput } from './webhook.js'

export interface AlertSinkStats {
  findings: number
  selected: number
  belowSeverity: number
  notSelectedCode: number
  duplicate: number
  rateLimited: number
  evicted: number
  queueDropped: number
  /** Per output name. */
  delivered: Record<string, number>
  failed: Record<string, number>
  lastError: Record<string, string>
}

export interface AlertSinkOptions {
  /** Wall clock, injectable for tests. */
  now?: () => number
  /** Warnings (delivery failures); the message never holds credentials. */
  warn?: (msg: string) => void
  env?: NodeJS.ProcessEnv
}

const DRAIN_CHUNK = 200

export class AlertSink implements Sink {
  readonly name = 'alerts'
  private state: AlertState = emptyAlertState()
  private queue: Alert[] = []
  private draining: Promise<void> | undefined
  private closing = false
  private closed = false
  private readonly now: () => number
  private readonly warn: (msg: string) => void
  readonly stats: AlertSinkStats = {
    findings: 0,
    selected: 0,
    belowSeverity: 0,
    notSelectedCode: 0,
    duplicate: 0,
    rateLimited: 0,
    evicted: 0,
    queueDropped: 0,
    delivered: {},
    failed: {},
    lastError: {},
  }

  constructor(
    private readonly config: AlertingConfig,
    private readonly outputs: readonly AlertOutput[],
    opts: AlertSinkOptions = {},
  ) {
    this.now = opts.now ?? Date.now
    this.warn = opts.warn ?? (() => {})
    for (const o of outputs) {
      this.stats.delivered[o.name] = 0
      this.stats.failed[o.name] = 0
    }
  }

  async start(): Promise<void> {
    await Promise.all(this.outputs.map((o) => o.start()))
  }

  async write(events: AuditEvent[]): Promise<SinkWriteResult> {
    if (this.closing || events.length === 0) return { rejected: [] }
    const r = selectAlerts(events, this.state, this.now(), this.config)
    this.state = r.state
    const s = this.stats
    s.findings += r.stats.findings
    s.belowSeverity += r.stats.belowSeverity
    s.notSelectedCode += r.stats.notSelectedCode
    s.duplicate += r.stats.duplicate
    s.rateLimited += r.stats.rateLimited
    s.evicted += r.stats.evicted
    s.selected += r.alerts.length
    if (r.alerts.length > 0) {
      this.queue.push(...r.alerts)
      // Start draining first: drain() takes its first chunk synchronously, so the bound applies to
      // what waits, not to what is already being delivered.
      this.draining ??= this.drain().finally(() => {
        this.draining = undefined
      })
      const over = this.queue.length - this.config.maxQueued
      if (over > 0) {
        this.queue.splice(0, over)
        s.queueDropped += over
      }
    }
    return { rejected: [] }
  }

  /** Alerts waiting for delivery. */
  pending(): number {
    return this.queue.length
  }

  /** Resolves when the queue is empty (or immediately if nothing is being delivered). */
  async flush(): Promise<void> {
    while (this.draining !== undefined) await this.draining
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const chunk = this.queue.splice(0, DRAIN_CHUNK)
      await Promise.all(
        this.outputs.map(async (o) => {
          const rep = await o.send(chunk)
          this.stats.delivered[o.name] = (this.stats.delivered[o.name] ?? 0) + rep.delivered
          if (rep.failed > 0) {
            this.stats.failed[o.name] = (this.stats.failed[o.name] ?? 0) + rep.failed
            if (rep.lastError !== undefined) this.stats.lastError[o.name] = rep.lastError
            this.warn(`alert output ${o.name}: ${rep.failed} alert(s) not delivered: ${rep.lastError ?? 'unknown error'}`)
          }
        }),
      )
    }
  }

  /** Idempotent: waits up to drainTimeoutMs for queued alerts, then closes the outputs. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closing = true
    if (this.draining !== undefined) {
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, this.config.drainTimeoutMs)
      })
      await Promise.race([this.flush(), timeout])
      clearTimeout(timer)
    }
    this.closed = true
    const left = this.queue.length
    if (left > 0) {
      this.stats.queueDropped += left
      this.queue = []
      this.warn(`alerting: ${left} queued alert(s) dropped at shutdown`)
    }
    await Promise.all(this.outputs.map((o) => o.close()))
  }
}

/**
 * Builds the alert sink from the `alerting:` config section, or undefined when alerting is disabled.
 * No side effects: sockets open in start().
 */
export function createAlertSink(input: unknown, opts: AlertSinkOptions = {}): AlertSink | undefined {
  const config = loadAlertingConfig(input)
  if (!config.enabled) return undefined
  const env = opts.env ?? process.env
  const outputs: AlertOutput[] = []
  if (config.webhook !== undefined) outputs.push(new WebhookOutput(config.webhook, { env }))
  if (config.kafka !== undefined) outputs.push(new KafkaAlertOutput(config.kafka, { env }))
  return new AlertSink(config, outputs, opts)
}
