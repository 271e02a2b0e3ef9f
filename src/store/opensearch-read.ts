/**
 * Reading OpenSearch within the limits a real cluster enforces, for the store and the hunt backend:
 *
 * - `search.max_buckets` (cluster setting, 65,535 by default) counts every bucket a response holds,
 *   sub-aggregation buckets included (terms: one per term found; filters: one per named filter, even
 *   empty; single-bucket `filter`: none). A composite page of 1,000 keys whose sub-aggregations hold 70
 *   buckets each is refused whole with `too_many_buckets_exception` (HTTP 503 on 2.19). The composite walk
 *   then halves its page and asks for the same page again, and keeps the smaller page afterwards.
 * - `index.max_result_window` (index setting, 10,000 by default) bounds from + size of one search. Hits
 *   beyond one page are read with search_after inside a point in time (PIT), never with `from`, and a
 *   page is shrunk to the window the index reports when it refuses one.
 *
 * Searches go out with the client's own retries off: the transport repeats any 502/503/504, which would
 * re-run a refused aggregation several times and mark the node dead. Transient failures (connection
 * errors, 502/503/504 that are not a bucket refusal) are retried here with a short backoff instead.
 * Error messages name the most specific cause OpenSearch gives (a shard's parse_exception rather than
 * the wrapping `search_phase_execution_exception: all shards failed`).
 */
import type { Client } from '@opensearch-project/opensearch'
import { EnvoyAuditError } from '../errors.js'

type Json = Record<string, unknown>
export type CompositeKey = Record<string, string | number | boolean | null>
export interface CompositeBucket extends Json {
  key: CompositeKey
  doc_count: number
}

/** What a failed request looks like from @opensearch-project/opensearch (ResponseError or a connection error). */
interface ClientError {
  statusCode?: number
  body?: { error?: ErrorNode | string }
  message?: string
}
interface ErrorNode {
  type?: string
  reason?: string
  max_buckets?: number
  caused_by?: ErrorNode
  root_cause?: ErrorNode[]
  failed_shards?: { reason?: ErrorNode }[]
}

/** Every error node of a response body: the top, its caused_by chain, root causes and shard failures. */
function errorNodes(err: unknown): ErrorNode[] {
  const top = (err as ClientError).body?.error
  if (top === undefined || typeof top === 'string') return []
  const out: ErrorNode[] = []
  const visit = (n: ErrorNode | undefined): void => {
    if (n === undefined || out.includes(n)) return
    out.push(n)
    for (const r of n.root_cause ?? []) visit(r)
    for (const f of n.failed_shards ?? []) visit(f.reason)
    visit(n.caused_by)
  }
  visit(top)
  return out
}

/** The search.max_buckets value a refusal reports, or undefined when `err` is not a bucket refusal. */
export function bucketLimitOf(err: unknown): number | undefined {
  const node = errorNodes(err).find((n) => n.type === 'too_many_buckets_exception')
  if (node === undefined) return undefined
  return node.max_buckets ?? Number(/less than or equal to: \[(\d+)\]/.exec(node.reason ?? '')?.[1] ?? NaN)
}

/** The index.max_result_window a refusal reports, or undefined when `err` is not a result-window refusal. */
export function resultWindowOf(err: unknown): number | undefined {
  for (const n of errorNodes(err)) {
    const m = /Result window is too large, from \+ size must be less than or equal to: \[(\d+)\]/.exec(n.reason ?? '')
    if (m !== null) return Number(m[1])
  }
  return undefined
}

/** `type: reason` of the most specific cause (a root cause, else the deepest caused_by). */
export function describeSearchError(err: unknown): string {
  const e = err as ClientError
  const top = e.body?.error
  if (typeof top === 'string') return top
  const nodes = errorNodes(err)
  if (nodes.length === 0) return e.message ?? String(err)
  const specific =
    top?.root_cause?.find((r) => r.type !== undefined) ?? nodes.filter((n) => n.type !== undefined && n.reason !== '').pop() ?? nodes[0]!
  return `${specific.type ?? ''}: ${specific.reason ?? ''}`
}

const TRANSIENT = new Set([502, 503, 504])
const RETRIES = 3

export interface ReadTarget {
  client: Client
  /** Index, alias or pattern searched. */
  index: string
  /** What is reading, for messages ("opensearch query", "opensearch hunt query"). */
  what: string
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function queryError(t: ReadTarget, err: unknown): EnvoyAuditError {
  const status = (err as ClientError).statusCode
  return new EnvoyAuditError(
    'EA_STORE_QUERY',
    `${t.what} on ${t.index} failed${status !== undefined ? ` (HTTP ${status})` : ''}: ${describeSearchError(err)}`,
    { cause: err },
  )
}

/** Sends one request with transient failures retried; a bucket or window refusal is thrown as it came. */
async function send<T>(t: ReadTarget, call: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await call()
    } catch (err) {
      const status = (err as ClientError).statusCode
      const transient = status === undefined || TRANSIENT.has(status)
      if (!transient || bucketLimitOf(err) !== undefined || attempt >= RETRIES) throw err
      await sleep(100 * 2 ** attempt)
    }
  }
}

const EMPTY: Json = { hits: { total: { value: 0, relation: 'eq' }, hits: [] }, aggregations: {} }

/** One search; a missing index reads as empty (nothing written yet). */
export async function searchOnce(t: ReadTarget, body: Json): Promise<Json> {
  try {
    return await rawSearch(t, body)
  } catch (err) {
    throw queryError(t, err)
  }
}

async function rawSearch(t: ReadTarget, body: Json): Promise<Json> {
  try {
    const res = await send(t, () =>
      t.client.search({ index: t.index, body: body as never, ignore_unavailable: true } as never, { maxRetries: 0 }),
    )
    return res.body as unknown as Json
  } catch (err) {
    if ((err as ClientError).statusCode === 404 && bucketLimitOf(err) === undefined) return EMPTY
    throw err
  }
}

export interface CompositeWalk {
  /** Keys asked per page; halved after a bucket refusal. */
  pageSize: number
  /** The most keys one walk may return (a product bound, independent of search.max_buckets). */
  maxKeys: number
}

/**
 * Every bucket of a composite aggregation, page by page (after_key). A page refused for
 * search.max_buckets is asked again with half as many keys; only a single key whose own
 * sub-aggregations exceed the limit is an error.
 */
export async function compositeAll(
  t: ReadTarget,
  query: Json,
  sources: Json[],
  sub: Json,
  walk: CompositeWalk,
): Promise<CompositeBucket[]> {
  const out: CompositeBucket[] = []
  let size = walk.pageSize
  let after: CompositeKey | undefined
  for (;;) {
    const composite: Json = { size, sources }
    if (after !== undefined) composite.after = after
    let body: Json
    try {
      body = await rawSearch(t, { size: 0, query, aggs: { groups: { composite, aggs: sub } } })
    } catch (err) {
      const limit = bucketLimitOf(err)
      if (limit !== undefined && size > 1) {
        size = Math.floor(size / 2)
        continue
      }
      if (limit !== undefined) {
        throw new EnvoyAuditError(
          'EA_STORE_QUERY',
          `${t.what} on ${t.index}: one group's sub-aggregations alone exceed search.max_buckets (${limit})`,
          { cause: err },
        )
      }
      throw queryError(t, err)
    }
    const agg = (body.aggregations as { groups?: { buckets: CompositeBucket[]; after_key?: CompositeKey } } | undefined)?.groups
    const buckets = agg?.buckets ?? []
    out.push(...buckets)
    if (out.length > walk.maxKeys) {
      throw new EnvoyAuditError(
        'EA_STORE_QUERY',
        `${t.what} on ${t.index} exceeds maxBuckets (${walk.maxKeys} groups); narrow the time range`,
      )
    }
    if (buckets.length < size || agg?.after_key === undefined) return out
    after = agg.after_key
  }
}

export interface HitsWalk {
  /** Hits per page (at most index.max_result_window; shrunk to it when the index refuses a page). */
  pageSize: number
  /** PIT keep-alive between pages. */
  keepAlive?: string
}

type Hit = { _source: Json; sort?: unknown[] }

/**
 * The first `limit` hits of a sorted query. One page is one plain search; more are read with
 * search_after inside a point in time, so pages see one snapshot and `from` is never used. `sort`
 * must end in a unique field so search_after cannot skip or repeat a hit.
 */
export async function hitsAll(t: ReadTarget, query: Json, sort: Json[], limit: number, walk: HitsWalk): Promise<Hit[]> {
  let page = Math.max(1, Math.min(walk.pageSize, limit))
  if (limit <= page) {
    try {
      return hitsOf(await rawSearch(t, { size: limit, query, sort }))
    } catch (err) {
      const window = resultWindowOf(err)
      if (window === undefined || window < 1) throw queryError(t, err)
      page = window
    }
  }
  const keepAlive = walk.keepAlive ?? '1m'
  let pit: string
  try {
    const res = await send(t, () => t.client.createPit({ index: t.index, keep_alive: keepAlive } as never, { maxRetries: 0 }))
    pit = (res.body as { pit_id: string }).pit_id
  } catch (err) {
    if ((err as ClientError).statusCode === 404) return []
    throw queryError(t, err)
  }
  const out: Hit[] = []
  try {
    let after: unknown[] | undefined
    while (out.length < limit) {
      const size = Math.min(page, limit - out.length)
      const body: Json = { size, query, sort, pit: { id: pit, keep_alive: keepAlive }, track_total_hits: false }
      if (after !== undefined) body.search_after = after
      let hits: Hit[]
      try {
        const res = await send(t, () => t.client.search({ body: body as never } as never, { maxRetries: 0 }))
        hits = hitsOf(res.body as unknown as Json)
      } catch (err) {
        const window = resultWindowOf(err)
        if (window !== undefined && window >= 1 && window < size) {
          page = window
          continue
        }
        throw queryError(t, err)
      }
      out.push(...hits)
      if (hits.length < size) break
      after = hits[hits.length - 1]!.sort
    }
  } finally {
    await t.client.deletePit({ body: { pit_id: [pit] } } as never, { maxRetries: 0 }).catch(() => undefined)
  }
  return out
}

const hitsOf = (body: Json): Hit[] => (body.hits as { hits?: Hit[] } | undefined)?.hits ?? []
