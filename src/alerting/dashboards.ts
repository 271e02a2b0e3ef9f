/**
 * Imports the OpenSearch Dashboards saved objects (dashboards/envoy-audit.ndjson) through
 * `POST api/saved_objects/_import?overwrite=true`: a multipart upload whose file part must end in
 * `.ndjson`, with the `osd-xsrf: true` header (the older `kbn-xsrf` is refused). overwrite=true makes
 * the import idempotent: objects keep their ids and are replaced in place.
 */
import { packageFile } from '../package-root.js'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { EnvoyAuditError } from '../errors.js'

export interface ImportDashboardsOptions {
  /** NDJSON file; default: dashboards/envoy-audit.ndjson of this package. */
  file?: string
  /** Basic auth (security plugin). The password is sent, never logged or put in messages. */
  auth?: { username: string; password: string }
  /** PEM CA for a private CA. */
  ca?: string | Buffer
  /** TLS verification stays on unless explicitly turned off. */
  rejectUnauthorized?: boolean
  /** Security plugin tenant to import into (sent as `securitytenant`); default: the user's default. */
  tenant?: string
  timeoutMs?: number
  /** Attempts while Dashboards is starting (connection refused, 502, 503); default 5. */
  maxAttempts?: number
  retryDelayMs?: number
}

export interface ImportDashboardsResult {
  successCount: number
  /** type/id of every imported object. */
  imported: string[]
}

interface ImportResponse {
  success?: boolean
  successCount?: number
  successResults?: Array<{ type: string; id: string }>
  errors?: Array<{ type: string; id: string; error?: { type?: string; message?: string } }>
}

export function defaultDashboardsFile(): string {
  return packageFile('dashboards/envoy-audit.ndjson')
}

/** Builds the multipart/form-data body with one `file` part (RFC 7578). */
export function multipartBody(fileName: string, content: Buffer): { body: Buffer; contentType: string } {
  const boundary = `----envoy-audit-${randomBytes(12).toString('hex')}`
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${fileName.replace(/["\r\n]/g, '_')}"\r\n` +
      'Content-Type: application/ndjson\r\n\r\n',
  )
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`)
  return { body: Buffer.concat([head, content, tail]), contentType: `multipart/form-data; boundary=${boundary}` }
}

function request(
  url: URL,
  body: Buffer,
  headers: Record<string, string>,
  opts: ImportDashboardsOptions,
): Promise<{ status: number; text: string }> {
  const isHttps = url.protocol === 'https:'
  const mod = isHttps ? https : http
  const tls = isHttps ? { rejectUnauthorized: opts.rejectUnauthorized ?? true, ...(opts.ca !== undefined ? { ca: opts.ca } : {}) } : {}
  return new Promise((resolve, reject) => {
    const req = mod.request(url, { method: 'POST', headers, timeout: opts.timeoutMs ?? 30_000, ...tls }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error('timed out')))
    req.on('error', reject)
    req.end(body)
  })
}

/**
 * Imports the saved objects into the Dashboards at `url` (e.g. https://dashboards:5601). Retries
 * while Dashboards is still starting; throws EnvoyAuditError with the per-object errors otherwise.
 */
export async function importDashboards(url: string, opts: ImportDashboardsOptions = {}): Promise<ImportDashboardsResult> {
  const file = opts.file ?? defaultDashboardsFile()
  const content = readFileSync(file)
  const { body, contentType } = multipartBody(path.basename(file).endsWith('.ndjson') ? path.basename(file) : 'export.ndjson', content)
  const target = new URL('api/saved_objects/_import', url.endsWith('/') ? url : `${url}/`)
  target.searchParams.set('overwrite', 'true')
  const headers: Record<string, string> = {
    'osd-xsrf': 'true',
    'content-type': contentType,
    'content-length': String(body.length),
  }
  if (opts.auth !== undefined)
    headers.authorization = `Basic ${Buffer.from(`${opts.auth.username}:${opts.auth.password}`).toString('base64')}`
  if (opts.tenant !== undefined) headers.securitytenant = opts.tenant

  const attempts = opts.maxAttempts ?? 5
  let lastError = ''
  for (let attempt = 1; attempt <= attempts; attempt++) {
    let res: { status: number; text: string }
    try {
      res = await request(target, body, headers, opts)
    } catch (err) {
      lastError = (err as Error).message
      if (attempt < attempts) await sleep((opts.retryDelayMs ?? 2_000) * attempt)
      continue
    }
    if (res.status === 502 || res.status === 503) {
      lastError = `HTTP ${res.status}`
      if (attempt < attempts) await sleep((opts.retryDelayMs ?? 2_000) * attempt)
      continue
    }
    if (res.status === 401 || res.status === 403) {
      throw new EnvoyAuditError('EA_SINK_AUTH', `dashboards import refused (HTTP ${res.status}): check the user and its tenant permissions`)
    }
    let parsed: ImportResponse
    try {
      parsed = JSON.parse(res.text) as ImportResponse
    } catch {
      throw new EnvoyAuditError('EA_SINK_MAPPING', `dashboards import: HTTP ${res.status} with a non-JSON body`)
    }
    if (res.status !== 200 || parsed.success !== true) {
      const errs = (parsed.errors ?? []).map((e) => `${e.type}/${e.id}: ${e.error?.type ?? ''} ${e.error?.message ?? ''}`.trim())
      const msg = errs.length > 0 ? errs.slice(0, 10).join('; ') : res.text.slice(0, 500)
      throw new EnvoyAuditError('EA_SINK_MAPPING', `dashboards import failed (HTTP ${res.status}): ${msg}`)
    }
    return {
      successCount: parsed.successCount ?? 0,
      imported: (parsed.successResults ?? []).map((r) => `${r.type}/${r.id}`),
    }
  }
  throw new EnvoyAuditError('EA_SINK_UNAVAILABLE', `dashboards at ${target.origin} unreachable after ${attempts} attempts: ${lastError}`)
}
