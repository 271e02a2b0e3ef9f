/**
 * A small HTTP test double for the two plugin APIs the alerting code calls, beside the OpenSearch test
 * server (test/support/opensearch-server, which does not answer them):
 *  - OpenSearch Alerting: POST /_plugins/_alerting/monitors, PUT/GET /_plugins/_alerting/monitors/<id>,
 *    POST /_plugins/_alerting/monitors/_search. Like the real plugin, _search is a 404
 *    (index_not_found_exception) until the first monitor exists, and the stored monitor is rewritten
 *    (enabled_time, schema_version, last_update_time added; range gte/lte turned into from/to).
 *  - OpenSearch Dashboards: POST /api/saved_objects/_import (multipart `file` part ending in .ndjson,
 *    `osd-xsrf` header required, `overwrite` query option, missing references reported per object).
 *  - OpenSearch Security Analytics: log types, field mappings, rules, detectors and correlation rules
 *    (security-analytics-api.ts), and `GET /_cat/plugins` listing the plugins the double stands for.
 * In-memory state, nothing else implemented.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { createSecurityAnalytics, replyWith, type SecurityAnalyticsState } from './security-analytics-api.js'

export interface StoredMonitor {
  id: string
  version: number
  monitor: Record<string, unknown>
}

export interface SavedObject {
  type: string
  id: string
  attributes: Record<string, unknown>
  references: Array<{ type: string; id: string; name: string }>
}

export interface SiemRequest {
  method: string
  path: string
  query: URLSearchParams
  headers: http.IncomingHttpHeaders
  body: Buffer
}

export interface SiemPluginsServer {
  url: string
  monitors: Map<string, StoredMonitor>
  savedObjects: Map<string, SavedObject>
  requests: SiemRequest[]
  securityAnalytics: SecurityAnalyticsState
  /** The next n requests matching the path prefix answer with this status. */
  failNext(pathPrefix: string, status: number, n?: number): void
  close(): Promise<void>
}

/** The server rewrites ranges as the alerting plugin does, so clients cannot rely on body equality. */
function normalize(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normalize)
  if (value === null || typeof value !== 'object') return value
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) {
    if (k === 'range' && v !== null && typeof v === 'object') {
      const r: Record<string, unknown> = {}
      for (const [field, spec] of Object.entries(v as Record<string, Record<string, unknown>>)) {
        const { gte, lte, ...rest } = spec
        r[field] = { from: gte, to: lte, include_lower: true, include_upper: true, ...rest }
      }
      out[k] = r
    } else out[k] = normalize(v)
  }
  return out
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

/** Extracts the parts of a multipart/form-data body: name, filename, content. */
export function parseMultipart(body: Buffer, contentType: string | undefined): Array<{ name: string; filename?: string; content: Buffer }> {
  const m = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType ?? '')
  if (m === null) return []
  const boundary = Buffer.from(`--${m[1] ?? m[2]}`)
  const parts: Array<{ name: string; filename?: string; content: Buffer }> = []
  let pos = body.indexOf(boundary)
  while (pos !== -1) {
    const start = pos + boundary.length
    if (body.subarray(start, start + 2).toString() === '--') break
    const headerEnd = body.indexOf('\r\n\r\n', start)
    const next = body.indexOf(boundary, headerEnd)
    if (headerEnd === -1 || next === -1) break
    const headers = body.subarray(start + 2, headerEnd).toString('utf8')
    const name = /name="([^"]*)"/.exec(headers)?.[1] ?? ''
    const filename = /filename="([^"]*)"/.exec(headers)?.[1]
    parts.push({ name, ...(filename !== undefined ? { filename } : {}), content: body.subarray(headerEnd + 4, next - 2) })
    pos = next
  }
  return parts
}

export interface SiemPluginsOptions {
  auth?: { username: string; password: string }
  /** Components `_cat/plugins` lists (default: alerting, notifications, security-analytics). */
  plugins?: string[]
  /** The cluster's concrete indices, which Security Analytics' mappings API applies to (default: none). */
  indices?: () => string[]
}

export async function startSiemPluginsServer(opts: SiemPluginsOptions = {}): Promise<SiemPluginsServer> {
  const sa = createSecurityAnalytics(opts.indices ?? (() => []))
  const plugins = opts.plugins ?? ['opensearch-alerting', 'opensearch-notifications', 'opensearch-security-analytics']
  const monitors = new Map<string, StoredMonitor>()
  const savedObjects = new Map<string, SavedObject>()
  const requests: SiemRequest[] = []
  const faults: Array<{ prefix: string; status: number; left: number }> = []
  let nextId = 1

  const handle = (req: SiemRequest, res: http.ServerResponse): void => {
    const fault = faults.find((f) => req.path.startsWith(f.prefix) && f.left > 0)
    if (fault !== undefined) {
      fault.left--
      return json(res, fault.status, { error: { type: 'injected', reason: `injected ${fault.status}` }, status: fault.status })
    }
    if (opts.auth !== undefined) {
      const expected = `Basic ${Buffer.from(`${opts.auth.username}:${opts.auth.password}`).toString('base64')}`
      if (req.headers.authorization !== expected)
        return json(res, 401, { statusCode: 401, error: 'Unauthorized', message: 'Authentication required' })
    }
    const parts = req.path.split('/').filter((p) => p !== '')
    if (parts[0] === '_plugins' && parts[1] === '_alerting' && parts[2] === 'monitors') return alerting(req, parts[3], res)
    if (parts[0] === '_plugins' && parts[1] === '_security_analytics') return replyWith(res, sa.handle(req, parts.slice(2)))
    if (req.path === '/_cat/plugins' && req.method === 'GET')
      return json(
        res,
        200,
        plugins.map((component) => ({ name: 'siem-double', component, version: '2.19.4.0' })),
      )
    if (req.path === '/api/saved_objects/_import' && req.method === 'POST') return importObjects(req, res)
    json(res, 404, { error: { type: 'not_implemented', reason: `${req.method} ${req.path}` } })
  }

  const alerting = (req: SiemRequest, sub: string | undefined, res: http.ServerResponse): void => {
    const body = req.body.length > 0 ? (JSON.parse(req.body.toString('utf8')) as Record<string, unknown>) : {}
    if (sub === '_search') {
      if (monitors.size === 0)
        return json(res, 404, {
          error: { type: 'index_not_found_exception', reason: 'no such index [.opendistro-alerting-config]' },
          status: 404,
        })
      const phrase = (body as { query?: { bool?: { must?: Array<{ match_phrase?: Record<string, string> }> } } }).query?.bool?.must?.[0]
        ?.match_phrase?.['monitor.name']
      // match_phrase on an analyzed field: a name containing the phrase matches too.
      const hits = [...monitors.values()]
        .filter((m) => phrase === undefined || String(m.monitor.name).toLowerCase().includes(phrase.toLowerCase()))
        .map((m) => ({ _index: '.opendistro-alerting-config', _id: m.id, _version: m.version, _score: 1, _source: m.monitor }))
      return json(res, 200, { took: 1, timed_out: false, hits: { total: { value: hits.length, relation: 'eq' }, max_score: 1, hits } })
    }
    const invalid = (): string | undefined => {
      if (body.type !== 'monitor' || typeof body.name !== 'string' || !Array.isArray(body.inputs) || !Array.isArray(body.triggers))
        return 'monitor needs type, name, inputs, triggers'
      if (!['query_level_monitor', 'bucket_level_monitor', 'doc_level_monitor'].includes(String(body.monitor_type)))
        return 'unknown monitor_type'
      return undefined
    }
    const store = (id: string, version: number): StoredMonitor => {
      const monitor = normalize(body) as Record<string, unknown>
      monitor.schema_version = 5
      monitor.enabled_time = body.enabled === false ? null : Date.now()
      monitor.last_update_time = Date.now()
      const m = { id, version, monitor }
      monitors.set(id, m)
      return m
    }
    if (sub === undefined && req.method === 'POST') {
      const err = invalid()
      if (err !== undefined) return json(res, 400, { error: { type: 'illegal_argument_exception', reason: err }, status: 400 })
      const m = store(`mon-${nextId++}`, 1)
      return json(res, 201, { _id: m.id, _version: 1, _seq_no: nextId, _primary_term: 1, monitor: m.monitor })
    }
    if (sub !== undefined && req.method === 'PUT') {
      const existing = monitors.get(sub)
      if (existing === undefined) return json(res, 404, { error: { type: 'status_exception', reason: 'Monitor not found.' }, status: 404 })
      const err = invalid()
      if (err !== undefined) return json(res, 400, { error: { type: 'illegal_argument_exception', reason: err }, status: 400 })
      const m = store(sub, existing.version + 1)
      return json(res, 200, { _id: m.id, _version: m.version, _seq_no: nextId++, _primary_term: 1, monitor: m.monitor })
    }
    if (sub !== undefined && req.method === 'GET') {
      const m = monitors.get(sub)
      if (m === undefined) return json(res, 404, { error: { type: 'status_exception', reason: 'Monitor not found.' }, status: 404 })
      return json(res, 200, { _id: m.id, _version: m.version, monitor: m.monitor })
    }
    json(res, 405, { error: { type: 'method_not_allowed' } })
  }

  const importObjects = (req: SiemRequest, res: http.ServerResponse): void => {
    if (req.headers['osd-xsrf'] === undefined) {
      return json(res, 400, { statusCode: 400, error: 'Bad Request', message: 'Request must contain a osd-xsrf header.' })
    }
    const overwrite = req.query.get('overwrite') === 'true'
    if (overwrite && req.query.get('createNewCopies') === 'true') {
      return json(res, 400, { statusCode: 400, error: 'Bad Request', message: 'cannot use [overwrite] with [createNewCopies]' })
    }
    const file = parseMultipart(req.body, req.headers['content-type']).find((p) => p.name === 'file')
    if (file === undefined)
      return json(res, 400, { statusCode: 400, error: 'Bad Request', message: '[request body.file]: expected value of type [Stream]' })
    if (!(file.filename ?? '').endsWith('.ndjson'))
      return json(res, 415, { statusCode: 415, error: 'Unsupported Media Type', message: 'Invalid file extension' })
    const objects: SavedObject[] = []
    for (const line of file.content.toString('utf8').split('\n')) {
      if (line.trim() === '') continue
      const o = JSON.parse(line) as SavedObject & { exportedCount?: number }
      if (o.exportedCount !== undefined) continue // the export summary line is skipped on import
      objects.push(o)
    }
    const inFile = new Set(objects.map((o) => `${o.type}:${o.id}`))
    const errors: unknown[] = []
    const successResults: Array<{ type: string; id: string }> = []
    for (const o of objects) {
      const key = `${o.type}:${o.id}`
      const missing = (o.references ?? []).filter((r) => !inFile.has(`${r.type}:${r.id}`) && !savedObjects.has(`${r.type}:${r.id}`))
      if (missing.length > 0) {
        errors.push({
          type: o.type,
          id: o.id,
          error: { type: 'missing_references', references: missing.map(({ type, id }) => ({ type, id })) },
        })
        continue
      }
      if (savedObjects.has(key) && !overwrite) {
        errors.push({ type: o.type, id: o.id, error: { type: 'conflict' } })
        continue
      }
      savedObjects.set(key, o)
      successResults.push({ type: o.type, id: o.id, ...(overwrite ? { overwrite: true } : {}) })
    }
    json(res, 200, {
      success: errors.length === 0,
      successCount: successResults.length,
      successResults,
      ...(errors.length > 0 ? { errors } : {}),
    })
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://localhost')
      const r: SiemRequest = {
        method: req.method ?? 'GET',
        path: url.pathname,
        query: url.searchParams,
        headers: req.headers,
        body: Buffer.concat(chunks),
      }
      requests.push(r)
      try {
        handle(r, res)
      } catch (err) {
        json(res, 400, { error: { type: 'parse_exception', reason: (err as Error).message }, status: 400 })
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}`,
    monitors,
    savedObjects,
    requests,
    securityAnalytics: sa.state,
    failNext(prefix, status, n = 1) {
      faults.push({ prefix, status, left: n })
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
