/**
 * Wires the stages: records → parse → transform stages → sink, with every record that cannot become
 * an indexed event sent to the dead-letter sink together with its original bytes. The handler's
 * promise resolves only after both the sink and the dead-letter sink have acknowledged the batch:
 * that is the acknowledgement a source may commit on. A failure of either propagates, so nothing
 * past an unacknowledged record is ever committed. The pipeline is assembled in src/compose.
 */
import type { AuditEvent, DeadLetter } from '../schema/audit-event.js'
import type {
  BatchAck,
  BatchHandler,
  DeadLetterRedaction,
  DeadLetterSink,
  RawRecord,
  Sink,
  Source,
  StageCounts,
  TransformStage,
} from './component.js'
import type { RecordParser } from '../parse/index.js'
import { applyStages } from './transforms.js'
import { sinkRejectionDeadLetters } from './dead-letter.js'
import { PipelineCounters } from './counters.js'

export interface PipelineParts {
  parser: RecordParser
  stages: readonly TransformStage[]
  sink: Sink
  deadLetters: DeadLetterSink
  /**
   * Redacts every dead letter (parse, transform, sink rejection, leftover partials) before the
   * dead-letter output sees it: the redaction stage's own hook, handed over by whoever built it.
   * Without one, dead letters are written as read.
   */
  redactDeadLetters?: DeadLetterRedaction
  counters?: PipelineCounters
  /**
   * Records parsed and transformed together (default 250): a source batch goes through the parser and
   * the stages in slices of this size, so each slice's intermediate objects die young, and the hash
   * stage writes each slice's documents into one Buffer. The sink still gets the whole source batch,
   * and the batch is acknowledged only when every record of it is.
   */
  microBatch?: number
  /** Called after each acknowledged batch (progress bars, metrics). */
  onBatch?: (counters: PipelineCounters) => void
}

const seconds = (since: number): number => (performance.now() - since) / 1000

export const DEFAULT_MICRO_BATCH = 250

export function createBatchHandler(
  parts: PipelineParts,
): ((records: RawRecord[]) => Promise<BatchAck>) & BatchHandler & { counters: PipelineCounters } {
  const counters = parts.counters ?? new PipelineCounters()
  const micro = parts.microBatch ?? DEFAULT_MICRO_BATCH
  const handler = async (records: RawRecord[]): Promise<BatchAck> => {
    const stageCounts = new Map<string, StageCounts>()
    const count = (name: string, c: StageCounts): void => {
      const sum = stageCounts.get(name)
      if (sum === undefined) stageCounts.set(name, c)
      else {
        sum.in += c.in
        sum.out += c.out
        sum.deadLettered += c.deadLettered
        sum.seconds += c.seconds
      }
    }
    let parsedCount = 0
    let partialsHeld = 0
    const staged: { events: AuditEvent[]; deadLetters: DeadLetter[] } = { events: [], deadLetters: [] }
    const deadLetters: DeadLetter[] = []
    // Slices in order, through the one parser: CRI partial lines still join across slice boundaries.
    for (let i = 0; i < records.length; i += micro) {
      const slice = records.length <= micro ? records : records.slice(i, i + micro)
      const started = performance.now()
      const parsed = parts.parser.parseBatch(slice)
      count('parse', { in: slice.length, out: parsed.events.length, deadLettered: parsed.deadLetters.length, seconds: seconds(started) })
      parsedCount += parsed.events.length
      partialsHeld += parsed.counts.partialsHeld
      const result = applyStages(parts.stages, parsed.events, (name, eventsIn, r, s) => {
        count(name, { in: eventsIn, out: r.events.length, deadLettered: r.deadLetters.length, seconds: s })
      })
      for (const d of parsed.deadLetters) deadLetters.push(d)
      for (const d of result.deadLetters) staged.deadLetters.push(d)
      for (const e of result.events) staged.events.push(e)
    }
    for (const d of staged.deadLetters) deadLetters.push(d)

    const started = performance.now()

    const result = await parts.sink.write(staged.events)
    const rejected = result.rejected.length
    count('sink', { in: staged.events.length, out: staged.events.length - rejected, deadLettered: rejected, seconds: seconds(started) })
    if (rejected > 0) deadLetters.push(...sinkRejectionDeadLetters(records, result.rejected))
    const dlRedactions = parts.redactDeadLetters?.(deadLetters) ?? 0
    if (deadLetters.length > 0) await parts.deadLetters.write(deadLetters)

    // Counted only once acknowledged: a failed batch will be replayed and counted then.
    counters.batches++
    counters.recordsIn += records.length
    counters.eventsParsed += parsedCount
    counters.heldPartials += partialsHeld
    counters.eventsOut += staged.events.length - rejected
    counters.countDeadLetters(deadLetters.map((d) => d.reason))
    for (const [name, counts] of stageCounts) counters.countStage(name, counts)
    counters.redactions += dlRedactions
    for (const e of staged.events) counters.redactions += e.audit.redactions ?? 0
    for (const e of staged.events) if (e.audit.finding_codes !== undefined) counters.countFindings(e.audit.finding_codes)
    parts.onBatch?.(counters)
    const reasons: Record<string, number> = Object.create(null) as Record<string, number>
    for (const d of deadLetters) reasons[d.reason] = (reasons[d.reason] ?? 0) + 1
    return { deadLettered: deadLetters.length, reasons }
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
      handler.counters.redactions += parts.redactDeadLetters?.(leftovers) ?? 0
      await parts.deadLetters.write(leftovers)
      handler.counters.countDeadLetters(leftovers.map((d) => d.reason))
      handler.counters.countStage('parse', { in: 0, out: 0, deadLettered: leftovers.length, seconds: 0 })
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
