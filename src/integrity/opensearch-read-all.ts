/**
 * Every document of an OpenSearch target, page by page, for `verify --opensearch`: search_after in a
 * point in time (one snapshot, nothing held open on the server between pages but the PIT), or a scroll
 * where the cluster refuses a PIT (before OpenSearch 2.4, or a role without the PIT privilege).
 *
 * The PIT's pages are sorted on Lucene's document number (`_doc`) first. With that order each shard
 * starts a page where the last one ended and stops after a page of hits; any other first key makes
 * every page compare every document of the target against the last page's sort values, so a full read
 * grows with the square of the documents (docs/performance.md has the measurement). `_doc` is unique
 * within a shard and constant within a PIT; `_index` then tells indices apart. Two shards of one index
 * can share a `_doc`, so when the PIT holds an index of more than one shard (or the shard count cannot
 * be read) `_id` breaks that tie: the node then loads `_id` field data, which costs it heap. OpenSearch
 * 2.x has no `_shard_doc` tiebreaker (it came in 3.3).
 */
import type { Client } from '@opensearch-project/opensearch'

export type Json = Record<string, unknown>
export type Hit = { _id: string; _source: Json }
/** One page, and the number of documents the search matched (when the server says). */
export type Page = { hits: Hit[]; total: number | undefined }

const KEEPALIVE = '2m'

/** Unique within a PIT when every shard in it is its index's only shard. */
export const BY_DOC: readonly Json[] = Object.freeze([{ _doc: 'asc' }, { _index: 'asc' }])
/** Unique within any PIT: `_id` separates the shards of one index. */
export const BY_DOC_AND_ID: readonly Json[] = Object.freeze([{ _doc: 'asc' }, { _index: 'asc' }, { _id: 'asc' }])

/** Every document of `index` (name, pattern or alias) matching `query`; the PIT or scroll is released even when the caller stops early. */
export async function* readAll(client: Client, index: string, pageSize: number, query: Json = { match_all: {} }): AsyncGenerator<Page> {
  let pit: string | undefined
  let pitShards: number | undefined
  try {
    const res = await client.createPit({ index, keep_alive: KEEPALIVE } as never)
    const b = res.body as { pit_id?: string; _shards?: { total?: number } }
    pit = b.pit_id
    pitShards = b._shards?.total
  } catch (err) {
    if (!pitRefused(err)) throw err
  }
  if (pit === undefined) return yield* scrollAll(client, index, pageSize, query)
  const ids = new Set([pit])
  try {
    const sort = await pageOrder(client, index, pitShards)
    let after: unknown[] | undefined
    let total: number | undefined
    for (;;) {
      const body: Json = {
        size: pageSize,
        query,
        sort,
        pit: { id: pit, keep_alive: KEEPALIVE },
        track_total_hits: after === undefined,
      }
      if (after !== undefined) body.search_after = after
      const res = await client.search({ body } as never)
      const b = res.body as { pit_id?: string; hits?: { hits?: (Hit & { sort?: unknown[] })[]; total?: number | { value?: number } } }
      // The id may change from one search to the next; the latest one is what the next search and the release name.
      if (typeof b.pit_id === 'string') ids.add((pit = b.pit_id))
      if (after === undefined) total = totalOf(b.hits?.total)
      const hits = b.hits?.hits ?? []
      if (hits.length === 0) return
      yield { hits, total }
      if (hits.length < pageSize) return
      after = hits[hits.length - 1]!.sort
      if (after === undefined) throw new Error(`point-in-time search of ${index} returned hits without sort values`)
    }
  } finally {
    await client.deletePit({ body: { pit_id: [...ids] } } as never).catch(() => undefined)
  }
}

/**
 * The page order for a PIT over `index` that holds `pitShards` shards. The settings are read after the
 * PIT was opened, so every index in it existed; the PIT's shard count must equal the number of
 * single-shard indices listed, or an index came or went in between and `_id` is kept.
 */
export async function pageOrder(client: Client, index: string, pitShards: number | undefined): Promise<readonly Json[]> {
  if (pitShards === undefined) return BY_DOC_AND_ID
  let listed: Json
  try {
    const res = await client.indices.getSettings({
      index,
      name: 'index.number_of_shards',
      flat_settings: true,
      ignore_unavailable: true,
      allow_no_indices: true,
    } as never)
    listed = (res.body ?? {}) as Json
  } catch {
    // A role that may search but not read settings: the order that is unique without knowing.
    return BY_DOC_AND_ID
  }
  const counts = Object.values(listed).map((v) => Number((v as { settings?: Json }).settings?.['index.number_of_shards']))
  return counts.length === pitShards && counts.every((n) => n === 1) ? BY_DOC : BY_DOC_AND_ID
}

/** A PIT the cluster does not offer or the role may not open (the scroll then reads the target), as opposed to a failure. */
function pitRefused(err: unknown): boolean {
  const status =
    (err as { statusCode?: unknown; meta?: { statusCode?: unknown } }).statusCode ??
    (err as { meta?: { statusCode?: unknown } }).meta?.statusCode
  return status === 400 || status === 403 || status === 404 || status === 405 || status === 501
}

const totalOf = (t: number | { value?: number } | undefined): number | undefined =>
  typeof t === 'number' ? t : typeof t?.value === 'number' ? t.value : undefined

/**
 * Every document of a target through a scroll (sorted by `_doc`, the cheapest order), page by page;
 * the scroll is released even when the caller stops early.
 */
async function* scrollAll(client: Client, index: string, pageSize: number, query: Json): AsyncGenerator<Page> {
  let res = await client.search({ index, scroll: KEEPALIVE, body: { size: pageSize, sort: ['_doc'], query } } as never)
  let body = res.body as { _scroll_id?: string; hits?: { hits?: Hit[]; total?: number | { value?: number } } }
  const total = totalOf(body.hits?.total)
  const ids = new Set<string>()
  try {
    for (;;) {
      if (body._scroll_id !== undefined) ids.add(body._scroll_id)
      const hits = body.hits?.hits ?? []
      if (hits.length === 0) return
      yield { hits, total }
      if (body._scroll_id === undefined) return
      res = await client.scroll({ body: { scroll: KEEPALIVE, scroll_id: body._scroll_id } } as never)
      body = res.body as typeof body
    }
  } finally {
    if (ids.size > 0) await client.clearScroll({ body: { scroll_id: [...ids] } } as never).catch(() => undefined)
  }
}
