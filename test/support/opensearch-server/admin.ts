/**
 * Management endpoints of the test server: composable index templates, ISM policies (with the
 * seq_no/primary_term concurrency control real ISM enforces; change_policy and add), indices with
 * aliases, `_alias`, `_aliases`, `_rollover`, `_settings` (with write blocks), `_refresh` (which makes
 * writes searchable: state.ts), `_cluster/health` and single-document GET and DELETE. With `ism: false`
 * the server answers as a node without the Index Management plugin: no handler for `_plugins/_ism`, and
 * its index settings are unknown settings.
 */
import { ApiError, refreshIndex, type ClusterState, type IndexState } from './state.js'
import type { Reply } from './server.js'

type Json = Record<string, unknown>

/** A request body that must be a JSON object (empty = `{}`), else the 400 OpenSearch answers. */
export function parseBody(body: Buffer): Json {
  if (body.length === 0) return {}
  try {
    const v = JSON.parse(body.toString('utf8')) as unknown
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object')
    return v as Json
  } catch {
    throw new ApiError(400, 'parse_exception', 'request body is required to be a JSON object')
  }
}

export interface AdminOptions {
  ism: boolean
}

/** The 400 a node without the plugin gives for an ISM setting (in an index, a template or a settings update). */
function checkSettings(settings: unknown, opts: AdminOptions, prefix = ''): void {
  if (opts.ism || settings === null || typeof settings !== 'object') return
  for (const [k, v] of Object.entries(settings as Json)) {
    const key = prefix === '' ? k : `${prefix}.${k}`
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) checkSettings(v, opts, key)
    else if (/(^|\.)(plugins|opendistro)\.index_state_management\./.test(key)) {
      const full = key.startsWith('index.') ? key : `index.${key}`
      throw new ApiError(
        400,
        'illegal_argument_exception',
        `unknown setting [${full}] please check that any required plugins are installed, ` +
          `or check the breaking changes documentation for removed settings`,
      )
    }
  }
}

/** `GET|PUT <index>/_settings[/<name>]`: PUT merges (flat or nested keys); a read_only index refuses any change but lifting the block. */
function settingsApi(
  state: ClusterState,
  method: string,
  target: string,
  name: string | undefined,
  query: Record<string, string>,
  body: Buffer,
  opts: AdminOptions,
): Reply {
  const indices = state.resolve(target)
  if (method === 'GET') {
    const out: Json = {}
    for (const i of indices) {
      const flat: Json = {}
      const walk = (o: Json, p: string): void => {
        for (const [k, v] of Object.entries(o)) {
          const key = p === '' ? k : `${p}.${k}`
          if (v !== null && typeof v === 'object' && !Array.isArray(v)) walk(v as Json, key)
          else flat[key.startsWith('index.') ? key : `index.${key}`] = String(v)
        }
      }
      walk(i.settings, '')
      // OpenSearch lists the shard count of every index, set or not (one shard: this server's only kind).
      flat['index.number_of_shards'] ??= '1'
      const kept = Object.fromEntries(Object.entries(flat).filter(([k]) => name === undefined || k === name))
      if (query.flat_settings === 'true') out[i.name] = { settings: kept }
      else {
        const nested: Json = {}
        for (const [k, v] of Object.entries(kept)) {
          const parts = k.split('.')
          let cur = nested
          for (const part of parts.slice(0, -1)) cur = (cur[part] ??= {}) as Json
          cur[parts[parts.length - 1]!] = v
        }
        out[i.name] = { settings: nested }
      }
    }
    return { status: 200, body: out }
  }
  if (method !== 'PUT') throw new ApiError(405, 'method_not_allowed', `${method} not allowed`)
  const update = parseBody(body)
  checkSettings(update, opts)
  const flat: Json = {}
  const walk = (o: Json, p: string): void => {
    for (const [k, v] of Object.entries(o)) {
      const key = p === '' ? k : `${p}.${k}`
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) walk(v as Json, key)
      else flat[key.replace(/^index\./, '')] = v
    }
  }
  walk(update.settings !== undefined && typeof update.settings === 'object' ? (update.settings as Json) : update, '')
  for (const i of indices) {
    const readOnly = String(settingOf(i, 'blocks.read_only')) === 'true'
    if (readOnly && !Object.hasOwn(flat, 'blocks.read_only'))
      throw new ApiError(403, 'cluster_block_exception', `index [${i.name}] blocked by: [FORBIDDEN/5/index read-only (api)];`)
  }
  for (const i of indices) {
    for (const key of Object.keys(i.settings)) if (Object.hasOwn(flat, key.replace(/^index\./, ''))) delete i.settings[key]
    for (const [k, v] of Object.entries(flat)) if (v !== null) i.settings[`index.${k}`] = v
  }
  return { status: 200, body: { acknowledged: true } }
}

function settingOf(index: IndexState, key: string): unknown {
  return index.settings[`index.${key}`] ?? index.settings[key] ?? (index.settings.index as Json | undefined)?.[key]
}

function templates(state: ClusterState, method: string, name: string | undefined, body: Buffer, opts: AdminOptions): Reply {
  if (name === undefined) {
    if (method !== 'GET') throw new ApiError(405, 'method_not_allowed', 'only GET /_index_template')
    return { status: 200, body: { index_templates: [...state.templates].map(([n, t]) => ({ name: n, index_template: t })) } }
  }
  const existing = state.templates.get(name)
  switch (method) {
    case 'PUT':
    case 'POST': {
      const t = parseBody(body)
      if (!Array.isArray(t.index_patterns) || t.index_patterns.length === 0)
        throw new ApiError(400, 'action_request_validation_exception', 'Validation Failed: 1: index patterns are missing;')
      checkSettings((t.template as Json | undefined)?.settings, opts)
      state.templates.set(name, t)
      return { status: 200, body: { acknowledged: true } }
    }
    case 'HEAD':
      return { status: existing === undefined ? 404 : 200 }
    case 'GET':
      if (existing === undefined) throw new ApiError(404, 'resource_not_found_exception', `index template matching [${name}] not found`)
      return { status: 200, body: { index_templates: [{ name, index_template: existing }] } }
    case 'DELETE':
      if (!state.templates.delete(name)) throw new ApiError(404, 'index_template_missing_exception', `index_template [${name}] missing`)
      return { status: 200, body: { acknowledged: true } }
  }
  throw new ApiError(405, 'method_not_allowed', `${method} not allowed`)
}

/** What real ISM stores: it stamps the id, time and schema version and fills each action's retry. */
function normalisePolicy(id: string, policy: Json): Json {
  const states = ((policy.states as Json[] | undefined) ?? []).map((s) => ({
    ...s,
    actions: ((s.actions as Json[] | undefined) ?? []).map((a) => ({ retry: { count: 3, backoff: 'exponential', delay: '1m' }, ...a })),
  }))
  return { policy_id: id, last_updated_time: Date.now(), schema_version: 21, error_notification: null, ...policy, states }
}

function ism(state: ClusterState, method: string, id: string, query: Record<string, string>, body: Buffer): Reply {
  const existing = state.policies.get(id)
  const meta = (p: { seqNo: number; primaryTerm: number; version: number }) => ({
    _id: id,
    _version: p.version,
    _seq_no: p.seqNo,
    _primary_term: p.primaryTerm,
  })
  switch (method) {
    case 'PUT': {
      const policy = parseBody(body).policy as Json | undefined
      if (policy === undefined || !Array.isArray(policy.states))
        throw new ApiError(400, 'illegal_argument_exception', 'Required [policy] with [states]')
      const hasCc = query.if_seq_no !== undefined || query.if_primary_term !== undefined
      if (existing !== undefined) {
        if (!hasCc || Number(query.if_seq_no) !== existing.seqNo || Number(query.if_primary_term) !== existing.primaryTerm)
          throw new ApiError(
            409,
            'version_conflict_engine_exception',
            `[${id}]: version conflict, document already exists (current version [${existing.version}])`,
          )
      } else if (hasCc) {
        throw new ApiError(409, 'version_conflict_engine_exception', `[${id}]: version conflict, document does not exist`)
      }
      const next = { policy: normalisePolicy(id, policy), seqNo: state.nextSeqNo(), primaryTerm: 1, version: (existing?.version ?? 0) + 1 }
      state.policies.set(id, next)
      return { status: existing === undefined ? 201 : 200, body: { ...meta(next), policy: { policy: next.policy } } }
    }
    case 'GET':
    case 'HEAD':
      if (existing === undefined) {
        if (method === 'HEAD') return { status: 404 }
        throw new ApiError(404, 'status_exception', 'Policy not found')
      }
      return { status: 200, body: { ...meta(existing), policy: existing.policy } }
    case 'DELETE':
      if (!state.policies.delete(id)) throw new ApiError(404, 'status_exception', 'Policy not found')
      return { status: 200, body: { _id: id, result: 'deleted' } }
  }
  throw new ApiError(405, 'method_not_allowed', `${method} not allowed`)
}

/** `POST _plugins/_ism/change_policy|add/<index>`: which indices now follow which policy (kept per index). */
function ismAssign(state: ClusterState, kind: 'change_policy' | 'add', target: string, body: Buffer): Reply {
  const policyId = String(parseBody(body).policy_id ?? '')
  if (!state.policies.has(policyId)) throw new ApiError(404, 'resource_not_found_exception', `Could not find policy=${policyId}`)
  const failed: Json[] = []
  let updated = 0
  for (const index of state.resolve(target)) {
    const managed = state.managed.get(index.name)
    if (kind === 'change_policy' && managed === undefined)
      failed.push({ index_name: index.name, index_uuid: index.name, reason: 'This index is not being managed' })
    else if (kind === 'add' && managed !== undefined)
      failed.push({
        index_name: index.name,
        index_uuid: index.name,
        reason: 'This index already has a policy, use the update policy API to update index policies',
      })
    else {
      state.managed.set(index.name, policyId)
      updated++
    }
  }
  return { status: 200, body: { updated_indices: updated, failures: failed.length > 0, failed_indices: failed } }
}

function aliasView(state: ClusterState, name: string): Json {
  const entry = state.aliases.get(name)
  if (entry === undefined) throw new ApiError(404, 'aliases_not_found_exception', `alias [${name}] missing`)
  const out: Json = {}
  for (const [index, props] of entry) out[index] = { aliases: { [name]: props } }
  return out
}

export function handleAdmin(
  state: ClusterState,
  method: string,
  parts: string[],
  query: Record<string, string>,
  body: Buffer,
  opts: AdminOptions = { ism: true },
): Reply {
  const [first, second, third] = parts
  if (first === '_index_template') return templates(state, method, second, body, opts)
  if (first === '_plugins' && second === '_ism') {
    // A node without the plugin has no handler: 400 with a plain-string error (no type, no status field).
    if (!opts.ism) return { status: 400, body: { error: `no handler found for uri [/${parts.join('/')}] and method [${method}]` } }
    if (third === 'policies' && parts[3] !== undefined) return ism(state, method, parts[3], query, body)
    if ((third === 'change_policy' || third === 'add') && parts[4] === undefined && parts[3] !== undefined && method === 'POST')
      return ismAssign(state, third, parts[3], body)
  }
  if (first === '_cluster' && second === 'health')
    return { status: 200, body: { cluster_name: 'test', status: 'green', number_of_nodes: 1 } }
  if (first === '_refresh' || second === '_refresh') {
    const indices = first === '_refresh' ? [...state.indices.values()] : state.resolve(first!)
    for (const i of indices) refreshIndex(i)
    return { status: 200, body: { _shards: { total: indices.length, successful: indices.length, failed: 0 } } }
  }
  if (second === '_rollover' && first !== undefined && method === 'POST') {
    const r = state.rollover(first, third)
    return { status: 200, body: { acknowledged: true, shards_acknowledged: true, ...r, rolled_over: true, dry_run: false, conditions: {} } }
  }
  if (second === '_settings' && first !== undefined && !first.startsWith('_'))
    return settingsApi(state, method, first, third, query, body, opts)
  if (first === '_alias' && second !== undefined) {
    if (method === 'HEAD') return { status: state.aliases.has(second) ? 200 : 404 }
    return { status: 200, body: aliasView(state, second) }
  }
  if (first === '_aliases' && method === 'POST') {
    for (const action of (parseBody(body).actions as Json[] | undefined) ?? []) {
      const add = action.add as Json | undefined
      if (add === undefined) throw new ApiError(400, 'illegal_argument_exception', 'only add actions are implemented by the test server')
      state.addAlias(String(add.alias), String(add.index), { is_write_index: add.is_write_index === true })
    }
    return { status: 200, body: { acknowledged: true } }
  }
  if (first !== undefined && !first.startsWith('_')) {
    if (second === '_doc' && third !== undefined && method === 'DELETE') {
      const index = state.resolve(first).find((i) => i.docs.has(third))
      if (index === undefined) return { status: 404, body: { _index: first, _id: third, result: 'not_found' } }
      state.deleteDoc(index, third)
      return { status: 200, body: { _index: index.name, _id: third, result: 'deleted', _seq_no: index.seqNo++, _primary_term: 1 } }
    }
    if (second === '_doc' && third !== undefined && method === 'GET') {
      const doc = state
        .resolve(first)
        .map((i) => i.docs.get(third))
        .find((d) => d !== undefined)
      if (doc === undefined) return { status: 404, body: { _index: first, _id: third, found: false } }
      return {
        status: 200,
        body: {
          _index: doc._index,
          _id: doc._id,
          _version: doc._version,
          _seq_no: doc._seq_no,
          _primary_term: 1,
          found: true,
          _source: doc._source,
        },
      }
    }
    if (second === '_mapping' && third === undefined) {
      const index = state.indices.get(first)
      if (index === undefined) throw new ApiError(404, 'index_not_found_exception', `no such index [${first}]`)
      if (method === 'GET') return { status: 200, body: { [index.name]: { mappings: index.mappings } } }
      if (method === 'PUT' || method === 'POST') {
        // Additive only, as OpenSearch: new fields are added, a mapped field cannot change type.
        const props = (parseBody(body).properties ?? {}) as Json
        const have = (index.mappings.properties ??= {}) as Json
        for (const [k, v] of Object.entries(props)) {
          const cur = have[k] as Json | undefined
          if (cur !== undefined && JSON.stringify(cur) !== JSON.stringify(v))
            throw new ApiError(400, 'illegal_argument_exception', `mapper [${k}] cannot be changed (test server)`)
          have[k] = v
        }
        return { status: 200, body: { acknowledged: true } }
      }
    }
    if (second === undefined) {
      if (method === 'PUT') {
        const req = parseBody(body)
        checkSettings(req.settings, opts)
        state.createIndex(first, req)
        return { status: 200, body: { acknowledged: true, shards_acknowledged: true, index: first } }
      }
      if (method === 'HEAD') return { status: state.indices.has(first) || state.aliases.has(first) ? 200 : 404 }
      if (method === 'DELETE') {
        state.deleteIndex(first)
        return { status: 200, body: { acknowledged: true } }
      }
      if (method === 'GET') {
        const out: Json = {}
        for (const i of state.resolve(first)) {
          const aliases: Json = {}
          for (const [a, entry] of state.aliases) if (entry.has(i.name)) aliases[a] = entry.get(i.name)
          out[i.name] = { aliases, mappings: i.mappings, settings: { index: i.settings } }
        }
        return { status: 200, body: out }
      }
    }
  }
  throw new ApiError(
    400,
    'illegal_argument_exception',
    `no handler found for uri [/${parts.join('/')}] and method [${method}] (test server)`,
  )
}
