/**
 * Point in time (PIT) for the test server, as OpenSearch 2.x serves it: `POST /<target>/_search/point_in_time?keep_alive=1m`
 * freezes the documents searchable now, `POST /_search` with `pit: {id, keep_alive}` searches them (no index
 * in the path: that is a 400), each search extends the keep-alive, `DELETE /_search/point_in_time` frees
 * them (answering successful for an id already gone, as OpenSearch does), and `GET
 * /_search/point_in_time/_all` lists them. A search on a freed or expired PIT is a 404
 * search_context_missing_exception inside search_phase_execution_exception.
 */
import { randomUUID } from 'node:crypto'
import { ApiError, type ClusterState, type IndexState, type StoredDoc } from './state.js'
import type { Reply } from './server.js'
import { parseBody } from './admin.js'

export interface Pit {
  id: string
  indices: IndexState[]
  docs: StoredDoc[]
  created: number
  keepAliveMs: number
  expires: number
}

const pits = new WeakMap<ClusterState, Map<string, Pit>>()

function registry(state: ClusterState): Map<string, Pit> {
  let m = pits.get(state)
  if (m === undefined) pits.set(state, (m = new Map()))
  return m
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

export function keepAliveMs(text: string | undefined): number | undefined {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(text ?? '')
  return m === null ? undefined : Number(m[1]) * UNITS[m[2]!]!
}

/** The live PIT with this id (keep-alive extended), or the 404 OpenSearch answers for a missing one. */
export function usePit(state: ClusterState, spec: { id?: unknown; keep_alive?: unknown }): Pit {
  const id = String(spec.id)
  const pit = registry(state).get(id)
  const now = Date.now()
  if (pit === undefined || pit.expires < now) {
    registry(state).delete(id)
    throw new PitMissing(id)
  }
  const extend = keepAliveMs(spec.keep_alive === undefined ? undefined : String(spec.keep_alive))
  if (extend !== undefined) {
    pit.keepAliveMs = extend
    pit.expires = now + extend
  }
  return pit
}

/** search_phase_execution_exception around search_context_missing_exception, HTTP 404. */
export class PitMissing extends ApiError {
  constructor(id: string) {
    super(404, 'search_context_missing_exception', `No search context found for id [${id.slice(0, 12)}]`)
  }

  override body(): Record<string, unknown> {
    const cause = { type: this.type, reason: this.message }
    return {
      error: {
        root_cause: [cause],
        type: 'search_phase_execution_exception',
        reason: 'all shards failed',
        phase: 'query',
        grouped: true,
        failed_shards: [{ shard: 0, index: null, node: 'test', reason: cause }],
      },
      status: 404,
    }
  }
}

export function handlePit(
  state: ClusterState,
  method: string,
  parts: string[],
  query: Record<string, string>,
  body: Buffer,
  searchable: (i: IndexState) => StoredDoc[],
): Reply {
  const reg = registry(state)
  if (parts[0] === '_search' && parts[2] === '_all') {
    if (method === 'GET')
      return {
        status: 200,
        body: { pits: [...reg.values()].map((p) => ({ pit_id: p.id, creation_time: p.created, keep_alive: p.keepAliveMs })) },
      }
    if (method === 'DELETE') {
      const all = [...reg.keys()]
      reg.clear()
      return { status: 200, body: { pits: all.map((id) => ({ successful: true, pit_id: id })) } }
    }
  }
  if (parts[0] === '_search' && method === 'DELETE') {
    const ids = parseBody(body).pit_id
    const list = (Array.isArray(ids) ? ids : [ids]).map(String)
    for (const id of list) reg.delete(id)
    return { status: 200, body: { pits: list.map((id) => ({ successful: true, pit_id: id })) } }
  }
  if (parts.length === 3 && method === 'POST') {
    const ms = keepAliveMs(query.keep_alive)
    if (ms === undefined) throw new ApiError(400, 'action_request_validation_exception', 'Validation Failed: 1: keep alive not specified;')
    const indices = state.resolve(parts[0]!)
    const id = Buffer.from(`pit:${randomUUID()}`).toString('base64')
    const now = Date.now()
    reg.set(id, { id, indices, docs: indices.flatMap(searchable), created: now, keepAliveMs: ms, expires: now + ms })
    return {
      status: 200,
      body: { pit_id: id, _shards: { total: indices.length, successful: indices.length, skipped: 0, failed: 0 }, creation_time: now },
    }
  }
  throw new ApiError(
    400,
    'illegal_argument_exception',
    `no handler found for uri [/${parts.join('/')}] and method [${method}] (test server)`,
  )
}
