import { dirname, join } from 'node:path'
import { type Command, Option } from 'commander'
import type { FileSource } from '../sources/file-source.js'
import { DEFAULT_STORE_PATH, openDuckDbStore } from '../store/duckdb-store.js'
import { EnvoyAuditError } from '../errors.js'
import { buildIngestPipeline, INGEST_BATCH_RECORDS, ingestSummary, MAX_BATCH_RECORDS, runIngest } from '../compose/ingest.js'
import type { CountingDeadLetterSink } from '../compose/dead-letters.js'
import type { Pipeline } from '../compose/pipeline.js'
import { addPipelineOptions, type PipelineCliOptions, policyFlag, processingConfigFromOptions } from './pipeline-options.js'
import { type Progress, progressEverySeconds, showBatches, startProgress } from './progress.js'
import { handleInterrupts, signalExitCode } from './interrupt.js'
import { mostlyDeadLetterWarnings, tallyDeadLetters } from './input-health.js'
import { addFollowOptions, type FollowCliOptions, followSourceOptions } from './follow-options.js'

interface IngestOptions extends PipelineCliOptions, FollowCliOptions {
  store: string
  dlq?: string
  quiet?: boolean
  callTables?: 'on' | 'off'
  layout?: 'table' | 'segments'
  retentionDays?: string
  batchRecords?: string
  progressEvery: string
}

export function registerIngest(program: Command): void {
  const cmd = program
    .command('ingest')
    .description('run the full pipeline (parse, AU-3, SPIFFE, detect) into the embedded DuckDB store; gzip input is read as is')
    .argument('[files...]', 'input files (plain or gzip); - or nothing reads stdin')
    .option('--store <path>', 'DuckDB store file', DEFAULT_STORE_PATH)
    .option('--dlq <file>', 'dead letters as NDJSON (default: dead-letters.ndjson next to the store)')
    .option('-q, --quiet', 'no progress and no summary line')
    .option('--progress-every <seconds>', 'when stderr is not a terminal, a progress line every N seconds (0: none)', '10')
    .addOption(
      new Option(
        '--call-tables <on|off>',
        'keep the per-call tables hunt/flows read (fast hunts, slower ingest at high line rates; default: what the store last used, on for a new store)',
      ).choices(['on', 'off']),
    )
    .addOption(
      new Option(
        '--layout <table|segments>',
        'how the store keeps events: table (DuckDB tables) or segments (zstd Parquet files per hour next to the store, ' +
          'docs/store.md); segments on a table store migrates it; default: what the store has, segments for a new one',
      ).choices(['table', 'segments']),
    )
    .option('--retention-days <n>', 'segment layout: drop whole hours of events older than N days (AU-11 retention; 0 keeps all)')
    .option(
      '--batch-records <n>',
      `records per store write, 1-${MAX_BATCH_RECORDS} (default ${INGEST_BATCH_RECORDS}); larger batches spread each write's fixed cost, ` +
        'smaller ones hold less memory; a batch is acknowledged once stored',
    )
  addFollowOptions(cmd, 'default: file-positions.json next to the store')
  addPipelineOptions(cmd).action(async (files: string[], opts: IngestOptions) => {
    const processing = processingConfigFromOptions(opts)
    const progressEvery = progressEverySeconds(opts.progressEvery)
    const following = followSourceOptions(opts, files, join(dirname(opts.store), 'file-positions.json'))
    const inputs = files.length === 0 ? ['-'] : files
    const dlq = opts.dlq ?? join(dirname(opts.store), 'dead-letters.ndjson')
    const retentionDays = opts.retentionDays === undefined ? undefined : Number(opts.retentionDays)
    if (retentionDays !== undefined && (!Number.isInteger(retentionDays) || retentionDays < 0))
      throw new EnvoyAuditError('EA_USAGE', `--retention-days must be a whole number of days (0 keeps all), got "${opts.retentionDays}"`)
    const batchRecords = batchRecordsOption(opts.batchRecords)
    const store = await openDuckDbStore(opts.store, {
      ...(opts.callTables === undefined ? {} : { callTables: opts.callTables === 'on' }),
      ...(opts.layout === undefined ? {} : { layout: opts.layout }),
      ...(retentionDays === undefined ? {} : { retentionDays }),
    })
    // Set once the source exists; a rotation or truncation note goes above the bar.
    let progress: Progress | undefined
    const warn = (m: string): void =>
      progress === undefined ? void process.stderr.write(`envoy-audit ingest: ${m}\n`) : progress.note(`envoy-audit ingest: ${m}`)
    let pipeline: Pipeline
    try {
      pipeline = buildIngestPipeline({
        files: inputs,
        store,
        processing,
        deadLetterPath: dlq,
        ...(batchRecords === undefined ? {} : { batchRecords }),
        file: following,
        warn,
        policyOption: policyFlag,
      })
    } catch (err) {
      await store.close()
      throw err
    }
    const source = pipeline.source as FileSource
    const { sink: deadLetters, tally } = tallyDeadLetters(pipeline.deadLetters as CountingDeadLetterSink)
    progress = opts.quiet === true ? undefined : startProgress({ label: 'ingest', source, lineIntervalMs: progressEvery * 1000 })
    const interrupts = handleInterrupts(
      () => {
        progress?.phase('stopping: storing what was read')
        void pipeline.close()
      },
      { label: 'ingest' },
    )
    try {
      const result = await runIngest(pipeline, store, {
        wrapSource: (s) => showBatches(s, progress, 'storing'),
        ...(progress === undefined ? {} : { onBatch: progress.update }),
      })
      progress?.phase('closing the store')
      await store.close()
      progress?.stop()
      const where = deadLetters.written > 0 ? `; dead letters → ${dlq}` : ''
      if (opts.quiet !== true) process.stderr.write(`envoy-audit ingest: ${ingestSummary(result, opts.store)}${where}\n`)
      for (const w of mostlyDeadLetterWarnings(source.recordsByFile, tally)) process.stderr.write(`envoy-audit ingest: ${w}\n`)
      const signal = interrupts.signal
      if (signal !== undefined && following.follow === true) {
        // Stopping is how a follow ends: not a failure.
        process.stderr.write(
          `envoy-audit ingest: stopped: ${result.counters.recordsIn} records stored; read positions saved in ${following.stateFile ?? ''}: the same command goes on from there\n`,
        )
      } else if (signal !== undefined) {
        const again = inputs.includes('-')
          ? 'what followed on stdin was not read and cannot be re-read'
          : 're-run the same command to resume: records already stored are recognised and skipped'
        process.stderr.write(
          `envoy-audit ingest: interrupted: ${result.counters.recordsIn} records stored (${result.inserted} new events, ${result.counters.deadLettered} dead letters); ${again}\n`,
        )
        process.exitCode = signalExitCode(signal)
      }
    } finally {
      interrupts.dispose()
      progress?.stop()
      await store.close()
    }
  })
}

function batchRecordsOption(value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < 1 || n > MAX_BATCH_RECORDS)
    throw new EnvoyAuditError('EA_USAGE', `--batch-records must be a whole number from 1 to ${MAX_BATCH_RECORDS}, got "${value}"`)
  return n
}
