import { describe, expect, test } from 'vitest'
import { compileEventSerializer, type AuditEvent } from '../../src/schema/audit-event.js'
import { makeEvent } from '../store/event-fixtures.js'
import {
  keepStoredDocument,
  keptBytes,
  storedBytes,
  storedDocument,
  storedFields,
  storedForm,
  storedJson,
} from '../../src/schema/stored-document.js'

const serialize = compileEventSerializer()

function event(hash: string | undefined): AuditEvent {
  const e = makeEvent({ id: 'e1' })
  if (hash === undefined) delete e.audit.hash
  else e.audit.hash = hash
  return e
}

// The hash stage (test/integrity/chain.test.ts) is the one writer; here the taking rules alone.
describe('the document kept on an event', () => {
  test('is handed to the first caller only, with its length; later callers serialize', () => {
    const e = event('a'.repeat(64))
    const kept = Buffer.from('{"kept":true}')
    keepStoredDocument(e, { hash: e.audit.hash!, doc: kept })
    // The same bytes, not a copy: the hash stage's Buffer is what the sink sends.
    expect(storedBytes(e, serialize)).toBe(kept)
    expect(storedJson(e, serialize)).toBe(serialize(e))
    keepStoredDocument(e, { hash: e.audit.hash!, doc: kept })
    expect(storedDocument(e, serialize)).toEqual({ json: '{"kept":true}', bytes: 13 })
  })

  test('is not used when the event carries another hash than the one it was made with', () => {
    const e = event('b'.repeat(64))
    keepStoredDocument(e, { hash: 'c'.repeat(64), doc: Buffer.from('{"stale":true}') })
    expect(storedJson(e, serialize)).toBe(serialize(e))
  })

  test('never reaches the serialized document or JSON.stringify', () => {
    const e = event('d'.repeat(64))
    keepStoredDocument(e, { hash: e.audit.hash!, doc: Buffer.from('{"kept":true}') })
    expect(JSON.stringify(e)).not.toContain('kept')
    expect(serialize(e)).not.toContain('kept')
  })

  test('without one, the length is the UTF-8 length of the serialization', () => {
    const e = event(undefined)
    e.event.original = 'é€'
    const doc = storedDocument(e, serialize)
    expect(doc.json).toBe(serialize(e))
    expect(doc.bytes).toBe(Buffer.byteLength(doc.json, 'utf8'))
  })
})

describe('the stored form of an event (what a sink that writes the stored document reads)', () => {
  test('keeps the document for every caller, with the fields read beside it, and drops the rest', () => {
    const e = event('e'.repeat(64))
    e.audit.redactions = 2
    const kept = Buffer.from('{"kept":true}')
    keepStoredDocument(e, { hash: e.audit.hash!, doc: kept })
    const form = storedForm(e)!
    // Symbol-keyed members (the document) are left out of the comparison.
    expect(JSON.parse(JSON.stringify(form))).toEqual({
      '@timestamp': e['@timestamp'],
      event: { id: 'e1' },
      audit: { hash: e.audit.hash, redactions: 2 },
    })
    expect(form.audit.source).toBe(e.audit.source)
    // Kept, not taken: a second sink or a retry gets the same bytes, never a serialization of these few fields.
    expect(storedBytes(form, serialize)).toBe(kept)
    expect(storedBytes(form, serialize)).toBe(kept)
    expect(storedJson(form, serialize)).toBe('{"kept":true}')
    expect(keptBytes(form)).toBe(kept)
  })

  test('is not made for an event without a document of its current hash, or with findings', () => {
    expect(storedForm(event('f'.repeat(64)))).toBeUndefined()
    const stale = event('a'.repeat(64))
    keepStoredDocument(stale, { hash: 'b'.repeat(64), doc: Buffer.from('{}') })
    expect(storedForm(stale)).toBeUndefined()
    const found = event('c'.repeat(64))
    found.audit.findings = [
      { code: 'au3_incomplete', severity: 'low', controls: ['AU-3'], message: 'm' },
    ] as AuditEvent['audit']['findings']
    keepStoredDocument(found, { hash: found.audit.hash!, doc: Buffer.from('{}') })
    expect(storedForm(found)).toBeUndefined()
  })

  test('a worker reply marked as a stored form refuses to be serialized without its document', () => {
    const e = storedFields(event('d'.repeat(64)))
    keepStoredDocument(e, { hash: e.audit.hash!, doc: Buffer.from('{"kept":true}') }, true)
    expect(storedJson(e, serialize)).toBe('{"kept":true}')
    const bare = storedFields(event('d'.repeat(64)))
    keepStoredDocument(bare, { hash: 'x', doc: Buffer.from('{}') }, true)
    ;(bare as unknown as Record<symbol, unknown>)[Object.getOwnPropertySymbols(bare).find((s) => s.description === 'envoy-audit.stored')!] =
      undefined
    expect(() => storedBytes(bare, serialize)).toThrow(/stored-form event without its stored document/)
  })
})
