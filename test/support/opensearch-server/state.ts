/**
 * In-memory cluster state of the test server: indices with their documents, aliases, composable index
 * templates and ISM policies. Documents are checked against the index mapping the way a strict mapping
 * is enforced (unknown field, ip/long/date/boolean that does not parse), so a template that drifts from
 * the serializer shows up as real per-item `strict_dynamic_mapping_exception` / `mapper_parsing_exception`.
 *
 * Near-real-time search is modelled as OpenSearch has it: a write (or delete) is seen at once by GET and
 * mget (realtime) and by create's conflict check, but by search and _count only after a refresh: an
 * explicit `_refresh`, `refresh=true|wait_for` on the write, or the index's `refresh_interval` elapsing
 * (1s when unset; `-1` never). The real node's search-idle shortcut (an idle shard refreshes when searched)
 * is left out on purpose: an active shard does not have it, so product code must not rely on it.
 * Write blocks (`index.blocks.write`, `index.blocks.read_only`, what ISM's read_only sets) refuse writes
 * with the 403 cluster_block_exception OpenSearch answers.
 */
import { isIP } from 'node:net'
import type { Doc } from './search.js'
import { docDate } from './dates.js'

type Json = Record<string, unknown>

export interface StoredDoc {
  _id: string
  _index: string
  _source: Doc
  _seq_no: number
  _version: number
}

export interface IndexState {
  name: string
  settings: Json
  mappings: Json
  /** Live documents: what GET, mget and create's conflict check see. */
  docs: Map<string, StoredDoc>
  seqNo: number
  /** What search and _count see: the documents as of the last refresh. */
  searchable: Map<string, StoredDoc>
  /** Writes and deletes since the last refresh, in order (doc undefined = deleted). */
  pending: { at: number; id: string; doc: StoredDoc | undefined }[]
  lastRefresh: number
}

/** An index setting given in any of the forms OpenSearch accepts: `{index: {k}}`, `{'index.k'}` or `{k}`. */
export function indexSetting(settings: Json, key: string): unknown {
  const nested = (settings.index as Json | undefined)?.[key]
  if (nested !== undefined) return nested
  return settings[`index.${key}`] ?? settings[key] ?? dotted(settings.index as Json | undefined, key)
}

function dotted(obj: Json | undefined, key: string): unknown {
  let cur: unknown = obj
  for (const part of key.split('.')) cur = cur !== null && typeof cur === 'object' ? (cur as Json)[part] : undefined
  return cur
}

/** refresh_interval in ms: -1 never; default 1s. */
function refreshIntervalMs(settings: Json): number {
  const v = indexSetting(settings, 'refresh_interval')
  if (v === undefined || v === null) return 1000
  const m = /^(-1|\d+)(ms|s|m|h)?$/.exec(String(v))
  if (m === null) return 1000
  if (m[1] === '-1') return -1
  const n = Number(m[1])
  return m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : m[2] === 'h' ? n * 3_600_000 : n * 1000
}

function applyPending(index: IndexState, upTo: number): void {
  let k = 0
  for (; k < index.pending.length && index.pending[k]!.at <= upTo; k++) {
    const { id, doc } = index.pending[k]!
    if (doc === undefined) index.searchable.delete(id)
    else index.searchable.set(id, doc)
  }
  index.pending.splice(0, k)
}

/** An explicit refresh: everything written so far becomes searchable (also what a test changed in `docs` directly). */
export function refreshIndex(index: IndexState, now: number = Date.now()): void {
  index.pending.length = 0
  index.searchable = new Map(index.docs)
  index.lastRefresh = now
}

/** The documents a search sees now: the scheduled refreshes that fell due since the last one are applied first. */
export function searchableDocs(index: IndexState, now: number = Date.now()): StoredDoc[] {
  return [...refreshDue(index, now).searchable.values()]
}

/** How many documents search sees, without listing them (a `_count` with no query, polled by benchmarks). */
export function searchableCount(index: IndexState, now: number = Date.now()): number {
  return refreshDue(index, now).searchable.size
}

function refreshDue(index: IndexState, now: number): IndexState {
  const interval = refreshIntervalMs(index.settings)
  if (interval > 0 && now - index.lastRefresh >= interval) {
    const due = index.lastRefresh + Math.floor((now - index.lastRefresh) / interval) * interval
    applyPending(index, due)
    index.lastRefresh = due
  }
  return index
}

/** The block that refuses writes to this index, as OpenSearch words it, if any. */
export function writeBlock(index: IndexState): ApiError | undefined {
  const blocks: string[] = []
  const on = (key: string) => String(indexSetting(index.settings, key)) === 'true'
  if (on('blocks.write')) blocks.push('FORBIDDEN/8/index write (api)')
  if (on('blocks.read_only')) blocks.push('FORBIDDEN/5/index read-only (api)')
  if (blocks.length === 0) return undefined
  return new ApiError(403, 'cluster_block_exception', `index [${index.name}] blocked by: [${blocks.join(', ')}];`)
}

export interface AliasEntry {
  is_write_index?: boolean
}

export interface PolicyState {
  policy: Json
  seqNo: number
  primaryTerm: number
  version: number
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    reason: string,
  ) {
    super(reason)
  }

  body(): Json {
    const cause = { type: this.type, reason: this.message }
    return { error: { root_cause: [cause], ...cause }, status: this.status }
  }
}

function matchesPattern(name: string, pattern: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`)
  return re.test(name)
}

function mappingError(path: string, why: string): ApiError {
  return new ApiError(400, 'mapper_parsing_exception', `failed to parse field [${path}]: ${why}`)
}

function checkLeaf(path: string, type: string, value: unknown): void {
  const values = Array.isArray(value) ? value : [value]
  for (const v of values) {
    if (v === null) continue
    if (type === 'long' && !(typeof v === 'number' && Number.isInteger(v)) && !(typeof v === 'string' && /^-?\d+$/.test(v)))
      throw mappingError(path, `For input string: "${String(v)}"`)
    if (type === 'ip' && (typeof v !== 'string' || isIP(v) === 0)) throw mappingError(path, `'${String(v)}' is not an IP string literal.`)
    // strict_date_optional_time||epoch_millis, as the default date format reads it (a JSON number is epoch ms).
    if (type === 'date' && docDate(v) === undefined) throw mappingError(path, `failed to parse date field [${String(v)}]`)
    if (type === 'boolean' && typeof v !== 'boolean' && v !== 'true' && v !== 'false')
      throw mappingError(path, `Failed to parse value [${String(v)}] as only [true] or [false] are allowed.`)
    if (type === 'keyword' && typeof v === 'object') throw mappingError(path, "Can't get text on a START_OBJECT")
  }
}

/** Validates a document against `properties`; with `dynamic: strict` an unknown field is rejected. */
export function checkMapping(mapping: Json, doc: unknown, prefix = '', strict = mapping.dynamic === 'strict'): void {
  const props = mapping.properties as Record<string, Json> | undefined
  if (props === undefined || doc === null || typeof doc !== 'object') return
  const items = Array.isArray(doc) ? doc : [doc]
  for (const item of items) {
    for (const [key, value] of Object.entries(item as Json)) {
      const path = prefix === '' ? key : `${prefix}.${key}`
      const field = Object.hasOwn(props, key) ? props[key] : undefined
      if (field === undefined) {
        if (strict)
          throw new ApiError(
            400,
            'strict_dynamic_mapping_exception',
            `mapping set to strict, dynamic introduction of [${key}] within [${prefix || '_doc'}] is not allowed`,
          )
        continue
      }
      if (field.properties !== undefined) {
        if (value !== null && typeof value !== 'object') throw mappingError(path, 'object mapping tried to parse a non-object value')
        checkMapping(field, value, path, field.dynamic === undefined ? strict : field.dynamic === 'strict')
      } else if (typeof field.type === 'string' && field.type !== 'flat_object') {
        checkLeaf(path, field.type, value)
      }
    }
  }
}

export class ClusterState {
  readonly indices = new Map<string, IndexState>()
  /** alias → index → alias properties. */
  readonly aliases = new Map<string, Map<string, AliasEntry>>()
  readonly templates = new Map<string, Json>()
  readonly policies = new Map<string, PolicyState>()
  /** index → ISM policy id, for indices put under a policy with change_policy or add. */
  readonly managed = new Map<string, string>()
  /** Documents are checked against the index mapping as they are written (false only for benchmarks). */
  checkMappings = true
  private seq = 0

  /** The template that applies to a new index: highest priority among those whose patterns match. */
  templateFor(name: string): Json | undefined {
    let best: Json | undefined
    for (const t of this.templates.values()) {
      const patterns = (t.index_patterns as string[] | undefined) ?? []
      if (!patterns.some((p) => matchesPattern(name, p))) continue
      if (best === undefined || Number(t.priority ?? 0) > Number(best.priority ?? 0)) best = t
    }
    return best
  }

  createIndex(name: string, body: Json = {}): IndexState {
    if (this.indices.has(name) || this.aliases.has(name))
      throw new ApiError(400, 'resource_already_exists_exception', `index [${name}] already exists`)
    const template = (this.templateFor(name)?.template ?? {}) as Json
    const index: IndexState = {
      name,
      settings: { ...((template.settings as Json) ?? {}), ...((body.settings as Json) ?? {}) },
      mappings: (body.mappings as Json) ?? (template.mappings as Json) ?? {},
      docs: new Map(),
      seqNo: 0,
      searchable: new Map(),
      pending: [],
      lastRefresh: Date.now(),
    }
    this.indices.set(name, index)
    const aliases = { ...((template.aliases as Json) ?? {}), ...((body.aliases as Json) ?? {}) }
    for (const [alias, props] of Object.entries(aliases)) this.addAlias(alias, name, (props ?? {}) as AliasEntry)
    return index
  }

  addAlias(alias: string, index: string, props: AliasEntry): void {
    if (this.indices.has(alias))
      throw new ApiError(400, 'invalid_alias_name_exception', `an index exists with the same name as the alias [${alias}]`)
    const entry = this.aliases.get(alias) ?? new Map<string, AliasEntry>()
    if (props.is_write_index === true) {
      for (const [other, p] of entry)
        if (other !== index && p.is_write_index === true) {
          throw new ApiError(400, 'illegal_state_exception', `alias [${alias}] has more than one write index [${other},${index}]`)
        }
    }
    entry.set(index, { ...props })
    this.aliases.set(alias, entry)
  }

  deleteIndex(name: string): void {
    if (!this.indices.delete(name)) throw new ApiError(404, 'index_not_found_exception', `no such index [${name}]`)
    for (const [alias, entry] of this.aliases) {
      entry.delete(name)
      if (entry.size === 0) this.aliases.delete(alias)
    }
  }

  /** The index a write to `target` goes to; auto-creates a concrete index as `action.auto_create_index` does. */
  writeIndex(target: string): IndexState {
    const alias = this.aliases.get(target)
    if (alias !== undefined) {
      const writers = [...alias].filter(([, p]) => p.is_write_index === true).map(([i]) => i)
      const chosen = writers[0] ?? (alias.size === 1 ? [...alias.keys()][0] : undefined)
      if (chosen === undefined)
        throw new ApiError(
          400,
          'illegal_argument_exception',
          `no write index is defined for alias [${target}]. The write index may be ` +
            `explicitly disabled using is_write_index=false or the alias points to multiple ` +
            `indices without one being designated as a write index`,
        )
      return this.indices.get(chosen)!
    }
    return this.indices.get(target) ?? this.createIndex(target)
  }

  /** Concrete indices for a search target: names, aliases, `*` patterns and comma lists. */
  resolve(target: string): IndexState[] {
    const out = new Map<string, IndexState>()
    for (const part of target.split(',')) {
      if (part === '_all' || part === '*') for (const i of this.indices.values()) out.set(i.name, i)
      else if (part.includes('*')) {
        for (const i of this.indices.values()) if (matchesPattern(i.name, part)) out.set(i.name, i)
        for (const [a, entry] of this.aliases) if (matchesPattern(a, part)) for (const i of entry.keys()) out.set(i, this.indices.get(i)!)
      } else if (this.aliases.has(part)) for (const i of this.aliases.get(part)!.keys()) out.set(i, this.indices.get(i)!)
      else if (this.indices.has(part)) out.set(part, this.indices.get(part)!)
      else throw new ApiError(404, 'index_not_found_exception', `no such index [${part}]`)
    }
    return [...out.values()]
  }

  /** Stores a document; `create` of an existing id is the 409 that makes replays idempotent. */
  put(index: IndexState, id: string, source: Doc, op: 'create' | 'index'): { result: string; doc: StoredDoc } {
    const blocked = writeBlock(index)
    if (blocked !== undefined) throw blocked
    if (this.checkMappings) checkMapping(index.mappings, source)
    const existing = index.docs.get(id)
    if (existing !== undefined && op === 'create')
      throw new ApiError(
        409,
        'version_conflict_engine_exception',
        `[${id}]: version conflict, document already exists (current version [${existing._version}])`,
      )
    const doc: StoredDoc = { _id: id, _index: index.name, _source: source, _seq_no: index.seqNo++, _version: (existing?._version ?? 0) + 1 }
    index.docs.set(id, doc)
    index.pending.push({ at: Date.now(), id, doc })
    return { result: existing === undefined ? 'created' : 'updated', doc }
  }

  /** Deletes a document (searchable until the next refresh, as in OpenSearch). */
  deleteDoc(index: IndexState, id: string): boolean {
    const blocked = writeBlock(index)
    if (blocked !== undefined) throw blocked
    if (!index.docs.delete(id)) return false
    index.pending.push({ at: Date.now(), id, doc: undefined })
    return true
  }

  /**
   * `POST <alias>/_rollover[/<new>]` on an index alias, as OpenSearch 2.19 answers it: the alias needs a
   * write index (or exactly one index), the new index must not get the alias from a template as well,
   * and the name increments a trailing `-NNNNNN`.
   */
  rollover(alias: string, newName?: string): { old_index: string; new_index: string } {
    const entry = this.aliases.get(alias)
    if (entry === undefined) throw new ApiError(404, 'index_not_found_exception', `no such index [${alias}]`)
    const writers = [...entry].filter(([, p]) => p.is_write_index === true).map(([i]) => i)
    const old = writers[0] ?? (entry.size === 1 ? [...entry.keys()][0]! : undefined)
    if (old === undefined)
      throw new ApiError(400, 'illegal_argument_exception', `rollover target [${alias}] does not point to a write index`)
    let name = newName
    if (name === undefined) {
      const m = /^(.*-)(\d+)$/.exec(old)
      if (m === null) throw new ApiError(400, 'illegal_argument_exception', `index name [${old}] does not match pattern '^.*-\\d+$'`)
      name = `${m[1]}${String(Number(m[2]) + 1).padStart(6, '0')}`
    }
    for (const [tname, t] of this.templates) {
      const patterns = (t.index_patterns as string[] | undefined) ?? []
      const aliases = ((t.template as Json | undefined)?.aliases ?? {}) as Json
      if (this.templateFor(name) === t && patterns.some((p) => matchesPattern(name!, p)) && Object.hasOwn(aliases, alias))
        throw new ApiError(
          400,
          'illegal_argument_exception',
          `Rollover alias [${alias}] can point to multiple indices, found duplicated alias [[${alias}]] in index template [${tname}]`,
        )
    }
    this.createIndex(name)
    if (writers.length > 0) {
      entry.set(old, { is_write_index: false })
      this.addAlias(alias, name, { is_write_index: true })
    } else {
      entry.delete(old)
      this.addAlias(alias, name, {})
    }
    return { old_index: old, new_index: name }
  }

  /** Optimistic concurrency control: the document must exist at exactly this sequence number (primary term is always 1 here). */
  checkSeqNo(index: IndexState, id: string, seqNo: unknown, primaryTerm: unknown): void {
    const existing = index.docs.get(id)
    if (existing === undefined)
      throw new ApiError(
        409,
        'version_conflict_engine_exception',
        `[${id}]: version conflict, document does not exist (expected [${String(seqNo)}] and primary term [${String(primaryTerm)}])`,
      )
    if (Number(seqNo) !== existing._seq_no || Number(primaryTerm) !== 1)
      throw new ApiError(
        409,
        'version_conflict_engine_exception',
        `[${id}]: version conflict, required seqNo [${String(seqNo)}], primary term ` +
          `[${String(primaryTerm)}]. current document has seqNo [${existing._seq_no}] and ` +
          `primary term [1]`,
      )
  }

  nextSeqNo(): number {
    return this.seq++
  }
}
