/**
 * What a component factory may use besides its own options. Building has no side effects: a factory
 * keeps what it is given and opens nothing; sockets and files are opened by start().
 */
import type { Writable } from 'node:stream'
import type { Logger } from 'pino'
import type { Client } from '@opensearch-project/opensearch'
import type { DuckDbStore } from '../store/duckdb-store.js'
import type { KafkaSource } from '../sources/kafka/index.js'

/** How a component's numeric stats are exported on /metrics (the service's StatsSpec). */
export interface StatsExport {
  /** envoy_audit_<prefix>_<stat>. */
  prefix: string
  stats(): Record<string, number | Record<string, number>>
  help: string
  gauges?: readonly string[]
  names?: Readonly<Record<string, string>>
  labels?: Readonly<Record<string, readonly string[]>>
}

export interface BuildContext {
  env: NodeJS.ProcessEnv
  /** Run-time notes of a component (a file source's rotations), one line each. */
  warn(message: string): void
  /** Components that log structured lines (Kafka source and dead-letter topic, OpenSearch sink). */
  logger?: Logger
  /** Where an NDJSON sink with path '-' writes; process.stdout unless given. */
  stdout?: Writable
  /**
   * A store the caller opened and keeps (ingest, demo): the embedded sink and the `store` dead-letter
   * output write to it and leave it open. Without one the embedded sink opens sink.embedded.path.
   */
  store?: DuckDbStore
  /** Told of a Kafka source when one is built (the service's readiness and lag metrics watch it). */
  onKafkaSource?: (source: KafkaSource) => void
  /**
   * Told when an OpenSearch sink is built; what it returns is handed the sink's client once the sink
   * made one at start (the service's observer reads its requests and answers).
   */
  onOpenSearchSink?: () => ((client: Client) => void) | undefined
  /** Stats of the components built, for /metrics. */
  exportStats?: (stats: StatsExport) => void
  /** Names an option in errors: a config path by default, a CLI flag for parse/ingest. */
  option?: (section: string, key: string) => string
}

/** Flattens a stats object to what Prometheus can carry: numbers and maps of numbers. */
export function numericStats(stats: object): Record<string, number | Record<string, number>> {
  const out: Record<string, number | Record<string, number>> = {}
  for (const [k, v] of Object.entries(stats)) {
    if (typeof v === 'number') out[k] = v
    else if (Array.isArray(v)) out[k] = v.length
    else if (v !== null && typeof v === 'object') {
      const inner: Record<string, number> = {}
      for (const [ik, iv] of Object.entries(v as Record<string, unknown>)) if (typeof iv === 'number') inner[ik] = iv
      out[k] = inner
    }
  }
  return out
}
