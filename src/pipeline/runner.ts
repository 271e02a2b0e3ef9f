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
import { transformSlice, type SliceResult } from './transform-slice.js'
import { replyEvents, type ReplyShape } from './worker-protocol.js'
import { storedForm } from '../schema/stored-document.js'
import type { TransformPool } from './worker-pool.js'
import { partsOf, sinkRejectionDeadLetters } from './dead-letter.js'
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
  /**
   * What the sink reads of a hashed event without findings: `events` (the default), any field; `stored`,
   * only its stored document and the fields beside it (stored-document.ts, storedForm), as the OpenSearch
   * and canonical NDJSON sinks do. With `stored` each micro-batch's hashed events are handed on in that
   * form, so the parsed events die with their micro-batch instead of living until the sink acknowledges
   * the source batch; the workers reply in the same form. Chosen by whoever knows the sink (src/compose).
   */
  sinkReads?: ReplyShape
  /**
   * Worker threads that parse and transform the micro-batches (transforms.workers): started and closed
   * with the pipeline. Output, dead letters and counts are the same as without them.
   */
  workers?: TransformPool
  /** Called after each acknowledged batch (progress bars, metrics). */
  onBatch?: (counters: PipelineCounters) => void
}

const seconds = (since: number): number => (performance.now() - since) / 1000

export const DEFAULT_MICRO_BATCH = 250

/** A source batch after parsing and the stages, before the sink: what the sink and the counters take. */
interface Staged {
  events: AuditEvent[]
  /** Parse dead letters, then the stages' (the order they reach the dead-letter output). */
  deadLetters: DeadLetter[]
  parsed: number
  partialsHeld: number
  stageCounts: Map<string, StageCounts>
}

function addCounts(into: Map<string, StageCounts>, name: string, c: StageCounts): void {
  const sum = into.get(name)
  if (sum === undefined) into.set(name, { ...c })
  else {
    sum.in += c.in
    sum.out += c.out
    sum.deadLettered += c.deadLettered
    sum.seconds += c.seconds
  }
}

function emptyStaged(): Staged & { stageDeadLetters: DeadLetter[] } {
  return { events: [], deadLetters: [], stageDeadLetters: [], parsed: 0, partialsHeld: 0, stageCounts: new Map() }
}

function addSlice(into: Staged & { stageDeadLetters: DeadLetter[] }, r: SliceResult): void {
  for (const d of r.parseDeadLetters) into.deadLetters.push(d)
  for (const d of r.stageDeadLetters) into.stageDeadLetters.push(d)
  for (const e of r.events) into.events.push(e)
  into.parsed += r.parsed
  into.partialsHeld += r.partialsHeld
}

/**
 * A hashed event in its stored form, unless it must stay whole: findings (storedForm), or the CRI parts it
 * was joined from, which a sink rejection dead-letters by the event (dead-letter.ts, partsOf).
 */
function toStoredForm(e: AuditEvent): AuditEvent {
  if (partsOf(e).length > 0) return e
  return storedForm(e) ?? e
}

function slicesOf(records: RawRecord[], micro: number): RawRecord[][] {
  if (records.length <= micro) return [records]
  const out: RawRecord[][] = []
  for (let i = 0; i < records.length; i += micro) out.push(records.slice(i, i + micro))
  return out
}

export function createBatchHandler(
  parts: PipelineParts,
): ((records: RawRecord[]) => Promise<BatchAck>) & BatchHandler & { counters: PipelineCounters } {
  const counters = parts.counters ?? new PipelineCounters()
  const micro = parts.microBatch ?? DEFAULT_MICRO_BATCH
  const pool = parts.workers
  const storedOnly = parts.sinkReads === 'stored'

  /** Slices in order, through the one parser: CRI partial lines still join across slice boundaries. */
  const inThread = (slice: RawRecord[], into: Staged & { stageDeadLetters: DeadLetter[] }): void => {
    const r = transformSlice(parts.parser, parts.stages, slice, (name, c) => addCounts(into.stageCounts, name, c))
    if (storedOnly) r.events = r.events.map(toStoredForm)
    addSlice(into, r)
  }
  const finish = (s: Staged & { stageDeadLetters: DeadLetter[] }): Staged => {
    for (const d of s.stageDeadLetters) s.deadLetters.push(d)
    return s
  }

  /**
   * With workers, batches are transformed concurrently but take their turn, in the order the source
   * handed them over, to be assembled and passed to the sink: the sink sees the same calls in the same
   * order as without workers, and the main thread's parser (CRI partial lines) the same slices.
   */
  let turn: Promise<void> = Promise.resolve()
  const onWorkers = async (records: RawRecord[]): Promise<Staged> => {
    const previous = turn
    let release!: () => void
    turn = new Promise((r) => (release = r))
    try {
      const slices = slicesOf(records, micro)
      const replies = pool !== undefined && pool.ready() > 0 ? slices.map((s) => pool.run(s)) : undefined
      await previous
      const staged = emptyStaged()
      for (let i = 0; i < slices.length; i++) {
        const reply = await replies?.[i]
        // The main thread's parser holds a partial line this slice may complete: it parses the slice.
        if (reply?.result === undefined || reply.counts === undefined || parts.parser.held() > 0) {
          inThread(slices[i] as RawRecord[], staged)
          continue
        }
        for (const [name, c] of reply.counts) addCounts(staged.stageCounts, name, c)
        addSlice(staged, { ...reply.result, events: replyEvents(reply, parts.sinkReads) })
      }
      return finish(staged)
    } finally {
      release()
    }
  }

  const handler = async (records: RawRecord[]): Promise<BatchAck> => {
    let staged: Staged
    if (pool === undefined) {
      const s = emptyStaged()
      for (const slice of slicesOf(records, micro)) inThread(slice, s)
      staged = finish(s)
    } else staged = await onWorkers(records)
    const { stageCounts, deadLetters } = staged

    const started = performance.now()

    const result = await parts.sink.write(staged.events)
    const rejected = result.rejected.length
    addCounts(stageCounts, 'sink', {
      in: staged.events.length,
      out: staged.events.length - rejected,
      deadLettered: rejected,
      seconds: seconds(started),
    })
    if (rejected > 0) deadLetters.push(...sinkRejectionDeadLetters(records, result.rejected))
    const dlRedactions = parts.redactDeadLetters?.(deadLetters) ?? 0
    if (deadLetters.length > 0) await parts.deadLetters.write(deadLetters)

    // Counted only once acknowledged: a failed batch will be replayed and counted then.
    counters.batches++
    counters.recordsIn += records.length
    counters.eventsParsed += staged.parsed
    counters.heldPartials += staged.partialsHeld
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
  await parts.workers?.start()
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
    await parts.workers?.close()
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
