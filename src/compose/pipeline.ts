/**
 * The one place a pipeline is built: source → parser → stages (src/compose/stages.ts) → sink, with the
 * dead-letter output. Every component comes from its registry by `kind`; the sink is wrapped here, once:
 * the integrity ledger (when integrity is on and the sink keeps one), then the alert outputs, which see
 * only what the sink accepted. `run`, `parse`, `ingest` and `demo` all build through buildPipeline.
 *
 * Building has no side effects: nothing is opened until run() starts the components (dead-letter output,
 * sink, then source). close() stops the source, idempotently; run() then flushes, commits and closes.
 */
import type { DeadLetterSink, Sink, Source } from '../pipeline/component.js'
import { PipelineCounters } from '../pipeline/counters.js'
import { runPipeline } from '../pipeline/runner.js'
import { integrityConfigSchema, loadIntegrityKey } from '../integrity/config.js'
import { parseConfig } from '../config/validate.js'
import { createAlertSink, type AlertSink } from '../alerting/alert-sink.js'
import { teeSink } from '../sinks/tee-sink.js'
import type { KafkaSourceConfig } from '../sources/kafka/config.js'
import { numericStats, type BuildContext } from './context.js'
import { sources } from './sources.js'
import { sinks } from './sinks.js'
import { deadLetterOutputs } from './dead-letters.js'
import { buildProcessing, type Processing, type ProcessingConfig } from './stages.js'
import { loadTransformsConfig, resolveWorkers } from '../config/transforms.js'
import { idlePoolStats, POOL_GAUGES, TransformPool, type ReplyShape } from '../pipeline/worker-pool.js'

/** A config section that picks its component by `kind`; its options sit under the kind's key (or flat). */
export interface Section {
  readonly kind: string
  readonly [option: string]: unknown
}

/** What a pipeline is built from: the `run` config (EnvoyAuditConfig) or what parse/ingest/demo make of their flags. */
export interface PipelineConfig extends ProcessingConfig {
  source: Section & { readonly kafka?: KafkaSourceConfig | undefined }
  sink: Section
  deadLetter: Section
  /** Alert outputs (the run config's alerting section); none when absent or disabled. */
  alerting?: unknown
}

export interface PipelineContext extends BuildContext {
  /** The counters to count into (the service's metrics read them); a new one otherwise. */
  counters?: PipelineCounters
  /** Times each sink write until acknowledged; returns the stop function (the service's histogram). */
  sinkTimer?: (sink: string) => () => void
  /** Names a policy option in errors (CLI flags); config paths otherwise. */
  policyOption?: (key: 'policies' | 'mesh' | 'workloads') => string
}

export interface RunOptions {
  /** The source as run() reads it (a progress display that wraps its batches). */
  wrapSource?: (source: Source) => Source
  /** Called after each acknowledged batch. */
  onBatch?: (counters: PipelineCounters) => void
}

export interface Pipeline {
  readonly source: Source
  readonly processing: Processing
  /** The sink as the runner writes to it: ledgered, teed to the alert outputs, timed. */
  readonly sink: Sink
  readonly deadLetters: DeadLetterSink
  readonly alerts: AlertSink | undefined
  readonly counters: PipelineCounters
  /** Worker threads for parse and transform (transforms.workers); 0 runs them on the main thread. */
  readonly workers: number
  /** Said once at build (unsigned checkpoints, redaction off): the service logs them, the CLI does not. */
  readonly warnings: readonly string[]
  /** Starts every component, runs the source to its end (or close()), flushes and closes; the counts. */
  run(options?: RunOptions): Promise<PipelineCounters>
  /** Graceful stop: no new records; in-flight work is flushed and committed by run(). Idempotent. */
  close(): Promise<void>
}

export function buildPipeline(config: PipelineConfig, context: PipelineContext): Pipeline {
  const warnings: string[] = []
  const counters = context.counters ?? new PipelineCounters()
  const source = sources.buildSection(config.source, context)
  const processing = buildProcessing(config, context.policyOption === undefined ? {} : { policyOption: context.policyOption })

  const { def, options } = sinks.resolve(config.sink)
  let sink = def.build(options, context)
  // The alert outputs teed in below read only events with findings, which stay whole either way.
  const sinkReads: ReplyShape = def.reads?.(options) ?? 'events'
  const integrity = parseConfig(integrityConfigSchema, config.integrity ?? {}, 'integrity')
  if (integrity.enabled && def.ledgered !== undefined) {
    const key = loadIntegrityKey(integrity, context.env)
    if (key === undefined)
      warnings.push('integrity checkpoints are unsigned: set ENVOY_AUDIT_INTEGRITY_KEY or integrity.keyFile (docs/integrity.md)')
    sink = def.ledgered(sink, options, { integrity, key }, context)
  }
  const alerts =
    config.alerting === undefined ? undefined : createAlertSink(config.alerting, { warn: (m) => context.warn(m), env: context.env })
  if (alerts !== undefined) {
    context.exportStats?.({
      prefix: 'alerts',
      stats: () => numericStats(alerts.stats),
      help: 'Alert outputs',
      labels: { delivered: ['output'], failed: ['output'] },
    })
    sink = teeSink(sink, [alerts])
  }
  if (context.sinkTimer !== undefined) sink = timedSink(sink, context.sinkTimer, config.sink.kind)

  const deadLetters = deadLetterOutputs.buildSection(config.deadLetter, { ...context, source: config.source })
  if (processing.redactDeadLetters === undefined) {
    warnings.push('redaction is disabled (redaction.enabled: false): secrets in paths, query strings and logged headers will be stored')
  }

  const workers = transformWorkers(config, sinkReads, (m) => warnings.push(m))
  // The pool of the current run: a pipeline builds one per run(), and /metrics reads whichever is live.
  let pool: TransformPool | undefined
  if (workers !== undefined) {
    const idle = idlePoolStats(workers.size)
    context.exportStats?.({
      prefix: 'transform_workers',
      stats: () => ({ ...(pool?.stats() ?? idle) }),
      help: 'Transform worker threads',
      gauges: POOL_GAUGES,
      names: { queued: 'queued_slices', answered: 'slices_answered', redone: 'slices_redone', unanswered: 'slices_unanswered' },
    })
  }
  let closing: Promise<void> | undefined
  return {
    source,
    processing,
    sink,
    deadLetters,
    alerts,
    counters,
    warnings,
    workers: workers?.size ?? 0,
    run(options: RunOptions = {}) {
      return runPipeline(options.wrapSource?.(source) ?? source, {
        ...processing,
        sink,
        sinkReads,
        deadLetters,
        counters,
        ...(workers === undefined ? {} : { workers: (pool = workers.build((m) => context.warn(m))) }),
        ...(options.onBatch === undefined ? {} : { onBatch: options.onBatch }),
      })
    },
    close() {
      closing ??= source.close()
      return closing
    },
  }
}

/**
 * The worker threads transforms.workers asks for, or none. Each worker builds the processing from the
 * same configuration sections; sections that cannot be handed to a thread (structured clone) keep the
 * processing on the main thread, said in a warning.
 */
function transformWorkers(
  config: PipelineConfig,
  reply: ReplyShape,
  warn: (message: string) => void,
): { size: number; build: (warn: (message: string) => void) => TransformPool } | undefined {
  const size = resolveWorkers(loadTransformsConfig(config.transforms ?? {}).workers)
  if (size === 0) return undefined
  const processing: ProcessingConfig = {
    parser: config.parser,
    transforms: config.transforms,
    policy: config.policy,
    redaction: config.redaction,
    integrity: config.integrity,
  }
  try {
    structuredClone(processing)
  } catch (err) {
    warn(`transforms.workers: the processing configuration cannot go to workers (${(err as Error).message}); staying on the main thread`)
    return undefined
  }
  const script = new URL(`./transform-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url)
  // A sink that reads only the stored document and the fields beside it (SinkDef.reads) gets no more than
  // that back from the workers (worker-protocol.ts).
  return { size, build: (w) => new TransformPool({ script, workerData: { processing, reply }, size, warn: w }) }
}

/** The sink with the time each write takes to be acknowledged. */
function timedSink(sink: Sink, timer: (sink: string) => () => void, kind: string): Sink {
  return {
    name: sink.name,
    start: () => sink.start(),
    close: () => sink.close(),
    async write(events) {
      const end = timer(kind)
      try {
        return await sink.write(events)
      } finally {
        end()
      }
    },
  }
}
