import { type Command, Option } from 'commander'
import type { FileSource } from '../sources/file-source.js'
import { buildPipeline } from '../compose/pipeline.js'
import type { CountingDeadLetterSink } from '../compose/dead-letters.js'
import { addPipelineOptions, type PipelineCliOptions, policyFlag, processingConfigFromOptions } from './pipeline-options.js'
import { type Progress, progressEverySeconds, showBatches, startProgress } from './progress.js'
import { handleInterrupts, signalExitCode } from './interrupt.js'
import { mostlyDeadLetterWarnings, tallyDeadLetters } from './input-health.js'
import { addFollowOptions, type FollowCliOptions, followSourceOptions } from './follow-options.js'

interface ParseOptions extends PipelineCliOptions, FollowCliOptions {
  dlq: string
  output: 'canonical' | 'ocsf'
  quiet?: boolean
  progressEvery: string
}

export function registerParse(program: Command): void {
  const cmd = program
    .command('parse')
    .description('parse access logs into enriched canonical audit events (NDJSON on stdout); gzip input is read as is')
    .argument('[files...]', 'input files (plain or gzip); - or nothing reads stdin')
    .option('--dlq <file>', 'dead letters as NDJSON (created only if there is one)', 'dead-letters.ndjson')
    .addOption(
      new Option('--output <encoding>', 'the events as canonical audit events, or as OCSF 1.1.0 HTTP/Network Activity (docs/ocsf.md)')
        .choices(['canonical', 'ocsf'])
        .default('canonical'),
    )
    .option('-q, --quiet', 'no progress and no summary line on stderr')
    .option('--progress-every <seconds>', 'when stderr is not a terminal, a progress line every N seconds (0: none)', '10')
  addFollowOptions(cmd, 'default: none, each run starts per --start-at')
  addPipelineOptions(cmd).action(async (files: string[], opts: ParseOptions) => {
    const processing = processingConfigFromOptions(opts)
    const progressEvery = progressEverySeconds(opts.progressEvery)
    const following = followSourceOptions(opts, files, undefined)
    let progress: Progress | undefined
    const warn = (m: string): void =>
      progress === undefined ? void process.stderr.write(`envoy-audit parse: ${m}\n`) : progress.note(`envoy-audit parse: ${m}`)
    const pipeline = buildPipeline(
      {
        ...processing,
        source: { kind: 'file', file: { paths: files.length === 0 ? ['-'] : files, ...following } },
        sink: { kind: 'ndjson', ndjson: { path: '-', format: opts.output } },
        deadLetter: { kind: 'file', path: opts.dlq },
      },
      { env: process.env, warn, policyOption: policyFlag },
    )
    const source = pipeline.source as FileSource
    const { sink: deadLetters, tally } = tallyDeadLetters(pipeline.deadLetters as CountingDeadLetterSink)
    const counters = pipeline.counters
    // Events scrolling on the terminal are their own progress; a bar would only garble them.
    progress =
      opts.quiet === true || process.stdout.isTTY === true
        ? undefined
        : startProgress({ label: 'parse', source, lineIntervalMs: progressEvery * 1000 })
    const interrupts = handleInterrupts(
      () => {
        progress?.phase('stopping: writing what was read')
        void pipeline.close()
      },
      { label: 'parse' },
    )
    try {
      await pipeline.run({
        wrapSource: (s) => showBatches(s, progress, 'writing'),
        ...(progress === undefined ? {} : { onBatch: progress.update }),
      })
      progress?.stop()
      if (opts.quiet !== true) {
        const where = deadLetters.written > 0 ? ` → ${opts.dlq}` : ''
        process.stderr.write(`envoy-audit parse: ${counters.summaryLine()}${where}\n`)
      }
      for (const w of mostlyDeadLetterWarnings(source.recordsByFile, tally)) process.stderr.write(`envoy-audit parse: ${w}\n`)
      if (interrupts.signal !== undefined && following.follow === true) {
        const resume =
          following.stateFile === undefined ? '' : `; read positions saved in ${following.stateFile}: the same command goes on from there`
        process.stderr.write(`envoy-audit parse: stopped: ${counters.recordsIn} records written${resume}\n`)
      } else if (interrupts.signal !== undefined) {
        process.stderr.write(
          `envoy-audit parse: interrupted: the ${counters.recordsIn} records read are written; the rest of the input was not read\n`,
        )
        process.exitCode = signalExitCode(interrupts.signal)
      }
    } finally {
      interrupts.dispose()
      progress?.stop()
    }
  })
}
