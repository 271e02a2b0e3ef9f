/**
 * Files → the full pipeline → the embedded DuckDB store, for `ingest` and `demo`. The caller owns the
 * store (the report after a demo reads it): the pipeline writes its events, ledger and dead_letters
 * table and leaves it open.
 */
import type { DuckDbStore } from '../store/duckdb-store.js'
import type { PipelineCounters } from '../pipeline/counters.js'
import { buildPipeline, type Pipeline, type PipelineContext, type RunOptions } from './pipeline.js'
import type { FileSourceOptions } from './sources.js'
import type { ProcessingConfig } from './stages.js'

export interface IngestOptions {
  /** Input files in order; '-' is stdin. */
  files: string[]
  store: DuckDbStore
  /** Parser and stage sections (processingConfigFromOptions for the CLI's flags); defaults otherwise. */
  processing?: ProcessingConfig
  /**
   * Hash every event and chain it in the store's integrity ledger (`envoy-audit verify`). On by
   * default; checkpoints are signed when ENVOY_AUDIT_INTEGRITY_KEY is set (docs/integrity.md).
   */
  integrity?: boolean
  /** Dead letters go to this NDJSON file and to the store's dead_letters table. */
  deadLetterPath: string
  /** Records per batch (INGEST_BATCH_RECORDS unless set); each batch is one store write, acknowledged once committed. */
  batchRecords?: number
  /** File source options beyond the paths (ingest --follow). */
  file?: Partial<Omit<FileSourceOptions, 'paths'>>
  /** Follow mode's notes (rotations); stderr otherwise. */
  warn?: (message: string) => void
  env?: NodeJS.ProcessEnv
  /** Names a policy option in errors (the CLI's flags). */
  policyOption?: PipelineContext['policyOption']
}

export interface IngestResult {
  counters: PipelineCounters
  /** Events newly stored by this run; the rest of eventsOut were already in the store. */
  inserted: number
  elapsedMs: number
}

/**
 * Records per batch `ingest` and `demo` read when not told otherwise (`ingest --batch-records`; a file
 * source's own default is 2,000, which `run` keeps). Every store write pays fixed costs per batch
 * whatever its size (a segment's two Parquet files, the catalog commit, the per-call statements and
 * their scan of the lines stored within the match window), and a batch's events, documents and staged
 * rows are held until its write commits: larger batches cost less CPU per event and more memory.
 * Chosen by measurement of 2,000, 5,000 and 10,000 (docs/performance.md, "Ingest profile").
 */
export const INGEST_BATCH_RECORDS = 5_000

/** The largest batch `ingest --batch-records` takes: the file source's own bound (source.file.batchRecords). */
export const MAX_BATCH_RECORDS = 100_000

export function buildIngestPipeline(o: IngestOptions): Pipeline {
  return buildPipeline(
    {
      ...o.processing,
      integrity: { enabled: o.integrity !== false },
      source: {
        kind: 'file',
        file: {
          paths: o.files.length === 0 ? ['-'] : o.files,
          ...o.file,
          batchRecords: o.batchRecords ?? INGEST_BATCH_RECORDS,
        },
      },
      sink: { kind: 'embedded' },
      deadLetter: { kind: 'store', path: o.deadLetterPath },
    },
    {
      env: o.env ?? process.env,
      warn: o.warn ?? ((m) => void process.stderr.write(`${m}\n`)),
      store: o.store,
      ...(o.policyOption === undefined ? {} : { policyOption: o.policyOption }),
    },
  )
}

/** Runs an ingest pipeline over `store` and says how many events were new. */
export async function runIngest(pipeline: Pipeline, store: DuckDbStore, options: RunOptions = {}): Promise<IngestResult> {
  await store.start()
  const insertedBefore = store.stats.inserted
  const started = performance.now()
  const counters = await pipeline.run(options)
  return { counters, inserted: store.stats.inserted - insertedBefore, elapsedMs: performance.now() - started }
}

export function ingestFiles(o: IngestOptions & RunOptions): Promise<IngestResult> {
  return runIngest(buildIngestPipeline(o), o.store, o)
}

/** The one-line summary both commands print on stderr. */
export function ingestSummary(result: IngestResult, storePath: string): string {
  const { counters, inserted, elapsedMs } = result
  const seconds = elapsedMs / 1000
  const rate = seconds > 0 ? Math.round(counters.recordsIn / seconds) : counters.recordsIn
  const already = counters.eventsOut - inserted
  return (
    `${counters.summaryLine()}; stored ${inserted} new events${already > 0 ? ` (${already} already stored)` : ''} ` +
    `in ${seconds.toFixed(1)} s (${rate} records/s) → ${storePath}`
  )
}
