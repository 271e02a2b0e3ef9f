/**
 * Query DSL and aggregations for the test server: only the subset the product issues (the store's
 * queries and setup's checks). Anything else is answered with a 400 `parsing_exception`, so a query the
 * product starts sending without this file learning it fails loudly instead of matching everything.
 */

export type Doc = Record<string, unknown>
type Json = Record<string, unknown>

export class QueryError extends Error {}

/** Every value at a dotted path, flattening arrays on the way (OpenSearch fields are multi-valued). */
export function valuesAt(doc: unknown, path: string): unknown[] {
  let current: unknown[] = [doc]
  for (const part of path.split('.')) {
    const next: unknown[] = []
    for (const v of current) {
      if (v === null || typeof v !== 'object') continue
      const child = Object.hasOwn(v, part) ? (v as Json)[part] : undefined
      if (Array.isArray(child)) next.push(...child)
      else if (child !== undefined) next.push(child)
    }
    current = next
  }
  return current.filter((v) => v !== null && v !== undefined)
}

function comparable(v: unknown): number | string {
  if (typeof v === 'number') return v
  if (typeof v === 'boolean') return v ? 1 : 0
  const s = String(v)
  // Dates compare as instants, so `gte: '2024-01-01'` matches '2024-01-01T00:00:00.000Z'.
  if (/^\d{4}-\d{2}-\d{2}/.test(s)) {
    const t = Date.parse(s)
    if (!Number.isNaN(t)) return t
  }
  return s
}

function sameValue(a: unknown, b: unknown): boolean {
  if (typeof a === 'boolean' || typeof b === 'boolean') return String(a) === String(b)
  return comparable(a) === comparable(b)
}

function wildcardRegex(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')
  return new RegExp(`^${escaped}$`, 's')
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

// One parsed request reuses the same query objects for every bucket: compile each once.
const compiled = new WeakMap<object, (doc: Doc) => boolean>()

/** Compiles a query into a predicate; throws QueryError on anything outside the supported subset. */
export function compileQuery(query: unknown): (doc: Doc) => boolean {
  if (query === undefined) return () => true
  if (query !== null && typeof query === 'object') {
    const hit = compiled.get(query)
    if (hit !== undefined) return hit
    const fn = compileUncached(query)
    compiled.set(query, fn)
    return fn
  }
  return compileUncached(query)
}

function compileUncached(query: unknown): (doc: Doc) => boolean {
  const [kind, body] = single(query, 'query')
  switch (kind) {
    case 'match_all':
      return () => true
    case 'term': {
      const [field, spec] = single(body, 'term')
      const value = spec !== null && typeof spec === 'object' ? (spec as Json).value : spec
      return (doc) => valuesAt(doc, field).some((v) => sameValue(v, value))
    }
    case 'terms': {
      const [field, list] = single(body, 'terms')
      if (!Array.isArray(list)) throw new QueryError('[terms] query requires an array of values')
      return (doc) => valuesAt(doc, field).some((v) => list.some((x) => sameValue(v, x)))
    }
    case 'exists': {
      const field = String((body as Json).field)
      return (doc) => valuesAt(doc, field).length > 0
    }
    case 'wildcard': {
      const [field, spec] = single(body, 'wildcard')
      const pattern = spec !== null && typeof spec === 'object' ? String((spec as Json).value) : String(spec)
      const re = wildcardRegex(pattern)
      return (doc) => valuesAt(doc, field).some((v) => re.test(String(v)))
    }
    case 'range': {
      const [field, spec] = single(body, 'range')
      const b = spec as Json
      const bounds = (['gt', 'gte', 'lt', 'lte'] as const).filter((k) => b[k] !== undefined).map((k) => [k, comparable(b[k])] as const)
      return (doc) =>
        valuesAt(doc, field).some((raw) => {
          const v = comparable(raw)
          return bounds.every(([op, bound]) =>
            op === 'gt' ? v > bound : op === 'gte' ? v >= bound : op === 'lt' ? v < bound : v <= bound,
          )
        })
    }
    case 'bool': {
      const b = body as Json
      const must = [...asList(b.must), ...asList(b.filter)].map(compileQuery)
      const should = asList(b.should).map(compileQuery)
      const mustNot = asList(b.must_not).map(compileQuery)
      const minShould = b.minimum_should_match !== undefined ? Number(b.minimum_should_match) : must.length > 0 ? 0 : 1
      return (doc) =>
        must.every((q) => q(doc)) &&
        !mustNot.some((q) => q(doc)) &&
        (should.length === 0 || should.filter((q) => q(doc)).length >= minShould)
    }
    default:
      throw new QueryError(`unknown query [${kind}] (the test server implements only what the product uses)`)
  }
}

function compareForSort(a: unknown, b: unknown): number {
  const x = a === undefined ? undefined : comparable(a)
  const y = b === undefined ? undefined : comparable(b)
  if (x === y) return 0
  if (x === undefined) return 1
  if (y === undefined) return -1
  return x < y ? -1 : 1
}

/** Sorts by `[{field: {order}}]` or `[{field: 'desc'}]`; missing values last, as OpenSearch does. */
export function sortDocs<T extends { _source: Doc }>(hits: T[], sort: unknown): T[] {
  const keys = asList(sort).map((s) => {
    if (typeof s === 'string') return { field: s, desc: false }
    const [field, spec] = single(s, 'sort')
    const order = typeof spec === 'string' ? spec : String((spec as Json).order ?? 'asc')
    return { field, desc: order === 'desc' }
  })
  return [...hits].sort((a, b) => {
    for (const k of keys) {
      const va = valuesAt(a._source, k.field)
      const vb = valuesAt(b._source, k.field)
      const pick = (vs: unknown[]) => (vs.length === 0 ? undefined : [...vs].sort(compareForSort)[k.desc ? vs.length - 1 : 0])
      const pa = pick(va)
      const pb = pick(vb)
      if (pa === undefined || pb === undefined) {
        const c = compareForSort(pa, pb)
        if (c !== 0) return c
        continue
      }
      const c = compareForSort(pa, pb) * (k.desc ? -1 : 1)
      if (c !== 0) return c
    }
    return 0
  })
}

function dateOrNumber(values: number[], field: string, docs: Doc[], want: 'min' | 'max'): Json {
  if (values.length === 0) return { value: null }
  const v = want === 'min' ? Math.min(...values) : Math.max(...values)
  // Dates come back with value_as_string, which is what the store reads for first/last seen.
  const sample = docs.flatMap((d) => valuesAt(d, field))[0]
  if (typeof sample === 'string') return { value: v, value_as_string: new Date(v).toISOString() }
  return { value: v }
}

function keyOf(v: unknown): string | number | boolean {
  return typeof v === 'number' || typeof v === 'boolean' ? v : String(v)
}

function compositeKeyCompare(a: Json, b: Json, names: string[]): number {
  for (const n of names) {
    const x = a[n]
    const y = b[n]
    if (x === y) continue
    // missing_bucket keys (null) sort first in ascending order, as in OpenSearch.
    if (x === null) return -1
    if (y === null) return 1
    return (x as string | number) < (y as string | number) ? -1 : 1
  }
  return 0
}

function composite(spec: Json, docs: Doc[], sub: Json | undefined): Json {
  const size = Number(spec.size ?? 10)
  const sources = (spec.sources as Json[]).map((s) => {
    const [name, def] = single(s, 'composite.sources')
    const terms = (def as Json).terms as Json | undefined
    if (terms === undefined) throw new QueryError('composite: only terms sources are implemented')
    return { name, field: String(terms.field), missing: terms.missing_bucket === true }
  })
  const groups = new Map<string, { key: Json; docs: Doc[] }>()
  for (const doc of docs) {
    // Multi-valued fields produce one bucket per combination, as OpenSearch does.
    let combos: Json[] = [{}]
    for (const s of sources) {
      const vals = [...new Set(valuesAt(doc, s.field).map(keyOf))]
      const options: unknown[] = vals.length > 0 ? vals : s.missing ? [null] : []
      combos = combos.flatMap((c) => options.map((o) => ({ ...c, [s.name]: o })))
    }
    for (const key of combos) {
      const k = JSON.stringify(key)
      const g = groups.get(k) ?? { key, docs: [] }
      g.docs.push(doc)
      groups.set(k, g)
    }
  }
  const names = sources.map((s) => s.name)
  let ordered = [...groups.values()].sort((a, b) => compositeKeyCompare(a.key, b.key, names))
  if (spec.after !== undefined) ordered = ordered.filter((g) => compositeKeyCompare(g.key, spec.after as Json, names) > 0)
  const page = ordered.slice(0, size)
  const buckets = page.map((g) => ({ key: g.key, doc_count: g.docs.length, ...runAggs(sub, g.docs) }))
  const out: Json = { buckets }
  if (page.length > 0) out.after_key = page[page.length - 1]!.key
  return out
}

function termsAgg(spec: Json, docs: Doc[], sub: Json | undefined): Json {
  const field = String(spec.field)
  const size = Number(spec.size ?? 10)
  const counts = new Map<string | number | boolean, Doc[]>()
  for (const doc of docs) {
    for (const v of new Set(valuesAt(doc, field).map(keyOf))) {
      const list = counts.get(v) ?? []
      list.push(doc)
      counts.set(v, list)
    }
  }
  const all = [...counts.entries()].sort((a, b) => b[1].length - a[1].length || (a[0] < b[0] ? -1 : 1))
  const buckets = all.slice(0, size).map(([key, ds]) => ({ key, doc_count: ds.length, ...runAggs(sub, ds) }))
  const rest = all.slice(size).reduce((n, [, ds]) => n + ds.length, 0)
  return { doc_count_error_upper_bound: 0, sum_other_doc_count: rest, buckets }
}

/** Runs an `aggs`/`aggregations` object over a set of documents. */
export function runAggs(aggs: Json | undefined, docs: Doc[]): Json {
  const out: Json = {}
  if (aggs === undefined) return out
  for (const [name, def] of Object.entries(aggs)) {
    const d = def as Json
    const sub = (d.aggs ?? d.aggregations) as Json | undefined
    const kinds = Object.keys(d).filter((k) => k !== 'aggs' && k !== 'aggregations')
    if (kinds.length !== 1) throw new QueryError(`aggregation [${name}] must have exactly one type`)
    const kind = kinds[0]!
    const spec = d[kind] as Json
    switch (kind) {
      case 'composite':
        out[name] = composite(spec, docs, sub)
        break
      case 'terms':
        out[name] = termsAgg(spec, docs, sub)
        break
      case 'min':
      case 'max': {
        const field = String(spec.field)
        const nums = docs.flatMap((doc) => valuesAt(doc, field)).map(comparable).filter((v): v is number => typeof v === 'number')
        out[name] = dateOrNumber(nums, field, docs, kind)
        break
      }
      case 'sum': {
        const nums = docs.flatMap((doc) => valuesAt(doc, String(spec.field))).map(Number).filter((n) => !Number.isNaN(n))
        out[name] = { value: nums.reduce((a, b) => a + b, 0) }
        break
      }
      case 'filter': {
        const match = docs.filter(compileQuery(spec))
        out[name] = { doc_count: match.length, ...runAggs(sub, match) }
        break
      }
      case 'filters': {
        const buckets: Json = {}
        for (const [key, q] of Object.entries(spec.filters as Json)) {
          const match = docs.filter(compileQuery(q))
          buckets[key] = { doc_count: match.length, ...runAggs(sub, match) }
        }
        out[name] = { buckets }
        break
      }
      default:
        throw new QueryError(`unknown aggregation type [${kind}] (the test server implements only what the product uses)`)
    }
  }
  return out
}
