/**
 * Prometheus metrics for the long-running service. Pipeline counts come from PipelineCounters;
 * component internals (consumer lag, commits, pauses, sink retries) are pulled at scrape time from
 * each component's `stats()` through `collect` callbacks, so components stay free of a metrics
 * dependency and the hot path never touches prom-client.
 *
 * Names follow Prometheus' conventions: snake_case, counters end in `_total`, units in the name
 * (`_seconds`, `_bytes`). A component's numeric stat is a counter unless its spec names it a gauge;
 * docs/production.md lists every metric and the names they replace.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { PipelineCounters } from '../pipeline/counters.js'
import type { StageCounts } from '../pipeline/component.js'

/** A numeric snapshot a component exposes: flat names → values, or keyed series. */
export interface StatsProvider {
  stats(): Record<string, number | Record<string, number>>
}

export interface StatsSpec {
  help: string
  /** Stats that go up and down (in flight, lag, offsets); every other stat is a counter (`_total`). */
  gauges?: readonly string[]
  /** A stat's metric name when it should not be its snake_case form (the unit, or a clearer word). */
  names?: Readonly<Record<string, string>>
  /**
   * Label names of keyed stats. A key of the form "topic/partition" gets ['topic', 'partition'] (split
   * at the last '/'); any other key one label, `key` unless named here.
   */
  labels?: Readonly<Record<string, readonly string[]>>
  /** Stats left out (text, or exported another way). */
  skip?: readonly string[]
}

export interface ServiceMetrics {
  readonly registry: Registry
  /** Adds a component's stats as `envoy_audit_<prefix>_<snake_case name>[_total]`. */
  addStats(prefix: string, provider: StatsProvider, spec: StatsSpec): void
  /** Time from a sink write() to its acknowledgement, retries included, per sink write. */
  readonly sinkWriteSeconds: Histogram<'sink'>
}

/** Latency buckets from 5 ms to 2 min: a bulk request on a healthy cluster, up to writes held by an outage. */
export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]

/** camelCase → snake_case (inFlightRecords → in_flight_records). */
export function snakeCase(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/[^a-zA-Z0-9_]/g, '_')
    .toLowerCase()
}

/** Labels for one key of a keyed stat. */
function labelsFor(names: readonly string[], key: string): Record<string, string> {
  if (names.length === 2) {
    const cut = key.lastIndexOf('/')
    return cut < 0 ? { [names[0]!]: key, [names[1]!]: '' } : { [names[0]!]: key.slice(0, cut), [names[1]!]: key.slice(cut + 1) }
  }
  return { [names[0]!]: key }
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
  mirror('envoy_audit_redaction_values_total', 'Values replaced by redaction in events and dead letters.', () => counters.redactions)
  const keyed = (name: string, help: string, label: string, read: () => Map<string, number>): void => {
    new Counter({
      name,
      help,
      labelNames: [label],
      registers: [registry],
      collect() {
        this.reset()
        for (const [value, n] of read()) this.inc({ [label]: value }, n)
      },
    })
  }
  keyed('envoy_audit_dead_letters_total', 'Records dead-lettered, by stable reason code.', 'reason', () => counters.deadLettersByReason)
  keyed('envoy_audit_findings_total', 'Findings on indexed events, by finding code.', 'code', () => counters.findingsByCode)
  // Per stage (parse, each transform stage in order, sink), over acknowledged batches, as Data Prepper's
  // processors count records in and out: where records are dropped, dead-lettered, and time goes.
  const perStage = (name: string, help: string, read: (c: StageCounts) => number): void =>
    keyed(name, help, 'stage', () => new Map([...counters.stages].map(([stage, c]) => [stage, read(c)])))
  perStage('envoy_audit_stage_records_in_total', 'Records (parse) or events a stage was handed.', (c) => c.in)
  perStage('envoy_audit_stage_records_out_total', 'Events a stage passed on (for the sink: accepted).', (c) => c.out)
  perStage('envoy_audit_stage_dead_letters_total', 'Records a stage dead-lettered (for the sink: rejected).', (c) => c.deadLettered)
  perStage('envoy_audit_stage_seconds_total', 'Time spent in a stage (for the sink: until it acknowledged).', (c) => c.seconds)

  const sinkWriteSeconds = new Histogram({
    name: 'envoy_audit_sink_write_duration_seconds',
    help: 'Time from handing a batch of events to the sink to its acknowledgement (indexed or rejected), retries included.',
    labelNames: ['sink'],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  })

  return {
    registry,
    sinkWriteSeconds,
    addStats(prefix, provider, spec) {
      const gauges = new Set(spec.gauges ?? [])
      const skip = new Set(spec.skip ?? [])
      for (const [stat, value] of Object.entries(provider.stats())) {
        if (skip.has(stat)) continue
        const gauge = gauges.has(stat)
        const base = `envoy_audit_${prefix}_${spec.names?.[stat] ?? snakeCase(stat)}`
        const name = gauge || base.endsWith('_total') ? base : `${base}_total`
        const labelNames = typeof value === 'object' ? (spec.labels?.[stat] ?? ['key']) : []
        const help = `${spec.help}: ${stat}`
        const read = (): number | Record<string, number> | undefined => provider.stats()[stat]
        if (gauge) {
          new Gauge({
            name,
            help,
            labelNames: [...labelNames],
            registers: [registry],
            collect() {
              const current = read()
              if (current === undefined) return
              if (typeof current === 'number') return void this.set(current)
              this.reset()
              for (const [key, v] of Object.entries(current)) this.set(labelsFor(labelNames, key), v)
            },
          })
        } else {
          new Counter({
            name,
            help,
            labelNames: [...labelNames],
            registers: [registry],
            collect() {
              const current = read()
              if (current === undefined) return
              this.reset()
              if (typeof current === 'number') return void this.inc(Math.max(0, current))
              for (const [key, v] of Object.entries(current)) this.inc(labelsFor(labelNames, key), Math.max(0, v))
            },
          })
        }
      }
    },
  }
}
