import type { Command } from 'commander'
import { createFileSource } from '../sources/file-source.js'
import { createNdjsonDeadLetterSink, createNdjsonEventSink } from '../sinks/ndjson-sink.js'
import { runPipeline } from '../pipeline/runner.js'
import { addPipelineOptions, type PipelineCliOptions, pipelineFromOptions } from './pipeline-options.js'

interface ParseOptions extends PipelineCliOptions {
  dlq: string
  quiet?: boolean
}

export function registerParse(program: Command): void {
  const cmd = program
    .command('parse')
    .description('parse access logs into enriched canonical audit events (NDJSON on stdout)')
    .argument('[files...]', 'input files; - or nothing reads stdin')
    .option('--dlq <file>', 'dead letters as NDJSON (created only if there is one)', 'dead-letters.ndjson')
    .option('-q, --quiet', 'no summary line on stderr')
  addPipelineOptions(cmd).action(async (files: string[], opts: ParseOptions) => {
    const parts = pipelineFromOptions(opts)
    const deadLetters = createNdjsonDeadLetterSink(opts.dlq)
    const counters = await runPipeline(createFileSource({ files }), {
      ...parts,
      sink: createNdjsonEventSink(process.stdout, 'stdout'),
      deadLetters,
    })
    if (opts.quiet !== true) {
      const where = deadLetters.written > 0 ? ` → ${opts.dlq}` : ''
      process.stderr.write(`envoy-audit parse: ${counters.summaryLine()}${where}\n`)
    }
  })
}
