/**
 * Renders src/generated/document-writer.ts from the event JSON Schema (`npm run generate`;
 * test/schema/drift.test.ts fails on drift): a function that writes the stored document straight from
 * the event as UTF-8 bytes (src/schema/document-bytes.ts), in the key order the compiled
 * fast-json-stringify serializer uses, so the hash stage neither builds the document as a string of a
 * few hundred concatenations nor encodes it again for the sinks.
 *
 * The writer covers the values the parser and the stages produce: strings, integers, booleans, plain
 * objects and short arrays. On anything else (a Date, a number where a string belongs, a missing
 * required member, an object with toJSON, ...) it gives up and returns false, and the caller uses
 * the compiled serializer, which then writes (or refuses) exactly as before. So the output is the
 * serializer's byte for byte, which test/schema/document-writer.test.ts checks on every fixture and on
 * generated events. The order rule is fast-json-stringify's: inside an object with a `required` list,
 * the required members first, then the others, each in schema order; the root's `required`
 * list is not given to the serializer (src/schema/audit-event.ts), so the root keeps schema order.
 *
 * `hashed` leaves out the members audit.hash does not cover (event.ingested, event.created and
 * audit.hash itself): the document that is hashed, written without mutating the event.
 */

interface Node {
  type?: string | string[]
  format?: string
  properties?: Record<string, Node>
  required?: string[]
  items?: Node
  additionalProperties?: boolean | Node
}

/** Members left out of the hashed form, by path. */
const UNHASHED = new Set(['event.ingested', 'event.created', 'audit.hash'])

/** The JSON Schema keywords the generated writers render (every `x-` annotation is theirs to read or skip). */
const SUPPORTED_KEYS = new Set([
  'type',
  'format',
  'properties',
  'required',
  'items',
  'additionalProperties',
  'enum',
  'description',
  'title',
  '$schema',
  '$id',
])

function typesOf(node: Node, path: string): string[] {
  const t = node.type
  if (t === undefined) throw new Error(`document writer: ${path} has no type`)
  return Array.isArray(t) ? t : [t]
}

/** Refuses a schema node with a keyword the writer `who` would not render. */
export function checkWriterKeys(node: object, path: string, who: string): void {
  for (const k of Object.keys(node))
    if (!SUPPORTED_KEYS.has(k) && !k.startsWith('x-')) throw new Error(`${who}: ${path} uses ${k}, which it does not render`)
}

function check(node: Node, path: string): void {
  checkWriterKeys(node, path, 'document writer')
}

/** Renders the writer's source; `schema` is schemas/audit-event.schema.json. */
export function renderDocumentWriter(schema: Record<string, unknown>, header: string): string {
  const fns: string[] = []
  const keys = new Map<string, string>()
  let counter = 0

  /** The constant holding the bytes of `text`, declared once. */
  const constant = (text: string): string => {
    let name = keys.get(text)
    if (name === undefined) {
      name = `K${keys.size}`
      keys.set(text, name)
    }
    return name
  }

  /** A statement writing value `v` of `node`, or throwing BAIL. */
  const writeValue = (node: Node, v: string, path: string): string => {
    check(node, path)
    const types = typesOf(node, path)
    const key = types.filter((t) => t !== 'null').join('|')
    const nullable = types.includes('null')
    if (nullable && key !== 'boolean') throw new Error(`document writer: ${path}: only boolean may be nullable`)
    if (key === 'string') return `w.str(${v})`
    if (key === 'integer') return `w.int(${v})`
    if (key === 'boolean') return nullable ? `w.boolOrNull(${v})` : `w.bool(${v})`
    if (key === 'object') return `${objectFn(node, path)}(w, ${v})`
    if (key === 'array') return `${arrayFn(node, path)}(w, ${v})`
    throw new Error(`document writer: ${path} has type ${JSON.stringify(node.type)}, which it does not render`)
  }

  const arrayFn = (node: Node, path: string): string => {
    const name = `a${counter++}`
    if (node.items === undefined || Array.isArray(node.items)) throw new Error(`document writer: ${path} needs one items schema`)
    fns.push(
      [
        `// ${path}`,
        `function ${name}(w: DocumentBytes, v: unknown): void {`,
        // Long arrays take the serializer's own bulk path: leave them to it.
        `  if (!Array.isArray(v) || v.length >= 128) throw BAIL`,
        `  w.byte(0x5b)`,
        `  for (let i = 0; i < v.length; i++) {`,
        `    if (i > 0) w.byte(0x2c)`,
        `    ${writeValue(node.items, 'v[i]', `${path}[]`)}`,
        `  }`,
        `  w.byte(0x5d)`,
        `}`,
      ].join('\n'),
    )
    return name
  }

  const objectFn = (node: Node, path: string): string => {
    const name = `o${counter++}`
    const props = node.properties ?? {}
    const lines = [`// ${path === '' ? 'the event' : path}`, `function ${name}(w: DocumentBytes, v: unknown): void {`]
    lines.push(`  if (typeof v !== 'object' || v === null || Array.isArray(v) || typeof (v as O).toJSON === 'function') throw BAIL`)
    lines.push(`  const o = v as O`)
    // Whether a member is written yet (positions are not compared: the buffer may move while writing).
    lines.push(`  let any = false`)
    if (node.additionalProperties !== undefined && typeof node.additionalProperties === 'object') {
      if (Object.keys(props).length > 0) throw new Error(`document writer: ${path} mixes properties and additionalProperties`)
      // As fast-json-stringify writes a map: own enumerable keys, members that are undefined skipped.
      lines.push(`  for (const k of Object.keys(o)) {`)
      lines.push(`    const x = o[k]`)
      lines.push(`    if (x === undefined || typeof x === 'function' || typeof x === 'symbol') continue`)
      lines.push(`    w.byte(any ? 0x2c : 0x7b)`)
      lines.push(`    any = true`)
      lines.push(`    w.str(k)`)
      lines.push(`    w.byte(0x3a)`)
      lines.push(`    ${writeValue(node.additionalProperties, 'x', `${path}.*`)}`)
      lines.push(`  }`)
    } else {
      const required = path === '' ? [] : (node.required ?? [])
      for (const k of required)
        if (props[k] === undefined) throw new Error(`document writer: ${path} requires ${k}, which it does not define`)
      // fast-json-stringify's order: a stable sort of the properties, required ones first.
      const order = [...Object.keys(props).filter((k) => required.includes(k)), ...Object.keys(props).filter((k) => !required.includes(k))]
      // Once a required member is written, every later one is known to need a comma.
      let started = false
      lines.push(`  let x: unknown`)
      for (const k of order) {
        const childPath = path === '' ? k : `${path}.${k}`
        const first = constant(`{${JSON.stringify(k)}:`)
        const next = constant(`,${JSON.stringify(k)}:`)
        const write = writeValue(props[k] as Node, 'x', childPath)
        lines.push(`  x = o[${JSON.stringify(k)}]`)
        if (required.includes(k)) {
          lines.push(`  if (x === undefined) throw BAIL`)
          lines.push(`  w.raw(${started ? next : first})`)
          lines.push(`  ${write}`)
          if (!started) lines.push(`  any = true`)
          started = true
        } else {
          const cond = UNHASHED.has(childPath) ? 'x !== undefined && !leaveOutUnhashed' : 'x !== undefined'
          lines.push(`  if (${cond}) {`)
          lines.push(`    w.raw(${started ? next : `any ? ${next} : ${first}`})`)
          if (!started) lines.push(`    any = true`)
          lines.push(`    ${write}`)
          lines.push(`  }`)
        }
      }
    }
    lines.push(`  if (!any) w.byte(0x7b)`)
    lines.push(`  w.byte(0x7d)`)
    lines.push(`}`)
    fns.push(lines.join('\n'))
    return name
  }

  const root = schema as Node
  for (const k of root.required ?? []) if (root.properties?.[k] === undefined) throw new Error(`document writer: the root requires ${k}`)
  const rootFn = objectFn(root, '')
  const constants = [...keys].map(([text, name]) => `const ${name} = ascii(${JSON.stringify(text)})`).join('\n')
  const requiredCheck = (root.required ?? []).map((k) => `o[${JSON.stringify(k)}] === undefined`).join(' || ')

  return `${header}import type { AuditEvent } from './types.js'
import { ascii, BAIL, type DocumentBytes } from '../schema/document-bytes.js'

type O = Record<string, unknown>

${constants}

// Read by the members audit.hash leaves out; set per call (the writer is synchronous).
let leaveOutUnhashed = false

${fns.join('\n\n')}

/**
 * Writes the event into \`w\` as the compiled serializer writes it and returns true, or returns false
 * (with \`w\` back at the document's start, DocumentBytes#begin) where it leaves the event to that serializer.
 * \`hashed\`: without ${[...UNHASHED].join(', ')} (what audit.hash covers).
 */
export function writeDocument(w: DocumentBytes, e: AuditEvent, hashed: boolean): boolean {
  const o = e as unknown as O
  if (${requiredCheck}) return false
  leaveOutUnhashed = hashed
  try {
    ${rootFn}(w, o)
    return true
  } catch (err) {
    if (err !== BAIL) throw err
    w.abandon()
    return false
  }
}
`
}
