import { describe, test, expect } from 'vitest'
import fc from 'fast-check'
import { BulkOpBuilder, bulkBody } from '../../../src/sinks/opensearch/documents.js'
import { deniedEvent, okEvent } from './fixtures.js'
import { createHashStage } from '../../../src/integrity/chain.js'

// Fixture events carry the values of real public Istio lines; see fixtures.ts for the sources.
describe('bulk operations and the request body', () => {
  const builder = new BulkOpBuilder('envoy-audit-events', 'envoy-audit-findings', true)

  test('an event with a finding yields its document then the finding, each two NDJSON lines', () => {
    const ops = builder.opsFor(deniedEvent(1), 7, '2020.11.25')
    expect(ops.map((o) => [o.kind, o.owner])).toEqual([
      ['event', 7],
      ['finding', 7],
    ])
    const lines = bulkBody(ops).toString('utf8').split('\n')
    expect(lines).toHaveLength(5)
    expect(JSON.parse(lines[0]!)).toEqual({ create: { _index: 'envoy-audit-events-2020.11.25', _id: ops[0]!.id } })
    expect(JSON.parse(lines[2]!)).toEqual({ create: { _index: 'envoy-audit-findings-2020.11.25', _id: `${ops[0]!.id}:0` } })
    expect(ops.map((o) => o.index)).toEqual(['envoy-audit-events-2020.11.25', 'envoy-audit-findings-2020.11.25'])
    expect(JSON.parse(lines[3]!).finding.code).toBe('authz_denied')
    expect(lines[4]).toBe('')
  })

  test('the body is every op in order, byte for byte, also for non-ASCII values', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.string({ unit: 'grapheme', maxLength: 40 }), fc.boolean()), { minLength: 1, maxLength: 20 }),
        (items) => {
          const ops = items.flatMap(([agent, denied], i) => {
            const e = denied ? deniedEvent(i) : okEvent(i)
            e.user_agent = { original: agent }
            return builder.opsFor(e, i, '2020.11.25')
          })
          const appended: ReturnType<typeof builder.opsFor> = []
          items.forEach(([agent, denied], i) => {
            const e = denied ? deniedEvent(i) : okEvent(i)
            e.user_agent = { original: agent }
            builder.appendOps(appended, e, i, '2020.11.25')
          })
          // Documents compared as text: a deep comparison of Buffers goes byte by byte.
          const asText = (list: typeof ops) => list.map(({ doc, ...rest }) => ({ ...rest, doc: doc?.toString('utf8') }))
          expect(asText(appended)).toEqual(asText(ops))
          const body = bulkBody(ops)
          expect(body.equals(Buffer.concat(ops.map(opBytes)))).toBe(true)
          for (const o of ops) expect(o.bytes).toBe(opBytes(o).length)
          const docs = body
            .toString('utf8')
            .trimEnd()
            .split('\n')
            .filter((_, i) => i % 2 === 1)
            .map((l) => JSON.parse(l))
          expect(docs.filter((d) => d.user_agent !== undefined).map((d) => d.user_agent.original)).toEqual(items.map(([a]) => a))
        },
      ),
      { numRuns: 200 },
    )
  })

  test('after the hash stage, the reused documents carry their exact UTF-8 length (non-ASCII, escapes, alias names)', () => {
    const hashStage = createHashStage()
    const other = new BulkOpBuilder('évènements-audit', 'envoy-audit-findings', true)
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.string({ unit: 'grapheme', maxLength: 40 }), fc.boolean()), { minLength: 1, maxLength: 10 }),
        (items) => {
          const events = items.map(([agent, denied], i) => {
            const e = denied ? deniedEvent(i) : okEvent(i)
            e.user_agent = { original: agent }
            e.event.original = `${agent}\u2028"\\${agent}`
            return e
          })
          hashStage.process(events)
          const ops: ReturnType<typeof builder.opsFor> = []
          events.forEach((e, i) => other.appendOps(ops, e, i, '2020.11.25'))
          for (const o of ops) expect(o.bytes).toBe(opBytes(o).length)
          const docs = bulkBody(ops)
            .toString('utf8')
            .trimEnd()
            .split('\n')
            .filter((_, i) => i % 2 === 1)
            .map((l) => JSON.parse(l))
          expect(docs.filter((d) => d.event?.original !== undefined).map((d) => d.audit.hash)).toEqual(events.map((e) => e.audit.hash))
        },
      ),
      { numRuns: 200 },
    )
  })

  test('an empty run of operations is an empty body', () => {
    expect(bulkBody([]).length).toBe(0)
  })
})

/** An operation's bytes on the wire: its text, then its document and a newline when it has one. */
function opBytes(o: { text: string; doc?: Buffer }): Buffer {
  const text = Buffer.from(o.text, 'utf8')
  return o.doc === undefined ? text : Buffer.concat([text, o.doc, Buffer.from('\n')])
}
