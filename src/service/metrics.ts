/**
 * Prometheus metrics for the long-running service. Pipeline counts come from PipelineCounters;
 * component internals (consumer lag, commits, pauses, sink retries) are pulled at scrape time from
 * each component's `stats()` through `collect` callbacks, so components stay free of a metrics
 * dependency and the hot path never touches prom-client.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client'
import type { PipelineCounters } from '../pipeline/counters.js'

/** A numeric snapshot a component exposes: flat names → values, or labelled series. */
export interface StatsProvider {
  stats(): Record<string, number | Record<string, number>>
}

export interface ServiceMetrics {
  readonly registry: Registry
  /** Adds a component's stats as gauges `envoy_audit_<prefix>_<name>` (labelled series get label `key`). */
  addStats(prefix: string, provider: StatsProvider, help?: string): void
}

export function createServiceMetrics(counters: PipelineCounters): ServiceMetrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'envoy_audit_process_' })

  // Counters that mirror PipelineCounters: set from the source of truth at scrape time.
  const mirror = (name: string, help: string, read: () => number): void => {
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset()
        this.inc(read())
      },
    })
  }
  mirror('envoy_audit_records_in_total', 'Records acknowledged end to end (indexed or dead-lettered).', () => counters.recordsIn)
  mirror('envoy_audit_events_out_total', 'Events accepted by the sink.', () => counters.eventsOut)
  mirror('envoy_audit_batches_total', 'Batches acknowledged.', () => counters.batches)
  new Counter({
    name: 'envoy_audit_dead_letters_total',
    help: 'Records dead-lettered, by stable reason code.',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset()
      for (const [reason, n] of counters.deadLettersByReason) this.inc({ reason }, n)
    },
  })
  new Counter({
    name: 'envoy_audit_findings_total',
    help: 'Findings on indexed events, by finding code.',
    labelNames: ['code'],
    registers: [registry],
    collect() {
      this.reset()
      for (const [code, n] of counters.findingsByCode) this.inc({ code }, n)
    },
  })

  return {
    registry,
    addStats(prefix, provider, help = `${prefix} component statistics`) {
      const snapshot = provider.stats()
      for (const [name, value] of Object.entries(snapshot)) {
        const metricName = `envoy_audit_${prefix}_${name}`.replace(/[^a-zA-Z0-9_]/g, '_')
        const labelled = typeof value === 'object'
        new Gauge({
          name: metricName,
          help: `${help}: ${name}`,
          labelNames: labelled ? ['key'] : [],
          registers: [registry],
          collect() {
            const current = provider.stats()[name]
            if (current === undefined) return
            if (typeof current === 'number') this.set(current)
            else {
              this.reset()
              for (const [key, v] of Object.entries(current)) this.set({ key }, v)
            }
          },
        })
      }
    },
  }
}
