/**
 * Turns events into bulk operations: one `create` per event into `<eventsAlias>-<period>` and one per
 * finding into `<findingsAlias>-<period>`, the period being the event's @timestamp (routing.ts). `_id` is
 * the deterministic event.id (and `<event.id>:<n>` for findings), and `create` is chosen deliberately: a
 * replay re-sends the same ids to the same indices and gets 409, which the sink counts as success, so
 * nothing is ever indexed twice. Both documents are written from the schemas only (schema keys only:
 * untrusted keys cannot reach the index): the event's is the hash stage's bytes (stored-document.ts), a
 * finding's is written by the generated finding writer (src/generated/finding-writer.ts) or, for the values
 * it leaves to them, by `findingDocuments` and the compiled fast-json-stringify serializer, byte for byte
 * the same.
 */
import fastJson from 'fast-json-stringify'
import findingSchemaJson from '../../../schemas/opensearch/finding.schema.json' with { type: 'json' }
import { compileEventSerializer, type AuditEvent, type Serializer } from '../../schema/audit-event.js'
import { storedBytes } from '../../schema/stored-document.js'
import { DocumentBytes } from '../../schema/document-bytes.js'
import { eventNamespace } from '../../schema/event-namespace.js'
import { writeFindingDocument } from '../../generated/finding-writer.js'
import type { Granularity } from './routing.js'
import type { FindingDocument } from '../../generated/types.js'

export const findingSchema: Readonly<Record<string, unknown>> = findingSchemaJson
export const FINDING_SCHEMA_VERSION: number = (findingSchemaJson as { 'x-schema-version': number })['x-schema-version']

/** The findings-index document, generated from schemas/opensearch/finding.schema.json (`npm run generate`). */
export type { FindingDocument } from '../../generated/types.js'

/** Drops undefined members and empty objects so documents carry only what is known. */
function compact<T extends object>(obj: T): T | undefined {
  const out: Record<string, unknown> = {}
  let empty = true
  // Only literals built below reach here (no untrusted keys), so for-in over own keys is exact.
  for (const k in obj) {
    const v = (obj as Record<string, unknown>)[k]
    if (v === undefined) continue
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const c = compact(v as object)
      if (c === undefined) continue
      out[k] = c
    } else out[k] = v
    empty = false
  }
  return empty ? undefined : (out as T)
}

export { eventNamespace }

/**
 * The findings-index documents of an event, as objects. The bulk body writes them with the generated
 * finding writer, from the x-from of schemas/opensearch/finding.schema.json, which
 * test/schema/finding-writer.test.ts holds to what this builds.
 */
export function findingDocuments(e: AuditEvent): FindingDocument[] {
  const findings = e.audit.findings ?? []
  if (findings.length === 0) return []
  const src = e.mesh?.source
  const dst = e.mesh?.destination
  const shared =
    compact({
      namespace: eventNamespace(e),
      source: { ip: e.source?.ip, port: e.source?.port },
      destination: { ip: e.destination?.ip, port: e.destination?.port, address: e.destination?.address, domain: e.destination?.domain },
      http: { request: { method: e.http?.request?.method }, response: { status_code: e.http?.response?.status_code } },
      mesh: {
        reporter: e.mesh?.reporter,
        upstream_cluster: e.mesh?.upstream_cluster,
        source: {
          spiffe_id: src?.spiffe_id,
          trust_domain: src?.trust_domain,
          namespace: src?.namespace,
          service_account: src?.service_account,
          workload: src?.workload,
        },
        destination: {
          service: dst?.service,
          namespace: dst?.namespace,
          spiffe_id: dst?.spiffe_id,
          service_account: dst?.service_account,
          workload: dst?.workload,
        },
      },
      kubernetes: { namespace: e.kubernetes?.namespace, pod: e.kubernetes?.pod },
    }) ?? {}
  return findings.map((f, index) => ({
    '@timestamp': e['@timestamp'],
    event: compact({ id: e.event.id, action: e.event.action, outcome: e.event.outcome }) as FindingDocument['event'],
    finding: compact({
      code: f.code,
      severity: f.severity,
      controls: f.controls,
      message: f.message,
      policy: f.policy ?? e.envoy.rbac_policy,
      index,
    }) as FindingDocument['finding'],
    ...shared,
  }))
}

export function findingId(eventId: string, index: number): string {
  return `${eventId}:${index}`
}

/**
 * One bulk operation: action line + document line, ready to concatenate into an NDJSON body. An event's
 * operation is its action line as text and its document as the UTF-8 bytes the hash stage wrote
 * (stored-document.ts), so the document is never turned back into a string; a finding's is its action
 * line and the bytes the generated finding writer wrote, or all text where the serializer wrote it.
 */
export interface BulkOp {
  /** Position of the owning event in the write call's batch. */
  owner: number
  kind: 'event' | 'finding'
  id: string
  /** The concrete index the operation writes to. */
  index: string
  /** The operation as text; when `doc` is set, the action line only, followed by `doc` and a newline. */
  text: string
  doc?: Buffer
  /** UTF-8 byte length of `text`: what the operation adds to a request body. */
  bytes: number
}

/** The NDJSON request body for a run of operations: one Buffer, each part copied into it once. */
export function bulkBody(ops: readonly Pick<BulkOp, 'text' | 'doc' | 'bytes'>[]): Buffer {
  let size = 0
  for (let i = 0; i < ops.length; i++) size += (ops[i] as BulkOp).bytes
  const body = Buffer.allocUnsafe(size)
  let pos = 0
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i] as BulkOp
    pos += body.write(op.text, pos)
    if (op.doc !== undefined) {
      body.set(op.doc, pos)
      pos += op.doc.length
      body[pos++] = 0x0a
    }
  }
  // Exact unless an operation's `bytes` was wrong: never send uninitialized memory.
  return pos === size ? body : body.subarray(0, pos)
}

/** The concrete index for an alias and a period suffix (routing.ts), e.g. `envoy-audit-events-2026.03.01`. */
export function bucketIndex(alias: string, suffix: string): string {
  return `${alias}-${suffix}`
}

/** Size of the buffers finding documents are written into (outside the JavaScript heap). */
const FINDING_CHUNK = 64 * 1024
/** Room left below which the next document goes into a new buffer, so that one seldom has to move mid-document. */
const FINDING_ROOM = 4 * 1024

export class BulkOpBuilder {
  private readonly serializeEvent: Serializer<AuditEvent> = compileEventSerializer()
  private readonly serializeFinding = fastJson(findingSchemaJson as object) as Serializer<FindingDocument>
  /** Action-line prefixes per period: a batch spans a handful of periods at most. */
  private readonly prefixes = new Map<string, { events: string; findings: string; eventsIndex: string; findingsIndex: string }>()
  /** Where finding documents are written; each operation keeps a view of its bytes (see findingWriter()). */
  private findingBytes = new DocumentBytes(FINDING_CHUNK)

  constructor(
    private readonly eventsAlias: string,
    private readonly findingsAlias: string,
    private readonly writeFindings: boolean,
    readonly granularity: Granularity = 'day',
  ) {}

  private prefixFor(suffix: string): { events: string; findings: string; eventsIndex: string; findingsIndex: string } {
    let p = this.prefixes.get(suffix)
    if (p === undefined) {
      if (this.prefixes.size > 1000) this.prefixes.clear()
      const eventsIndex = bucketIndex(this.eventsAlias, suffix)
      const findingsIndex = bucketIndex(this.findingsAlias, suffix)
      p = {
        eventsIndex,
        findingsIndex,
        events: `{"create":{"_index":${JSON.stringify(eventsIndex)},"_id":`,
        findings: `{"create":{"_index":${JSON.stringify(findingsIndex)},"_id":`,
      }
      this.prefixes.set(suffix, p)
    }
    return p
  }

  /** The operations for one event: its own document first, then its findings. */
  opsFor(event: AuditEvent, owner: number, suffix: string): BulkOp[] {
    const ops: BulkOp[] = []
    this.appendOps(ops, event, owner, suffix)
    return ops
  }

  /** Appends the operations for one event, dated `suffix`, to `ops` (no intermediate array per event). */
  appendOps(ops: BulkOp[], event: AuditEvent, owner: number, suffix: string): void {
    const id = event.event.id
    const p = this.prefixFor(suffix)
    const head = `${p.events}${JSON.stringify(id)}}}\n`
    const doc = storedBytes(event, this.serializeEvent)
    ops.push({
      owner,
      kind: 'event',
      id,
      index: p.eventsIndex,
      text: head,
      doc,
      bytes: Buffer.byteLength(head, 'utf8') + doc.length + 1,
    })
    const findings = event.audit.findings
    if (!this.writeFindings || findings === undefined || findings.length === 0) return
    const first = ops.length
    for (let i = 0; i < findings.length; i++) {
      const fid = findingId(id, i)
      const action = `${p.findings}${JSON.stringify(fid)}}}\n`
      const w = this.findingWriter()
      w.begin()
      if (!writeFindingDocument(w, event, i)) {
        // A value the writer leaves to the serializer: every finding of the event the way it always was.
        ops.length = first
        this.appendSerializedFindings(ops, event, owner, p)
        return
      }
      const doc = w.current()
      ops.push({
        owner,
        kind: 'finding',
        id: fid,
        index: p.findingsIndex,
        text: action,
        doc,
        bytes: Buffer.byteLength(action, 'utf8') + doc.length + 1,
      })
    }
  }

  private appendSerializedFindings(ops: BulkOp[], event: AuditEvent, owner: number, p: { findings: string; findingsIndex: string }): void {
    const docs = findingDocuments(event)
    for (let i = 0; i < docs.length; i++) {
      const fid = findingId(event.event.id, i)
      const ftext = `${p.findings}${JSON.stringify(fid)}}}\n${this.serializeFinding(docs[i] as FindingDocument)}\n`
      ops.push({ owner, kind: 'finding', id: fid, index: p.findingsIndex, text: ftext, bytes: Buffer.byteLength(ftext, 'utf8') })
    }
  }

  /**
   * The buffer for the next finding document. Operations keep views of their documents until the sink
   * is done with them, so a buffer is never reused or grown in place: when one runs low a new one is
   * started, and the old one is freed with the last operation that views it.
   */
  private findingWriter(): DocumentBytes {
    if (this.findingBytes.buf.length - this.findingBytes.pos < FINDING_ROOM) this.findingBytes = new DocumentBytes(FINDING_CHUNK)
    return this.findingBytes
  }
}
