/**
 * The pure parts of tamper evidence: the stored-event hash, the stream an event belongs to, the
 * chain link and the checkpoint MAC. Both the writer (ledger.ts) and `verify` use exactly these
 * functions, so what one computes the other recomputes bit for bit.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import type { AuditEvent, Serializer } from '../schema/audit-event.js'
import type { SourceCoords } from '../pipeline/component.js'
import type { StageResult, TransformStage } from '../pipeline/component.js'
import { auditEventSchema, compileEventSerializer } from '../schema/audit-event.js'
import fastJson from 'fast-json-stringify'
import { keepStoredDocument, type StoredDocument } from '../schema/stored-document.js'
import type { IntegrityKey } from './config.js'

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

/** Hashes what the sink will store (see hashStoredEvent); the event is left as it was. */
export function hashEvent(event: AuditEvent, serialize: Serializer<AuditEvent> = serializer()): string {
  return hashAndSerialize(event, serialize).hash
}

/**
 * One serialization for both the hash and the stored document. `audit` is the schema's last top-level
 * property and `hash` the last property of `audit`, and the serializer writes keys in schema order,
 * so the document with the hash is the document without it, minus its closing `}}`, plus
 * `,"hash":"…"}}`: byte for byte what serializing the event with audit.hash set gives (a test checks
 * this against the serializer on 1,500 demo events and a property over hostile strings).
 */
export function hashAndSerialize(event: AuditEvent, serialize: Serializer<AuditEvent>): StoredDocument {
  const saved = event.audit.hash
  const ingested = event.event.ingested
  const created = event.event.created
  delete event.audit.hash
  delete event.event.ingested
  delete event.event.created
  let unhashed: string
  try {
    unhashed = serialize(event)
  } finally {
    if (saved !== undefined) event.audit.hash = saved
    if (ingested !== undefined) event.event.ingested = ingested
    if (created !== undefined) event.event.created = created
  }
  const hash = createHash('sha256').update(unhashed).digest('hex')
  // Only when the trick is exact: no collector time (it would have to be spliced in too) and the shape ends in audit.
  if (ingested !== undefined || created !== undefined || !unhashed.endsWith('}}')) return { hash, json: '', bytes: 0 }
  // UTF-8 length taken here, where the string is flat (hashing flattened it); measuring the spliced
  // string later would flatten a copy of it just to count. The splice adds ASCII only.
  const tail = `,"hash":"${hash}"}}`
  return { hash, json: `${unhashed.slice(0, -2)}${tail}`, bytes: Buffer.byteLength(unhashed, 'utf8') - 2 + tail.length }
}

/** The last stage: sets audit.hash on every event. Pure per event; a failure dead-letters only that one. */
export function createHashStage(): TransformStage {
  const serialize = compileEventSerializer()
  return Object.freeze({
    name: 'integrity',
    process(events: AuditEvent[]): StageResult {
      for (const e of events) {
        const stored = hashAndSerialize(e, serialize)
        e.audit.hash = stored.hash
        // The result itself is kept: it already holds the document, the hash it carries and its length.
        if (stored.json !== '') keepStoredDocument(e, stored)
      }
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
