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
 * can share a `_doc` (OpenSearch 2.x has no `_shard_doc` tiebreaker; it came in 3.3), so indices of
 * more than one shard are read a shard at a time: the indices of each shard count n > 1 through a PIT
 * of their own, in n slices (`slice.max` = n puts exactly shard i of each of them in slice i, whole,
 * OpenSearch's SliceBuilder), each slice paged on `_doc` and `_index`. A slice of a one-shard index
 * would be cut by hashing every `_id` of the shard again for each page, so those indices are read
 * unsliced in a PIT of their own. Where the shard counts cannot be read (a role without the settings
 * privilege) or do not add up to the PIT's, `_id` is the last sort key instead, and the node loads
 * `_id` field data (~16 MB of heap per million documents).
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

/**
 * How a PIT over a target is read: whole (the order is unique), or its indices grouped by shard count,
 * each group through a PIT of its own, sliced by shard where it has more than one.
 */
export type ReadPlan = { kind: 'whole'; sort: readonly Json[] } | { kind: 'by-shard'; groups: { indices: string[]; shards: number }[] }

/**
 * Every document of `index` (name, pattern or alias) matching `query`; every PIT or scroll is released
 * even when the caller stops early.
 */
export async function* readAll(client: Client, index: string, pageSize: number, query: Json = { match_all: {} }): AsyncGenerator<Page> {
  const opened = await openPit(client, index)
  if (opened === undefined) return yield* scrollAll(client, index, pageSize, query)
  const ids = new Set([opened.id])
  try {
    const plan = await readPlan(client, index, opened.shards)
    if (plan.kind === 'whole') return yield* pitPages(client, ids, opened.id, pageSize, query, plan.sort, undefined, undefined)
    // One count for the progress line, in the first snapshot: the groups' PITs open a moment later.
    const counted = await client.search({
      body: { size: 0, query, pit: { id: opened.id, keep_alive: KEEPALIVE }, track_total_hits: true },
    } as never)
    const total = totalOf((counted.body as { hits?: { total?: number | { value?: number } } }).hits?.total)
    // That PIT only counted: released now, not held on the node while the groups are read.
    await client.deletePit({ body: { pit_id: [...ids] } } as never).catch(() => undefined)
    ids.clear()
    for (const group of plan.groups) {
      const pit = await openPit(client, group.indices.join(','))
      if (pit === undefined) throw new Error(`could not open a point in time on ${group.indices.join(',')}`)
      ids.add(pit.id)
      for (let slice = 0; slice < group.shards; slice++) {
        const sliced = group.shards === 1 ? undefined : { id: slice, max: group.shards }
        yield* pitPages(client, ids, pit.id, pageSize, query, BY_DOC, sliced, total)
      }
    }
  } finally {
    await client.deletePit({ body: { pit_id: [...ids] } } as never).catch(() => undefined)
  }
}

/** A PIT on `index`: its id and shard count, or undefined where the cluster or the role refuses one. */
async function openPit(client: Client, index: string): Promise<{ id: string; shards: number | undefined } | undefined> {
  try {
    const res = await client.createPit({ index, keep_alive: KEEPALIVE } as never)
    const b = res.body as { pit_id?: string; _shards?: { total?: number } }
    return b.pit_id === undefined ? undefined : { id: b.pit_id, shards: b._shards?.total }
  } catch (err) {
    if (!pitRefused(err)) throw err
    return undefined
  }
}

/**
 * The pages of one PIT (one slice of it, when given) in `sort` order. `ids` collects every id the PIT
 * had, for the release; `total` stands for the count when the caller already has it.
 */
async function* pitPages(
  client: Client,
  ids: Set<string>,
  first: string,
  pageSize: number,
  query: Json,
  sort: readonly Json[],
  slice: { id: number; max: number } | undefined,
  known: number | undefined,
): AsyncGenerator<Page> {
  let pit = first
  let after: unknown[] | undefined
  let total = known
  for (;;) {
    const body: Json = {
      size: pageSize,
      query,
      sort,
      pit: { id: pit, keep_alive: KEEPALIVE },
      track_total_hits: after === undefined && known === undefined,
    }
    if (slice !== undefined) body.slice = slice
    if (after !== undefined) body.search_after = after
    const res = await client.search({ body } as never)
    const b = res.body as { pit_id?: string; hits?: { hits?: (Hit & { sort?: unknown[] })[]; total?: number | { value?: number } } }
    // The id may change from one search to the next; the latest one is what the next search and the release name.
    if (typeof b.pit_id === 'string') ids.add((pit = b.pit_id))
    if (after === undefined && known === undefined) total = totalOf(b.hits?.total)
    const hits = b.hits?.hits ?? []
    if (hits.length === 0) return
    yield { hits, total }
    if (hits.length < pageSize) return
    after = hits[hits.length - 1]!.sort
    if (after === undefined) throw new Error('point-in-time search returned hits without sort values')
  }
}

/**
 * How to read a PIT over `index` that holds `pitShards` shards. The settings are read after the PIT
 * was opened, so every index in it existed; their shard counts must add up to the PIT's, or an index
 * came or went in between and the PIT is read whole with `_id` as the last key.
 */
export async function readPlan(client: Client, index: string, pitShards: number | undefined): Promise<ReadPlan> {
  const unique: ReadPlan = { kind: 'whole', sort: BY_DOC_AND_ID }
  if (pitShards === undefined) return unique
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
    return unique
  }
  const byCount = new Map<number, string[]>()
  let sum = 0
  for (const [name, v] of Object.entries(listed)) {
    const n = Number((v as { settings?: Json }).settings?.['index.number_of_shards'])
    if (!Number.isInteger(n) || n < 1) return unique
    sum += n
    byCount.set(n, [...(byCount.get(n) ?? []), name])
  }
  if (sum !== pitShards) return unique
  if ([...byCount.keys()].every((n) => n === 1)) return { kind: 'whole', sort: BY_DOC }
  return {
    kind: 'by-shard',
    groups: [...byCount].sort((x, y) => x[0] - y[0]).map(([shards, indices]) => ({ indices: indices.sort(), shards })),
  }
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
