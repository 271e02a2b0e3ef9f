/**
 * Builds the long-running service from a validated config: source → parse → transforms → sink, with
 * the dead-letter output, alert outputs, metrics and health. Building has no side effects (no
 * sockets, no files); `run()` starts everything and resolves when the source has stopped and every
 * component is closed, flushed and committed.
 */
import type { Logger } from 'pino'
import type { EnvoyAuditConfig } from '../config/schema.js'
import { loadTransformsConfig } from '../config/transforms.js'
import { redactConfigSecrets } from '../config/secrets.js'
import { renamedOptionWarnings } from '../config/renamed-options.js'
import { createParser } from '../parse/index.js'
import { createTransformStages } from '../pipeline/transforms.js'
import { withRedaction } from '../redact/redactor.js'
import { policyStages } from '../policy/config.js'
import { loadIntegrityKey } from '../integrity/config.js'
import { createHashStage } from '../integrity/chain.js'
import { DuckDbLedger, ledgeredSink } from '../integrity/ledger.js'
import { OpenSearchLedger } from '../integrity/opensearch-ledger.js'
import { ledgeredOpenSearchSink } from '../integrity/opensearch-ledgered-sink.js'
import type { DeadLetterSink, Sink, Source } from '../pipeline/component.js'
import { PipelineCounters } from '../pipeline/counters.js'
import { runPipeline } from '../pipeline/runner.js'
import { createFileSource } from '../sources/file-source.js'
import { createKafkaSource, type KafkaSource } from '../sources/kafka/index.js'
import { createKafkaDeadLetterSink, dlqConfigFromSource } from '../sinks/kafka-dlq.js'
import { createNdjsonDeadLetterSink, createNdjsonEventSink } from '../sinks/ndjson-sink.js'
import { OpenSearchSink } from '../sinks/opensearch/sink.js'
import { withEnvCredentials } from '../connections/opensearch.js'
import { DuckDbStore } from '../store/duckdb-store.js'
import { createAlertSink } from '../alerting/alert-sink.js'
import { teeSink } from '../sinks/tee-sink.js'
import { createServiceMetrics, type ServiceMetrics, type StatsSpec } from './metrics.js'
import { startServiceHttp } from './http-server.js'
import { ServiceHealth } from './health.js'
import { OpenSearchObserver } from './opensearch-observer.js'

export interface ServiceDeps {
  logger: Logger
  env?: NodeJS.ProcessEnv
}

export interface Service {
  readonly counters: PipelineCounters
  readonly metrics: ServiceMetrics
  /** Starts everything and resolves once the source stopped and all components closed. */
  run(): Promise<PipelineCounters>
  /** Graceful stop: no new records, flush in-flight, commit, leave the group. Idempotent. */
  close(): Promise<void>
  /** Port of the metrics/health listener once running (0 when disabled or not yet listening). */
  readonly httpPort: number
}

export function buildService(config: EnvoyAuditConfig, deps: ServiceDeps): Service {
  const { logger } = deps
  for (const w of [...transportWarnings(config), ...configSecretWarnings(config), ...renamedOptionWarnings(config)]) logger.warn(`WARNING: ${w}`)
  const counters = new PipelineCounters()
  const metrics = createServiceMetrics(counters)
  // pino's (obj, msg) signature is the one the Kafka components log through.
  const kafkaLogger = logger

  let kafkaSource: KafkaSource | undefined
  let opensearch: OpenSearchObserver | undefined
  let source: Source
  if (config.source.kind === 'kafka' && config.source.kafka !== undefined) {
    kafkaSource = createKafkaSource(config.source.kafka, { logger: kafkaLogger, ...(deps.env ? { env: deps.env } : {}) })
    source = kafkaSource
    metrics.addStats('kafka', { stats: () => numericStats(kafkaSource?.stats() ?? {}) }, KAFKA_METRICS)
  } else {
    const paths = config.source.kind === 'stdin' ? ['-'] : config.source.file.paths
    const { batchRecords, lingerMs, follow, stateFile, startAt, pollMs, rotateWaitMs } = config.source.file
    source = createFileSource({
      files: paths, batchRecords, lingerMs,
      ...(config.source.kind === 'file' && follow ? { follow, stateFile, startAt, pollMs, rotateWaitMs, warn: (m: string) => logger.warn(m) } : {}),
    })
  }

  let primary: Sink
  if (config.sink.kind === 'opensearch' && config.sink.opensearch !== undefined) {
    const os = new OpenSearchSink({
      config: config.sink.opensearch.sink,
      connection: withEnvCredentials(config.sink.opensearch.connection, deps.env ?? process.env),
      logger: { warn: (o, m) => logger.warn(o, m) },
      requireTemplates: config.sink.opensearch.requireSetup,
      onClient: (client) => opensearch?.attach(client),
    })
    opensearch = new OpenSearchObserver({
      registry: metrics.registry,
      logger: { warn: (o, m) => logger.warn(o, m) },
      answerWindowMs: config.service.readiness.sinkAnswerSeconds * 1000,
    })
    metrics.addStats('opensearch', { stats: () => ({ ...os.stats }) }, { help: 'OpenSearch sink', names: { bytesSent: 'sent_bytes' } })
    primary = os
    if (config.integrity.enabled) {
      const { retry, closeTimeoutMs } = config.sink.opensearch.sink
      const ledger = new OpenSearchLedger({
        connection: withEnvCredentials(config.sink.opensearch.connection, deps.env ?? process.env),
        key: integrityKey(config, deps), indexPrefix: config.integrity.indexPrefix, retry, closeTimeoutMs,
        logger: { warn: (o, m) => logger.warn(o, m) },
      })
      metrics.addStats('integrity', { stats: () => ({ ...ledger.stats }) }, { help: 'Integrity ledger' })
      primary = ledgeredOpenSearchSink(os, ledger)
    }
  } else if (config.sink.kind === 'embedded') {
    const store = new DuckDbStore(config.sink.embedded)
    metrics.addStats('embedded', { stats: () => ({ ...store.stats }) }, { help: 'Embedded store' })
    primary = store
    if (config.integrity.enabled) {
      const ledger = new DuckDbLedger(store, integrityKey(config, deps))
      metrics.addStats('integrity', { stats: () => ({ ...ledger.stats }) }, { help: 'Integrity ledger' })
      primary = ledgeredSink(store, ledger)
    }
  } else {
    const path = config.sink.ndjson.path
    primary = path === '-' ? createNdjsonEventSink(process.stdout, 'stdout') : createNdjsonEventSink(path)
  }
  const alerts = createAlertSink(config.alerting, { warn: (m) => logger.warn(m), ...(deps.env ? { env: deps.env } : {}) })
  if (alerts !== undefined) metrics.addStats('alerts', { stats: () => numericStats(alerts.stats) }, { help: 'Alert outputs', labels: { delivered: ['output'], failed: ['output'] } })
  const sink = timedSink(teeSink(primary, alerts === undefined ? [] : [alerts]), metrics, config.sink.kind)

  let deadLetters: DeadLetterSink
  if (config.deadLetter.kind === 'kafka' && config.source.kafka !== undefined) {
    deadLetters = createKafkaDeadLetterSink(dlqConfigFromSource(config.source.kafka, config.deadLetter.topic, {
        compression: config.deadLetter.compression,
        maxBatchBytes: config.deadLetter.maxBatchBytes,
      }), { logger: kafkaLogger })
  } else {
    deadLetters = createNdjsonDeadLetterSink(config.deadLetter.path)
  }

  const parser = createParser(config.parser)
  // Redaction first (withRedaction), so nothing after it sees a secret; the policy check after detect,
  // so its finding joins the others before the hash.
  const stages = withRedaction([...createTransformStages(loadTransformsConfig(config.transforms)), ...policyStages(config.policy)], config.redaction)
  // Last, so the hash covers everything the stages wrote.
  if (config.integrity.enabled) stages.push(createHashStage())
  if (!config.redaction.enabled) logger.warn('redaction is disabled (redaction.enabled: false): secrets in paths, query strings and logged headers will be stored')

  let http: Awaited<ReturnType<typeof startServiceHttp>> | undefined
  let running = false
  let closing: Promise<void> | undefined
  let lastBatchAt = Date.now()
  const health = new ServiceHealth({
    metrics,
    graceSeconds: config.service.readiness.outageGraceSeconds,
    probeIntervalSeconds: config.service.readiness.probeIntervalSeconds,
    ...(kafkaSource !== undefined ? { kafka: kafkaSource } : {}),
    ...(opensearch !== undefined ? { opensearch } : {}),
    lifecycle: () => ({ running, closing: closing !== undefined }),
  })

  const service: Service = {
    counters,
    metrics,
    get httpPort() {
      return http?.port ?? 0
    },
    async run() {
      if (config.service.enabled) {
        http = await startServiceHttp({
          host: config.service.host,
          port: config.service.port,
          registry: metrics.registry,
          health: { live: () => true, ready: () => health.report() },
        })
        logger.info({ port: http.port }, 'metrics and health listening')
      }
      running = true
      health.start()
      logger.info(
        { source: config.source.kind, sink: config.sink.kind, deadLetter: config.deadLetter.kind, alerting: alerts !== undefined },
        'envoy-audit starting',
      )
      try {
        return await runPipeline(source, {
          parser,
          stages,
          sink,
          deadLetters,
          counters,
          onBatch: () => {
            lastBatchAt = Date.now()
          },
        })
      } finally {
        running = false
        health.stop()
        opensearch?.close()
        await http?.close()
        logger.info({ counts: counters.toJSON(), idleMs: Date.now() - lastBatchAt }, 'envoy-audit stopped')
      }
    },
    close() {
      closing ??= source.close()
      return closing
    },
  }
  return service
}

/** How the Kafka source's stats are exported (names and kinds: docs/production.md, Metrics). */
const KAFKA_METRICS: StatsSpec = {
  help: 'Kafka source',
  gauges: ['inFlightRecords', 'inFlightBytes', 'paused', 'assigned', 'committed', 'lag', 'oldestUnackedSeconds'],
  names: {
    paused: 'paused_partitions',
    assigned: 'assigned_partitions',
    committed: 'committed_offset',
    lag: 'fetch_lag',
    oldestUnackedSeconds: 'oldest_unacked_age_seconds',
    lostByPartition: 'records_lost_by_partition',
  },
  labels: { committed: ['topic', 'partition'], lag: ['topic', 'partition'], lostByPartition: ['topic', 'partition'] },
}

/** The sink as the pipeline sees it, with the time each write takes to be acknowledged. */
function timedSink(sink: Sink, metrics: ServiceMetrics, kind: string): Sink {
  return {
    name: sink.name,
    start: () => sink.start(),
    close: () => sink.close(),
    async write(events) {
      const end = metrics.sinkWriteSeconds.startTimer({ sink: kind })
      try {
        return await sink.write(events)
      } finally {
        end()
      }
    },
  }
}

function integrityKey(config: EnvoyAuditConfig, deps: ServiceDeps): ReturnType<typeof loadIntegrityKey> {
  const key = loadIntegrityKey(config.integrity, deps.env ?? process.env)
  if (key === undefined) deps.logger.warn('integrity checkpoints are unsigned: set ENVOY_AUDIT_INTEGRITY_KEY or integrity.keyFile (docs/integrity.md)')
  return key
}

/** Flattens a stats object to what Prometheus gauges can carry: numbers and maps of numbers. */
function numericStats(stats: object): Record<string, number | Record<string, number>> {
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

/**
 * TLS verification is on by default everywhere; an explicit opt-out, or credentials sent over a
 * plaintext connection, is said once at startup so it shows in every deployment's logs.
 */
/** Secrets written in the config file itself, by option path (never the value): they belong in env vars or files. */
export function configSecretWarnings(config: EnvoyAuditConfig): string[] {
  return redactConfigSecrets(config).found.map((f) => `${f.path} holds a secret written in the config file: ${f.advice}`)
}

export function transportWarnings(config: EnvoyAuditConfig): string[] {
  const w: string[] = []
  const kafka = (where: string, tls: { enabled: boolean; rejectUnauthorized: boolean }, sasl: unknown): void => {
    if (tls.enabled && !tls.rejectUnauthorized) w.push(`${where}.tls.rejectUnauthorized is false: Kafka broker certificates are NOT verified`)
    if (sasl !== undefined && !tls.enabled) w.push(`${where}.sasl without TLS: the SASL credentials and the records travel in plaintext`)
  }
  if (config.source.kind === 'kafka' && config.source.kafka !== undefined) kafka('source.kafka', config.source.kafka.tls, config.source.kafka.sasl)
  const os = config.sink.opensearch?.connection
  if (config.sink.kind === 'opensearch' && os !== undefined) {
    if (os.insecure) w.push('sink.opensearch.connection.insecure is true: the OpenSearch server certificate is NOT verified')
    if (os.node.startsWith('http:') && os.password !== undefined) w.push('sink.opensearch.connection.node is http:// with a password: basic-auth credentials travel in plaintext')
  }
  const a = config.alerting
  if (a.enabled && a.webhook !== undefined) {
    if (!a.webhook.tls.rejectUnauthorized) w.push('alerting.webhook.tls.rejectUnauthorized is false: the webhook certificate is NOT verified')
    if (a.webhook.url.startsWith('http:') && a.webhook.bearerTokenEnv !== undefined) w.push('alerting.webhook.url is http:// with a bearer token: the token travels in plaintext')
  }
  if (a.enabled && a.kafka !== undefined) kafka('alerting.kafka', a.kafka.tls, a.kafka.sasl)
  return w
}

// Basic-auth credentials from the environment when the config names none (src/connections/opensearch.ts).
export { withEnvCredentials }
