/**
 * In-memory cluster state of the test server: indices with their documents, aliases, composable index
 * templates and ISM policies. Documents are checked against the index mapping the way a strict mapping
 * is enforced (unknown field, ip/long/date/boolean that does not parse), so a template that drifts from
 * the serializer shows up as real per-item `strict_dynamic_mapping_exception` / `mapper_parsing_exception`.
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
  docs: Map<string, StoredDoc>
  seqNo: number
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
    if (type === 'keyword' && typeof v === 'object') throw mappingError(path, 'Can\'t get text on a START_OBJECT')
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
          throw new ApiError(400, 'strict_dynamic_mapping_exception', `mapping set to strict, dynamic introduction of [${key}] within [${prefix || '_doc'}] is not allowed`)
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
    }
    this.indices.set(name, index)
    const aliases = { ...((template.aliases as Json) ?? {}), ...((body.aliases as Json) ?? {}) }
    for (const [alias, props] of Object.entries(aliases)) this.addAlias(alias, name, (props ?? {}) as AliasEntry)
    return index
  }

  addAlias(alias: string, index: string, props: AliasEntry): void {
    if (this.indices.has(alias)) throw new ApiError(400, 'invalid_alias_name_exception', `an index exists with the same name as the alias [${alias}]`)
    const entry = this.aliases.get(alias) ?? new Map<string, AliasEntry>()
    if (props.is_write_index === true) {
      for (const [other, p] of entry) if (other !== index && p.is_write_index === true) {
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
        throw new ApiError(400, 'illegal_argument_exception', `no write index is defined for alias [${target}]. The write index may be explicitly disabled using is_write_index=false or the alias points to multiple indices without one being designated as a write index`)
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
    checkMapping(index.mappings, source)
    const existing = index.docs.get(id)
    if (existing !== undefined && op === 'create')
      throw new ApiError(409, 'version_conflict_engine_exception', `[${id}]: version conflict, document already exists (current version [${existing._version}])`)
    const doc: StoredDoc = { _id: id, _index: index.name, _source: source, _seq_no: index.seqNo++, _version: (existing?._version ?? 0) + 1 }
    index.docs.set(id, doc)
    return { result: existing === undefined ? 'created' : 'updated', doc }
  }

  /** Optimistic concurrency control: the document must exist at exactly this sequence number (primary term is always 1 here). */
  checkSeqNo(index: IndexState, id: string, seqNo: unknown, primaryTerm: unknown): void {
    const existing = index.docs.get(id)
    if (existing === undefined)
      throw new ApiError(409, 'version_conflict_engine_exception', `[${id}]: version conflict, document does not exist (expected [${String(seqNo)}] and primary term [${String(primaryTerm)}])`)
    if (Number(seqNo) !== existing._seq_no || Number(primaryTerm) !== 1)
      throw new ApiError(409, 'version_conflict_engine_exception', `[${id}]: version conflict, required seqNo [${String(seqNo)}], primary term [${String(primaryTerm)}]. current document has seqNo [${existing._seq_no}] and primary term [1]`)
  }

  nextSeqNo(): number {
    return this.seq++
  }
}
