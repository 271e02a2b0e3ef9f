/**
 * `_search` and `_count` for the test server, over the query subset in search.ts and the aggregations in
 * aggregations.ts, with the limits and error shapes of OpenSearch 2.19: `index.max_result_window` (from +
 * size, and a scroll's batch size), `search.max_buckets` (setMaxBuckets; 65,535 by default),
 * search_after (needs a sort, `from` 0, one value per sort key) and PIT searches (pit.ts). `?scroll=`
 * opens a scroll (documents.ts).
 */
import {
  compareSortTuples,
  compileQuery,
  QueryError,
  ShardError,
  sortKeys,
  sortValue,
  type Doc,
  type SearchContext,
  type SortKey,
} from './search.js'
import { DEFAULT_MAX_BUCKETS, runAggs, TooManyBuckets } from './aggregations.js'
import { mappedTypes, type FieldType } from './field-values.js'
import { ApiError, indexSetting, searchableCount, searchableDocs, type ClusterState, type IndexState, type StoredDoc } from './state.js'
import type { Reply } from './server.js'
import { openScroll } from './documents.js'
import { usePit } from './pit.js'

type Json = Record<string, unknown>

const DEFAULT_TRACK_TOTAL_HITS = 10_000
const DEFAULT_MAX_RESULT_WINDOW = 10_000

const maxBuckets = new WeakMap<ClusterState, number>()

/** search.max_buckets of this server (a cluster setting in OpenSearch); tests lower it to reach it cheaply. */
export function setMaxBuckets(state: ClusterState, n: number): void {
  maxBuckets.set(state, n)
}

/** The documents a search sees in an index: as of its last refresh (state.ts models near-real-time search). */
export function searchable(index: IndexState): StoredDoc[] {
  return searchableDocs(index)
}

/** A shard-level refusal as OpenSearch reports it: search_phase_execution_exception with the cause as root cause. */
class ShardFailure extends ApiError {
  constructor(
    private readonly failure: ShardError,
    private readonly index: string | undefined,
  ) {
    super(failure.status, failure.type, failure.message)
  }

  override body(): Json {
    const root: Json = {
      type: this.failure.type,
      reason: this.failure.message,
      ...(this.index === undefined || this.failure.type !== 'query_shard_exception' ? {} : { index: this.index }),
    }
    const reason = this.failure.causedBy === undefined ? root : { ...root, caused_by: this.failure.causedBy }
    const error: Json = {
      root_cause: [root],
      type: 'search_phase_execution_exception',
      reason: 'all shards failed',
      phase: 'query',
      grouped: true,
      failed_shards: [{ shard: 0, index: this.index ?? null, node: 'test', reason }],
    }
    if (this.failure.type === 'illegal_argument_exception') error.caused_by = { ...root, caused_by: root }
    return { error, status: this.failure.status }
  }
}

/** A request that does not parse: parsing_exception at the top, its cause (an unknown name) under caused_by. */
class ParsingFailure extends ApiError {
  constructor(private readonly failure: QueryError) {
    super(400, 'parsing_exception', failure.message)
  }

  override body(): Json {
    const root = { type: 'parsing_exception', reason: this.message }
    return {
      error: { root_cause: [root], ...root, ...(this.failure.causedBy === undefined ? {} : { caused_by: this.failure.causedBy }) },
      status: 400,
    }
  }
}

/** search.max_buckets crossed: HTTP 503, no root cause, the refusal under caused_by (as 2.19 answers). */
class BucketsRefused extends ApiError {
  constructor(private readonly err: TooManyBuckets) {
    super(503, 'search_phase_execution_exception', '')
  }

  override body(): Json {
    return {
      error: {
        root_cause: [],
        type: 'search_phase_execution_exception',
        reason: '',
        phase: 'fetch',
        grouped: true,
        failed_shards: [],
        caused_by: { type: 'too_many_buckets_exception', reason: this.err.message, max_buckets: this.err.limit },
      },
      status: 503,
    }
  }
}

function parseRequest(body: Buffer): Json {
  if (body.length === 0) return {}
  try {
    return JSON.parse(body.toString('utf8')) as Json
  } catch {
    throw new ApiError(400, 'parse_exception', 'failed to parse search request body')
  }
}

/** Runs `fn`, turning the query layer's refusals into OpenSearch's error responses. */
function refusing<T>(index: string | undefined, fn: () => T): T {
  try {
    return fn()
  } catch (err) {
    if (err instanceof QueryError) throw new ParsingFailure(err)
    if (err instanceof ShardError) throw new ShardFailure(err, index)
    if (err instanceof TooManyBuckets) throw new BucketsRefused(err)
    throw err
  }
}

export function handleSearch(state: ClusterState, method: string, parts: string[], query: Record<string, string>, body: Buffer): Reply {
  void method
  const kind = parts[parts.length - 1]
  const request = parseRequest(body)
  const pitSpec = request.pit as Json | undefined
  let indices: IndexState[]
  let docs: StoredDoc[]
  if (pitSpec !== undefined) {
    if (parts.length > 1)
      throw new ApiError(400, 'action_request_validation_exception', 'Validation Failed: 1: [indices] cannot be used with point in time;')
    const pit = usePit(state, pitSpec)
    indices = pit.indices
    docs = pit.docs
  } else {
    const target = parts.length > 1 ? parts[0]! : '_all'
    indices = query.ignore_unavailable === 'true' ? target.split(',').flatMap((t) => tryResolve(state, t)) : state.resolve(target)
    // Counting everything needs no document: the benchmarks poll this while hundreds of thousands are stored.
    if (kind === '_count' && request.query === undefined) {
      const count = indices.reduce((n, i) => n + searchableCount(i), 0)
      return { status: 200, body: { count, _shards: { total: indices.length, successful: indices.length, skipped: 0, failed: 0 } } }
    }
    docs = indices.flatMap(searchable)
  }
  const first = indices[0]?.name
  const types = new Map<string, FieldType>()
  for (const i of indices) for (const [f, t] of mappedTypes(i.mappings)) if (!types.has(f)) types.set(f, t)
  const ctx: SearchContext = { types, now: Date.now() }
  const predicate = refusing(first, () => compileQuery(request.query, ctx))
  const matched = refusing(first, () => docs.filter((d) => predicate(d._source)))
  const shards = { total: indices.length, successful: indices.length, skipped: 0, failed: 0 }
  if (kind === '_count') return { status: 200, body: { count: matched.length, _shards: shards } }

  const size = Number(request.size ?? query.size ?? 10)
  const from = Number(request.from ?? query.from ?? 0)
  const window = Math.min(
    ...indices.map((i) => Number(indexSetting(i.settings, 'max_result_window') ?? DEFAULT_MAX_RESULT_WINDOW)),
    DEFAULT_MAX_RESULT_WINDOW * 1000,
  )
  const keys = sortKeys(request.sort)
  const after = request.search_after as unknown[] | undefined
  refusing(first, () => {
    if (query.scroll !== undefined && size > window) {
      throw new ShardError(
        'illegal_argument_exception',
        `Batch size is too large, size must be less than or equal to: [${window}] but ` +
          `was [${size}]. Scroll batch sizes cost as much memory as result windows so they ` +
          `are controlled by the [index.max_result_window] index level setting.`,
      )
    }
    if (query.scroll === undefined && from + size > window) {
      throw new ShardError(
        'illegal_argument_exception',
        `Result window is too large, from + size must be less than or equal to: ` +
          `[${window}] but was [${from + size}]. See the scroll api for a more efficient ` +
          `way to request large data sets. This limit can be set by changing the ` +
          `[index.max_result_window] index level setting.`,
      )
    }
    if (after !== undefined && keys.length === 0)
      throw new ShardError('illegal_argument_exception', 'Sort must contain at least one field.')
    if (after !== undefined && after.length !== keys.length)
      throw new ShardError('illegal_argument_exception', `search_after has ${after.length} value(s) but sort has ${keys.length}.`)
    if (after !== undefined && from !== 0)
      throw new ShardError('search_exception', '`from` parameter must be set to 0 when `search_after` is used.', 500)
  })
  // `_index` and `_id` sort as metadata. `_doc` is the document's place in its index (each index here is
  // one shard), fixed within a PIT as Lucene's document number is, and repeated across indices.
  const place = keys.some((k) => k.field === '_doc') ? placesInIndex(docs) : undefined
  const sortOf = (d: StoredDoc, k: SortKey): number | string | null =>
    k.field === '_doc' ? place!.get(d)! : k.field === '_id' ? d._id : k.field === '_index' ? d._index : sortValue(d._source, k, ctx)
  const withSort = matched.map((d) => ({ d, sort: keys.map((k) => sortOf(d, k)) }))
  let sorted = keys.length === 0 ? withSort : [...withSort].sort((a, b) => compareSortTuples(a.sort, b.sort, keys, ctx))
  if (after !== undefined) sorted = sorted.filter((h) => compareSortTuples(h.sort, after as (number | string | null)[], keys, ctx) > 0)

  const track = request.track_total_hits
  const total =
    track === true || matched.length <= (typeof track === 'number' ? track : DEFAULT_TRACK_TOTAL_HITS)
      ? { value: matched.length, relation: 'eq' }
      : { value: typeof track === 'number' ? track : DEFAULT_TRACK_TOTAL_HITS, relation: 'gte' }
  const hit = (h: { d: StoredDoc; sort: unknown[] }) => ({
    _index: h.d._index,
    _id: h.d._id,
    _score: keys.length === 0 ? 1 : null,
    _source: h.d._source,
    ...(keys.length === 0 ? {} : { sort: h.sort }),
  })
  if (query.scroll !== undefined) {
    const { id, page } = openScroll(
      state,
      sorted.map((h) => h.d),
      size,
    )
    return {
      status: 200,
      body: {
        _scroll_id: id,
        took: 1,
        timed_out: false,
        _shards: shards,
        hits: { total, max_score: null, hits: page.map((d) => ({ _index: d._index, _id: d._id, _score: null, _source: d._source })) },
      },
    }
  }
  const page = sorted.slice(from, from + size)
  const hits: Json = {
    ...(track === false ? {} : { total }),
    max_score: keys.length === 0 && page.length > 0 ? 1 : null,
    hits: page.map(hit),
  }
  const out: Json = { ...(pitSpec === undefined ? {} : { pit_id: String(pitSpec.id) }), took: 1, timed_out: false, _shards: shards, hits }
  const aggs = (request.aggs ?? request.aggregations) as Json | undefined
  if (aggs !== undefined) {
    const limit = maxBuckets.get(state) ?? DEFAULT_MAX_BUCKETS
    out.aggregations = refusing(first, () =>
      runAggs(
        aggs,
        matched.map((d) => d._source as Doc),
        { ...ctx, buckets: { count: 0, limit } },
      ),
    )
  }
  return { status: 200, body: out }
}

function placesInIndex(docs: readonly StoredDoc[]): Map<StoredDoc, number> {
  const next = new Map<string, number>()
  const place = new Map<StoredDoc, number>()
  for (const d of docs) {
    const n = next.get(d._index) ?? 0
    place.set(d, n)
    next.set(d._index, n + 1)
  }
  return place
}

function tryResolve(state: ClusterState, target: string): IndexState[] {
  try {
    return state.resolve(target)
  } catch {
    return []
  }
}
