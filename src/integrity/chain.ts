/**
 * The pure parts of tamper evidence: the stored-event hash, the stream an event belongs to, the
 * chain link and the checkpoint MAC. Both the writer (ledger.ts) and `verify` use exactly these
 * functions, so what one computes the other recomputes bit for bit.
 */
import crypto, { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import type { AuditEvent, Serializer } from '../schema/audit-event.js'
import type { SourceCoords } from '../pipeline/component.js'
import type { StageResult, TransformStage } from '../pipeline/component.js'
import { auditEventSchema, compileEventSerializer } from '../schema/audit-event.js'
import fastJson from 'fast-json-stringify'
import { keepStoredDocument } from '../schema/stored-document.js'
import { DocumentBytes } from '../schema/document-bytes.js'
import type { IntegrityKey } from './config.js'
import { writeDocument } from '../generated/document-writer.js'

/** Compiled once, on first use: the same serializer the stores write with. */
let storedSerializer: Serializer<AuditEvent> | undefined
const serializer = (): Serializer<AuditEvent> => (storedSerializer ??= compileEventSerializer())

/**
 * The hash of a stored event: SHA-256 of the event as the schema serializer writes it, without
 * audit.hash itself and without event.ingested and event.created (collector times, different on every
 * replay). The
 * serializer emits keys in schema order whatever the object's key order, so re-serializing the parsed
 * stored JSON reproduces the bytes that were hashed; hashing its output rather than a second canonical
 * form costs one serialization instead of three passes. Tied to the schema version that wrote it.
 */
export function hashStoredEvent(eventJson: string): string {
  return hashParsed(eventJson, serializer())
}

/**
 * The hash as the first release computed it: the same content, but serialized with the schema's
 * required members first (fast-json-stringify's order before src/schema/audit-event.ts dropped the
 * top-level `required` list from the serializer's schema). Stores written then verify with it.
 */
let legacySerializer: Serializer<AuditEvent> | undefined
export function legacyHashStoredEvent(eventJson: string): string {
  legacySerializer ??= fastJson(auditEventSchema as object) as Serializer<AuditEvent>
  return hashParsed(eventJson, legacySerializer)
}

/** Parses stored JSON, drops the fields the hash leaves out, and hashes it as `serialize` writes it. */
function hashParsed(eventJson: string, serialize: Serializer<AuditEvent>): string {
  const doc = JSON.parse(eventJson) as AuditEvent
  if (doc.audit !== undefined) delete doc.audit.hash
  if (doc.event !== undefined) {
    delete doc.event.ingested
    delete doc.event.created
  }
  return createHash('sha256').update(serialize(doc)).digest('hex')
}

/**
 * hashStoredEvent (or, `legacy`, legacyHashStoredEvent) of a stored document already parsed: the
 * fields the hash leaves out are taken off for the serialization and put back, so `verify` parses each
 * stored document once for its hash and its other checks.
 */
export function hashParsedStored(doc: AuditEvent, legacy = false): string {
  const audit = doc.audit as unknown as Record<string, unknown> | undefined
  const event = doc.event as unknown as Record<string, unknown> | undefined
  const saved = { hash: audit?.hash, ingested: event?.ingested, created: event?.created }
  const had = {
    hash: audit !== undefined && 'hash' in audit,
    ingested: event !== undefined && 'ingested' in event,
    created: event !== undefined && 'created' in event,
  }
  if (had.hash) delete audit!.hash
  if (had.ingested) delete event!.ingested
  if (had.created) delete event!.created
  try {
    legacySerializer ??= fastJson(auditEventSchema as object) as Serializer<AuditEvent>
    return createHash('sha256')
      .update((legacy ? legacySerializer : serializer())(doc))
      .digest('hex')
  } finally {
    // Put back in the order they were: the serializer ignores key order, the typed-column check does not care.
    if (had.ingested) event!.ingested = saved.ingested
    if (had.created) event!.created = saved.created
    if (had.hash) audit!.hash = saved.hash
  }
}

/** Hashes what the sink will store (see hashStoredEvent); the event is left as it was. */
export function hashEvent(event: AuditEvent, serialize: Serializer<AuditEvent> = serializer()): string {
  const w = new DocumentBytes(8192)
  w.begin()
  return writeHashed(w, event, serialize)
}

/** The stored document of an event with its hash, as a string: what the hash stage keeps as bytes. */
export function hashAndSerialize(event: AuditEvent, serialize: Serializer<AuditEvent>): { hash: string; json: string; bytes: number } {
  const w = new DocumentBytes(8192)
  w.begin()
  const hash = writeHashed(w, event, serialize)
  const doc = w.current()
  return { hash, json: doc.toString('utf8'), bytes: doc.length }
}

/**
 * Writes the stored document of `event` into `w` (a document begun there) and returns its audit.hash;
 * the event is left as it was. One serialization for both: `audit` is the schema's last top-level
 * property and `hash` the last property of `audit`, and documents are written in schema order, so the
 * document with the hash is the document without it, minus its closing `}}`, plus `,"hash":"…"}}`:
 * byte for byte what serializing the event with audit.hash set gives (tests check this against the
 * serializer on demo events and a property over hostile strings). An event carrying a collector time
 * (left out of the hash) is written a second time, whole.
 *
 * The document is written by the writer generated from the schema (src/generated/document-writer.ts);
 * `serialize` only writes an event that writer leaves to it (a value of an unexpected type).
 */
function writeHashed(w: DocumentBytes, event: AuditEvent, serialize: Serializer<AuditEvent>): string {
  if (!writeDocument(w, event, true)) w.text(serializeUnhashed(event, serialize))
  const hash = sha256Hex(w.current())
  const buf = w.buf
  const p = w.pos
  if (event.event.ingested === undefined && event.event.created === undefined && buf[p - 1] === 0x7d && buf[p - 2] === 0x7d) {
    w.pos = p - 2
    // An empty audit object takes the hash as its only member: no comma.
    w.text(buf[p - 3] === 0x7b ? `"hash":"${hash}"}}` : `,"hash":"${hash}"}}`)
    return hash
  }
  w.abandon()
  const saved = event.audit.hash
  event.audit.hash = hash
  try {
    if (!writeDocument(w, event, false)) w.text(serialize(event))
  } finally {
    if (saved === undefined) delete event.audit.hash
    else event.audit.hash = saved
  }
  return hash
}

/** The hashed form through the compiled serializer: the members the hash leaves out taken off around the call. */
function serializeUnhashed(event: AuditEvent, serialize: Serializer<AuditEvent>): string {
  const saved = event.audit.hash
  const ingested = event.event.ingested
  const created = event.event.created
  delete event.audit.hash
  delete event.event.ingested
  delete event.event.created
  try {
    return serialize(event)
  } finally {
    if (saved !== undefined) event.audit.hash = saved
    if (ingested !== undefined) event.event.ingested = ingested
    if (created !== undefined) event.event.created = created
  }
}

/**
 * SHA-256 in hex. crypto.hash (Node 20.12+) hashes in one call without building a Hash object, which
 * costs about as much as hashing a 3 KB document; older Node 20 releases take createHash.
 */
const oneShot = (crypto as { hash?: (algorithm: string, data: string | Uint8Array, encoding: 'hex') => string }).hash
export const sha256Hex: (data: string | Uint8Array) => string =
  oneShot !== undefined ? (data) => oneShot('sha256', data, 'hex') : (data) => createHash('sha256').update(data).digest('hex')

/**
 * The last stage: sets audit.hash on every event and keeps its stored document, written into one
 * Buffer for the batch (src/schema/document-bytes.ts), for the sinks. Pure per event.
 */
export function createHashStage(): TransformStage {
  const serialize = compileEventSerializer()
  // Sized from the last batch, so a batch's documents usually fit one Buffer.
  let perEvent = 4096
  return Object.freeze({
    name: 'integrity',
    process(events: AuditEvent[]): StageResult {
      if (events.length === 0) return { events, deadLetters: [] }
      const w = new DocumentBytes(Math.ceil(perEvent * events.length * 1.25))
      let total = 0
      for (const e of events) {
        w.begin()
        const hash = writeHashed(w, e, serialize)
        e.audit.hash = hash
        const doc = w.current()
        total += doc.length
        keepStoredDocument(e, { hash, doc })
      }
      perEvent = Math.max(256, Math.ceil(total / events.length))
      return { events, deadLetters: [] }
    },
  })
}

/**
 * The stream an event is chained in: one chain per Kafka partition or per file, because only within
 * one of those do records have an order that every replay reproduces.
 */
export function streamOf(coords: SourceCoords | undefined): string {
  if (coords?.kind === 'kafka') return `kafka:${coords.topic ?? ''}/${coords.partition ?? ''}`
  if (coords?.kind === 'stdin') return 'stdin'
  return `file:${coords?.file ?? ''}`
}

/** The record's position in its stream: the Kafka offset or the byte offset, else the line number. */
export function positionOf(coords: SourceCoords | undefined): bigint | undefined {
  if (coords?.offset !== undefined && /^\d{1,19}$/.test(coords.offset)) return BigInt(coords.offset)
  if (coords?.line !== undefined && Number.isSafeInteger(coords.line) && coords.line >= 0) return BigInt(coords.line)
  return undefined
}

export function genesis(stream: string): string {
  return createHash('sha256').update(`envoy-audit-chain-v1\n${stream}`).digest('hex')
}

export function link(prev: string, eventId: string, hash: string): string {
  return createHash('sha256').update(`${prev}\n${eventId}\n${hash}`).digest('hex')
}

export interface CheckpointFields {
  stream: string
  pos: string
  count: number
  head: string
}

export function checkpointMac(key: IntegrityKey, c: CheckpointFields): string {
  return createHmac('sha256', key.bytes).update(`envoy-audit-checkpoint-v1\n${c.stream}\n${c.pos}\n${c.count}\n${c.head}`).digest('hex')
}

export function macMatches(key: IntegrityKey, c: CheckpointFields, mac: string): boolean {
  const want = Buffer.from(checkpointMac(key, c), 'hex')
  const got = Buffer.from(mac, 'hex')
  return got.length === want.length && timingSafeEqual(got, want)
}
