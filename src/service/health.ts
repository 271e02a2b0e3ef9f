/**
 * The service's health: the readiness checks (source, sink, pipeline) behind /readyz, the idle sink
 * probe that keeps the sink check current when no traffic flows, and the metrics that need the
 * components themselves (Kafka committed lag, `envoy_audit_ready`).
 */
import { Gauge } from 'prom-client'
import type { KafkaSource } from '../sources/kafka/index.js'
import type { ServiceMetrics } from './metrics.js'
import type { OpenSearchObserver } from './opensearch-observer.js'
import { Readiness, type ComponentHealth, type ReadinessCheck, type ReadinessReport } from './readiness.js'

export interface HealthOptions {
  metrics: ServiceMetrics
  graceSeconds: number
  probeIntervalSeconds: number
  /** The Kafka source, when the source is Kafka (file and stdin are ready while they read). */
  kafka?: KafkaSource
  /** The OpenSearch sink's observer; other sinks are local and count as answering. */
  opensearch?: OpenSearchObserver
  lifecycle: () => { running: boolean; closing: boolean }
}

export class ServiceHealth {
  private readonly readiness: Readiness
  private timer: NodeJS.Timeout | undefined

  constructor(private readonly o: HealthOptions) {
    const graceMs = o.graceSeconds * 1000
    const checks: ReadinessCheck[] = []
    const kafka = o.kafka
    if (kafka !== undefined) {
      checks.push({ name: 'source', health: () => kafka.health() })
      // A batch handed to the pipeline and still not acknowledged after the grace: the sink or the
      // dead-letter output is not taking it, whatever each says of itself.
      checks.push({
        name: 'pipeline',
        health: (now): ComponentHealth => {
          const age = kafka.stats().oldestUnackedSeconds
          return age * 1000 > graceMs
            ? {
                ok: false,
                since: now - age * 1000,
                reason: `the oldest unacknowledged batch was handed to the pipeline ${Math.round(age)} s ago`,
              }
            : { ok: true }
        },
      })
    } else {
      checks.push({
        name: 'source',
        health: () => (o.lifecycle().running ? { ok: true, detail: 'reading' } : { ok: false, reason: 'not reading' }),
      })
    }
    const observer = o.opensearch
    if (observer !== undefined) checks.push({ name: 'sink', health: () => observer.health() })
    this.readiness = new Readiness(graceMs, checks, o.lifecycle)

    const registry = o.metrics.registry
    const self = this
    new Gauge({
      name: 'envoy_audit_ready',
      help:
        '1 when /readyz answers 200 (source connected, sink answering, no outage ' +
        'longer than service.readiness.outageGraceSeconds), else 0.',
      registers: [registry],
      collect() {
        this.set(self.report().ready ? 1 : 0)
      },
    })
    if (kafka !== undefined) {
      const lag = (pick: 'lag' | 'logEnd') =>
        async function (this: Gauge<'topic' | 'partition'>): Promise<void> {
          const snapshot = (await kafka.committedLag(2_000))[pick]
          this.reset()
          for (const [key, v] of Object.entries(snapshot)) {
            const cut = key.lastIndexOf('/')
            this.set({ topic: key.slice(0, cut), partition: key.slice(cut + 1) }, v)
          }
        }
      new Gauge({
        name: 'envoy_audit_kafka_consumer_lag',
        help:
          "Records not yet committed per owned partition: log end offset minus the group's committed offset. Grows " +
          'while nothing is acknowledged (alert on it; envoy_audit_kafka_fetch_lag does not).',
        labelNames: ['topic', 'partition'],
        registers: [registry],
        collect: lag('lag'),
      })
      new Gauge({
        name: 'envoy_audit_kafka_log_end_offset',
        help: 'Log end offset (high watermark) per owned partition, as last read with the committed lag.',
        labelNames: ['topic', 'partition'],
        registers: [registry],
        collect: lag('logEnd'),
      })
    }
  }

  report(now = Date.now()): ReadinessReport {
    return this.readiness.evaluate(now)
  }

  /** Starts the idle sink probe (an unref'd timer: it never holds the process). */
  start(): void {
    const observer = this.o.opensearch
    if (observer === undefined || this.timer !== undefined) return
    const every = this.o.probeIntervalSeconds * 1000
    this.timer = setInterval(() => observer.probeIfIdle(every), every)
    this.timer.unref()
  }

  stop(): void {
    clearInterval(this.timer)
    this.timer = undefined
  }
}
