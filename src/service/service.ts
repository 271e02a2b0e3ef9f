/**
 * The long-running service: the pipeline its config describes (built by src/compose), with metrics,
 * health and the startup warnings. Building has no side effects (no sockets, no files); `run()` starts
 * everything and resolves when the source has stopped and every component is closed, flushed and
 * committed.
 */
import type { Logger } from 'pino'
import type { EnvoyAuditConfig } from '../compose/config.js'
import { redactConfigSecrets } from '../compose/config-secrets.js'
import { renamedOptionWarnings } from '../config/renamed-options.js'
import { PipelineCounters } from '../pipeline/counters.js'
import type { KafkaSource } from '../sources/kafka/index.js'
import { buildPipeline } from '../compose/pipeline.js'
import { createServiceMetrics, type ServiceMetrics } from './metrics.js'
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
  for (const w of [
    ...transportWarnings(config, deps.env ?? process.env),
    ...configSecretWarnings(config),
    ...renamedOptionWarnings(config),
  ])
    logger.warn(`WARNING: ${w}`)
  const counters = new PipelineCounters()
  const metrics = createServiceMetrics(counters)
  let kafka: KafkaSource | undefined
  let opensearch: OpenSearchObserver | undefined
  const pipeline = buildPipeline(config, {
    env: deps.env ?? process.env,
    warn: (m) => logger.warn(m),
    // pino's (obj, msg) signature is the one the Kafka and OpenSearch components log through.
    logger,
    counters,
    exportStats: ({ prefix, stats, ...spec }) => metrics.addStats(prefix, { stats }, spec),
    sinkTimer: (sink) => metrics.sinkWriteSeconds.startTimer({ sink }),
    onKafkaSource: (source) => {
      kafka = source
    },
    onOpenSearchSink: () => {
      const observer = new OpenSearchObserver({
        registry: metrics.registry,
        logger: { warn: (o, m) => logger.warn(o, m) },
        answerWindowMs: config.service.readiness.sinkAnswerSeconds * 1000,
      })
      opensearch = observer
      return (client) => observer.attach(client)
    },
  })
  for (const w of pipeline.warnings) logger.warn(w)

  let http: Awaited<ReturnType<typeof startServiceHttp>> | undefined
  let running = false
  let closing: Promise<void> | undefined
  let lastBatchAt = Date.now()
  const health = new ServiceHealth({
    metrics,
    graceSeconds: config.service.readiness.outageGraceSeconds,
    probeIntervalSeconds: config.service.readiness.probeIntervalSeconds,
    ...(kafka !== undefined ? { kafka } : {}),
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
        {
          source: config.source.kind,
          sink: config.sink.kind,
          deadLetter: config.deadLetter.kind,
          alerting: pipeline.alerts !== undefined,
          workers: pipeline.workers,
        },
        'envoy-audit starting',
      )
      try {
        return await pipeline.run({
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
      closing ??= pipeline.close()
      return closing
    },
  }
  return service
}

/** Secrets written in the config file itself, by option path (never the value): they belong in env vars or files. */
export function configSecretWarnings(config: EnvoyAuditConfig): string[] {
  return redactConfigSecrets(config).found.map((f) => `${f.path} holds a secret written in the config file: ${f.advice}`)
}

/**
 * TLS verification is on by default everywhere; an explicit opt-out, or credentials sent over a
 * plaintext connection, is said once at startup so it shows in every deployment's logs.
 */
export function transportWarnings(config: EnvoyAuditConfig, env: NodeJS.ProcessEnv = {}): string[] {
  const w: string[] = []
  const kafka = (where: string, tls: { enabled: boolean; rejectUnauthorized: boolean }, sasl: unknown): void => {
    if (tls.enabled && !tls.rejectUnauthorized)
      w.push(`${where}.tls.rejectUnauthorized is false: Kafka broker certificates are NOT verified`)
    if (sasl !== undefined && !tls.enabled) w.push(`${where}.sasl without TLS: the SASL credentials and the records travel in plaintext`)
  }
  if (config.source.kind === 'kafka') kafka('source.kafka', config.source.kafka.tls, config.source.kafka.sasl)
  if (config.sink.kind === 'opensearch') {
    const os = config.sink.opensearch.connection
    if (os.insecure) w.push('sink.opensearch.connection.insecure is true: the OpenSearch server certificate is NOT verified')
    if (os.node.startsWith('http:') && os.password !== undefined)
      w.push('sink.opensearch.connection.node is http:// with a password: basic-auth credentials travel in plaintext')
    else if (/^http:/i.test(os.node) && os.username === undefined && (env.OPENSEARCH_USERNAME ?? '') !== '')
      w.push(
        'sink.opensearch.connection.node is http:// with OPENSEARCH_PASSWORD from the environment: basic-auth credentials travel in plaintext',
      )
  }
  const a = config.alerting
  if (a.enabled && a.webhook !== undefined) {
    if (!a.webhook.tls.rejectUnauthorized)
      w.push('alerting.webhook.tls.rejectUnauthorized is false: the webhook certificate is NOT verified')
    if (a.webhook.url.startsWith('http:') && a.webhook.bearerTokenEnv !== undefined)
      w.push('alerting.webhook.url is http:// with a bearer token: the token travels in plaintext')
  }
  if (a.enabled && a.kafka !== undefined) kafka('alerting.kafka', a.kafka.tls, a.kafka.sasl)
  return w
}

// Basic-auth credentials from the environment when the config names none (src/connections/opensearch.ts).
export { withEnvCredentials } from '../connections/opensearch.js'
