/**
 * Query DSL for the test server: only the subset the product issues (the store's queries, setup's
 * checks, the monitors' inputs), read by the mapped type of each field as OpenSearch does (field-values.ts,
 * dates.ts). Anything else is refused with a 400, so a query the product starts sending without this file
 * learning it fails loudly instead of matching everything. Errors have OpenSearch's shapes: a request
 * that does not parse is a top-level `parsing_exception`; a value a field cannot take (a date that does not
 * parse, `abc` for a long, a bad IP) fails on the shard, which OpenSearch reports as a 400
 * `search_phase_execution_exception` whose root cause names it.
 */
import { DateParseError, parseDateBound } from './dates.js'
import { compareKeys, indexedValue, ipBytes, ipMatches, sortKey, valuesAt, type FieldType } from './field-values.js'
import { isIP } from 'node:net'

export { valuesAt } from './field-values.js'
export type Doc = Record<string, unknown>
type Json = Record<string, unknown>

/** The request does not parse (or uses what the test server does not model): top-level 400 parsing_exception. */
export class QueryError extends Error {
  constructor(
    reason: string,
    readonly causedBy?: { type: string; reason: string },
  ) {
    super(reason)
  }
}

/** A shard refused the request: OpenSearch wraps it in search_phase_execution_exception. */
export class ShardError extends Error {
  constructor(
    readonly type: string,
    reason: string,
    readonly status = 400,
    readonly causedBy?: { type: string; reason: string },
  ) {
    super(reason)
  }
}

export interface SearchContext {
  /** Mapped types of the searched indices' fields (dotted paths). */
  types: Map<string, FieldType>
  /** `now` of date math, epoch ms. */
  now: number
}

const typeOf = (ctx: SearchContext, field: string): FieldType | undefined => ctx.types.get(field)

/** Values of a field as the index holds them (dates as epoch ms, booleans as booleans, ...). */
export function fieldValues(doc: Doc, field: string, ctx: SearchContext): unknown[] {
  const type = typeOf(ctx, field)
  const raw = valuesAt(doc, field)
  if (type === undefined) return raw
  return raw.map((v) => indexedValue(v, type)).filter((v) => v !== undefined)
}

function single(obj: unknown, what: string): [string, unknown] {
  if (obj === null || typeof obj !== 'object') throw new QueryError(`[${what}] malformed query`)
  const entries = Object.entries(obj)
  if (entries.length !== 1) throw new QueryError(`[${what}] query malformed, expected exactly one field`)
  return entries[0]!
}

function asList(v: unknown): unknown[] {
  if (v === undefined) return []
  return Array.isArray(v) ? v : [v]
}

function dateBound(value: unknown, roundUp: boolean, ctx: SearchContext, format?: string): number {
  try {
    return parseDateBound(value, { roundUp, now: ctx.now, ...(format === undefined ? {} : { format }) })
  } catch (err) {
    if (err instanceof DateParseError && /not modelled/.test(err.message)) throw new QueryError(err.message)
    if (err instanceof DateParseError) throw new ShardError('parse_exception', err.message)
    throw err
  }
}

function createFailure(reason: string, cause: string): ShardError {
  return new ShardError('query_shard_exception', `failed to create query: ${reason}`, 400, { type: cause, reason })
}

/** A term value as the field's type reads it; the predicate a stored value must pass. */
function termMatcher(field: string, value: unknown, ctx: SearchContext): (v: unknown) => boolean {
  switch (typeOf(ctx, field)) {
    case 'date': {
      const lo = dateBound(value, false, ctx)
      const hi = dateBound(value, true, ctx)
      return (v) => (v as number) >= lo && (v as number) <= hi
    }
    case 'boolean': {
      const b = value === true || value === 'true' ? true : value === false || value === 'false' ? false : undefined
      if (b === undefined)
        throw createFailure(`Failed to parse value [${String(value)}] as only [true] or [false] are allowed.`, 'illegal_argument_exception')
      return (v) => v === b
    }
    case 'number': {
      const n = typeof value === 'number' ? value : String(value).trim() === '' ? NaN : Number(value)
      if (Number.isNaN(n)) throw createFailure(`For input string: "${String(value)}"`, 'number_format_exception')
      return (v) => v === n
    }
    case 'ip': {
      const text = String(value)
      if (isIP(text.split('/')[0]!) === 0) throw createFailure(`'${text}' is not an IP string literal.`, 'illegal_argument_exception')
      return (v) => ipMatches(String(v), text)
    }
    case 'keyword':
      return (v) => v === String(value)
    default:
      return (v) => sameLoose(v, value)
  }
}

function sameLoose(a: unknown, b: unknown): boolean {
  if (typeof a === 'boolean' || typeof b === 'boolean') return String(a) === String(b)
  return sortKey(a, undefined) === sortKey(b, undefined)
}

const RANGE_KEYS = new Set(['gt', 'gte', 'lt', 'lte', 'from', 'to', 'include_lower', 'include_upper', 'format', 'time_zone', 'boost'])

/** Bounds of a range query, including the from/to/include_* form the Alerting plugin stores monitors in. */
function rangeBounds(spec: Json): [op: 'gt' | 'gte' | 'lt' | 'lte', value: unknown][] {
  for (const k of Object.keys(spec)) if (!RANGE_KEYS.has(k)) throw new QueryError(`[range] query does not support [${k}]`)
  const out: [op: 'gt' | 'gte' | 'lt' | 'lte', value: unknown][] = []
  for (const op of ['gt', 'gte', 'lt', 'lte'] as const) if (spec[op] !== undefined && spec[op] !== null) out.push([op, spec[op]])
  if (spec.from !== undefined && spec.from !== null) out.push([spec.include_lower === false ? 'gt' : 'gte', spec.from])
  if (spec.to !== undefined && spec.to !== null) out.push([spec.include_upper === false ? 'lt' : 'lte', spec.to])
  return out
}

function rangeMatcher(field: string, spec: Json, ctx: SearchContext): (v: unknown) => boolean {
  const type = typeOf(ctx, field)
  const zone = spec.time_zone
  if (zone !== undefined && !['Z', 'UTC', '+00:00', 'GMT', 'Etc/UTC'].includes(String(zone)))
    throw new QueryError(`[range] time_zone [${String(zone)}] is not modelled by the test server`)
  if (spec.format !== undefined && type !== 'date')
    throw new QueryError(`[range] format on a non-date field is not modelled by the test server`)
  const bounds = rangeBounds(spec).map(([op, raw]) => {
    const roundUp = op === 'gt' || op === 'lte'
    let bound: number | string
    if (type === 'date') bound = dateBound(raw, roundUp, ctx, spec.format as string | undefined)
    else if (type === 'number') {
      bound = Number(raw)
      if (Number.isNaN(bound)) throw createFailure(`For input string: "${String(raw)}"`, 'number_format_exception')
    } else if (type === 'ip') {
      if (isIP(String(raw)) === 0) throw createFailure(`'${String(raw)}' is not an IP string literal.`, 'illegal_argument_exception')
      bound = ipBytes(String(raw))
    } else if (type === 'keyword') bound = String(raw)
    else bound = sortKey(raw, undefined)
    return [op, bound] as const
  })
  return (raw) => {
    const v = type === 'ip' ? ipBytes(String(raw)) : type === undefined ? sortKey(raw, undefined) : (raw as number | string)
    return bounds.every(([op, b]) => {
      const c = compareKeys(v, b)
      return op === 'gt' ? c > 0 : op === 'gte' ? c >= 0 : op === 'lt' ? c < 0 : c <= 0
    })
  }
}

// One parsed request reuses the same query objects for every bucket: compile each once.
const compiled = new WeakMap<object, (doc: Doc) => boolean>()

/** Compiles a query into a predicate; throws QueryError/ShardError as OpenSearch would refuse it. */
export function compileQuery(query: unknown, ctx: SearchContext): (doc: Doc) => boolean {
  if (query === undefined) return () => true
  if (query !== null && typeof query === 'object') {
    const hit = compiled.get(query)
    if (hit !== undefined) return hit
    const fn = compileUncached(query, ctx)
    compiled.set(query, fn)
    return fn
  }
  return compileUncached(query, ctx)
}

function compileUncached(query: unknown, ctx: SearchContext): (doc: Doc) => boolean {
  const [kind, body] = single(query, 'query')
  const some = (field: string, test: (v: unknown) => boolean) => (doc: Doc) => fieldValues(doc, field, ctx).some(test)
  switch (kind) {
    case 'match_all':
      return () => true
    case 'match_none':
      return () => false
    case 'term': {
      const [field, spec] = single(body, 'term')
      const value = spec !== null && typeof spec === 'object' ? (spec as Json).value : spec
      return some(field, termMatcher(field, value, ctx))
    }
    case 'terms': {
      const [field, list] = single(body, 'terms')
      if (!Array.isArray(list)) throw new QueryError('[terms] query requires an array of values')
      const tests = list.map((x) => termMatcher(field, x, ctx))
      return some(field, (v) => tests.some((t) => t(v)))
    }
    case 'exists': {
      const field = String((body as Json).field)
      return (doc) => fieldValues(doc, field, ctx).length > 0
    }
    case 'wildcard': {
      const [field, spec] = single(body, 'wildcard')
      const pattern = spec !== null && typeof spec === 'object' ? String((spec as Json).value) : String(spec)
      const re = new RegExp(
        `^${pattern
          .replace(/[.+^${}()|[\]\\]/g, '\\$&')
          .replace(/\*/g, '.*')
          .replace(/\?/g, '.')}$`,
        's',
      )
      return some(field, (v) => re.test(String(v)))
    }
    case 'range': {
      const [field, spec] = single(body, 'range')
      return some(field, rangeMatcher(field, spec as Json, ctx))
    }
    case 'bool': {
      const b = body as Json
      const must = [...asList(b.must), ...asList(b.filter)].map((q) => compileQuery(q, ctx))
      const should = asList(b.should).map((q) => compileQuery(q, ctx))
      const mustNot = asList(b.must_not).map((q) => compileQuery(q, ctx))
      const minShould = b.minimum_should_match !== undefined ? Number(b.minimum_should_match) : must.length > 0 ? 0 : 1
      return (doc) =>
        must.every((q) => q(doc)) &&
        !mustNot.some((q) => q(doc)) &&
        (should.length === 0 || should.filter((q) => q(doc)).length >= minShould)
    }
    default:
      throw new QueryError(`unknown query [${kind}]`, { type: 'named_object_not_found_exception', reason: `unknown field [${kind}]` })
  }
}

export interface SortKey {
  field: string
  desc: boolean
}

export function sortKeys(sort: unknown): SortKey[] {
  return asList(sort).map((s) => {
    if (typeof s === 'string') return { field: s, desc: false }
    const [field, spec] = single(s, 'sort')
    const order = typeof spec === 'string' ? spec : String((spec as Json).order ?? 'asc')
    return { field, desc: order === 'desc' }
  })
}

/** The value a hit is sorted on for one key (min for asc, max for desc, as OpenSearch picks from multi-values). */
export function sortValue(doc: Doc, key: SortKey, ctx: SearchContext): number | string | null {
  const vs = fieldValues(doc, key.field, ctx)
  if (vs.length === 0) return null
  const type = typeOf(ctx, key.field)
  const sorted = [...vs].sort((a, b) => compareKeys(sortKey(a, type), sortKey(b, type)))
  const v = sorted[key.desc ? sorted.length - 1 : 0]
  return typeof v === 'boolean' ? (v ? 1 : 0) : (v as number | string)
}

/** Compares two hits' sort tuples; missing values last in either order, as OpenSearch does. */
export function compareSortTuples(
  a: (number | string | null)[],
  b: (number | string | null)[],
  keys: SortKey[],
  ctx: SearchContext,
): number {
  for (let i = 0; i < keys.length; i++) {
    const x = a[i] ?? null
    const y = b[i] ?? null
    if (x === null || y === null) {
      if (x === y) continue
      return x === null ? 1 : -1
    }
    const type = typeOf(ctx, keys[i]!.field)
    const c = compareKeys(sortKey(x, type), sortKey(y, type)) * (keys[i]!.desc ? -1 : 1)
    if (c !== 0) return c
  }
  return 0
}
