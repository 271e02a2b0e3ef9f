/**
 * One micro-batch through the parser and the transform stages: the code the runner runs on its own
 * thread and each worker thread runs for it (worker-protocol.ts), so both paths run the same functions
 * in the same order and write the same documents.
 */
import type { AuditEvent, DeadLetter } from '../schema/audit-event.js'
import type { RawRecord, StageCounts, TransformStage } from './component.js'
import type { RecordParser } from '../parse/index.js'
import { applyStages } from './transforms.js'

export interface SliceResult {
  events: AuditEvent[]
  /** Parse dead letters first, then the stages', as the runner has always ordered them. */
  parseDeadLetters: DeadLetter[]
  stageDeadLetters: DeadLetter[]
  parsed: number
  partialsHeld: number
}

/** Told what each stage (parse included) did with the slice. */
export type SliceObserver = (stage: string, counts: StageCounts) => void

const seconds = (since: number): number => (performance.now() - since) / 1000

export function transformSlice(
  parser: RecordParser,
  stages: readonly TransformStage[],
  slice: RawRecord[],
  observe: SliceObserver,
): SliceResult {
  const started = performance.now()
  const parsed = parser.parseBatch(slice)
  observe('parse', { in: slice.length, out: parsed.events.length, deadLettered: parsed.deadLetters.length, seconds: seconds(started) })
  const result = applyStages(stages, parsed.events, (name, eventsIn, r, s) => {
    observe(name, { in: eventsIn, out: r.events.length, deadLettered: r.deadLetters.length, seconds: s })
  })
  return {
    events: result.events,
    parseDeadLetters: parsed.deadLetters,
    stageDeadLetters: result.deadLetters,
    parsed: parsed.events.length,
    partialsHeld: parsed.counts.partialsHeld,
  }
}
