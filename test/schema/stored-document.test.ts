import { describe, expect, test } from 'vitest'
import { compileEventSerializer, type AuditEvent } from '../../src/schema/audit-event.js'
import { makeEvent } from '../store/event-fixtures.js'
import { keepStoredDocument, storedBytes, storedDocument, storedJson } from '../../src/schema/stored-document.js'

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
