import { createHash } from 'node:crypto'
import { describe, expect, test } from 'vitest'
import { buildProcessing } from '../../src/compose/stages.js'
import { processingConfigFromOptions } from '../../src/cli/pipeline-options.js'
import { hashStoredEvent } from '../../src/integrity/chain.js'
import { applyStages, perEventStage } from '../../src/pipeline/transforms.js'
import { sinkRejectionDeadLetters } from '../../src/pipeline/dead-letter.js'
import { compileEventSerializer } from '../../src/schema/audit-event.js'
import { storedJson } from '../../src/schema/stored-document.js'
import { writeDocument } from '../../src/generated/document-writer.js'
import { DocumentBytes } from '../../src/schema/document-bytes.js'
import type { RawRecord } from '../../src/pipeline/component.js'

const serialize = compileEventSerializer()
const sha256 = (s: string): string => createHash('sha256').update(s, 'utf8').digest('hex')

// An Istio TEXT line whose query string holds a token (redacted in event.original), in a Fluent Bit envelope.
const LINE =
  '[2026-03-01T10:00:00.123Z] "GET /api/items?token=s3cr3t-value HTTP/1.1" 200 - via_upstream - "-" 0 512 12 11 "-" ' +
  '"curl/8.5" "5b4c2f1e-1111-2222-3333-444455556666" "items.shop:8080" "10.0.0.7:8080" ' +
  'inbound|8080|| 127.0.0.6:41231 10.0.0.7:8080 10.0.0.9:50122 outbound_.8080_._.items.shop.svc.cluster.local default'
const RECORD = JSON.stringify({ log: `${LINE}\n`, kubernetes: { namespace_name: 'shop', pod_name: 'items-1' } })

function run(preserveOriginal: boolean | undefined): ReturnType<typeof applyStages> {
  const { parser, stages } = buildProcessing({
    parser: preserveOriginal === undefined ? {} : { preserveOriginal },
    integrity: { enabled: true },
  })
  const records: RawRecord[] = [{ value: Buffer.from(RECORD), coords: { kind: 'kafka', topic: 't', partition: 0, offset: '7' } }]
  return applyStages(stages, parser.parseBatch(records).events)
}

describe('event.original as a choice (parser.preserveOriginal)', () => {
  test('by default the line is kept in event.original (redacted) and there is no event.hash', () => {
    const [e] = run(undefined).events
    expect(e!.event.original).toContain('/api/items?token=')
    expect(e!.event.original).not.toContain('s3cr3t-value')
    expect(e!.event.hash).toBeUndefined()
  })

  test('off: event.hash is the SHA-256 of the line as logged, and the stored document binds to it', () => {
    const [e] = run(false).events
    expect(e!.event.original).toBeUndefined()
    expect(e!.event.hash).toBe(sha256(LINE))
    const json = storedJson(e!, serialize)
    expect(json).not.toContain('s3cr3t')
    expect(JSON.parse(json).event.hash).toBe(sha256(LINE))
    // audit.hash covers what is stored, event.hash included: recomputed from the document it matches,
    // and a document whose event.hash is changed no longer does.
    const stored = JSON.parse(json)
    expect(hashStoredEvent(json)).toBe(stored.audit.hash)
    stored.event.hash = sha256('another line')
    expect(hashStoredEvent(JSON.stringify(stored))).not.toBe(e!.audit.hash)
    // The generated writer places event.hash where the compiled serializer does.
    const w = new DocumentBytes(64)
    w.begin()
    expect(writeDocument(w, e!, false)).toBe(true)
    expect(w.current().toString('utf8')).toBe(serialize(e!))
    // Everything else is the same event (but for the redaction event.original no longer needs).
    const [kept] = run(true).events
    expect(e!.event.id).toBe(kept!.event.id)
    expect({ ...e!.audit, hash: undefined, redactions: undefined }).toEqual({ ...kept!.audit, hash: undefined, redactions: undefined })
    expect(kept!.audit.redactions).toBe(e!.audit.redactions! + 1)
  })

  test('off: a stage that fails on the event still dead-letters the line', () => {
    const { parser } = buildProcessing({ parser: { preserveOriginal: false } })
    const records: RawRecord[] = [{ value: Buffer.from(RECORD), coords: { kind: 'kafka', topic: 't', partition: 0, offset: '7' } }]
    const events = parser.parseBatch(records).events
    const boom = perEventStage('boom', () => {
      throw new Error('broken stage')
    })
    const r = applyStages([boom], events)
    expect(r.events).toHaveLength(0)
    expect(r.deadLetters[0]!.raw).toBe(LINE)
    // A sink rejection whose record is not in the batch falls back to the same line.
    const [dl] = sinkRejectionDeadLetters([], [{ event: events[0]!, code: 'EA_SINK_MAPPING', message: 'mapping' }])
    expect(dl!.raw).toBe(LINE)
  })

  test('--no-original sets parser.preserveOriginal false; a value that is not a boolean is refused by name', () => {
    expect(processingConfigFromOptions({ format: 'auto', original: false }).parser).toMatchObject({ preserveOriginal: false })
    expect(processingConfigFromOptions({ format: 'auto' }).parser).not.toHaveProperty('preserveOriginal')
    expect(() => buildProcessing({ parser: { preserveOriginal: 'no' } })).toThrow(/parser\.preserveOriginal/)
  })
})
