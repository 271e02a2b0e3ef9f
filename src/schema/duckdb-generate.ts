/**
 * Derives the embedded store's typed columns from the event JSON Schema and renders them as
 * src/generated/duckdb-columns.ts (`npm run generate`; test/schema/drift.test.ts fails on drift).
 *
 * Why an explicit `x-duckdb` annotation per field rather than a column for every leaf: the column
 * names are the `envoy-audit sql` contract (short, flat, never renamed: `src_spiffe_id`, not
 * `mesh_source_spiffe_id`), and most leaves are deliberately not columns (event.original, the
 * constant event.kind, ...). So a leaf is a column only when it says so, and everything else follows
 * from the schema by rule:
 * - type: string -> VARCHAR, date-time string -> TIMESTAMP, boolean -> BOOLEAN, array of strings ->
 *   VARCHAR[], integer -> BIGINT unless the annotation narrows it to INTEGER (JSON has no width; ports,
 *   status codes and counts that fit 32 bits say so explicitly);
 * - the getter: the field's path, with optional chaining wherever the schema does not require a member;
 * - order: the primary key first, then schema order (depth first). Column order is part of a store's
 *   DDL (positional `INSERT ... SELECT *`), so it is pinned by test/store/duckdb-schema-compat.test.ts.
 *
 * Annotation forms. On a leaf: `"x-duckdb": "name"`, or an object with `column` and any of
 * `type` ("INTEGER"), `notNull`, `primaryKey`, `firstOf` (a string map: the value of the first of these
 * keys present) and `orElse` (a path read when the field is absent; `a[].b` maps over array a).
 * `added: true` marks a column added after stores were created with the others: existing stores get it
 * by ALTER TABLE, which can only append, so every table puts the added columns after the document
 * column, in schema order (ADDED_EVENT_COLUMNS), and older segment files are read without them.
 * On the root: `{ "table", "document" }` (the column holding the whole event JSON, after the others). On an array
 * of objects: `{ "table", "parentKey", "parentTime", "position" }`, a child table whose rows are
 * (parent's primary key, parent's @timestamp, position in the array, the item's annotated fields),
 * keyed by (parentKey, position).
 */
import type { ColumnType } from './duckdb-columns.js'

interface SchemaNode {
  type?: string | string[]
  format?: string
  properties?: Record<string, SchemaNode>
  required?: string[]
  items?: SchemaNode
  additionalProperties?: boolean | SchemaNode
  'x-duckdb'?: unknown
}

export interface ColumnSpec {
  name: string
  type: ColumnType
  path: string
  notNull: boolean
  /** TypeScript expression over the row variable (`e` for events, `r` for child rows). */
  getter: string
}

export interface TableSpecOut {
  name: string
  primaryKey: string[]
  document?: string
  columns: ColumnSpec[]
  /** Columns after the document column (`added: true`): see the header. */
  added?: ColumnSpec[]
}

const NAME = /^[a-z][a-z0-9_]*$/
const LEAF_KEYS = new Set(['column', 'type', 'notNull', 'primaryKey', 'firstOf', 'orElse', 'added'])
const CHILD_KEYS = new Set(['table', 'parentKey', 'parentTime', 'position'])

function fail(path: string, message: string): never {
  throw new Error(`x-duckdb at ${path === '' ? 'the root' : path}: ${message}`)
}

function types(node: SchemaNode): string[] {
  return Array.isArray(node.type) ? node.type : node.type === undefined ? [] : [node.type]
}

/** `.name`, or `['@timestamp']` for a name that is not an identifier. */
function member(name: string, optional: boolean): string {
  const ident = /^[A-Za-z_$][\w$]*$/.test(name)
  if (ident) return `${optional ? '?.' : '.'}${name}`
  return `${optional ? '?.' : ''}[${quote(name)}]`
}

function quote(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`
}

/** The accessor for a dotted path under `node`, optional-chained wherever a member is not required. */
function accessor(base: string, node: SchemaNode, path: string, where: string): string {
  let expr = base
  let optional = false
  let current: SchemaNode | undefined = node
  for (const segment of path.split('.')) {
    const child: SchemaNode | undefined = current?.properties?.[segment]
    if (child === undefined) fail(where, `${path} names no field`)
    expr += member(segment, optional)
    optional = !(current?.required ?? []).includes(segment)
    current = child
  }
  return expr
}

function leafNode(root: SchemaNode, path: string, where: string): SchemaNode {
  let node: SchemaNode | undefined = root
  for (const segment of path.split('.')) {
    node = node?.properties?.[segment]
    if (node === undefined) fail(where, `${path} names no field`)
  }
  return node
}

function columnType(node: SchemaNode, where: string, narrowed: unknown): ColumnType {
  const t = types(node)
  if (narrowed !== undefined) {
    if (narrowed !== 'INTEGER' || !t.includes('integer')) {
      fail(where, `type ${String(narrowed)} is allowed only as INTEGER on an integer field`)
    }
    return 'INTEGER'
  }
  if (t.includes('string')) return node.format === 'date-time' ? 'TIMESTAMP' : 'VARCHAR'
  if (t.includes('integer')) return 'BIGINT'
  if (t.includes('boolean')) return 'BOOLEAN'
  if (t.includes('array') && types(node.items ?? {}).includes('string')) return 'VARCHAR[]'
  return fail(where, `no DuckDB type for a field of type ${t.join('|') || 'unknown'}`)
}

type Leaf = ColumnSpec & { primaryKey: boolean; added: boolean }

/**
 * One annotated leaf. `scope` is the node `base` stands for (the root for `e`, an array's items for
 * `r.finding`) and `relative` the leaf's path under it: the getter is built from there.
 */
function leafColumn(root: SchemaNode, scope: SchemaNode, relative: string, base: string, node: SchemaNode, where: string): Leaf {
  const raw = node['x-duckdb']
  const a = (typeof raw === 'string' ? { column: raw } : raw) as Record<string, unknown>
  if (a === null || typeof a !== 'object' || typeof a.column !== 'string' || !NAME.test(a.column)) {
    fail(where, 'needs a column name (lower_snake_case)')
  }
  for (const key of Object.keys(a)) if (!LEAF_KEYS.has(key)) fail(where, `unknown key ${key}`)
  let getter = accessor(base, scope, relative, where)
  let type: ColumnType
  if (a.firstOf !== undefined) {
    const keys = a.firstOf
    const map = typeof node.additionalProperties === 'object' && types(node.additionalProperties).includes('string')
    if (!map || !Array.isArray(keys) || keys.length === 0 || !keys.every((k) => typeof k === 'string')) {
      fail(where, 'firstOf needs a string map field and a list of keys')
    }
    getter = `firstOwnValue(${getter}, [${(keys as string[]).map(quote).join(', ')}])`
    type = 'VARCHAR'
  } else type = columnType(node, where, a.type)
  if (a.orElse !== undefined) {
    const m = typeof a.orElse === 'string' ? /^([\w.@]+)\[\]\.([\w.]+)$/.exec(a.orElse) : null
    if (m === null || scope !== root) fail(where, 'orElse must be a path of the form array[].field, on an events column')
    const array = leafNode(root, m[1]!, where)
    if (array.items?.properties === undefined) fail(where, `orElse: ${m[1]} is not an array of objects`)
    const element = columnType(leafNode(array.items, m[2]!, where), where, undefined)
    if (`${element}[]` !== type) fail(where, `orElse: ${String(a.orElse)} does not give a ${type}`)
    getter = `${getter} ?? ${accessor(base, root, m[1]!, where)}?.map((x) => ${accessor('x', array.items, m[2]!, where)})`
  }
  const primaryKey = a.primaryKey === true
  const added = a.added === true
  if (added && (primaryKey || a.notNull === true)) fail(where, 'an added column can be neither a key nor NOT NULL (existing rows get NULL)')
  return { name: a.column, type, path: where, notNull: primaryKey || a.notNull === true, getter, primaryKey, added }
}

/** The tables the schema's `x-duckdb` annotations describe: `events`, then its child table. */
export function duckDbTablesFromSchema(schema: Readonly<Record<string, unknown>>): TableSpecOut[] {
  const root = schema as SchemaNode
  const top = root['x-duckdb'] as Record<string, unknown> | undefined
  if (top === undefined || typeof top.table !== 'string' || typeof top.document !== 'string') fail('', 'needs { "table", "document" }')
  const leaves: Leaf[] = []
  const children: TableSpecOut[] = []

  // Depth first in schema order; an annotated array of objects is a child table, not a column.
  const walk = (node: SchemaNode, prefix: string): void => {
    for (const [name, child] of Object.entries(node.properties ?? {})) {
      const where = prefix === '' ? name : `${prefix}.${name}`
      const annotation = child['x-duckdb']
      if (annotation !== undefined && child.items?.properties !== undefined) children.push(childTable(root, child, where))
      else if (annotation !== undefined) leaves.push(leafColumn(root, root, where, 'e', child, where))
      else if (child.properties !== undefined) walk(child, where)
    }
  }
  walk(root, '')

  const keys = leaves.filter((c) => c.primaryKey)
  if (keys.length !== 1) fail('', `the ${top.table} table needs exactly one primaryKey column, found ${keys.length}`)
  const key = keys[0]!
  if (children.length > 1) fail('', 'one child table only: its rows are FindingRow')
  const columns = [key, ...leaves.filter((c) => c !== key && !c.added)].map(strip)
  const added = leaves.filter((c) => c.added).map(strip)
  const events: TableSpecOut = { name: top.table, primaryKey: [key.name], document: top.document, columns, added }
  for (const child of children) child.columns[0] = { ...child.columns[0]!, type: key.type, path: key.path }
  const tables = [events, ...children]
  for (const t of tables) {
    const seen = new Set<string>()
    for (const c of [...t.columns, ...(t.added ?? [])]) {
      if (seen.has(c.name)) fail(c.path, `column ${c.name} appears twice in ${t.name}`)
      seen.add(c.name)
    }
  }
  return tables
}

/** A child table: (parent key, parent time, position, the item's annotated fields), keyed by (parent key, position). */
function childTable(root: SchemaNode, node: SchemaNode, where: string): TableSpecOut {
  const a = node['x-duckdb'] as Record<string, unknown>
  for (const key of Object.keys(a)) if (!CHILD_KEYS.has(key)) fail(where, `unknown key ${key}`)
  const names = [a.table, a.parentKey, a.parentTime, a.position]
  if (!names.every((n) => typeof n === 'string' && NAME.test(n))) fail(where, 'needs table, parentKey, parentTime and position names')
  const [table, parentKey, parentTime, position] = names as [string, string, string, string]
  const items = node.items!
  const columns: ColumnSpec[] = [
    { name: parentKey, type: 'VARCHAR', path: '', notNull: true, getter: 'r.eventId' },
    { name: parentTime, type: 'TIMESTAMP', path: '@timestamp', notNull: true, getter: 'r.ts' },
    { name: position, type: 'INTEGER', path: `${where}[]#index`, notNull: true, getter: 'r.index' },
  ]
  for (const [name, child] of Object.entries(items.properties ?? {})) {
    if (child['x-duckdb'] === undefined) continue
    const column = leafColumn(root, items, name, 'r.finding', child, `${where}[].${name}`)
    if (column.primaryKey) fail(column.path, 'a child table is keyed by its parent and position')
    if (column.added) fail(column.path, 'added columns are for the events table')
    columns.push(strip(column))
  }
  return { name: table, primaryKey: [parentKey, position], columns }
}

function strip(c: ColumnSpec): ColumnSpec {
  return { name: c.name, type: c.type, path: c.path, notNull: c.notNull, getter: c.getter }
}

/** src/generated/duckdb-columns.ts: the tables' specs and columns, with getters tsc checks against the event type. */
export function renderDuckDbColumns(schema: Readonly<Record<string, unknown>>, header: string): string {
  const [events, findings] = duckDbTablesFromSchema(schema)
  if (events === undefined || findings === undefined) {
    throw new Error('x-duckdb: the schema must describe the events table and one child table')
  }
  const table = (t: TableSpecOut, constName: string) => {
    const doc = t.document === undefined ? '' : `, document: ${quote(t.document)}`
    const key = t.primaryKey.map(quote).join(', ')
    return `export const ${constName}: TableSpec = { name: ${quote(t.name)}, primaryKey: [${key}]${doc} }\n`
  }
  const columns = (t: TableSpecOut, constName: string, row: string, v: string, list = t.columns) =>
    `export const ${constName}: readonly Column<${row}>[] = [\n` +
    list
      .map((c) => {
        const spec = `name: ${quote(c.name)}, type: ${quote(c.type)}, path: ${quote(c.path)}, notNull: ${c.notNull}`
        return `  { ${spec}, get: (${v}) => ${c.getter} },\n`
      })
      .join('') +
    ']\n'
  return [
    header,
    "import type { AuditEvent } from './types.js'\n",
    "import { firstOwnValue, type Column, type FindingRow, type TableSpec } from '../schema/duckdb-columns.js'\n",
    '\n',
    `/** One row per event; ${quote(events.document ?? '')} holds the event as stored. */\n`,
    table(events, 'EVENTS_TABLE'),
    columns(events, 'EVENT_COLUMNS', 'AuditEvent', 'e'),
    `/** Columns added to existing stores, after ${quote(events.document ?? '')}: older segment files lack them. */\n`,
    columns(events, 'ADDED_EVENT_COLUMNS', 'AuditEvent', 'e', events.added ?? []),
    '\n',
    `/** One row per item of ${findings.columns[2]!.path.replace(/\[\]#index$/, '')}. */\n`,
    table(findings, 'FINDINGS_TABLE'),
    columns(findings, 'FINDING_COLUMNS', 'FindingRow', 'r'),
  ].join('')
}
