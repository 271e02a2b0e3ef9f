/**
 * ECS conformance of what envoy-audit emits, generated from the ECS field reference
 * (test/fixtures/ecs/ecs_flat-subset.yml, a subset of ecs_flat.yml of ECS 8.12): every field of the
 * audit-event schema under a name ECS owns must be an ECS field, with ECS's type in the schema and in
 * the OpenSearch mapping, ECS's array-ness, and only values ECS allows; and every such field of real
 * documents (the demo's traffic, real-world Envoy lines, ztunnel lines, parsed and enriched as `run`
 * does, serialized as the sinks write them) has a value of that type and format.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { parse as parseYaml } from 'yaml'
import { describe, expect, test } from 'vitest'
import { auditEventSchema, compileEventSerializer } from '../../src/schema/audit-event.js'
import { generateMeshTraffic } from '../../src/demo/mesh-traffic.js'
import { createParser } from '../../src/parse/index.js'
import { applyStages } from '../../src/pipeline/transforms.js'
import { createTransformStages } from '../../src/compose/transform-stages.js'
import { loadTransformsConfig } from '../../src/config/transforms.js'

interface EcsField {
  type: string
  format?: string
  normalize?: string[]
  index?: boolean
  allowed_values?: string[]
  expected_values?: string[]
  expected_event_types?: Record<string, string[]>
}
interface EcsReference {
  top_level: string[]
  fields: Record<string, EcsField>
}
interface SchemaNode {
  type?: string | string[]
  format?: string
  enum?: unknown[]
  properties?: Record<string, SchemaNode>
  items?: SchemaNode
  additionalProperties?: boolean | SchemaNode
}
interface MappingNode {
  type?: string
  index?: boolean
  properties?: Record<string, MappingNode>
}

const ecs = parseYaml(readFileSync(new URL('../fixtures/ecs/ecs_flat-subset.yml', import.meta.url), 'utf8')) as EcsReference
const mapping = JSON.parse(
  readFileSync(new URL('../../schemas/generated/audit-event.mapping.json', import.meta.url), 'utf8'),
) as MappingNode

/** The schema's leaves by dotted path (an object of objects is walked; arrays are their items). */
function leaves(node: SchemaNode, path = '', out = new Map<string, SchemaNode>()): Map<string, SchemaNode> {
  const inner = node.type === 'array' && node.items?.properties !== undefined ? node.items : node
  if (inner.properties === undefined) return out.set(path, node)
  for (const [name, child] of Object.entries(inner.properties)) leaves(child, path === '' ? name : `${path}.${name}`, out)
  return out
}
const schemaLeaves = leaves(auditEventSchema as SchemaNode)
const topOf = (path: string): string => (path.startsWith('@') ? path : path.split('.')[0]!)
const isEcsName = (path: string): boolean => ecs.top_level.includes(topOf(path))
const ecsLeaves = [...schemaLeaves.keys()].filter(isEcsName)

function mappingOf(path: string): MappingNode | undefined {
  let node: MappingNode | undefined = mapping
  for (const part of path.split('.')) node = node?.properties?.[part]
  return node
}

/** The JSON Schema type a leaf of each ECS type must have, and the mapping types that store it as ECS says. */
const JSON_TYPE: Record<string, string> = {
  keyword: 'string',
  wildcard: 'string',
  date: 'string',
  ip: 'string',
  long: 'integer',
  boolean: 'boolean',
}
// wildcard belongs to ECS's keyword family: a keyword mapping answers the same queries.
const MAPPING_TYPES: Record<string, string[]> = {
  keyword: ['keyword'],
  wildcard: ['wildcard', 'keyword'],
  date: ['date'],
  ip: ['ip'],
  long: ['long'],
  boolean: ['boolean'],
}
const allowedOf = (f: EcsField): string[] | undefined => f.allowed_values ?? f.expected_values

describe('the audit-event schema against ECS 8.12', () => {
  test('every field under a name ECS owns is an ECS field; envoy-audit’s own fields live under names ECS does not use', () => {
    expect(ecsLeaves.filter((p) => ecs.fields[p] === undefined)).toEqual([])
    const own = [...new Set([...schemaLeaves.keys()].filter((p) => !isEcsName(p)).map(topOf))].sort()
    expect(own).toEqual(['audit', 'envoy', 'kubernetes', 'mesh', 'ztunnel'])
    // Not vacuous: the ECS part of the schema is most of what a SIEM queries.
    expect(ecsLeaves.length).toBeGreaterThan(35)
  })

  test.each(ecsLeaves)('%s: ECS type, array-ness, mapping and allowed values', (path) => {
    const f = ecs.fields[path]!
    const node = schemaLeaves.get(path)!
    const isArray = node.type === 'array'
    expect(isArray, 'ECS normalize: [array]').toBe(f.normalize?.includes('array') ?? false)
    const item = isArray ? node.items! : node
    const types = Array.isArray(item.type) ? item.type.filter((t) => t !== 'null') : [item.type]
    expect(types, `JSON type of an ECS ${f.type}`).toEqual([JSON_TYPE[f.type]])
    if (f.type === 'date') expect(item.format).toBe('date-time')
    const m = mappingOf(path)
    expect(MAPPING_TYPES[f.type], `mapping type ${m?.type} of an ECS ${f.type}`).toContain(m?.type)
    if (f.index === false) expect(m?.index).toBe(false)
    const allowed = allowedOf(f)
    if (allowed !== undefined && item.enum !== undefined) expect(item.enum.filter((v) => !allowed.includes(v as string))).toEqual([])
  })
})

// Documents as the sinks write them, from every kind of line envoy-audit reads.
const stages = createTransformStages(loadTransformsConfig())
const serialize = compileEventSerializer()
function documentsOf(lines: string[], file: string): Record<string, unknown>[] {
  const parsed = createParser({}).parseBatch(lines.map((value, i) => ({ value, coords: { kind: 'file' as const, file, line: i + 1 } })))
  return applyStages(stages, parsed.events).events.map((e) => JSON.parse(serialize(e)) as Record<string, unknown>)
}
const fixture = (rel: string): string[] =>
  readFileSync(new URL(`../fixtures/${rel}`, import.meta.url), 'utf8')
    .split('\n')
    .filter((l) => l.length > 0)
const demo = generateMeshTraffic({ seed: 7, sessions: 300, noise: true, eastWest: true })
const ztunnel = readdirSync(new URL('../fixtures/ztunnel/', import.meta.url)).filter((f) => f.endsWith('.log'))
const documents = [
  ...documentsOf(
    demo.lines.map((l) => l.text),
    'demo',
  ),
  ...documentsOf(fixture('envoy/mixed-real-world.log'), 'mixed-real-world.log'),
  ...ztunnel.flatMap((f) => documentsOf(fixture(`ztunnel/${f}`), f)),
]

/** Every ECS field a document has, with its value. */
function ecsValues(doc: Record<string, unknown>): Array<[string, unknown]> {
  const out: Array<[string, unknown]> = []
  const walk = (o: Record<string, unknown>, prefix: string): void => {
    for (const [k, v] of Object.entries(o)) {
      const path = prefix === '' ? k : `${prefix}.${k}`
      if (ecs.fields[path] !== undefined) out.push([path, v])
      else if (v !== null && typeof v === 'object' && !Array.isArray(v) && isEcsName(path)) walk(v as Record<string, unknown>, path)
    }
  }
  walk(doc, '')
  return out
}

/** What is wrong with one value of an ECS field, if anything. */
function problem(path: string, f: EcsField, value: unknown): string | undefined {
  const isArray = f.normalize?.includes('array') ?? false
  if (isArray !== Array.isArray(value)) return `${isArray ? 'not ' : ''}an array`
  for (const v of Array.isArray(value) ? value : [value]) {
    if (f.type === 'keyword' || f.type === 'wildcard') {
      if (typeof v !== 'string') return `${JSON.stringify(v)} is not a string`
    } else if (f.type === 'long') {
      if (!Number.isSafeInteger(v)) return `${JSON.stringify(v)} is not an integer`
    } else if (f.type === 'boolean') {
      if (typeof v !== 'boolean') return `${JSON.stringify(v)} is not a boolean`
    } else if (f.type === 'ip') {
      if (typeof v !== 'string' || isIP(v) === 0) return `${JSON.stringify(v)} is not an IP address`
    } else if (f.type === 'date') {
      if (typeof v !== 'string' || !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(v) || Number.isNaN(Date.parse(v)))
        return `${JSON.stringify(v)} is not an ISO 8601 date`
    }
    const allowed = allowedOf(f)
    if (allowed !== undefined && !allowed.includes(v as string)) return `${JSON.stringify(v)} is not one of ${allowed.join(', ')}`
  }
  if (path === 'tls.version' && !/^\d+\.\d+$/.test(value as string)) return `${JSON.stringify(value)} is not the numeric part (e.g. 1.2)`
  if (path === 'tls.version_protocol' && value !== (value as string).toLowerCase()) return `${JSON.stringify(value)} is not lowercase`
  return undefined
}

describe('emitted documents against ECS 8.12', () => {
  test('every ECS field of every document has ECS’s type, format and allowed values', () => {
    const problems = new Map<string, { n: number; example: string }>()
    const seen = new Set<string>()
    for (const doc of documents) {
      for (const [path, value] of ecsValues(doc)) {
        seen.add(path)
        const p = problem(path, ecs.fields[path]!, value)
        if (p === undefined) continue
        const key = `${path}: ${p}`
        const entry = problems.get(key) ?? { n: 0, example: String((doc['event'] as { original?: string })?.original ?? '').slice(0, 200) }
        entry.n++
        problems.set(key, entry)
      }
      // ECS's categorization: each event.type is one the event's categories expect.
      const event = doc['event'] as { category?: string[]; type?: string[] }
      const expected = new Set((event.category ?? []).flatMap((c) => ecs.fields['event.category']!.expected_event_types?.[c] ?? []))
      for (const t of event.type ?? [])
        if (!expected.has(t))
          problems.set(`event.type ${t} not expected for categories ${event.category?.join(',')}`, { n: 1, example: '' })
    }
    expect(Object.fromEntries(problems)).toEqual({})
    expect(documents.length).toBeGreaterThan(1_000)
    // Every ECS field of the schema shows up, but those parse and the transform stages do not write for these
    // lines: event.created (only a line without a start time), event.ingested and event.hash.
    const notWritten = new Set(['event.created', 'event.ingested', 'event.hash'])
    expect(ecsLeaves.filter((p) => !seen.has(p) && !notWritten.has(p))).toEqual([])
  })

  test('tls.version is ECS’s numeric version with tls.version_protocol, not Envoy’s TLSv1.3', () => {
    const tls = documents
      .map((d) => d['tls'] as { version?: string; version_protocol?: string } | undefined)
      .filter((t) => t?.version !== undefined)
    expect(tls.length).toBeGreaterThan(100)
    expect(new Set(tls.map((t) => `${t!.version_protocol} ${t!.version}`))).toEqual(new Set(['tls 1.3', 'tls 1.2', 'tls 1.1']))
  })
})
