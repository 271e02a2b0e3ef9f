import type { Writable } from 'node:stream'
import { type AuditEvent, compileDeadLetterSerializer, compileEventSerializer } from '../schema/audit-event.js'
import type { DeadLetterSink, Sink } from '../pipeline/component.js'
import { keptBytes } from '../schema/stored-document.js'
import { NdjsonWriter } from './ndjson-writer.js'
import { NdjsonChunks, type NdjsonLine } from './ndjson-chunks.js'

/**
 * Canonical events as NDJSON (stdout for `parse`, or a file). Every event is accepted: a file has no mapping
 * errors. A hashed event is written as the document its hash was computed over (the hash stage made its
 * bytes, copied here as they are), the others are serialized here; either way the lines go into Buffers,
 * not concatenated into a string.
 */
export function createNdjsonEventSink(
  target: string | Writable,
  label = typeof target === 'string' ? target : 'stdout',
  encode: (e: AuditEvent) => NdjsonLine = canonicalEncoder(),
): Sink {
  const writer = new NdjsonWriter(target, label)
  const chunks = new NdjsonChunks(reusesBuffers(target))
  return {
    name: 'ndjson',
    async start() {
      writer.open()
    },
    async write(events) {
      const encoded = chunks.encode(events, encode)
      try {
        await writer.write(encoded.chunks)
      } finally {
        encoded.release()
      }
      return { rejected: [] }
    },
    close: () => writer.close(),
  }
}

/** The canonical document: the bytes the hash stage hashed when it ran, copied as they are; serialized here otherwise. */
export function canonicalEncoder(): (e: AuditEvent) => NdjsonLine {
  const serialize = compileEventSerializer()
  return (e) => {
    const doc = keptBytes(e)
    return doc === undefined ? { json: serialize(e) } : { doc }
  }
}

/** A file this sink opens, or standard output (a file, pipe or terminal): done with a Buffer once it calls back. */
function reusesBuffers(target: string | Writable): boolean {
  return typeof target === 'string' || target === process.stdout
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
  const chunks = new NdjsonChunks(reusesBuffers(target))
  let written = 0
  return {
    get written() {
      return written
    },
    async start() {
      writer.check()
    },
    async write(deadLetters) {
      const encoded = chunks.encode(deadLetters, (dl) => ({ json: serialize(dl) }))
      try {
        await writer.write(encoded.chunks)
      } finally {
        encoded.release()
      }
      written += deadLetters.length
    },
    close: () => writer.close(),
  }
}
