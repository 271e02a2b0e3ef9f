/**
 * The sinks a pipeline can write to, by `sink.kind`, and the integrity ledger each keeps. Adding a sink
 * is its folder under src/sinks and one `register` line at the end of this file.
 */
import type { Client } from '@opensearch-project/opensearch'
import type { z } from 'zod'
import type { Sink } from '../pipeline/component.js'
import type { ReplyShape } from '../pipeline/worker-protocol.js'
import { openSearchSectionSchema, ndjsonSinkSchema } from './config.js'
import type { IntegrityConfig, IntegrityKey } from '../integrity/config.js'
import { DuckDbLedger, ledgeredSink } from '../integrity/ledger.js'
import { OpenSearchLedger } from '../integrity/opensearch-ledger.js'
import { ledgeredOpenSearchSink } from '../integrity/opensearch-ledgered-sink.js'
import { OpenSearchSink } from '../sinks/opensearch/sink.js'
import { withEnvCredentials } from '../connections/opensearch.js'
import { createNdjsonEventSink } from '../sinks/ndjson-sink.js'
import { eventEncodings } from './encodings.js'
import { createDuckDbSink, type DuckDbSink } from '../sinks/duckdb-sink.js'
import { createStdoutSink, stdoutSinkSchema } from '../sinks/stdout/index.js'
import { DuckDbStore, duckDbStoreConfigSchema } from '../store/duckdb-store.js'
import { Registry, type ComponentDef } from './registry.js'
import type { BuildContext } from './context.js'

export interface SinkDef<Config = any> extends ComponentDef<Config, Sink> {
  /**
   * The sink wrapped so that a batch counts as written only once its ledger entries are stored too
   * (integrity.enabled); a sink without one keeps no ledger (NDJSON, stdout).
   */
  ledgered?(sink: Sink, config: Config, ledger: { integrity: IntegrityConfig; key: IntegrityKey | undefined }, context: BuildContext): Sink
  /**
   * What the sink reads of a hashed event without findings (src/pipeline/runner.ts, sinkReads): `stored`
   * when only its stored document and the fields beside it; without this, any field (`events`).
   */
  reads?(config: Config): ReplyShape
}

type OpenSearchSection = z.output<typeof openSearchSectionSchema>

function componentLogger(context: BuildContext): { warn(obj: object, msg?: string): void } {
  const logger = context.logger
  return { warn: (o, m) => (logger === undefined ? context.warn(m ?? JSON.stringify(o)) : logger.warn(o, m)) }
}

const openSearchSinkDef: SinkDef<OpenSearchSection> = {
  kind: 'opensearch',
  schema: openSearchSectionSchema,
  // Routes, names and ledgers an event by its timestamp, id, source and hash; sends its stored bytes.
  reads: () => 'stored',
  build(config, context) {
    const onClient: ((client: Client) => void) | undefined = context.onOpenSearchSink?.()
    const sink = new OpenSearchSink({
      config: config.sink,
      connection: withEnvCredentials(config.connection, context.env),
      logger: componentLogger(context),
      requireTemplates: config.requireSetup,
      ...(onClient === undefined ? {} : { onClient }),
    })
    context.exportStats?.({
      prefix: 'opensearch',
      stats: () => ({ ...sink.stats }),
      help: 'OpenSearch sink',
      names: { bytesSent: 'sent_bytes' },
    })
    return sink
  },
  ledgered(sink, config, { integrity, key }, context) {
    const { retry, closeTimeoutMs } = config.sink
    const ledger = new OpenSearchLedger({
      connection: withEnvCredentials(config.connection, context.env),
      key,
      indexPrefix: integrity.indexPrefix,
      retry,
      closeTimeoutMs,
      logger: componentLogger(context),
    })
    context.exportStats?.({ prefix: 'integrity', stats: () => ({ ...ledger.stats }), help: 'Integrity ledger' })
    return ledgeredOpenSearchSink(sink, ledger)
  },
}

const embeddedSinkDef: SinkDef<z.output<typeof duckDbStoreConfigSchema>> = {
  kind: 'embedded',
  schema: duckDbStoreConfigSchema,
  build(config, context) {
    const store = context.store ?? new DuckDbStore(config)
    context.exportStats?.({ prefix: 'embedded', stats: () => ({ ...store.stats }), help: 'Embedded store' })
    return createDuckDbSink(store, { closeStore: context.store === undefined })
  },
  ledgered(sink, _config, { key }, context) {
    const { store, closesStore } = sink as DuckDbSink
    const ledger = new DuckDbLedger(store, key)
    context.exportStats?.({ prefix: 'integrity', stats: () => ({ ...ledger.stats }), help: 'Integrity ledger' })
    return ledgeredSink(store, ledger, closesStore)
  },
}

const ndjsonSinkDef: SinkDef<z.output<typeof ndjsonSinkSchema>> = {
  kind: 'ndjson',
  schema: ndjsonSinkSchema,
  // The canonical line is the stored document; OCSF is made from the event's fields.
  reads: ({ format }) => (format === 'canonical' ? 'stored' : 'events'),
  build: ({ path, format }, context) => {
    const encode = eventEncodings.build(format, {}, context)
    return path === '-'
      ? createNdjsonEventSink(context.stdout ?? process.stdout, 'stdout', encode)
      : createNdjsonEventSink(path, path, encode)
  },
}

export const sinks = new Registry<Sink, BuildContext, SinkDef>('sink')
  .register(openSearchSinkDef)
  .register(embeddedSinkDef)
  .register(ndjsonSinkDef)
sinks.register({ kind: 'stdout', schema: stdoutSinkSchema, build: (config, context) => createStdoutSink(config, context.stdout) })
