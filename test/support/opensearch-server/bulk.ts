/**
 * `_bulk` for the test server. Input is NDJSON: an action line (`{"create":{"_index":..,"_id":..}}` or
 * `index`), then the document line. The response is HTTP 200 with one item per action in request order,
 * `errors: true` when any item failed, as OpenSearch answers; a malformed action line fails the whole
 * request with 400, which is also what OpenSearch does. `if_seq_no`/`if_primary_term` in the action
 * metadata make the write conditional (409 when the document moved or does not exist). A write to an
 * index with a write block is a per-item 403 cluster_block_exception. `?refresh=true|wait_for` makes the
 * written indices searchable before the response (state.ts models near-real-time search).
 */
import { randomUUID } from 'node:crypto'
import { itemErrorFor } from './faults.js'
import { ApiError, refreshIndex, type IndexState } from './state.js'
import type { Reply, TestOpenSearch } from './server.js'
import type { Doc } from './search.js'

type Json = Record<string, unknown>

function parseLine(line: string, n: number): Json {
  let value: unknown
  try {
    value = JSON.parse(line)
  } catch {
    throw new ApiError(400, 'illegal_argument_exception', `Malformed action/metadata line [${n}], expected START_OBJECT`)
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new ApiError(400, 'illegal_argument_exception', `Malformed action/metadata line [${n}], expected START_OBJECT`)
  return value as Json
}

/**
 * A document parsed on first use (bench mode: most documents are counted, never read, and parsing each
 * 3 KB document cost the server more than the client spent on it). Reads like the parsed object.
 */
function lazyDoc(line: string): Doc {
  let parsed: Doc | undefined
  const doc = (): Doc => (parsed ??= JSON.parse(line) as Doc)
  return new Proxy({} as Doc, {
    get: (_t, key) => Reflect.get(doc(), key),
    has: (_t, key) => Reflect.has(doc(), key),
    ownKeys: () => Reflect.ownKeys(doc()),
    getOwnPropertyDescriptor: (_t, key) => {
      const d = Reflect.getOwnPropertyDescriptor(doc(), key)
      return d === undefined ? undefined : { ...d, configurable: true }
    },
  })
}

export function handleBulk(srv: TestOpenSearch, pathIndex: string | undefined, body: Buffer, query: Record<string, string> = {}): Reply {
  const started = Date.now()
  const lines = body.toString('utf8').split('\n')
  if (lines[lines.length - 1] === '') lines.pop()
  else throw new ApiError(400, 'illegal_argument_exception', 'The bulk request must be terminated by a newline [\\n]')
  if (lines.length === 0) throw new ApiError(400, 'action_request_validation_exception', 'Validation Failed: 1: no requests added;')
  // OpenSearch validates the whole request first: one `_id` over 512 bytes fails all of it with 400.
  const tooLong: string[] = []
  for (let i = 0; i < lines.length; i += 2) {
    const meta = Object.values(parseLine(lines[i]!, i + 1))[0] as Json | undefined
    const id = meta?._id === undefined ? undefined : String(meta._id)
    if (id !== undefined && Buffer.byteLength(id, 'utf8') > 512)
      tooLong.push(
        `${tooLong.length + 1}: id [${id}] is too long, must be no longer than 512 bytes but was: ${Buffer.byteLength(id, 'utf8')};`,
      )
  }
  if (tooLong.length > 0) throw new ApiError(400, 'action_request_validation_exception', `Validation Failed: ${tooLong.join(' ')}`)
  const items: Json[] = []
  const touched = new Set<IndexState>()
  let errors = false
  for (let i = 0; i < lines.length; i++) {
    const actionLine = parseLine(lines[i]!, i + 1)
    const [action, metaRaw] = Object.entries(actionLine)[0] ?? []
    if (action !== 'create' && action !== 'index')
      throw new ApiError(
        400,
        'illegal_argument_exception',
        `Malformed action/metadata line [${i + 1}], expected one of [create, index] (test server)`,
      )
    const meta = (metaRaw ?? {}) as Json
    const target = String(meta._index ?? pathIndex ?? '')
    const id = meta._id === undefined ? randomUUID() : String(meta._id)
    const sourceLine = lines[++i]
    const item = (status: number, extra: Json): void => {
      items.push({ [action]: { _index: target, _id: id, status, ...extra } })
      if (status >= 300) errors = true
    }
    const seenKey = `${target}/${id}`
    const attempt = srv.seen.get(seenKey) ?? 0
    srv.seen.set(seenKey, attempt + 1)
    if (target === '') {
      item(400, { error: { type: 'action_request_validation_exception', reason: 'Validation Failed: 1: index is missing;' } })
      continue
    }
    let doc: Doc
    try {
      // Bench mode (no mapping check, no item faults): a document that looks like an object is taken unread.
      const lazy = !srv.state.checkMappings && srv.faults.item === undefined && sourceLine?.startsWith('{') && sourceLine.endsWith('}')
      doc = lazy ? lazyDoc(sourceLine!) : (JSON.parse(sourceLine ?? '') as Doc)
      if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new Error('not an object')
    } catch {
      item(400, { error: { type: 'mapper_parsing_exception', reason: 'failed to parse' } })
      continue
    }
    const fault = srv.faults.item?.({ action, index: target, id, doc, attempt })
    if (fault !== null && fault !== undefined) {
      const status = typeof fault === 'number' ? fault : fault.status
      const base = itemErrorFor(status, target)
      const error = typeof fault === 'number' ? base : { type: fault.type ?? base.type, reason: fault.reason ?? base.reason }
      item(status, { error: { ...error, index: target } })
      continue
    }
    try {
      const index = srv.state.writeIndex(target)
      touched.add(index)
      if (meta.if_seq_no !== undefined || meta.if_primary_term !== undefined)
        srv.state.checkSeqNo(index, id, meta.if_seq_no, meta.if_primary_term)
      const { result, doc: stored } = srv.state.put(index, id, doc, action)
      items.push({
        [action]: {
          _index: index.name,
          _id: id,
          _version: stored._version,
          result,
          _shards: { total: 2, successful: 1, failed: 0 },
          _seq_no: stored._seq_no,
          _primary_term: 1,
          status: result === 'created' ? 201 : 200,
        },
      })
    } catch (err) {
      if (!(err instanceof ApiError)) throw err
      item(err.status, { error: { type: err.type, reason: err.message, index: target } })
    }
  }
  if (query.refresh === 'true' || query.refresh === '' || query.refresh === 'wait_for') for (const index of touched) refreshIndex(index)
  return { status: 200, body: { took: Date.now() - started, errors, items } }
}
