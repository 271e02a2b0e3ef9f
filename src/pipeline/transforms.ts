/**
 * How transform stages run: each is a batch function over events it owns (annotating in place). A
 * record on which a stage throws is dead-lettered with EA_TRANSFORM_FAILED and the batch goes on. The
 * stages themselves, and their order, are src/compose's.
 */
import type { AuditEvent, DeadLetter } from '../schema/audit-event.js'
import type { StageResult, TransformStage, RawRecord } from './component.js'
import { deadLetterFor, originalLine } from './dead-letter.js'

/** Builds a stage from a per-event function; a throwing event is dead-lettered, never rethrown. */
export function perEventStage(name: string, fn: (event: AuditEvent) => void): TransformStage {
  return Object.freeze({
    name,
    process(events: AuditEvent[]): StageResult {
      const out: AuditEvent[] = []
      const deadLetters: DeadLetter[] = []
      for (const event of events) {
        try {
          fn(event)
          out.push(event)
        } catch (err) {
          deadLetters.push(transformDeadLetter(event, name, err))
        }
      }
      return { events: out, deadLetters }
    },
  })
}

/** Told what each stage did with a batch: events in, its result, and the seconds it took. */
export type StageObserver = (stage: string, eventsIn: number, result: StageResult, seconds: number) => void

/**
 * Runs the stages in order. A stage that throws out of process() (a third-party stage that broke the
 * contract) is re-run one event at a time so only the offending records are dead-lettered.
 */
export function applyStages(stages: readonly TransformStage[], events: AuditEvent[], observe?: StageObserver): StageResult {
  let current = events
  const deadLetters: DeadLetter[] = []
  for (const stage of stages) {
    const started = observe === undefined ? 0 : performance.now()
    let result: StageResult
    try {
      result = stage.process(current)
    } catch {
      result = isolate(stage, current)
    }
    observe?.(stage.name, current.length, result, (performance.now() - started) / 1000)
    current = result.events
    deadLetters.push(...result.deadLetters)
  }
  return { events: current, deadLetters }
}

function isolate(stage: TransformStage, events: AuditEvent[]): StageResult {
  const out: AuditEvent[] = []
  const deadLetters: DeadLetter[] = []
  for (const event of events) {
    try {
      const r = stage.process([event])
      out.push(...r.events)
      deadLetters.push(...r.deadLetters)
    } catch (err) {
      deadLetters.push(transformDeadLetter(event, stage.name, err))
    }
  }
  return { events: out, deadLetters }
}

/**
 * The dead letter of an event a transform choked on. The original line (event.original, envelope
 * stripped) is the replayable bytes; the coordinates come from audit.source. The message carries the
 * error's type and text only, truncated: never the event, which may hold credentials in headers.
 */
export function transformDeadLetter(event: AuditEvent, stage: string, err: unknown): DeadLetter {
  const ev = (typeof event === 'object' && event !== null ? event : {}) as Partial<AuditEvent>
  const original = originalLine(ev)
  const coords = typeof ev.audit?.source === 'object' && ev.audit.source !== null ? ev.audit.source : {}
  const record: RawRecord = { value: original, coords }
  const what = err instanceof Error ? `${err.name}: ${err.message}` : String(err)
  const dl = deadLetterFor(record, 'EA_TRANSFORM_FAILED', `stage ${stage}: ${what}`.slice(0, 500), 'transform')
  if (typeof ev.event?.id === 'string') dl.event_id = ev.event.id
  return dl
}
