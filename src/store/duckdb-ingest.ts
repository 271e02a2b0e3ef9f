/**
 * Files → full pipeline (parse, SPIFFE, AU-3, detect) → the DuckDB store. Shared by `ingest` and
 * `demo`. The caller owns the store: the pipeline closes its sink at the end of the run, so the store
 * is handed over behind a sink whose close() leaves it open for the report that follows.
 */
import type { DeadLetterSink, Sink, Source, TransformStage } from '../pipeline/component.js'
import type { RecordParser } from '../parse/index.js'
import { runPipeline } from '../pipeline/runner.js'
import type { PipelineCounters } from '../pipeline/counters.js'
import { createFileSource } from '../sources/file-source.js'
import type { DuckDbStore } from './duckdb-store.js'
import { withStoreDeadLetters } from './duckdb-dead-letters.js'
import { createHashStage } from '../integrity/chain.js'
import { loadIntegrityConfig, loadIntegrityKey } from '../integrity/config.js'
import { DuckDbLedger, ledgeredSink } from '../integrity/ledger.js'

export interface IngestParts {
  files: string[]
  store: DuckDbStore
  parser: RecordParser
  stages: readonly TransformStage[]
  deadLetters: DeadLetterSink
  /** Records per batch; each batch is one appender pass and one INSERT. */
  batchRecords?: number
  /** Read this source instead of `files` (the CLI's, whose progress and close() it drives). */
  source?: Source
  onBatch?: (counters: PipelineCounters) => void
  /**
   * Hash every event and chain it in the store's integrity ledger (`envoy-audit verify`). On by
   * default; checkpoints are signed when ENVOY_AUDIT_INTEGRITY_KEY is set (docs/integrity.md).
   */
  integrity?: boolean
  env?: NodeJS.ProcessEnv
}

export interface IngestResult {
  counters: PipelineCounters
  /** Events newly stored by this run; the rest of eventsOut were already in the store. */
  inserted: number
  elapsedMs: number
}

export async function ingestFiles(parts: IngestParts): Promise<IngestResult> {
  const { store } = parts
  await store.start()
  const insertedBefore = store.stats.inserted
  const integrity = parts.integrity !== false
  const sink: Sink = integrity
    ? ledgeredSink(store, new DuckDbLedger(store, loadIntegrityKey(loadIntegrityConfig(), parts.env ?? process.env)), false)
    : { name: store.name, start: () => store.start(), write: (events) => store.writeEvents(events), close: async () => undefined }
  const started = performance.now()
  const source = parts.source ?? createFileSource({ files: parts.files, ...(parts.batchRecords === undefined ? {} : { batchRecords: parts.batchRecords }) })
  const counters = await runPipeline(source, {
    parser: parts.parser,
    // Last, so the hash covers everything the other stages wrote.
    stages: integrity ? [...parts.stages, createHashStage()] : parts.stages,
    sink,
    // Also into the store's dead_letters table, deduplicated by dead-letter id (a re-ingest adds no row).
    deadLetters: withStoreDeadLetters(parts.deadLetters, store),
    ...(parts.onBatch === undefined ? {} : { onBatch: parts.onBatch }),
  })
  return { counters, inserted: store.stats.inserted - insertedBefore, elapsedMs: performance.now() - started }
}

/** The one-line summary both commands print on stderr. */
export function ingestSummary(result: IngestResult, storePath: string): string {
  const { counters, inserted, elapsedMs } = result
  const seconds = elapsedMs / 1000
  const rate = seconds > 0 ? Math.round(counters.recordsIn / seconds) : counters.recordsIn
  const already = counters.eventsOut - inserted
  return `${counters.summaryLine()}; stored ${inserted} new events${already > 0 ? ` (${already} already stored)` : ''} ` +
    `in ${seconds.toFixed(1)} s (${rate} records/s) → ${storePath}`
}
