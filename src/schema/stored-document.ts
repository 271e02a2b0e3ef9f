/**
 * The stored document of a hashed event, made while hashing, so the sinks do not serialize the event a
 * second time (a 3 KB document costs about as much to serialize as to parse and transform). It is kept
 * as UTF-8 bytes, a view of the Buffer the hash stage wrote its batch into (document-bytes.ts), so
 * while an event waits in a sink its document is off the JavaScript heap. Kept on the event under a
 * symbol: serializers and JSON.stringify skip symbol keys, so it never reaches a document or a log. Of
 * serializing twice, a WeakMap side table and the symbol, the symbol measured cheapest and steadiest
 * (docs/performance.md).
 *
 * Here rather than in src/integrity/ so that every sink reads the document without depending on the
 * hashing: the hash stage (src/integrity/chain.ts) keeps the document, the sinks take it.
 */
import type { AuditEvent, Serializer } from './audit-event.js'

/** A serialized event (UTF-8) and the audit.hash it carries. */
export type StoredDocument = { hash: string; doc: Buffer }

const STORED: unique symbol = Symbol('envoy-audit.stored')
type WithStored = AuditEvent & { [STORED]?: StoredDocument | undefined }

/** Keeps the document made while hashing on the event, for the first sink that writes it. */
export function keepStoredDocument(event: AuditEvent, stored: StoredDocument): void {
  ;(event as WithStored)[STORED] = stored
}

/**
 * The event as the stores write it, as UTF-8 bytes: the bytes made by the hash stage when the event
 * still carries that stage's hash, else a fresh serialization. Stages after the hash stage must not
 * change events (the hash would be wrong too), which is what makes the kept document safe to reuse.
 * Taken, not shared: the first sink to ask gets it and the event stops holding it while it waits in
 * that sink's buffer; a second sink serializes again.
 */
export function storedBytes(event: AuditEvent, serialize: Serializer<AuditEvent>): Buffer {
  const e = event as WithStored
  const cached = e[STORED]
  if (cached !== undefined) {
    e[STORED] = undefined
    if (event.audit.hash !== undefined && event.audit.hash === cached.hash) return cached.doc
  }
  return Buffer.from(serialize(event), 'utf8')
}

/** The stored document as a string (for a sink that writes text). */
export function storedJson(event: AuditEvent, serialize: Serializer<AuditEvent>): string {
  const e = event as WithStored
  const cached = e[STORED]
  if (cached !== undefined) return storedBytes(event, serialize).toString('utf8')
  return serialize(event)
}

/** storedJson with the document's UTF-8 length (what it adds to a request body). */
export function storedDocument(event: AuditEvent, serialize: Serializer<AuditEvent>): { json: string; bytes: number } {
  const doc = storedBytes(event, serialize)
  return { json: doc.toString('utf8'), bytes: doc.length }
}
