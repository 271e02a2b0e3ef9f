/**
 * The typed rows of a segment, computed by DuckDB from the stored documents: the writer appends one
 * value per event (the document, as `event_json` holds it) instead of one per column, and DuckDB
 * parses each document once (`json_transform` into a STRUCT) and reads every typed column of
 * `events` and every row of `findings` out of it. The Node appender costs about a microsecond per
 * value, so the ~70 columns of the table layout cost 50-100 µs per event; one value costs ~5.
 *
 * The columns are those of src/generated/duckdb-columns.ts, read at the same paths; two are not a
 * plain path, as their getters say: `k8s_app` (the first of three labels) and `finding_codes` (or
 * else the codes of audit.findings). test/store/segment-rows.test.ts checks every column against the
 * getters the table layout appends with, on the demo's and the fixtures' events.
 */
import { ADDED_EVENT_COLUMNS, EVENT_COLUMNS, FINDING_COLUMNS } from '../generated/duckdb-columns.js'

/** The labels k8s_app takes the first of (schemas/audit-event.schema.json, kubernetes.labels x-duckdb firstOf). */
const APP_LABELS = ['app', 'app.kubernetes.io/name', 'k8s-app'] as const

type Tree = { [key: string]: Tree | string | (Tree | string)[] }

const jsonType = (type: string): string | string[] =>
  type === 'VARCHAR[]' ? ['VARCHAR'] : type === 'TIMESTAMP' ? 'VARCHAR' : type === 'BOOLEAN' ? 'BOOLEAN' : type

const ident = (name: string): string => `"${name.replaceAll('"', '""')}"`
const access = (path: readonly string[]): string => `s.${path.map(ident).join('.')}`

function put(tree: Tree, path: readonly string[], leaf: Tree[string]): void {
  let t = tree
  for (const part of path.slice(0, -1)) t = (t[part] ??= {}) as Tree
  t[path[path.length - 1]!] = leaf
}

function build(): { structure: string; columns: string[]; added: string[] } {
  const tree: Tree = {}
  const columns: string[] = []
  const added: string[] = []
  for (const c of [...EVENT_COLUMNS, ...ADDED_EVENT_COLUMNS]) {
    const path = c.path.split('.')
    let expr: string
    if (c.name === 'k8s_app') {
      put(tree, path, Object.fromEntries(APP_LABELS.map((l) => [l, 'VARCHAR'])))
      expr = `coalesce(${APP_LABELS.map((l) => access([...path, l])).join(', ')})`
    } else if (c.name === 'finding_codes') {
      put(tree, path, ['VARCHAR'])
      expr = `coalesce(${access(path)}, list_transform(s.audit.findings, f -> f.code))`
    } else {
      if (path.some((p) => !/^[@\w]+$/.test(p))) throw new Error(`column ${c.name}: path ${c.path} is not a plain path`)
      put(tree, path, jsonType(c.type))
      expr = access(path)
    }
    if (c.type === 'TIMESTAMP') expr = `TRY_CAST(${expr} AS TIMESTAMP)`
    if (ADDED_EVENT_COLUMNS.includes(c)) added.push(`${expr} AS ${c.name}`)
    else columns.push(`${expr} AS ${c.name}`)
  }
  // The findings rows: every field a finding column reads.
  const item: Tree = {}
  for (const c of FINDING_COLUMNS) {
    const m = /^audit\.findings\[\]\.(\w+)$/.exec(c.path)
    if (m !== null) item[m[1]!] = jsonType(c.type)
  }
  put(tree, ['audit', 'findings'], [item])
  return { structure: JSON.stringify(tree), columns, added }
}

const { structure: STRUCTURE, columns: EVENT_EXPRS, added: ADDED_EXPRS } = build()

/**
 * `seg_rows` from the documents in the temp table `stage_docs (json VARCHAR)`: the events columns in the
 * table's order (typed columns, event_json, the added columns), then `f` (the findings list).
 */
export const SEGMENT_ROWS_SQL = `CREATE OR REPLACE TEMP TABLE seg_rows AS
  SELECT ${EVENT_EXPRS.join(', ')}, json AS event_json, ${ADDED_EXPRS.join(', ')}, s.audit.findings AS f
  FROM (SELECT json_transform(coalesce(parse, json), '${STRUCTURE.replaceAll("'", "''")}') AS s, json FROM stage_docs)`

/** `json`: the document as stored; `parse`: what DuckDB parses instead when set (see parseableDocument). */
export const STAGE_DOCS_DDL = 'CREATE OR REPLACE TEMP TABLE stage_docs (json VARCHAR, parse VARCHAR)'

const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/

/**
 * The document DuckDB can parse, or undefined when it is the stored one. DuckDB's JSON reader refuses
 * a lone UTF-16 surrogate escape (`\ud800` without its pair), which JSON.stringify writes for a lone
 * surrogate in a string. The typed columns of the table layout hold such a string as UTF-8 with
 * U+FFFD in its place (how Node encodes it), so the parsed copy gets U+FFFD too; event_json keeps
 * the document as hashed. Rare: only documents with a surrogate escape are parsed here.
 */
export function parseableDocument(json: string): string | undefined {
  if (!SURROGATE_ESCAPE.test(json)) return undefined
  const doc = wellFormed(JSON.parse(json))
  const text = JSON.stringify(doc)
  return text === json ? undefined : text
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g
const toWellFormed = (s: string): string => s.replace(LONE_SURROGATE, '\ufffd')

function wellFormed(value: unknown): unknown {
  if (typeof value === 'string') return toWellFormed(value)
  if (Array.isArray(value)) return value.map(wellFormed)
  if (value === null || typeof value !== 'object') return value
  const out: Record<string, unknown> = {}
  // defineProperty: a key such as __proto__ stays an own key, as JSON.parse made it.
  for (const [k, v] of Object.entries(value))
    Object.defineProperty(out, toWellFormed(k), { value: wellFormed(v), enumerable: true, writable: true, configurable: true })
  return out
}

/** The events of `seg_rows` matching `where` (a condition on ts, or 'true'), as the events view's columns. */
export const segmentEventsSql = (where: string): string => `SELECT * EXCLUDE (f) FROM seg_rows WHERE ${where}`

/** Their findings rows: one per item of audit.findings, in the findings view's columns. */
export const segmentFindingsSql = (where: string): string => {
  const cols = FINDING_COLUMNS.map((c) => {
    if (c.name === 'event_id') return 'id AS event_id'
    if (c.name === 'ts') return 'ts'
    if (c.name === 'idx') return 'CAST(idx AS INTEGER) AS idx'
    const m = /^audit\.findings\[\]\.(\w+)$/.exec(c.path)
    if (m === null) throw new Error(`finding column ${c.name}: path ${c.path} is not read from audit.findings[]`)
    return `f[idx + 1].${ident(m[1]!)} AS ${c.name}`
  })
  return `SELECT ${cols.join(', ')} FROM (SELECT id, ts, f, unnest(range(len(f))) AS idx FROM seg_rows WHERE ${where} AND len(f) > 0)`
}
