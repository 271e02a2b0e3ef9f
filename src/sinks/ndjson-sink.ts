import type { Writable } from 'node:stream'
import { compileDeadLetterSerializer, compileEventSerializer } from '../schema/audit-event.js'
import type { DeadLetterSink, Sink } from '../pipeline/component.js'
import { NdjsonWriter } from './ndjson-writer.js'

/** Canonical events as NDJSON (stdout for `parse`, or a file). Every event is accepted: a file has no mapping errors. */
export function createNdjsonEventSink(target: string | Writable, label = typeof target === 'string' ? target : 'stdout'): Sink {
  const serialize = compileEventSerializer()
  const writer = new NdjsonWriter(target, label)
  return {
    name: 'ndjson',
    async start() {
      writer.open()
    },
    async write(events) {
      let body = ''
      for (const e of events) body += serialize(e) + '\n'
      await writer.write(body)
      return { rejected: [] }
    },
    close: () => writer.close(),
  }
}

/** Dead letters as NDJSON; a write failure propagates so that nothing past it is acknowledged. */
export function createNdjsonDeadLetterSink(
  target: string | Writable,
  label = typeof target === 'string' ? target : 'stream',
): DeadLetterSink & {
  readonly written: number
} {
  const serialize = compileDeadLetterSerializer()
  const writer = new NdjsonWriter(target, label)
  let written = 0
  return {
    get written() {
      return written
    },
    async start() {
      writer.check()
    },
    async write(deadLetters) {
      let body = ''
      for (const dl of deadLetters) body += serialize(dl) + '\n'
      await writer.write(body)
      written += deadLetters.length
    },
    close: () => writer.close(),
  }
}
