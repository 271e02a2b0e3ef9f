import type { AuditEvent, DeadLetter } from '../../src/schema/audit-event.js'
import type { RawRecord } from '../../src/pipeline/component.js'
import { type ParserConfig, createParser } from '../../src/parse/index.js'

export function rec(value: string | Buffer, line = 1, file = 'fixture.log'): RawRecord {
  return { value, coords: { kind: 'file', file, line, offset: String(line * 100) } }
}

/** Parses one line and returns its event, failing the test with the dead letter's reason otherwise. */
export function eventOf(line: string | Buffer, config?: Partial<ParserConfig>): AuditEvent {
  const r = createParser(config).parseBatch([rec(line)])
  if (r.events.length !== 1) throw new Error(`expected one event, got ${r.deadLetters.map((d) => `${d.reason}: ${d.message}`).join('; ')}`)
  return r.events[0]!
}

export function deadLetterOf(line: string | Buffer, config?: Partial<ParserConfig>): DeadLetter {
  const r = createParser(config).parseBatch([rec(line)])
  if (r.deadLetters.length !== 1) throw new Error(`expected one dead letter, got ${r.events.length} events`)
  return r.deadLetters[0]!
}
