/** Runs records through the real batch handler with in-memory sinks, keeping every serialized byte. */
import type { AuditEvent, DeadLetter } from '../../src/schema/audit-event.js'
import { compileDeadLetterSerializer, compileEventSerializer } from '../../src/schema/audit-event.js'
import type { DeadLetterSink, RawRecord, Sink } from '../../src/pipeline/component.js'
import { createBatchHandler } from '../../src/pipeline/runner.js'
import { pipelineFromOptions } from '../../src/cli/pipeline-options.js'

const serializeEvent = compileEventSerializer()
const serializeDeadLetter = compileDeadLetterSerializer()

export interface Captured {
  events: AuditEvent[]
  deadLetters: DeadLetter[]
  /** Every serialized event and dead letter, plus the decoded bytes of raw_base64 (latin1). */
  outputs: string[]
  redactions: number
}

export async function runRecords(records: RawRecord[], redact = true): Promise<Captured> {
  const cap: Captured = { events: [], deadLetters: [], outputs: [], redactions: 0 }
  const sink: Sink = {
    name: 'memory',
    start: async () => undefined,
    close: async () => undefined,
    write: async (events) => {
      for (const e of events) {
        cap.events.push(e)
        cap.outputs.push(serializeEvent(e))
      }
      return { rejected: [] }
    },
  }
  const dlq: DeadLetterSink = {
    start: async () => undefined,
    close: async () => undefined,
    write: async (dls) => {
      for (const d of dls) {
        cap.deadLetters.push(d)
        cap.outputs.push(serializeDeadLetter(d))
        if (d.raw_base64 !== undefined) cap.outputs.push(Buffer.from(d.raw_base64, 'base64').toString('latin1'))
      }
    },
  }
  const handler = createBatchHandler({ ...pipelineFromOptions({ format: 'auto', redact }), sink, deadLetters: dlq })
  await handler(records)
  cap.redactions = handler.counters.redactions
  return cap
}

export function fileRecord(value: string | Buffer, line = 1, headers?: Record<string, string>): RawRecord {
  return { value, coords: { kind: 'file', file: 'redact.log', line, offset: String(line * 1000) }, ...(headers ? { headers } : {}) }
}
