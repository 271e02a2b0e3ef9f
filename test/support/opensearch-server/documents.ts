/**
 * Realtime multi-get and scrolling for the test server. `_mget` answers from the stored documents at
 * once (OpenSearch's GET and mget are realtime: they see a write before any refresh), with `_seq_no`
 * and `_primary_term` for optimistic concurrency, and a per-document error when the index is missing,
 * as OpenSearch does. A scroll is a snapshot of the matching documents taken by the first search,
 * paged by `POST /_search/scroll` and released by `DELETE /_search/scroll`.
 */
import { randomUUID } from 'node:crypto'
import { ApiError, type ClusterState, type StoredDoc } from './state.js'
import type { Reply } from './server.js'
import { parseBody } from './admin.js'

type Json = Record<string, unknown>

export function handleMget(state: ClusterState, pathIndex: string | undefined, body: Buffer, query: Record<string, string> = {}): Reply {
  const withSource = query._source !== 'false'
  const req = parseBody(body)
  const wanted: { index: string | undefined; id: string }[] = Array.isArray(req.ids)
    ? req.ids.map((id) => ({ index: pathIndex, id: String(id) }))
    : Array.isArray(req.docs)
      ? (req.docs as Json[]).map((d) => ({ index: d._index === undefined ? pathIndex : String(d._index), id: String(d._id) }))
      : []
  if (wanted.length === 0) throw new ApiError(400, 'action_request_validation_exception', 'Validation Failed: 1: no documents to get;')
  const docs = wanted.map(({ index, id }) => {
    if (index === undefined)
      return { _index: null, _id: id, error: { type: 'action_request_validation_exception', reason: 'index is missing' } }
    let found: StoredDoc | undefined
    try {
      found = state
        .resolve(index)
        .map((i) => i.docs.get(id))
        .find((d) => d !== undefined)
    } catch (err) {
      if (err instanceof ApiError) return { _index: index, _id: id, error: err.body().error }
      throw err
    }
    if (found === undefined) return { _index: index, _id: id, found: false }
    const doc = { _index: found._index, _id: id, _version: found._version, _seq_no: found._seq_no, _primary_term: 1, found: true }
    return withSource ? { ...doc, _source: found._source } : doc
  })
  return { status: 200, body: { docs } }
}

export interface ScrollCursor {
  hits: StoredDoc[]
  next: number
  size: number
}

const scrolls = new WeakMap<ClusterState, Map<string, ScrollCursor>>()

function cursors(state: ClusterState): Map<string, ScrollCursor> {
  let m = scrolls.get(state)
  if (m === undefined) scrolls.set(state, (m = new Map()))
  return m
}

/** Registers a scroll over `hits` and returns the first page's hits and the scroll id. */
export function openScroll(state: ClusterState, hits: StoredDoc[], size: number): { id: string; page: StoredDoc[] } {
  const id = Buffer.from(randomUUID()).toString('base64')
  const cursor = { hits, next: 0, size }
  cursors(state).set(id, cursor)
  return { id, page: take(cursor) }
}

function take(c: ScrollCursor): StoredDoc[] {
  const page = c.hits.slice(c.next, c.next + c.size)
  c.next += page.length
  return page
}

export function handleScroll(state: ClusterState, method: string, pathId: string | undefined, body: Buffer): Reply {
  const req = parseBody(body)
  if (method === 'DELETE') {
    const ids = pathId !== undefined ? [pathId] : Array.isArray(req.scroll_id) ? req.scroll_id.map(String) : [String(req.scroll_id)]
    let freed = 0
    for (const id of ids) if (cursors(state).delete(id)) freed++
    return { status: 200, body: { succeeded: true, num_freed: freed } }
  }
  const id = pathId ?? String(req.scroll_id)
  const cursor = cursors(state).get(id)
  if (cursor === undefined) throw new ApiError(404, 'search_context_missing_exception', `No search context found for id [${id}]`)
  const page = take(cursor)
  return {
    status: 200,
    body: {
      _scroll_id: id,
      took: 1,
      timed_out: false,
      hits: {
        total: { value: cursor.hits.length, relation: 'eq' },
        max_score: null,
        hits: page.map((d) => ({ _index: d._index, _id: d._id, _score: null, _source: d._source })),
      },
    },
  }
}
