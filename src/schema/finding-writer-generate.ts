/**
 * Renders src/generated/finding-writer.ts from schemas/opensearch/finding.schema.json and the event
 * schema (`npm run generate`; test/schema/drift.test.ts fails on drift): a function that writes one
 * findings-index document straight from the event as UTF-8 bytes (src/schema/document-bytes.ts),
 * without building the document object (`findingDocuments` in src/sinks/opensearch/documents.ts) and
 * serializing it with the compiled fast-json-stringify serializer.
 *
 * Where each leaf's value comes from is the leaf's `x-from` in the finding schema (a path in the event,
 * `audit.findings[].<member>`, `$index`, `$namespace`, or a list of them taken with `??`); every path
 * is checked against the event schema here, so renaming an event field fails generation instead of
 * silently writing documents without it. The output is what the serializer writes for the object
 * `findingDocuments` builds: members in fast-json-stringify's order (required first, then the others,
 * each in schema order), a member left out when its value is undefined, an object left out when every
 * leaf under it is (`compact`). On any value the writer does not cover (a wrong type, null, a missing
 * required member, an event object that is not a plain object, a long array) it gives up and returns
 * false, and the caller uses `findingDocuments` and the serializer, which then write (or throw) exactly
 * as before: test/schema/finding-writer.test.ts checks both on every fixture and on generated events.
 */
import { checkWriterKeys } from './document-writer-generate.js'

interface Node {
  type?: string | string[]
  format?: string
  properties?: Record<string, Node>
  required?: string[]
  items?: Node
  additionalProperties?: boolean | Node
  'x-from'?: string | string[]
}

/** Values that are not a path in the event, and the TypeScript expression each is written from. */
const DERIVED: Record<string, { expr: string; type: string }> = {
  $index: { expr: 'index', type: 'integer' },
  $namespace: { expr: 'eventNamespace(e)', type: 'string' },
}

/** The member of audit.findings[] the document is for. */
const FINDING = 'audit.findings[]'

function check(node: Node, path: string): void {
  checkWriterKeys(node, path, 'finding writer')
}

function typeOf(node: Node, path: string): string {
  if (typeof node.type !== 'string') throw new Error(`finding writer: ${path} needs exactly one type, not ${JSON.stringify(node.type)}`)
  return node.type
}

/** Renders the writer's source from the finding schema and the event schema. */
export function renderFindingWriter(findingSchema: Record<string, unknown>, eventSchema: Record<string, unknown>, header: string): string {
  const keys = new Map<string, string>()
  const constant = (text: string): string => {
    let name = keys.get(text)
    if (name === undefined) {
      name = `K${keys.size}`
      keys.set(text, name)
    }
    return name
  }

  // Objects of the event the leaves read, each read once into a local: p<n>.
  const objects = new Map<string, string>()
  const reads: string[] = []

  /** The local holding the event object at `path` (dotted, '' for the event, `audit.findings[]` for the finding). */
  const objectAt = (path: string): string => {
    if (path === '') return 'o'
    let name = objects.get(path)
    if (name !== undefined) return name
    if (path === FINDING) {
      const list = objectAt('audit')
      name = `p${objects.size}`
      objects.set(path, name)
      reads.push(
        `  const findings = ${list}['findings']`,
        `  if (!Array.isArray(findings)) throw BAIL`,
        `  const ${name} = must(findings[index])`,
      )
      return name
    }
    const dot = path.lastIndexOf('.')
    const parentPath = dot < 0 ? '' : path.slice(0, dot)
    const key = path.slice(dot + 1)
    const parent = objectAt(parentPath)
    const parentNode = eventNode(parentPath)
    // What the event schema requires is read as findingDocuments reads it (`e.event.id`): anything but an
    // object leaves the document to it. What it does not require is read as with `?.`.
    const fn = parentNode.required?.includes(key) === true ? 'must' : 'may'
    name = `p${objects.size}`
    objects.set(path, name)
    reads.push(`  const ${name} = ${fn}(${parent}${parent === 'o' ? '' : '?.'}[${JSON.stringify(key)}])`)
    return name
  }

  /** The event schema's node at a dotted path (`audit.findings[]` is the finding item). */
  const eventNode = (path: string): Node => {
    let node = eventSchema as Node
    if (path === '') return node
    for (const part of path.split('.')) {
      const array = part.endsWith('[]')
      const k = array ? part.slice(0, -2) : part
      const next = node.properties?.[k]
      if (next === undefined) throw new Error(`finding writer: the event schema has no ${path}`)
      node = next
      if (array) {
        if (node.items === undefined) throw new Error(`finding writer: ${path}: ${k} is not an array in the event schema`)
        node = node.items
      }
    }
    return node
  }

  /** The expression for one x-from source, checked against the event schema and the leaf's type. */
  const sourceExpr = (from: string, type: string, items: string | undefined, leafPath: string): string => {
    const derived = DERIVED[from]
    if (derived !== undefined) {
      if (derived.type !== type) throw new Error(`finding writer: ${leafPath} is ${type}, ${from} is ${derived.type}`)
      return derived.expr
    }
    const src = eventNode(from)
    const srcType = typeof src.type === 'string' ? src.type : JSON.stringify(src.type)
    if (srcType !== type) throw new Error(`finding writer: ${leafPath} is ${type}, event ${from} is ${srcType}`)
    if (type === 'array' && src.items?.type !== items)
      throw new Error(`finding writer: ${leafPath} holds ${items}, event ${from} holds ${JSON.stringify(src.items?.type)}`)
    const dot = from.lastIndexOf('.')
    const parent = objectAt(dot < 0 ? '' : from.slice(0, dot))
    return `${parent}${parent === 'o' ? '' : '?.'}[${JSON.stringify(from.slice(dot + 1))}]`
  }

  // Each leaf's value, read into a local v<n> before anything is written.
  const values: string[] = []
  const leafValue = new Map<string, string>()

  const collect = (node: Node, path: string): void => {
    check(node, path)
    const type = typeOf(node, path)
    if (type === 'object') {
      if (node.additionalProperties !== false)
        throw new Error(`finding writer: ${path || 'the document'} must set additionalProperties: false`)
      for (const [k, child] of Object.entries(node.properties ?? {})) collect(child, path === '' ? k : `${path}.${k}`)
      return
    }
    const from = node['x-from']
    if (from === undefined) throw new Error(`finding writer: ${path} has no x-from`)
    const list = Array.isArray(from) ? from : [from]
    if (list.length === 0) throw new Error(`finding writer: ${path} has an empty x-from`)
    let items: string | undefined
    if (type === 'array') {
      if (node.items === undefined || typeof node.items.type !== 'string') throw new Error(`finding writer: ${path} needs one items type`)
      check(node.items, `${path}[]`)
      items = node.items.type
      if (items !== 'string' && items !== 'integer')
        throw new Error(`finding writer: ${path}[] has type ${items}, which it does not render`)
    } else if (type !== 'string' && type !== 'integer')
      throw new Error(`finding writer: ${path} has type ${type}, which it does not render`)
    const name = `v${leafValue.size}`
    values.push(`  const ${name} = ${list.map((f) => sourceExpr(f, type, items, path)).join(' ?? ')}`)
    // Long arrays take the serializer's own bulk path: leave them to it. Checked before anything is written.
    if (type === 'array') values.push(`  if (${name} !== undefined && (!Array.isArray(${name}) || ${name}.length >= 128)) throw BAIL`)
    leafValue.set(path, name)
  }

  /** The leaves' locals under `path`: the object is written when one of them is defined. */
  const leavesUnder = (path: string): string[] => [...leafValue].filter(([p]) => path === '' || p.startsWith(`${path}.`)).map(([, v]) => v)

  const body: string[] = []
  const checks: string[] = []
  const code = (indent: string, line: string) => body.push(`${indent}${line}`)
  /** Writes constant bytes: a byte, or a key constant declared once. */
  const bytes = (indent: string, text: string) =>
    code(indent, text.length === 1 ? `w.byte(0x${text.charCodeAt(0).toString(16)})` : `w.raw(${constant(text)})`)
  let anyCounter = 0

  /** Statements writing the value of `node` (its key already written). */
  const writeValue = (node: Node, path: string, indent: string, enclosing: string): void => {
    const type = typeOf(node, path)
    if (type === 'object') return writeObject(node, path, indent, enclosing)
    const v = leafValue.get(path)!
    if (type === 'string') code(indent, `w.str(${v})`)
    else if (type === 'integer') code(indent, `w.int(${v})`)
    else {
      // Checked where it is read, before anything is written.
      const a = `(${v} as unknown[])`
      bytes(indent, '[')
      code(indent, `for (let i = 0; i < ${a}.length; i++) {`)
      code(indent, `  if (i > 0) w.byte(0x2c)`)
      code(indent, `  w.${node.items!.type === 'string' ? 'str' : 'int'}(${a}[i])`)
      code(indent, `}`)
      bytes(indent, ']')
    }
  }

  const present = (node: Node, path: string): string =>
    typeOf(node, path) === 'object'
      ? leavesUnder(path)
          .map((v) => `${v} !== undefined`)
          .join(' || ')
      : `${leafValue.get(path)!} !== undefined`

  /**
   * Statements writing an object whose key is written, inside a block entered when `enclosing` holds (so
   * a member present exactly when it does needs no test of its own).
   */
  const writeObject = (node: Node, path: string, indent: string, enclosing: string): void => {
    const props = node.properties ?? {}
    const required = node.required ?? []
    for (const k of required)
      if (props[k] === undefined) throw new Error(`finding writer: ${path || 'the document'} requires ${k}, which it does not define`)
    // fast-json-stringify's order: a stable sort of the properties, required ones first.
    const order = [...Object.keys(props).filter((k) => required.includes(k)), ...Object.keys(props).filter((k) => !required.includes(k))]
    // Whether a member is written yet: known here ('none', 'some'), or only at run time (in the local `any`).
    const any = `any${anyCounter++}`
    let state: 'none' | 'some' | 'unknown' = 'none'
    code(indent, `// ${path === '' ? 'the document' : path}`)
    order.forEach((k, i) => {
      const child = props[k]!
      const childPath = path === '' ? k : `${path}.${k}`
      const key = (open: string) => `${open}${JSON.stringify(k)}:`
      const cond = present(child, childPath)
      const always = required.includes(k) || cond === enclosing
      // findingDocuments leaves an absent member out, and the serializer then refuses the document.
      if (required.includes(k)) checks.push(`  if (${enclosing === 'true' ? '' : `(${enclosing}) && `}!(${cond})) throw BAIL`)
      if (always) {
        if (state === 'unknown') code(indent, `w.raw(${any} ? ${constant(key(','))} : ${constant(key('{'))})`)
        else bytes(indent, key(state === 'none' ? '{' : ','))
        writeValue(child, childPath, indent, cond)
        state = 'some'
        return
      }
      const inner = `${indent}  `
      code(indent, `if (${cond}) {`)
      if (state === 'unknown') code(inner, `w.raw(${any} ? ${constant(key(','))} : ${constant(key('{'))})`)
      else bytes(inner, key(state === 'none' ? '{' : ','))
      if (state === 'unknown' && i < order.length - 1) code(inner, `${any} = true`)
      writeValue(child, childPath, inner, cond)
      code(indent, `}`)
      if (state === 'none' && i < order.length - 1) {
        code(indent, `let ${any} = ${cond}`)
        state = 'unknown'
      }
    })
    // An object is written only when a leaf under it is defined (present()), so some member was written.
    bytes(indent, '}')
  }

  const root = findingSchema as Node
  check(root, '')
  if (typeOf(root, '') !== 'object') throw new Error('finding writer: the document must be an object')
  collect(root, '')
  writeObject(root, '', '    ', 'true')

  const source = body.join('\n')
  const constants = [...keys].map(([text, name]) => `const ${name} = ascii(${JSON.stringify(text)})`).join('\n')
  const usesNamespace = values.some((v) => v.includes('eventNamespace('))

  return `${header}import type { AuditEvent } from './types.js'
import { ascii, BAIL, type DocumentBytes } from '../schema/document-bytes.js'
${usesNamespace ? "import { eventNamespace } from '../schema/event-namespace.js'\n" : ''}
type O = Record<string, unknown>

${constants}

/** An object the event must have, read as \`e.event.id\` reads it: anything else is left to the serializer. */
function must(v: unknown): O {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw BAIL
  return v as O
}

/** An object the event may have, read as \`e.mesh?.source\` reads it: undefined or null is absent. */
function may(v: unknown): O | undefined {
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'object' || Array.isArray(v)) throw BAIL
  return v as O
}

/**
 * Writes the findings-index document of the event's finding at \`index\` into \`w\` as the compiled
 * serializer writes \`findingDocuments(e)[index]\`, and returns true; or returns false (with \`w\` back at
 * the document's start, DocumentBytes#begin) where it leaves the document to them.
 */
export function writeFindingDocument(w: DocumentBytes, e: AuditEvent, index: number): boolean {
  try {
    const o = e as unknown as O
${reads.map((l) => `  ${l}`).join('\n')}
${values.map((l) => `  ${l}`).join('\n')}
${checks.map((l) => `  ${l}`).join('\n')}
${source}
    return true
  } catch (err) {
    if (err !== BAIL) throw err
    w.abandon()
    return false
  }
}
`
}
