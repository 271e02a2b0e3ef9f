import { dirname, join } from 'node:path'
import { type Command, Option } from 'commander'
import { SingleBar } from 'cli-progress'
import { createNdjsonDeadLetterSink } from '../sinks/ndjson-sink.js'
import { DEFAULT_STORE_PATH, openDuckDbStore } from '../store/duckdb-store.js'
import { ingestFiles, ingestSummary } from '../store/duckdb-ingest.js'
import type { PipelineCounters } from '../pipeline/counters.js'
import { addPipelineOptions, type PipelineCliOptions, pipelineFromOptions } from './pipeline-options.js'

interface IngestOptions extends PipelineCliOptions {
  store: string
  dlq?: string
  quiet?: boolean
  callTables?: 'on' | 'off'
}

export function registerIngest(program: Command): void {
  const cmd = program
    .command('ingest')
    .description('run the full pipeline (parse, AU-3, SPIFFE, detect) into the embedded DuckDB store')
    .argument('[files...]', 'input files; - or nothing reads stdin')
    .option('--store <path>', 'DuckDB store file', DEFAULT_STORE_PATH)
    .option('--dlq <file>', 'dead letters as NDJSON (default: dead-letters.ndjson next to the store)')
    .option('-q, --quiet', 'no progress bar and no summary line')
    .addOption(
      new Option('--call-tables <on|off>', 'keep the per-call tables hunt/flows read (fast hunts, slower ingest at high line rates; default: what the store last used, on for a new store)').choices(['on', 'off']),
    )
  addPipelineOptions(cmd).action(async (files: string[], opts: IngestOptions) => {
    const parts = pipelineFromOptions(opts)
    const dlq = opts.dlq ?? join(dirname(opts.store), 'dead-letters.ndjson')
    const deadLetters = createNdjsonDeadLetterSink(dlq)
    const store = await openDuckDbStore(opts.store, opts.callTables === undefined ? {} : { callTables: opts.callTables === 'on' })
    const progress = opts.quiet === true ? undefined : progressBar()
    try {
      const result = await ingestFiles({
        files: files.length === 0 ? ['-'] : files, store, ...parts, deadLetters,
        ...(progress === undefined ? {} : { onBatch: progress.update }),
      })
      progress?.stop()
      if (opts.quiet !== true) {
        const where = deadLetters.written > 0 ? `; dead letters → ${dlq}` : ''
        process.stderr.write(`envoy-audit ingest: ${ingestSummary(result, opts.store)}${where}\n`)
      }
    } finally {
      progress?.stop()
      await store.close()
    }
  })
}

/** A live counter on stderr, only when a person is watching: redirected stderr stays a clean log. */
export function progressBar(stream: NodeJS.WriteStream = process.stderr): { update: (c: PipelineCounters) => void; stop: () => void } | undefined {
  if (stream.isTTY !== true) return undefined
  const bar = new SingleBar({
    stream,
    format: 'ingest | {value} records | {events} events | {rate} records/s | {dlq} dead letters | {duration_formatted}',
    hideCursor: true,
    clearOnComplete: true,
    fps: 5,
  })
  const started = performance.now()
  bar.start(0, 0, { events: 0, rate: 0, dlq: 0 })
  let stopped = false
  return {
    update(c) {
      const seconds = (performance.now() - started) / 1000
      bar.setTotal(c.recordsIn)
      bar.update(c.recordsIn, { events: c.eventsOut, rate: seconds > 0 ? Math.round(c.recordsIn / seconds) : 0, dlq: c.deadLettered })
    },
    stop() {
      if (stopped) return
      stopped = true
      bar.stop()
    },
  }
}
