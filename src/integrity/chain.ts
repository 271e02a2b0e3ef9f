/**
 * The pure parts of tamper evidence: the stored-event hash, the stream an event belongs to, the
 * chain link and the checkpoint MAC. Both the writer (ledger.ts) and `verify` use exactly these
 * functions, so what one computes the other recomputes bit for bit.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import type { AuditEvent, Serializer } from '../schema/audit-event.js'
import type { SourceCoords } from '../pipeline/component.js'
import type { StageResult, TransformStage } from '../pipeline/component.js'
import { compileEventSerializer } from '../schema/audit-event.js'
import type { IntegrityKey } from './config.js'

/** Compiled once, on first use: the same serializer the stores write with. */
let storedSerializer: Serializer<AuditEvent> | undefined
const serializer = (): Serializer<AuditEvent> => (storedSerializer ??= compileEventSerializer())

/**
 * The hash of a stored event: SHA-256 of the event as the schema serializer writes it, without
 * audit.hash itself and without event.ingested (collector time, different on every replay). The
 * serializer emits keys in schema order whatever the object's key order, so re-serializing the parsed
 * stored JSON reproduces the bytes that were hashed; hashing its output rather than a second canonical
 * form costs one serialization instead of three passes. Tied to the schema version that wrote it.
 */
export function hashStoredEvent(eventJson: string): string {
  const doc = JSON.parse(eventJson) as AuditEvent
  if (doc.audit !== undefined) delete doc.audit.hash
  if (doc.event !== undefined) delete doc.event.ingested
  return createHash('sha256').update(serializer()(doc)).digest('hex')
}

/** Hashes what the sink will store (see hashStoredEvent); the event is left as it was. */
export function hashEvent(event: AuditEvent, serialize: Serializer<AuditEvent> = serializer()): string {
  const saved = event.audit.hash
  const ingested = event.event.ingested
  delete event.audit.hash
  delete event.event.ingested
  try {
    return createHash('sha256').update(serialize(event)).digest('hex')
  } finally {
    if (saved !== undefined) event.audit.hash = saved
    if (ingested !== undefined) event.event.ingested = ingested
  }
}

/** The last stage: sets audit.hash on every event. Pure per event; a failure dead-letters only that one. */
export function createHashStage(): TransformStage {
  const serialize = compileEventSerializer()
  return Object.freeze({
    name: 'integrity',
    process(events: AuditEvent[]): StageResult {
      for (const e of events) e.audit.hash = hashEvent(e, serialize)
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
