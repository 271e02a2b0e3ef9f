/**
 * The event id the pipeline gives a record (src/pipeline/event-id.ts: the access-log line and the
 * workload its envelope names, never where it was read), for tests and drills that predict the ids of
 * the records they produced. Undefined when the record is no access record (a dead letter).
 */
import { createParser, type RecordParser } from '../../src/parse/index.js'

let parser: RecordParser | undefined

export function expectedEventId(value: Buffer | string): string | undefined {
  parser ??= createParser()
  const r = parser.parseBatch([{ value, coords: { kind: 'kafka' } }])
  // A CRI partial line would wait for its final line: each record is predicted on its own.
  parser.flush()
  return r.events[0]?.event.id
}
