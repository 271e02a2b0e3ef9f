import { describe, test, expect } from 'vitest'
import fc from 'fast-check'
import { BulkOpBuilder, bulkBody } from '../../../src/sinks/opensearch/documents.js'
import { deniedEvent, okEvent } from './fixtures.js'

// Fixture events carry the values of real public Istio lines; see fixtures.ts for the sources.
describe('bulk operations as text, encoded once into the body', () => {
  const builder = new BulkOpBuilder('envoy-audit-events', 'envoy-audit-findings', true)

  test('an event with a finding yields its document then the finding, each two NDJSON lines', () => {
    const ops = builder.opsFor(deniedEvent(1), 7)
    expect(ops.map((o) => [o.kind, o.owner])).toEqual([
      ['event', 7],
      ['finding', 7],
    ])
    const lines = bulkBody(ops).toString('utf8').split('\n')
    expect(lines).toHaveLength(5)
    expect(JSON.parse(lines[0]!)).toEqual({ create: { _index: 'envoy-audit-events', _id: ops[0]!.id } })
    expect(JSON.parse(lines[2]!)).toEqual({ create: { _index: 'envoy-audit-findings', _id: `${ops[0]!.id}:0` } })
    expect(JSON.parse(lines[3]!).finding.code).toBe('authz_denied')
    expect(lines[4]).toBe('')
  })

  test('the body is every op in order, byte for byte, also for non-ASCII values', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.string({ unit: 'grapheme', maxLength: 40 }), fc.boolean()), { minLength: 1, maxLength: 20 }), (items) => {
        const ops = items.flatMap(([agent, denied], i) => {
          const e = denied ? deniedEvent(i) : okEvent(i)
          e.user_agent = { original: agent }
          return builder.opsFor(e, i)
        })
        for (const op of ops) expect(op.size).toBe(op.text.length)
        const body = bulkBody(ops)
        expect(body.length).toBe(ops.reduce((n, o) => n + Buffer.byteLength(o.text, 'utf8'), 0))
        expect(body.equals(Buffer.concat(ops.map((o) => Buffer.from(o.text, 'utf8'))))).toBe(true)
        const docs = body.toString('utf8').trimEnd().split('\n').filter((_, i) => i % 2 === 1).map((l) => JSON.parse(l))
        expect(docs.filter((d) => d.user_agent !== undefined).map((d) => d.user_agent.original)).toEqual(items.map(([a]) => a))
      }),
      { numRuns: 200 },
    )
  })

  test('a non-ASCII op last in the body, cut short by the ASCII-sized buffer, is still detected and encoded exactly', () => {
    // 'aéé' is 3 characters and 5 bytes: without slack the write would stop at exactly 3 bytes.
    for (const tail of ['aéé', 'éaa', '\u{1F600}', 'x\ud800y', 'a'.repeat(40) + 'é']) {
      const ops = [{ text: '{"a":1}\n' }, { text: tail }]
      expect(bulkBody(ops).equals(Buffer.from(ops.map((o) => o.text).join(''), 'utf8'))).toBe(true)
    }
    const e = okEvent(1)
    e.user_agent = { original: 'x\ud800y' }
    const ops = builder.opsFor(e, 0)
    expect(bulkBody(ops).length).toBe(Buffer.byteLength(ops[0]!.text, 'utf8'))
  })
})
