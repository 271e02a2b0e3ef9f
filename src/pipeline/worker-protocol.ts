/**
 * What the runner and its transform worker threads (worker-pool.ts) send each other. A job is one
 * micro-batch: the records' bytes packed into one ArrayBuffer, transferred rather than copied, and
 * their coordinates. A reply is the slice's dead letters (structured clone), its events and, when the
 * hash stage ran, the stored documents it wrote, packed into one transferred ArrayBuffer and put back
 * on their events, so no sink serializes an event again.
 *
 * Events cross as a structured clone, which the main thread pays for, per object, when it takes the
 * reply. With the `stored` reply shape a hashed event without findings crosses as only what the main
 * thread reads of it next to its document: `@timestamp`, `event.id`, `audit.source`, `audit.hash` and
 * the counters' `audit.redactions` (the OpenSearch sink routes, names and ledgers it by these, and
 * sends the document's bytes). Events with findings cross whole: the findings documents and the alerts
 * read them. The `events` shape sends every event whole, for sinks that read any field.
 *
 * A worker never keeps state from one job to the next: a job whose records leave the worker's parser
 * holding a CRI partial line, or joining one, is answered `redo`, its state dropped, and the runner
 * parses that slice on its own thread, where partial lines are joined across slices and batches.
 */
import type { MessagePort, Transferable } from 'node:worker_threads'
import type { AuditEvent } from '../schema/audit-event.js'
import { compileEventSerializer, type Serializer } from '../schema/audit-event.js'
import { keepStoredDocument, storedBytes, storedFields } from '../schema/stored-document.js'
import type { RawRecord, SourceCoords, StageCounts, TransformStage } from './component.js'
import type { RecordParser } from '../parse/index.js'
import type { ErrorCode } from '../errors.js'
import { transformSlice, type SliceResult } from './transform-slice.js'

/** A record without its bytes: the bytes are in the job's buffer, or `text` when the source read a string. */
interface PackedRecord {
  coords: SourceCoords
  /** End of this record's bytes in the job's buffer (it starts where the previous Buffer value ended). */
  end?: number
  text?: string
  headers?: Record<string, string>
  key?: Uint8Array | string
  cluster?: string
  invalid?: { code: ErrorCode; message: string }
}

/**
 * What a worker sends back of an event: `events`, all of it; `stored`, only what a sink that writes the
 * stored document reads (see above). Chosen by whoever knows the sink (src/compose).
 */
export type ReplyShape = 'events' | 'stored'

export interface TransformJob {
  id: number
  bytes: ArrayBuffer
  records: PackedRecord[]
}

export interface TransformReply {
  id: number
  /** The slice touched a CRI partial line: parse it on the runner's thread. */
  redo?: true
  /** The job threw outside the stages' own handling (never expected): parse it on the runner's thread. */
  failed?: string
  result?: SliceResult
  /** The stored documents, back to back, and each event's document length (-1: none). */
  docs?: ArrayBuffer
  docLengths?: Int32Array
  counts?: [string, StageCounts][]
}

/** Packs a slice for a worker; the slice's records are left untouched (a failed job is re-run from them). */
export function packJob(id: number, slice: readonly RawRecord[]): { job: TransformJob; transfer: Transferable[] } {
  let size = 0
  for (const r of slice) if (typeof r.value !== 'string') size += r.value.length
  const bytes = new ArrayBuffer(size)
  const view = new Uint8Array(bytes)
  let pos = 0
  const records: PackedRecord[] = new Array(slice.length)
  for (let i = 0; i < slice.length; i++) {
    const r = slice[i] as RawRecord
    const p: PackedRecord = { coords: r.coords }
    if (typeof r.value === 'string') p.text = r.value
    else {
      view.set(r.value, pos)
      pos += r.value.length
      p.end = pos
    }
    if (r.headers !== undefined) p.headers = r.headers
    if (r.key !== undefined) p.key = r.key
    if (r.cluster !== undefined) p.cluster = r.cluster
    if (r.invalid !== undefined) p.invalid = r.invalid
    records[i] = p
  }
  return { job: { id, bytes, records }, transfer: [bytes] }
}

function unpackJob(job: TransformJob): RawRecord[] {
  const out: RawRecord[] = new Array(job.records.length)
  let pos = 0
  for (let i = 0; i < job.records.length; i++) {
    const p = job.records[i] as PackedRecord
    let value: Buffer | string
    if (p.text !== undefined) value = p.text
    else {
      value = Buffer.from(job.bytes, pos, (p.end as number) - pos)
      pos = p.end as number
    }
    const r: RawRecord = { value, coords: p.coords }
    // Header names are untrusted: back into a null-prototype object, as the source made them.
    if (p.headers !== undefined) r.headers = Object.assign(Object.create(null) as Record<string, string>, p.headers)
    // A Buffer crosses as a Uint8Array.
    if (p.key !== undefined) r.key = typeof p.key === 'string' ? p.key : Buffer.from(p.key.buffer, p.key.byteOffset, p.key.byteLength)
    if (p.cluster !== undefined) r.cluster = p.cluster
    if (p.invalid !== undefined) r.invalid = p.invalid
    out[i] = r
  }
  return out
}

/** The worker's side: answers every job on `port` with the parser and stages it was built with. */
export function serveTransformJobs(
  port: MessagePort,
  parser: RecordParser,
  stages: readonly TransformStage[],
  shape: ReplyShape = 'events',
): void {
  let serialize: Serializer<AuditEvent> | undefined
  port.on('message', (job: TransformJob) => {
    let reply: TransformReply
    let transfer: Transferable[] = []
    try {
      const counts: [string, StageCounts][] = []
      const result = transformSlice(parser, stages, unpackJob(job), (name, c) => counts.push([name, c]))
      if (parser.held() > 0 || result.partialsHeld !== 0) {
        parser.flush()
        reply = { id: job.id, redo: true }
      } else {
        reply = { id: job.id, result, counts }
        if (result.events.some((e) => e.audit.hash !== undefined)) {
          serialize ??= compileEventSerializer()
          const docs: (Buffer | undefined)[] = result.events.map((e) =>
            e.audit.hash === undefined ? undefined : storedBytes(e, serialize!),
          )
          let size = 0
          for (const d of docs) size += d?.length ?? 0
          // A fresh ArrayBuffer, never Buffer.allocUnsafe's shared pool, which must not be transferred.
          const out = new ArrayBuffer(size)
          const view = new Uint8Array(out)
          const lengths = new Int32Array(docs.length)
          let pos = 0
          for (let i = 0; i < docs.length; i++) {
            const d = docs[i]
            if (d === undefined) lengths[i] = -1
            else {
              view.set(d, pos)
              pos += d.length
              lengths[i] = d.length
            }
          }
          reply.docs = out
          reply.docLengths = lengths
          transfer = [out, lengths.buffer]
          if (shape === 'stored') result.events = result.events.map((e, i) => (lengths[i]! >= 0 ? slim(e) : e))
        }
      }
    } catch (err) {
      parser.flush()
      reply = { id: job.id, failed: err instanceof Error ? `${err.name}: ${err.message}` : String(err) }
      transfer = []
    }
    port.postMessage(reply, transfer)
  })
}

/** What the main thread reads of a hashed event without findings, next to its stored document. */
function slim(e: AuditEvent): AuditEvent {
  if (e.audit.findings !== undefined && e.audit.findings.length > 0) return e
  return storedFields(e)
}

/**
 * The runner's side: the reply's events with their stored documents back on them; with the `stored`
 * shape the slimmed events as stored forms (stored-document.ts), which are never serialized again.
 */
export function replyEvents(reply: TransformReply, shape: ReplyShape = 'events'): AuditEvent[] {
  const events = reply.result?.events ?? []
  if (reply.docs === undefined || reply.docLengths === undefined) return events
  const docs = Buffer.from(reply.docs)
  let pos = 0
  for (let i = 0; i < events.length; i++) {
    const n = reply.docLengths[i] as number
    if (n < 0) continue
    const e = events[i] as AuditEvent
    const slimmed = shape === 'stored' && (e.audit.findings === undefined || e.audit.findings.length === 0)
    keepStoredDocument(e, { hash: e.audit.hash as string, doc: docs.subarray(pos, pos + n) }, slimmed)
    pos += n
  }
  return events
}
