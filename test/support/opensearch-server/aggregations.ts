/**
 * Aggregations for the test server, shaped as OpenSearch 2.19 answers them (checked by
 * test/support/opensearch-contract.test.ts):
 * - terms keys by field type: a date is epoch ms with `key_as_string` (ISO), a boolean 1/0 with
 *   `key_as_string` "true"/"false", an ip its text, a number a number; composite keys are epoch ms for
 *   dates and true/false for booleans (no key_as_string); min/max of a date or boolean carry
 *   `value_as_string`;
 * - `search.max_buckets` (65,535 by default): every bucket of the response counts (composite, terms,
 *   filters, date_histogram buckets, at every depth; single-bucket `filter` does not), and crossing it
 *   refuses the whole search with too_many_buckets_exception (HTTP 503).
 * Parameters it does not model are refused with a 400 rather than ignored.
 */
import { bucketStart, formatDate, nextBucket } from './dates.js'
import { compareKeys, sortKey, type FieldType } from './field-values.js'
import { compileQuery, fieldValues, QueryError, type Doc, type SearchContext } from './search.js'

type Json = Record<string, unknown>
type Key = string | number | boolean

export const DEFAULT_MAX_BUCKETS = 65_535

/** Crossing search.max_buckets: OpenSearch's reduce throws this and the search fails whole. */
export class TooManyBuckets extends Error {
  constructor(
    readonly limit: number,
    readonly count: number,
  ) {
    super(
      `Trying to create too many buckets. Must be less than or equal to: [${limit}] ` +
        `but was [${count}]. This limit can be set by changing the [search.max_buckets] ` +
        `cluster level setting.`,
    )
  }
}

export interface AggContext extends SearchContext {
  buckets: { count: number; limit: number }
}

function consume(ctx: AggContext, n: number): void {
  ctx.buckets.count += n
  if (ctx.buckets.count > ctx.buckets.limit) throw new TooManyBuckets(ctx.buckets.limit, ctx.buckets.count)
}

function allowOnly(kind: string, spec: Json, keys: string[]): void {
  for (const k of Object.keys(spec))
    if (!keys.includes(k)) throw new QueryError(`[${kind}] parameter [${k}] is not modelled by the test server`)
}

const typeOf = (ctx: SearchContext, field: string): FieldType | undefined => ctx.types.get(field)

/** A terms bucket key as OpenSearch prints it. */
function termsKey(v: unknown, type: FieldType | undefined): Json {
  if (type === 'date') return { key: v, key_as_string: formatDate(v as number) }
  if (type === 'boolean' || typeof v === 'boolean') return { key: v === true ? 1 : 0, key_as_string: String(v) }
  return { key: typeof v === 'number' ? v : String(v) }
}

function groupBy(docs: Doc[], values: (d: Doc) => Key[]): Map<Key, Doc[]> {
  const groups = new Map<Key, Doc[]>()
  for (const doc of docs) {
    for (const v of new Set(values(doc))) {
      const list = groups.get(v) ?? []
      list.push(doc)
      groups.set(v, list)
    }
  }
  return groups
}

function termsAgg(spec: Json, docs: Doc[], sub: Json | undefined, ctx: AggContext): Json {
  allowOnly('terms', spec, ['field', 'size', 'missing', 'order', 'min_doc_count', 'shard_size'])
  const field = String(spec.field)
  const type = typeOf(ctx, field)
  const size = Number(spec.size ?? 10)
  const minDocs = Number(spec.min_doc_count ?? 1)
  if (minDocs < 1) throw new QueryError('[terms] min_doc_count below 1 is not modelled by the test server')
  const groups = groupBy(docs, (d) => {
    const vs = fieldValues(d, field, ctx) as Key[]
    return vs.length === 0 && spec.missing !== undefined ? [spec.missing as Key] : vs
  })
  const orders = (Array.isArray(spec.order) ? spec.order : spec.order === undefined ? [{ _count: 'desc' }] : [spec.order]) as Json[]
  const cmp = (a: [Key, Doc[]], b: [Key, Doc[]]): number => {
    for (const o of orders) {
      const [by, dir] = Object.entries(o)[0]!
      const sign = dir === 'desc' ? -1 : 1
      if (by === '_count') {
        if (a[1].length !== b[1].length) return (a[1].length - b[1].length) * sign
      } else if (by === '_key') {
        const c = compareKeys(sortKey(a[0], type), sortKey(b[0], type))
        if (c !== 0) return c * sign
      } else throw new QueryError(`[terms] order by [${by}] is not modelled by the test server`)
    }
    // Ties: smaller key first, as OpenSearch breaks count ties.
    return compareKeys(sortKey(a[0], type), sortKey(b[0], type))
  }
  const all = [...groups.entries()].filter(([, ds]) => ds.length >= minDocs).sort(cmp)
  const kept = all.slice(0, size)
  const buckets = kept.map(([key, ds]) => ({ ...termsKey(key, type), doc_count: ds.length, ...runAggs(sub, ds, ctx) }))
  consume(ctx, buckets.length)
  const rest = all.slice(size).reduce((n, [, ds]) => n + ds.length, 0)
  return { doc_count_error_upper_bound: 0, sum_other_doc_count: rest, buckets }
}

interface Source {
  name: string
  field: string
  type: FieldType | undefined
  missing: boolean
  desc: boolean
}

function compositeCompare(a: Json, b: Json, sources: Source[]): number {
  for (const s of sources) {
    const x = a[s.name]
    const y = b[s.name]
    if (x === y) continue
    // missing_bucket keys (null) come first in ascending order, last in descending.
    if (x === null || x === undefined) return s.desc ? 1 : -1
    if (y === null || y === undefined) return s.desc ? -1 : 1
    return compareKeys(sortKey(x, s.type), sortKey(y, s.type)) * (s.desc ? -1 : 1)
  }
  return 0
}

function composite(spec: Json, docs: Doc[], sub: Json | undefined, ctx: AggContext): Json {
  allowOnly('composite', spec, ['size', 'sources', 'after'])
  const size = Number(spec.size ?? 10)
  const sources: Source[] = (spec.sources as Json[]).map((s) => {
    const [name, def] = Object.entries(s)[0]!
    const terms = (def as Json).terms as Json | undefined
    if (terms === undefined) throw new QueryError('composite: only terms sources are modelled by the test server')
    allowOnly('composite.terms', terms, ['field', 'missing_bucket', 'order'])
    const field = String(terms.field)
    return { name, field, type: typeOf(ctx, field), missing: terms.missing_bucket === true, desc: terms.order === 'desc' }
  })
  const groups = new Map<string, { key: Json; docs: Doc[] }>()
  for (const doc of docs) {
    // Multi-valued fields produce one bucket per combination, as OpenSearch does.
    let combos: Json[] = [{}]
    for (const s of sources) {
      const vals = [...new Set(fieldValues(doc, s.field, ctx) as Key[])].map((v) =>
        s.type === undefined && typeof v !== 'number' && typeof v !== 'boolean' ? String(v) : v,
      )
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
  let ordered = [...groups.values()].sort((a, b) => compositeCompare(a.key, b.key, sources))
  if (spec.after !== undefined) ordered = ordered.filter((g) => compositeCompare(g.key, spec.after as Json, sources) > 0)
  const page = ordered.slice(0, size)
  const buckets = page.map((g) => ({ key: g.key, doc_count: g.docs.length, ...runAggs(sub, g.docs, ctx) }))
  consume(ctx, buckets.length)
  const out: Json = { buckets }
  if (page.length > 0) out.after_key = page[page.length - 1]!.key
  return out
}

const FIXED: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }
const CALENDAR: Record<string, string> = {
  minute: 'm',
  '1m': 'm',
  hour: 'h',
  '1h': 'h',
  day: 'd',
  '1d': 'd',
  week: 'w',
  '1w': 'w',
  month: 'M',
  '1M': 'M',
  year: 'y',
  '1y': 'y',
}

function dateHistogram(spec: Json, docs: Doc[], sub: Json | undefined, ctx: AggContext): Json {
  allowOnly('date_histogram', spec, ['field', 'fixed_interval', 'calendar_interval', 'min_doc_count'])
  const field = String(spec.field)
  let interval: { calendar?: string; fixedMs?: number }
  if (spec.calendar_interval !== undefined) {
    const unit = CALENDAR[String(spec.calendar_interval)]
    if (unit === undefined)
      throw new QueryError(`[date_histogram] calendar_interval [${String(spec.calendar_interval)}] is not modelled by the test server`)
    interval = { calendar: unit }
  } else {
    const m = /^(\d+)(ms|s|m|h|d)$/.exec(String(spec.fixed_interval ?? ''))
    if (m === null) throw new QueryError('[date_histogram] needs fixed_interval (e.g. 30m) or calendar_interval')
    interval = { fixedMs: Number(m[1]) * FIXED[m[2]!]! }
  }
  const groups = groupBy(docs, (d) => (fieldValues(d, field, ctx) as number[]).map((ms) => bucketStart(ms, interval)))
  const starts = [...groups.keys()].map(Number).sort((a, b) => a - b)
  const minDocs = Number(spec.min_doc_count ?? 0)
  const buckets: Json[] = []
  // min_doc_count 0 (the default) fills the empty buckets between the first and the last.
  for (let t = starts[0]; t !== undefined && t <= starts[starts.length - 1]!; t = nextBucket(t, interval)) {
    const ds = groups.get(t) ?? []
    if (ds.length < minDocs) continue
    buckets.push({ key_as_string: formatDate(t), key: t, doc_count: ds.length, ...runAggs(sub, ds, ctx) })
  }
  consume(ctx, buckets.length)
  return { buckets }
}

function minMax(kind: 'min' | 'max', spec: Json, docs: Doc[], ctx: AggContext): Json {
  allowOnly(kind, spec, ['field'])
  const field = String(spec.field)
  const type = typeOf(ctx, field)
  const values = docs.flatMap((d) => fieldValues(d, field, ctx))
  // An unmapped field holding ISO strings reads as the date dynamic mapping would make it.
  const dates =
    type === 'date' ||
    (type === undefined && values.length > 0 && values.every((x) => typeof x === 'string' && typeof sortKey(x, undefined) === 'number'))
  const nums = values.map((x) => sortKey(x, type)).filter((n): n is number => typeof n === 'number')
  if (nums.length === 0) return { value: null }
  const v = kind === 'min' ? Math.min(...nums) : Math.max(...nums)
  if (dates) return { value: v, value_as_string: formatDate(v) }
  if (type === 'boolean') return { value: v, value_as_string: String(v === 1) }
  return { value: v }
}

/** Runs an `aggs`/`aggregations` object over a set of documents. */
export function runAggs(aggs: Json | undefined, docs: Doc[], ctx: AggContext): Json {
  const out: Json = {}
  if (aggs === undefined) return out
  for (const [name, def] of Object.entries(aggs)) {
    const d = def as Json
    const sub = (d.aggs ?? d.aggregations) as Json | undefined
    const kinds = Object.keys(d).filter((k) => k !== 'aggs' && k !== 'aggregations')
    if (kinds.length !== 1) throw new QueryError(`Expected [START_OBJECT] under [${kinds[1] ?? ''}], but got a [FIELD_NAME] in [${name}]`)
    const kind = kinds[0]!
    const spec = d[kind] as Json
    switch (kind) {
      case 'composite':
        out[name] = composite(spec, docs, sub, ctx)
        break
      case 'terms':
        out[name] = termsAgg(spec, docs, sub, ctx)
        break
      case 'date_histogram':
        out[name] = dateHistogram(spec, docs, sub, ctx)
        break
      case 'min':
      case 'max':
        out[name] = minMax(kind, spec, docs, ctx)
        break
      case 'sum': {
        const nums = docs
          .flatMap((doc) => fieldValues(doc, String(spec.field), ctx))
          .map(Number)
          .filter((n) => !Number.isNaN(n))
        out[name] = { value: nums.reduce((a, b) => a + b, 0) }
        break
      }
      case 'cardinality': {
        allowOnly('cardinality', spec, ['field'])
        out[name] = { value: new Set(docs.flatMap((doc) => fieldValues(doc, String(spec.field), ctx)).map((v) => JSON.stringify(v))).size }
        break
      }
      case 'filter': {
        const match = docs.filter(compileQuery(spec, ctx))
        out[name] = { doc_count: match.length, ...runAggs(sub, match, ctx) }
        break
      }
      case 'filters': {
        allowOnly('filters', spec, ['filters'])
        const buckets: Json = {}
        for (const [key, q] of Object.entries(spec.filters as Json)) {
          const match = docs.filter(compileQuery(q, ctx))
          buckets[key] = { doc_count: match.length, ...runAggs(sub, match, ctx) }
        }
        consume(ctx, Object.keys(buckets).length)
        out[name] = { buckets }
        break
      }
      default:
        throw new QueryError(`Unknown aggregation type [${kind}]`, {
          type: 'named_object_not_found_exception',
          reason: `unknown field [${kind}]`,
        })
    }
  }
  return out
}
