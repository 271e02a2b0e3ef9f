import { readdirSync, readFileSync } from 'node:fs'
import { describe, expect, test } from 'vitest'
import fc from 'fast-check'
import { writeDocument } from '../../src/generated/document-writer.js'
import { DocumentBytes } from '../../src/schema/document-bytes.js'
import { renderDocumentWriter } from '../../src/schema/document-writer-generate.js'
import { auditEventSchema, compileEventSerializer, type AuditEvent } from '../../src/schema/audit-event.js'
import { generateMeshTraffic } from '../../src/demo/mesh-traffic.js'
import { pipelineFromOptions } from '../../src/cli/pipeline-options.js'
import { applyStages } from '../../src/pipeline/transforms.js'
import type { RawRecord } from '../../src/pipeline/component.js'

const serialize = compileEventSerializer()

/** The writer's document as text, or undefined where it declines. A small buffer, so that it has to grow. */
function written(e: AuditEvent, hashed: boolean, w = new DocumentBytes(16)): string | undefined {
  w.begin()
  return writeDocument(w, e, hashed) ? w.current().toString('utf8') : undefined
}

/** What the serializer writes without the members the hash leaves out (they are taken off a copy). */
function serializeHashed(e: AuditEvent): string {
  const c = structuredClone(e)
  delete c.audit.hash
  delete c.event.ingested
  delete c.event.created
  return serialize(c)
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

describe('the generated document writer', () => {
  test('writes every fixture and demo event byte for byte as the compiled serializer, with and without the hash', () => {
    const demo = generateMeshTraffic({ seed: 5, sessions: 150, noise: true }).lines.map((l) => l.text)
    const events = eventsOf([...fixtureLines, ...demo])
    expect(events.length).toBeGreaterThan(1000)
    let created = 0
    // One buffer for all of them, as the hash stage writes a batch: earlier documents keep their bytes when it fills up.
    const shared = new DocumentBytes(1024)
    const views: [Buffer, string][] = []
    for (const e of events) {
      e.audit.hash = 'a'.repeat(64)
      if (e.event.created !== undefined) created++
      expect(written(e, false)).toBe(serialize(e))
      expect(written(e, true)).toBe(serializeHashed(e))
      shared.begin()
      expect(writeDocument(shared, e, false)).toBe(true)
      views.push([shared.current(), serialize(e)])
    }
    for (const [view, json] of views) expect(view.toString('utf8')).toBe(json)
    // The fixtures include a line without a start time: event.created is exercised.
    expect(created).toBeGreaterThan(0)
  })

  test('property: for any event the schema admits the writer equals the serializer; on other values it gives way to it', () => {
    const events = eventsOf(fixtureLines)
    fc.assert(
      fc.property(fc.constantFrom(...events), eventEdits(), (base, edits) => {
        const e = structuredClone(base) as unknown as Record<string, unknown>
        for (const { path, value } of edits) setPath(e, path, value)
        const event = e as unknown as AuditEvent
        const text = written(event, false)
        let expected: string | Error
        try {
          expected = serialize(event)
        } catch (err) {
          expected = err as Error
        }
        // Either the same bytes, or the writer declined and the serializer decides (writes or throws).
        if (text !== undefined) return text === expected
        return edits.some((x) => !x.wellTyped)
      }),
      { numRuns: 1500 },
    )
  })

  test('the generator refuses a schema construct it cannot render rather than writing something else', () => {
    const schema = structuredClone(auditEventSchema) as { properties: Record<string, unknown> }
    schema.properties.network = { anyOf: [{ type: 'string' }, { type: 'integer' }] }
    expect(() => renderDocumentWriter(schema, '')).toThrow(/network uses anyOf/)
  })
})

type Edit = { path: string[]; value: unknown; wellTyped: boolean }

interface Node {
  type?: string | string[]
  properties?: Record<string, Node>
  items?: Node
  additionalProperties?: boolean | Node
}

/** Every leaf of the schema with its path, and the arbitrary of values its type admits. */
function leaves(node: Node, path: string[]): { path: string[]; node: Node }[] {
  if (node.properties === undefined) return [{ path, node }]
  return Object.entries(node.properties).flatMap(([k, child]) => leaves(child, [...path, k]))
}

// Strings with quotes, backslashes, control characters, lone surrogate halves and astral characters.
const hostileString = fc.oneof(fc.string({ unit: 'binary', maxLength: 60 }), fc.string({ unit: 'grapheme', maxLength: 200 }))

function admitted(node: Node): fc.Arbitrary<unknown> {
  const types = Array.isArray(node.type) ? node.type : [node.type]
  const options: fc.Arbitrary<unknown>[] = []
  for (const t of types) {
    if (t === 'string') options.push(hostileString)
    if (t === 'integer') options.push(fc.integer({ min: -1e12, max: 1e12 }))
    if (t === 'boolean') options.push(fc.boolean())
    if (t === 'null') options.push(fc.constant(null))
    if (t === 'array') options.push(fc.array(admitted(node.items!), { maxLength: 4 }))
    if (t === 'object' && typeof node.additionalProperties === 'object')
      options.push(fc.dictionary(hostileString, admitted(node.additionalProperties), { maxKeys: 4 }))
    if (t === 'object' && node.properties !== undefined)
      options.push(
        fc.record(Object.fromEntries(Object.entries(node.properties).map(([k, c]) => [k, admitted(c)])), {
          requiredKeys: (node as { required?: string[] }).required ?? [],
        }),
      )
  }
  return fc.oneof(...options)
}

/** Values of the wrong type, or that the serializer coerces: the writer must decline them. */
const foreign = fc.oneof(
  fc.double({ noInteger: true }),
  fc.constant(null),
  fc.constant(new Date(0)),
  fc.constant({ toJSON: () => 'x' }),
  fc.integer(),
  fc.string({ maxLength: 5 }),
  fc.constant(true),
)

function eventEdits(): fc.Arbitrary<Edit[]> {
  const all = leaves(auditEventSchema as Node, [])
  const edit = fc
    .constantFrom(...all)
    .chain(({ path, node }) =>
      fc.oneof(
        { weight: 4, arbitrary: admitted(node).map((value) => ({ path, value, wellTyped: true })) },
        { weight: 1, arbitrary: fc.constant({ path, value: undefined, wellTyped: !isRequired(path) }) },
        { weight: 1, arbitrary: foreign.map((value) => ({ path, value, wellTyped: false })) },
      ),
    )
  return fc.array(edit, { minLength: 1, maxLength: 6 })
}

function isRequired(path: string[]): boolean {
  let node = auditEventSchema as Node & { required?: string[] }
  for (const k of path) {
    if (node.required?.includes(k) === true) return true
    node = node.properties![k] as Node & { required?: string[] }
  }
  return false
}

function setPath(root: Record<string, unknown>, path: string[], value: unknown): void {
  let o = root
  for (const k of path.slice(0, -1)) {
    if (typeof o[k] !== 'object' || o[k] === null) o[k] = {}
    o = o[k] as Record<string, unknown>
  }
  o[path.at(-1)!] = value
}
