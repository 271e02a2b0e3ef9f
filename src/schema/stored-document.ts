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

/** Marks an event in its stored form (see storedForm): its document is all there is to write of it. */
const STORED_FORM: unique symbol = Symbol('envoy-audit.stored-form')

/**
 * Keeps the document made while hashing on the event, for the first sink that writes it. `form`: the
 * event is already only its storedFields (a worker's reply), so the document is all there is to write.
 */
export function keepStoredDocument(event: AuditEvent, stored: StoredDocument, form = false): void {
  ;(event as WithStored)[STORED] = stored
  if (form) (event as { [STORED_FORM]?: true })[STORED_FORM] = true
}

/**
 * A hashed event as a sink that writes the stored document reads it: the document and what is read
 * beside it (`@timestamp` to route it, `event.id`, `audit.source` and `audit.hash` to name, acknowledge
 * and ledger it, `audit.redactions` and `audit.finding_codes` for the counters), so the parsed event,
 * its strings and its `event.original` die with the micro-batch that made them instead of living until
 * the sink acknowledges. The document is kept, not taken: a stored form is never serialized (that would
 * write a document of these few fields), so every sink and every retry reads the same bytes.
 *
 * Undefined when the event must stay whole: it has no stored document, or findings (the findings
 * documents and the alerts read the event's fields).
 */
export function storedForm(event: AuditEvent): AuditEvent | undefined {
  const stored = (event as WithStored)[STORED]
  const hash = event.audit.hash
  if (stored === undefined || hash === undefined || stored.hash !== hash) return undefined
  if (event.audit.findings !== undefined && event.audit.findings.length > 0) return undefined
  const form = storedFields(event) as WithStored & { [STORED_FORM]?: true }
  form[STORED] = stored
  form[STORED_FORM] = true
  return form
}

/** The fields of an event without findings that travel with its stored document (see storedForm). */
export function storedFields(e: AuditEvent): AuditEvent {
  const audit: Partial<AuditEvent['audit']> = { source: e.audit.source, hash: e.audit.hash }
  if (e.audit.redactions !== undefined) audit.redactions = e.audit.redactions
  if (e.audit.finding_codes !== undefined) audit.finding_codes = e.audit.finding_codes
  return { '@timestamp': e['@timestamp'], event: { id: e.event.id }, audit } as AuditEvent
}

const isStoredForm = (e: AuditEvent): boolean => (e as { [STORED_FORM]?: true })[STORED_FORM] === true

/**
 * The event as the stores write it, as UTF-8 bytes: the bytes made by the hash stage when the event
 * still carries that stage's hash, else a fresh serialization. Stages after the hash stage must not
 * change events (the hash would be wrong too), which is what makes the kept document safe to reuse.
 * Taken, not shared: the first sink to ask gets it and the event stops holding it while it waits in
 * that sink's buffer; a second sink serializes again. A stored form (storedForm) keeps it.
 */
export function storedBytes(event: AuditEvent, serialize: Serializer<AuditEvent>): Buffer {
  return keptBytes(event) ?? Buffer.from(serialize(event), 'utf8')
}

/** The bytes the hash stage made for the event, taken as storedBytes takes them; undefined when there are none to reuse. */
export function keptBytes(event: AuditEvent): Buffer | undefined {
  const e = event as WithStored
  const cached = e[STORED]
  if (isStoredForm(event)) {
    if (cached === undefined) throw new Error('a stored-form event without its stored document')
    return cached.doc
  }
  if (cached !== undefined) {
    e[STORED] = undefined
    if (event.audit.hash !== undefined && event.audit.hash === cached.hash) return cached.doc
  }
  return undefined
}

/** The stored document as a string (for a sink that writes text). */
export function storedJson(event: AuditEvent, serialize: Serializer<AuditEvent>): string {
  const e = event as WithStored
  const cached = e[STORED]
  if (cached !== undefined || isStoredForm(event)) return storedBytes(event, serialize).toString('utf8')
  return serialize(event)
}

/** storedJson with the document's UTF-8 length (what it adds to a request body). */
export function storedDocument(event: AuditEvent, serialize: Serializer<AuditEvent>): { json: string; bytes: number } {
  const doc = storedBytes(event, serialize)
  return { json: doc.toString('utf8'), bytes: doc.length }
}
