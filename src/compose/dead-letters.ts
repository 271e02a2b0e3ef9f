/**
 * The dead-letter outputs, by `deadLetter.kind`. Their options are the flat deadLetter section; the
 * Kafka one writes to the source's cluster, so its context carries the source section.
 */
import { z } from 'zod'
import { EnvoyAuditError } from '../errors.js'
import type { DeadLetterSink } from '../pipeline/component.js'
import { deadLetterShape } from './config.js'
import type { KafkaSourceConfig } from '../sources/kafka/config.js'
import { createKafkaDeadLetterSink, dlqConfigFromSource } from '../sinks/kafka-dlq.js'
import { createNdjsonDeadLetterSink } from '../sinks/ndjson-sink.js'
import { withStoreDeadLetters } from '../store/duckdb-dead-letters.js'
import { Registry, type ComponentDef } from './registry.js'
import type { BuildContext } from './context.js'

export interface DeadLetterContext extends BuildContext {
  /** The pipeline's source: a dead-letter topic lives on the source's Kafka cluster. */
  source?: { readonly kind: string; readonly kafka?: KafkaSourceConfig | undefined }
}

/** An output that also says how many dead letters its file took (parse and ingest print where they went). */
export type CountingDeadLetterSink = DeadLetterSink & { readonly written: number }

const kafkaOptions = z.object({
  topic: deadLetterShape.topic,
  compression: deadLetterShape.compression,
  maxBatchBytes: deadLetterShape.maxBatchBytes,
})
const fileOptions = z.object({ path: deadLetterShape.path })

const kafkaDeadLetterDef: ComponentDef<z.output<typeof kafkaOptions>, DeadLetterSink, DeadLetterContext> = {
  kind: 'kafka',
  schema: kafkaOptions,
  options: '',
  build({ topic, compression, maxBatchBytes }, context) {
    const kafka = context.source?.kind === 'kafka' ? context.source.kafka : undefined
    if (kafka === undefined)
      throw new EnvoyAuditError(
        'EA_CONFIG_INVALID',
        'deadLetter.kind: a kafka dead-letter topic needs a kafka source (it is written to the same cluster)',
      )
    return createKafkaDeadLetterSink(
      dlqConfigFromSource(kafka, topic, { compression, maxBatchBytes }),
      context.logger === undefined ? {} : { logger: context.logger },
    )
  },
}

const fileDeadLetterDef: ComponentDef<z.output<typeof fileOptions>, DeadLetterSink, DeadLetterContext> = {
  kind: 'file',
  schema: fileOptions,
  options: '',
  build: ({ path }) => createNdjsonDeadLetterSink(path),
}

/**
 * ingest and demo: the NDJSON file and the store's dead_letters table (deduplicated by dead-letter id,
 * so a re-ingest adds no row), written to the store the caller opened.
 */
const storeDeadLetterDef: ComponentDef<z.output<typeof fileOptions>, DeadLetterSink, DeadLetterContext> = {
  kind: 'store',
  schema: fileOptions,
  options: '',
  build({ path }, context) {
    if (context.store === undefined) throw new EnvoyAuditError('EA_CONFIG_INVALID', 'deadLetter.kind: store needs an open store')
    const file = createNdjsonDeadLetterSink(path)
    return Object.defineProperty(withStoreDeadLetters(file, context.store), 'written', { get: () => file.written, enumerable: true })
  },
}

export const deadLetterOutputs = new Registry<DeadLetterSink, DeadLetterContext>('deadLetter')
  .register(kafkaDeadLetterDef)
  .register(fileDeadLetterDef)
  .register(storeDeadLetterDef)
