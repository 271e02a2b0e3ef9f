import { describe, expect, test } from 'vitest'
import { createHash } from 'node:crypto'
import fc from 'fast-check'
import { generateMeshTraffic } from '../../src/demo/mesh-traffic.js'
import {
  createHashStage,
  hashAndSerialize,
  hashEvent,
  hashParsedStored,
  hashStoredEvent,
  legacyHashStoredEvent,
} from '../../src/integrity/chain.js'
import { storedJson } from '../../src/schema/stored-document.js'
import { checkStoredEvent, emptyReport } from '../../src/integrity/verify-core.js'
import fastJson from 'fast-json-stringify'
import { auditEventSchema } from '../../src/schema/audit-event.js'
import { compileEventSerializer, type AuditEvent } from '../../src/schema/audit-event.js'
import { pipelineFromOptions } from '../../src/cli/pipeline-options.js'
import { applyStages } from '../../src/pipeline/transforms.js'
import type { RawRecord } from '../../src/pipeline/component.js'

const serialize = compileEventSerializer()
const createHashOf = (text: string): string => createHash('sha256').update(text).digest('hex')

/** Demo mesh lines (JSON and TEXT in Fluent Bit and CRI envelopes, every planted incident) through the real stages. */
function demoEvents(n: number): AuditEvent[] {
  const lines = generateMeshTraffic({ seed: 3, sessions: 200, noise: true }).lines.slice(0, n)
  const { parser, stages } = pipelineFromOptions({ format: 'auto' })
  const records: RawRecord[] = lines.map((l, i) => ({
    value: l.text,
    coords: { kind: 'kafka', topic: 't', partition: 0, offset: String(i) },
  }))
  return applyStages(stages, parser.parseBatch(records).events).events
}

describe('hash and stored JSON from one serialization', () => {
  const events = demoEvents(1500)

  test('the spliced document is byte for byte what the serializer writes with audit.hash set', () => {
    expect(events.length).toBeGreaterThan(1000)
    for (const e of events) {
      const { hash, json } = hashAndSerialize(e, serialize)
      expect(e.audit.hash).toBeUndefined()
      e.audit.hash = hash
      expect(json).toBe(serialize(e))
      // verify's side: the stored JSON re-hashes to the same value.
      expect(hashStoredEvent(json)).toBe(hash)
      expect(hashEvent(e, serialize)).toBe(hash)
      delete e.audit.hash
    }
  })

  test('the hash stage hands its string to the sinks; a changed hash falls back to serializing', () => {
    const batch = events.slice(0, 50).map((e) => structuredClone(e))
    createHashStage().process(batch)
    let calls = 0
    const counting = (x: AuditEvent): string => {
      calls++
      return serialize(x)
    }
    for (const e of batch.slice(1)) {
      expect(storedJson(e, counting)).toBe(serialize(e))
      expect(calls).toBe(0)
    }
    // Taken by the first caller; the next one serializes and gets the same bytes.
    for (const e of batch.slice(1)) expect(storedJson(e, counting)).toBe(serialize(e))
    expect(calls).toBe(batch.length - 1)
    const e = batch[0]!
    e.audit.hash = 'f'.repeat(64)
    expect(storedJson(e, serialize)).toBe(serialize(e))
    expect(storedJson(e, serialize)).toContain(`"hash":"${'f'.repeat(64)}"}}`)
  })

  test('property: for arbitrary optional audit fields and hostile strings the splice equals the serializer', () => {
    const base = events[0]!
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme', maxLength: 40 }),
        fc.option(fc.nat({ max: 50 }), { nil: undefined }),
        fc.constantFrom('none', 'low', 'medium', 'high', 'critical'),
        (text, redactions, severity) => {
          const e = structuredClone(base)
          e.event.original = `${text}"}}"hash":"x"}}`
          e.audit.severity = severity as AuditEvent['audit']['severity']
          if (redactions === undefined) delete e.audit.redactions
          else e.audit.redactions = redactions
          const { hash, json, bytes } = hashAndSerialize(e, serialize)
          e.audit.hash = hash
          return json === serialize(e) && hashStoredEvent(json) === hash && bytes === Buffer.byteLength(json, 'utf8')
        },
      ),
      { numRuns: 300 },
    )
  })

  test('an event whose audit object is otherwise empty gets the hash as its only member', () => {
    const e = structuredClone(events[0]!)
    e.audit = {}
    const { hash, json } = hashAndSerialize(e, serialize)
    e.audit.hash = hash
    expect(json).toBe(serialize(e))
    expect(json.endsWith(`"audit":{"hash":"${hash}"}}`)).toBe(true)
  })

  test('an event carrying event.ingested is written whole with its hash (the splice only knows audit.hash)', () => {
    const e = structuredClone(events[0]!)
    e.event.ingested = '2026-11-23T00:00:00.000Z'
    const { hash, json } = hashAndSerialize(e, serialize)
    expect(e.event.ingested).toBe('2026-11-23T00:00:00.000Z')
    expect(e.audit.hash).toBeUndefined()
    e.audit.hash = hash
    expect(json).toBe(serialize(e))
    expect(hashStoredEvent(json)).toBe(hash)
  })

  test('the hash of a parsed stored document is the hash of its JSON, and the document is left as it was', () => {
    for (const original of events.slice(0, 50)) {
      const e = structuredClone(original)
      e.event.ingested = '2026-11-23T00:00:00.000Z'
      e.audit.hash = hashEvent(e)
      const json = serialize(e)
      const doc = JSON.parse(json) as AuditEvent
      expect(hashParsedStored(doc)).toBe(hashStoredEvent(json))
      expect(hashParsedStored(doc, true)).toBe(legacyHashStoredEvent(json))
      expect(serialize(doc)).toBe(json)
      expect(doc.audit.hash).toBe(e.audit.hash)
    }
  })

  test('a store written by the first release (required members first) still verifies; a change in it does not', () => {
    // The first release's serializer: the schema as is, so fast-json-stringify wrote the required members first.
    const legacy = fastJson(auditEventSchema as object) as (e: AuditEvent) => string
    let checked = 0
    for (const original of events.slice(0, 300)) {
      const e = structuredClone(original)
      delete e.audit.hash
      const hash = createHashOf(legacy(e))
      e.audit.hash = hash
      const json = legacy(e)
      expect(json).not.toBe(serialize(e))
      expect(legacyHashStoredEvent(json)).toBe(hash)
      expect(hashStoredEvent(json)).not.toBe(hash)
      const entry = { hash, stream: 'kafka:t/0', pos: '1' }
      const ok = emptyReport()
      expect(checkStoredEvent(ok, e.event.id, json, entry)).toBeDefined()
      expect(ok.counts.modified).toBe(0)
      const tampered = emptyReport()
      checkStoredEvent(tampered, e.event.id, json.replace('"kind":"event"', '"kind":"alert"'), entry)
      expect(tampered.counts.modified).toBe(1)
      checked++
    }
    expect(checked).toBe(300)
  })
})
