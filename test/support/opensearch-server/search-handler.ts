/** `_search` and `_count` for the test server, over the query/aggregation subset in search.ts; `?scroll=` opens a scroll (documents.ts). */
import { compileQuery, QueryError, runAggs, sortDocs, type Doc } from './search.js'
import { ApiError, type ClusterState } from './state.js'
import type { Reply } from './server.js'
import { openScroll } from './documents.js'

type Json = Record<string, unknown>

const DEFAULT_TRACK_TOTAL_HITS = 10_000

export function handleSearch(state: ClusterState, method: string, parts: string[], query: Record<string, string>, body: Buffer): Reply {
  const target = parts.length > 1 ? parts[0]! : '_all'
  const kind = parts[parts.length - 1]
  let request: Json = {}
  if (body.length > 0) {
    try {
      request = JSON.parse(body.toString('utf8')) as Json
    } catch {
      throw new ApiError(400, 'parse_exception', 'failed to parse search request body')
    }
  }
  void method
  const indices = state.resolve(target)
  const all = indices.flatMap((i) => [...i.docs.values()])
  let matched
  try {
    const predicate = compileQuery(request.query)
    matched = all.filter((d) => predicate(d._source))
  } catch (err) {
    if (err instanceof QueryError) throw new ApiError(400, 'parsing_exception', err.message)
    throw err
  }
  const shards = { total: indices.length, successful: indices.length, skipped: 0, failed: 0 }
  if (kind === '_count') return { status: 200, body: { count: matched.length, _shards: shards } }

  const size = Number(request.size ?? query.size ?? 10)
  const from = Number(request.from ?? query.from ?? 0)
  const sorted = request.sort === undefined ? matched : sortDocs(matched, request.sort)
  const track = request.track_total_hits
  const total =
    track === true || matched.length <= (typeof track === 'number' ? track : DEFAULT_TRACK_TOTAL_HITS)
      ? { value: matched.length, relation: 'eq' }
      : { value: typeof track === 'number' ? track : DEFAULT_TRACK_TOTAL_HITS, relation: 'gte' }
  if (query.scroll !== undefined) {
    const { id, page } = openScroll(state, sorted, size)
    return {
      status: 200,
      body: {
        _scroll_id: id, took: 1, timed_out: false, _shards: shards,
        hits: { total, max_score: null, hits: page.map((d) => ({ _index: d._index, _id: d._id, _score: null, _source: d._source })) },
      },
    }
  }
  const out: Json = {
    took: 1,
    timed_out: false,
    _shards: shards,
    hits: {
      total,
      max_score: request.sort === undefined && matched.length > 0 ? 1 : null,
      hits: sorted.slice(from, from + size).map((d) => ({ _index: d._index, _id: d._id, _score: request.sort === undefined ? 1 : null, _source: d._source })),
    },
  }
  const aggs = (request.aggs ?? request.aggregations) as Json | undefined
  if (aggs !== undefined) {
    try {
      out.aggregations = runAggs(aggs, matched.map((d) => d._source as Doc))
    } catch (err) {
      if (err instanceof QueryError) throw new ApiError(400, 'parsing_exception', err.message)
      throw err
    }
  }
  return { status: 200, body: out }
}
