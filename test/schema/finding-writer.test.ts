import { readdirSync, readFileSync } from 'node:fs'
import { describe, expect, test } from 'vitest'
import fc from 'fast-check'
import fastJson from 'fast-json-stringify'
import { writeFindingDocument } from '../../src/generated/finding-writer.js'
import { DocumentBytes } from '../../src/schema/document-bytes.js'
import { renderFindingWriter } from '../../src/schema/finding-writer-generate.js'
import { auditEventSchema, type AuditEvent } from '../../src/schema/audit-event.js'
import { BulkOpBuilder, bulkBody, findingDocuments, findingSchema, type FindingDocument } from '../../src/sinks/opensearch/documents.js'
import { generateMeshTraffic } from '../../src/demo/mesh-traffic.js'
import { pipelineFromOptions } from '../../src/cli/pipeline-options.js'
import { applyStages } from '../../src/pipeline/transforms.js'
import type { RawRecord } from '../../src/pipeline/component.js'

// What the findings documents were written with before the generated writer, and still are where it declines.
const serializeFinding = fastJson(findingSchema as object) as (f: FindingDocument) => string

/** The writer's document as text, or undefined where it declines. A small buffer, so that it has to grow. */
function written(e: AuditEvent, index: number, w = new DocumentBytes(16)): string | undefined {
  w.begin()
  return writeFindingDocument(w, e, index) ? w.current().toString('utf8') : undefined
}

/** The serializer's text of each finding document (or the error serializing it throws), or the error building them throws. */
function reference(e: AuditEvent): (string | Error)[] | Error {
  let docs: FindingDocument[]
  try {
    docs = findingDocuments(e)
  } catch (err) {
    return err as Error
  }
  return docs.map((d) => {
    try {
      return serializeFinding(d)
    } catch (err) {
      return err as Error
    }
  })
}

function eventsOf(lines: string[]): AuditEvent[] {
  const { parser, stages } = pipelineFromOptions({ format: 'auto' })
  const records: RawRecord[] = lines.map((value, i) => ({ value, coords: { kind: 'file', file: 'f.log', line: i + 1 } }))
  return applyStages(stages, parser.parseBatch(records).events).events
}

const fixtureDir = new URL('../fixtures/envoy/', import.meta.url)
const fixtureLines = readdirSync(fixtureDir)
  .filter((f) => f.endsWith('.log'))
  .flatMap((f) => readFileSync(new URL(f, fixtureDir), 'utf8').split('\n'))
  .filter((l) => l !== '')

describe('the generated finding writer', () => {
  test('writes every finding of every fixture and demo event byte for byte as findingDocuments and the compiled serializer', () => {
    const demo = generateMeshTraffic({ seed: 7, sessions: 150, noise: true }).lines.map((l) => l.text)
    const events = eventsOf([...fixtureLines, ...demo])
    const fromFixtures = eventsOf(fixtureLines).filter((e) => (e.audit.findings?.length ?? 0) > 0).length
    expect(fromFixtures).toBeGreaterThan(10)
    let documents = 0
    // One buffer for all of them, as the bulk operations share one: earlier documents keep their bytes when it fills up.
    const shared = new DocumentBytes(1024)
    const views: [Buffer, string][] = []
    for (const e of events) {
      const expected = reference(e)
      if (expected instanceof Error) throw expected
      for (let i = 0; i < expected.length; i++) {
        expect(written(e, i)).toBe(expected[i])
        shared.begin()
        expect(writeFindingDocument(shared, e, i)).toBe(true)
        views.push([shared.current(), expected[i] as string])
        documents++
      }
    }
    for (const [view, json] of views) expect(view.toString('utf8')).toBe(json)
    expect(documents).toBeGreaterThan(500)
  })

  test('property: with hostile strings, missing members and foreign values, the writer equals the serializer or gives way to it', () => {
    const events = eventsOf(fixtureLines)
    fc.assert(
      fc.property(fc.constantFrom(...events), findingsArb, eventEdits(), (base, findings, edits) => {
        const e = structuredClone(base) as unknown as Record<string, unknown>
        ;(e.audit as Record<string, unknown>).findings = findings.map((f) => f.value)
        for (const { path, value } of edits) setPath(e, path, value)
        const event = e as unknown as AuditEvent
        const expected = reference(event)
        const wellTyped = edits.every((x) => x.wellTyped) && findings.every((f) => f.wellTyped)
        for (let i = 0; i < findings.length; i++) {
          const text = written(event, i)
          if (text !== undefined) {
            // Written: exactly what the serializer writes for the document findingDocuments builds.
            if (expected instanceof Error || text !== expected[i]) return false
          } else if (wellTyped) return false
        }
        // Every value the schemas admit is written by the writer itself, and the serializer takes it too.
        return !wellTyped || (!(expected instanceof Error) && expected.every((x) => typeof x === 'string'))
      }),
      { numRuns: 1500 },
    )
  })

  test('the bulk operations carry the same bytes as before, also when one finding of an event is left to the serializer', () => {
    const demo = generateMeshTraffic({ seed: 11, sessions: 40, noise: true }).lines.map((l) => l.text)
    const events = eventsOf(demo).filter((e) => (e.audit.findings?.length ?? 0) > 0)
    expect(events.length).toBeGreaterThan(20)
    // A number where a string belongs: the writer declines it, the serializer writes it as a string.
    const odd = structuredClone(events[0]!)
    odd.audit.findings = [...odd.audit.findings!, { ...odd.audit.findings![0]!, message: 42 as unknown as string }]
    const all = [...events, odd]
    const builder = new BulkOpBuilder('envoy-audit-events', 'envoy-audit-findings', true)
    const ops: Parameters<BulkOpBuilder['appendOps']>[0] = []
    all.forEach((e, i) => builder.appendOps(ops, e, i, '2026.01.01'))
    const findingOps = ops.filter((o) => o.kind === 'finding')
    const expected = all.flatMap((e) =>
      findingDocuments(e).map(
        (d, i) =>
          `{"create":{"_index":"envoy-audit-findings-2026.01.01","_id":${JSON.stringify(`${e.event.id}:${i}`)}}}\n${serializeFinding(d)}\n`,
      ),
    )
    expect(bulkBody(findingOps).toString('utf8')).toBe(expected.join(''))
    for (const o of findingOps) expect(o.bytes).toBe(Buffer.byteLength(o.text) + (o.doc === undefined ? 0 : o.doc.length + 1))
    // The odd event's findings all went the serializer's way (text only), the others the writer's.
    expect(findingOps.filter((o) => o.doc === undefined)).toHaveLength(odd.audit.findings.length)
  })

  test('the generator refuses a leaf without a source, a source the event does not have, or one of another type', () => {
    const render = (edit: (s: { properties: Record<string, Record<string, unknown>> }) => void) => () => {
      const schema = structuredClone(findingSchema) as { properties: Record<string, Record<string, unknown>> }
      edit(schema)
      return renderFindingWriter(schema, auditEventSchema, '')
    }
    expect(render(() => {})).not.toThrow()
    expect(render((s) => delete s.properties.namespace!['x-from'])).toThrow(/namespace has no x-from/)
    expect(render((s) => (s.properties.namespace!['x-from'] = 'kubernetes.nspace'))).toThrow(/event schema has no kubernetes.nspace/)
    expect(render((s) => (s.properties.namespace!['x-from'] = 'source.port'))).toThrow(/namespace is string, event source.port is integer/)
    expect(render((s) => (s.properties.namespace = { anyOf: [{ type: 'string' }] }))).toThrow(/namespace uses anyOf/)
  })
})

// Strings with quotes, backslashes, control characters, lone surrogate halves and astral characters, short and long.
const nasty = fc.constantFrom(
  '\ud800',
  'a\udc00b',
  '\udbff\udfff',
  '"\\',
  '\u0000\u0001\u001f\u007f',
  '\b\t\n\f\r',
  '\u2028\u2029',
  'ns[foo]-policy["x"]-rule[0]',
  'é'.repeat(60),
  `${'x'.repeat(50)}"\u0007${'\ud83d'}`,
  '',
)
const hostileString = fc.oneof(fc.string({ unit: 'binary', maxLength: 60 }), fc.string({ unit: 'grapheme', maxLength: 120 }), nasty)

/** Values of the wrong type, or that the serializer coerces: the writer must decline them. */
const foreign = fc.oneof(
  fc.double({ noInteger: true }),
  fc.constant(null),
  fc.constant(new Date(0)),
  fc.constant({ toJSON: () => 'x' }),
  fc.integer(),
  fc.string({ maxLength: 5 }),
  fc.constant(true),
  fc.constant([]),
)

type Valued = { value: unknown; wellTyped: boolean }

/** A finding as the stages make them, members missing or foreign now and then. */
const findingArb: fc.Arbitrary<Valued> = fc
  .tuple(
    member(hostileString, true),
    member(hostileString, true),
    member(fc.array(hostileString, { maxLength: 4 }), true),
    member(hostileString, false),
    member(hostileString, false),
  )
  .map(([code, severity, controls, message, policy]) => {
    const value: Record<string, unknown> = {}
    const parts = { code, severity, controls, message, policy }
    for (const [k, m] of Object.entries(parts)) if (m.value !== undefined) value[k] = m.value
    return { value, wellTyped: Object.values(parts).every((m) => m.wellTyped) }
  })
const findingsArb = fc.oneof(
  { weight: 6, arbitrary: fc.array(findingArb, { minLength: 1, maxLength: 3 }) },
  { weight: 1, arbitrary: fc.constant([{ value: null, wellTyped: false }]) },
)

/** A member's value: well typed mostly, else missing (not well typed when the document requires it) or foreign. */
function member(arb: fc.Arbitrary<unknown>, required: boolean): fc.Arbitrary<Valued> {
  return fc.oneof(
    { weight: 8, arbitrary: arb.map((value) => ({ value, wellTyped: true })) },
    { weight: 1, arbitrary: fc.constant({ value: undefined, wellTyped: !required }) },
    { weight: 1, arbitrary: foreign.map((value) => ({ value, wellTyped: false })) },
  )
}

type Edit = { path: string[]; value: unknown; wellTyped: boolean }

/** The event members the finding documents read, with the values the event schema admits for them. */
const STRING_PATHS = [
  '@timestamp',
  'event.id',
  'event.action',
  'event.outcome',
  'envoy.rbac_policy',
  'source.ip',
  'destination.ip',
  'destination.address',
  'destination.domain',
  'http.request.method',
  'mesh.reporter',
  'mesh.upstream_cluster',
  'mesh.source.spiffe_id',
  'mesh.source.trust_domain',
  'mesh.source.namespace',
  'mesh.source.service_account',
  'mesh.source.workload',
  'mesh.destination.service',
  'mesh.destination.namespace',
  'mesh.destination.spiffe_id',
  'mesh.destination.service_account',
  'mesh.destination.workload',
  'kubernetes.namespace',
  'kubernetes.pod',
]
const INTEGER_PATHS = ['source.port', 'destination.port', 'http.response.status_code']
/** Objects on the way, which may be missing (or not objects at all) as a whole. */
const OBJECT_PATHS = [
  'source',
  'destination',
  'http',
  'http.request',
  'http.response',
  'mesh',
  'mesh.source',
  'mesh.destination',
  'kubernetes',
]
/** What the finding document requires: without it the serializer refuses the document. */
const REQUIRED = new Set(['@timestamp', 'event.id'])

function eventEdits(): fc.Arbitrary<Edit[]> {
  const leaf = (paths: string[], arb: fc.Arbitrary<unknown>) =>
    fc.constantFrom(...paths).chain((p) => {
      const path = p.split('.')
      return fc.oneof(
        { weight: 4, arbitrary: arb.map((value) => ({ path, value, wellTyped: true })) },
        { weight: 2, arbitrary: fc.constant({ path, value: undefined, wellTyped: !REQUIRED.has(p) }) },
        { weight: 1, arbitrary: foreign.map((value) => ({ path, value, wellTyped: false })) },
      )
    })
  const object = fc
    .constantFrom(...OBJECT_PATHS)
    .chain((p) =>
      fc.oneof(
        fc.constant({ path: p.split('.'), value: undefined, wellTyped: true }),
        fc.constant({ path: p.split('.'), value: {}, wellTyped: true }),
        fc.constant({ path: p.split('.'), value: 'not an object', wellTyped: false }),
      ),
    )
  const edit = fc.oneof(
    { weight: 6, arbitrary: leaf(STRING_PATHS, hostileString) },
    { weight: 2, arbitrary: leaf(INTEGER_PATHS, fc.integer({ min: -1e12, max: 1e12 })) },
    { weight: 1, arbitrary: object },
  )
  return fc.array(edit, { minLength: 0, maxLength: 6 })
}

function setPath(root: Record<string, unknown>, path: string[], value: unknown): void {
  let o = root
  for (const k of path.slice(0, -1)) {
    if (typeof o[k] !== 'object' || o[k] === null) o[k] = {}
    o = o[k] as Record<string, unknown>
  }
  o[path.at(-1)!] = value
}
