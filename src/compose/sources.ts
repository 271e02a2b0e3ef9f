/** The sources a pipeline can read, by `source.kind`. */
import { z } from 'zod'
import type { Source } from '../pipeline/component.js'
import { createFileSource } from '../sources/file-source.js'
import { createKafkaSource } from '../sources/kafka/index.js'
import { kafkaSourceConfigSchema } from '../sources/kafka/config.js'
import { createOtlpSource, expandOtlpRecords, otlpSourceConfigSchema, type OtlpSourceConfig } from '../sources/otlp/index.js'
import { fileSourceShape } from './config.js'
import { Registry, type ComponentDef } from './registry.js'
import { numericStats, type BuildContext } from './context.js'

/**
 * The file source's options. The run config fills in a state file; parse keeps read positions only when
 * given --state, so here a follow without one keeps none.
 */
const fileOptionsSchema = z.object({ ...fileSourceShape, stateFile: z.string().min(1).optional() }).strict()
export type FileSourceOptions = z.output<typeof fileOptionsSchema>

function fileSource(paths: string[], o: FileSourceOptions, context: BuildContext): Source {
  const { batchRecords, lingerMs, follow, stateFile, startAt, pollMs, rotateWaitMs } = o
  return createFileSource({
    files: paths,
    batchRecords,
    lingerMs,
    ...(follow ? { follow, stateFile, startAt, pollMs, rotateWaitMs, warn: (m: string) => context.warn(m) } : {}),
  })
}

export const fileSourceDef: ComponentDef<FileSourceOptions, Source> = {
  kind: 'file',
  schema: fileOptionsSchema,
  build: (o, context) => fileSource(o.paths, o, context),
}

/** Standard input, with the file source's batching options (source.file). */
export const stdinSourceDef: ComponentDef<FileSourceOptions, Source> = {
  kind: 'stdin',
  schema: fileOptionsSchema,
  options: 'file',
  build: (o, context) => fileSource(['-'], { ...o, follow: false }, context),
}

export const kafkaSourceDef: ComponentDef<z.output<typeof kafkaSourceConfigSchema>, Source> = {
  kind: 'kafka',
  schema: kafkaSourceConfigSchema,
  build(config, context) {
    const source = createKafkaSource(config, { ...(context.logger === undefined ? {} : { logger: context.logger }), env: context.env })
    context.onKafkaSource?.(source)
    const encoding = config.encoding
    if (encoding !== 'raw') {
      // One OTLP export request per Kafka record: its log records go to the handler together, so the
      // record's offset is committed once all of them are acknowledged.
      const run = source.run.bind(source)
      source.run = (handler) => run((records) => handler(expandOtlpRecords(records, encoding)))
    }
    context.exportStats?.({
      prefix: 'kafka',
      stats: () => numericStats(source.stats()),
      // Names and kinds: docs/production.md, Metrics.
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
    })
    return source
  },
}

/** An OTLP logs receiver (gRPC and HTTP); each export request is answered once its records are acknowledged. */
export const otlpSourceDef: ComponentDef<OtlpSourceConfig, Source> = {
  kind: 'otlp',
  schema: otlpSourceConfigSchema,
  build(config, context) {
    const source = createOtlpSource(config)
    context.exportStats?.({
      prefix: 'otlp',
      stats: () => numericStats(source.stats()),
      // Names and kinds: docs/production.md, Metrics.
      help: 'OTLP logs receiver',
      gauges: ['inFlightRequests'],
      names: { inFlightRequests: 'in_flight_requests' },
    })
    return source
  },
}

export const sources = new Registry<Source>('source')
  .register(kafkaSourceDef)
  .register(fileSourceDef)
  .register(stdinSourceDef)
  .register(otlpSourceDef)
