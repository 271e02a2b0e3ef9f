/**
 * The stored JSON of a hashed event, made while hashing, so the sinks do not serialize the event a
 * second time (a 3 KB document costs about as much to serialize as to parse and transform). Kept on
 * the event under a symbol: serializers and JSON.stringify skip symbol keys, so it never reaches a
 * document or a log. Of serializing twice, a WeakMap side table and the symbol, the symbol measured
 * cheapest and steadiest (docs/performance.md).
 *
 * Here rather than in src/integrity/ so that every sink reads the document without depending on the
 * hashing: the hash stage (src/integrity/chain.ts) keeps the document, the sinks take it.
 */
import type { AuditEvent, Serializer } from './audit-event.js'

/** A serialized event, the audit.hash it carries, and its UTF-8 length. */
export type StoredDocument = { hash: string; json: string; bytes: number }

const STORED: unique symbol = Symbol('envoy-audit.stored')
type WithStored = AuditEvent & { [STORED]?: StoredDocument | undefined }

/** Keeps the document made while hashing on the event, for the first sink that writes it. */
export function keepStoredDocument(event: AuditEvent, stored: StoredDocument): void {
  ;(event as WithStored)[STORED] = stored
}

/**
 * The event as the stores write it: the string made by the hash stage when the event still carries
 * that stage's hash, else a fresh serialization. Stages after the hash stage must not change events
 * (the hash would be wrong too), which is what makes the cached string safe to reuse. Taken, not
 * shared: the first sink to ask gets it and the event stops holding a second copy of itself while it
 * waits in that sink's buffer; a second sink serializes again.
 */
export function storedJson(event: AuditEvent, serialize: Serializer<AuditEvent>): string {
  return storedDocument(event, serialize).json
}

/** storedJson with the document's UTF-8 length (what it adds to a bulk body), known without re-reading it. */
export function storedDocument(event: AuditEvent, serialize: Serializer<AuditEvent>): { json: string; bytes: number } {
  const e = event as WithStored
  const cached = e[STORED]
  if (cached !== undefined) {
    e[STORED] = undefined
    // Compared by the hash it was made with, not by reading the string's tail: the document is still
    // a concatenation, and reading it would flatten a 3 KB copy that the bulk body's join copies again.
    if (event.audit.hash !== undefined && event.audit.hash === cached.hash) return cached
  }
  const json = serialize(event)
  return { json, bytes: Buffer.byteLength(json, 'utf8') }
}
