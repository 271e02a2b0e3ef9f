/**
 * Wires the stages: records → parse → transform stages → sink, with every record that cannot become
 * an indexed event sent to the dead-letter sink together with its original bytes. The handler's
 * promise resolves only after both the sink and the dead-letter sink have acknowledged the batch:
 * that is the acknowledgement a source may commit on. A failure of either propagates, so nothing
 * past an unacknowledged record is ever committed.
 */
import type { DeadLetter } from '../schema/audit-event.js'
import type { BatchHandler, DeadLetterSink, RawRecord, Sink, Source, TransformStage } from './component.js'
import type { RecordParser } from '../parse/index.js'
import { applyStages } from './transforms.js'
import { sinkRejectionDeadLetters } from './dead-letter.js'
import { PipelineCounters } from './counters.js'
import { isRedactionStage } from '../redact/redactor.js'

export interface PipelineParts {
  parser: RecordParser
  stages: readonly TransformStage[]
  sink: Sink
  deadLetters: DeadLetterSink
  counters?: PipelineCounters
  /** Called after each acknowledged batch (progress bars, metrics). */
  onBatch?: (counters: PipelineCounters) => void
}

export function createBatchHandler(parts: PipelineParts): BatchHandler & { counters: PipelineCounters } {
  const counters = parts.counters ?? new PipelineCounters()
  // Redaction happens before anything is stored or dead-lettered: the stage redacts events, and its
  // dead-letter hook every dead letter (parse, transform, sink rejection) before the DLQ sees it.
  const redactor = parts.stages.find(isRedactionStage)
  const handler = async (records: RawRecord[]): Promise<void> => {
    const parsed = parts.parser.parseBatch(records)
    const staged = applyStages(parts.stages, parsed.events)
    const deadLetters: DeadLetter[] = [...parsed.deadLetters, ...staged.deadLetters]

    const result = await parts.sink.write(staged.events)
    if (result.rejected.length > 0) deadLetters.push(...sinkRejectionDeadLetters(records, result.rejected))
    const dlRedactions = redactor?.redactDeadLetters(deadLetters) ?? 0
    if (deadLetters.length > 0) await parts.deadLetters.write(deadLetters)

    // Counted only once acknowledged: a failed batch will be replayed and counted then.
    counters.batches++
    counters.recordsIn += records.length
    counters.eventsParsed += parsed.events.length
    counters.heldPartials += parsed.counts.partialsHeld
    counters.eventsOut += staged.events.length - result.rejected.length
    counters.countDeadLetters(deadLetters.map((d) => d.reason))
    counters.redactions += dlRedactions
    for (const e of staged.events) counters.redactions += e.audit.redactions ?? 0
    for (const e of staged.events) if (e.audit.finding_codes !== undefined) counters.countFindings(e.audit.finding_codes)
    parts.onBatch?.(counters)
  }
  return Object.assign(handler, { counters })
}

/**
 * Runs a finite or long-running source to completion. Components are started here, not when built,
 * and closed in reverse order: the source first (no new records), then the sinks, which flush.
 */
export async function runPipeline(source: Source, parts: PipelineParts): Promise<PipelineCounters> {
  const handler = createBatchHandler(parts)
  await parts.deadLetters.start()
  await parts.sink.start()
  let failed = false
  try {
    await source.start()
    await source.run(handler)
    if (source.stopped !== undefined) await source.stopped
    const leftovers = parts.parser.flush()
    if (leftovers.length > 0) {
      handler.counters.redactions += parts.stages.find(isRedactionStage)?.redactDeadLetters(leftovers) ?? 0
      await parts.deadLetters.write(leftovers)
      handler.counters.countDeadLetters(leftovers.map((d) => d.reason))
      handler.counters.heldPartials -= leftovers.length
    }
  } catch (err) {
    failed = true
    throw err
  } finally {
    await source.close()
    await closeQuietly(parts.sink, failed)
    await closeQuietly(parts.deadLetters, failed)
  }
  return handler.counters
}

async function closeQuietly(c: { close(): Promise<void> }, alreadyFailed: boolean): Promise<void> {
  try {
    await c.close()
  } catch (err) {
    // The first error is the one the user needs; a close failure after it is a consequence.
    if (!alreadyFailed) throw err
  }
}
