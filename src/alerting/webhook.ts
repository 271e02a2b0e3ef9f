/**
 * Webhook alert output: one JSON POST per alert, retried with capped, fully jittered exponential
 * backoff on network errors, timeouts, 408, 429 and 5xx; any other status is permanent. The dedupe
 * key travels as the Idempotency-Key header (and in the body) so receivers can drop repeats caused
 * by retries, replays or several consumer replicas.
 */
import { readFileSync } from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import { setTimeout as sleep } from 'node:timers/promises'
import { EnvoyAuditError } from '../errors.js'
import type { WebhookConfig } from './config.js'
import type { Alert } from './select.js'
import type { AlertOutput, DeliveryReport } from './output.js'

export interface WebhookOptions {
  /** Environment to read the bearer token from (tests pass their own). */
  env?: NodeJS.ProcessEnv
  /** Random source for jitter, injectable so tests are deterministic. */
  random?: () => number
}

interface Attempt {
  ok: boolean
  retryable: boolean
  status?: number
  retryAfterMs?: number
  error?: string
}

/** Full jitter (AWS architecture blog "Exponential Backoff and Jitter"): spreads retry storms. */
export function backoffDelay(attempt: number, initialMs: number, maxMs: number, random: () => number): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30))
  return Math.floor(random() * ceiling)
}

function retryAfter(header: string | string[] | undefined, maxMs: number): number | undefined {
  const v = Array.isArray(header) ? header[0] : header
  if (v === undefined) return undefined
  const secs = Number(v)
  if (Number.isFinite(secs) && secs >= 0) return Math.min(maxMs, secs * 1000)
  const at = Date.parse(v)
  return Number.isFinite(at) ? Math.min(maxMs, Math.max(0, at - Date.now())) : undefined
}

export class WebhookOutput implements AlertOutput {
  readonly name = 'webhook'
  private readonly url: URL
  private readonly agent: http.Agent
  private readonly headers: Record<string, string>
  private readonly random: () => number
  private readonly abort = new AbortController()

  constructor(
    private readonly cfg: WebhookConfig,
    opts: WebhookOptions = {},
  ) {
    this.url = new URL(cfg.url)
    this.random = opts.random ?? Math.random
    const isHttps = this.url.protocol === 'https:'
    const ca = cfg.tls.caFile !== undefined ? readFileSync(cfg.tls.caFile) : undefined
    this.agent = isHttps
      ? new https.Agent({
          keepAlive: true,
          maxSockets: cfg.concurrency,
          rejectUnauthorized: cfg.tls.rejectUnauthorized,
          ...(ca ? { ca } : {}),
        })
      : new http.Agent({ keepAlive: true, maxSockets: cfg.concurrency })
    const headers: Record<string, string> = Object.assign(Object.create(null) as Record<string, string>, cfg.headers)
    headers['content-type'] = 'application/json'
    headers['user-agent'] = 'envoy-audit-alerts'
    if (cfg.bearerTokenEnv !== undefined) {
      const token = (opts.env ?? process.env)[cfg.bearerTokenEnv]
      if (token === undefined || token === '') {
        // Name the variable, never a value.
        throw new EnvoyAuditError(
          'EA_CONFIG_INVALID',
          `alerting.webhook.bearerTokenEnv: environment variable ${cfg.bearerTokenEnv} is not set`,
        )
      }
      headers.authorization = `Bearer ${token}`
    }
    this.headers = headers
  }

  async start(): Promise<void> {}

  async close(): Promise<void> {
    if (this.abort.signal.aborted) return
    this.abort.abort()
    this.agent.destroy()
  }

  /** Delivers each alert (bounded concurrency); never rejects: failures are reported per alert. */
  async send(alerts: readonly Alert[]): Promise<DeliveryReport> {
    const report: DeliveryReport = { delivered: 0, failed: 0, attempts: 0, lastError: undefined }
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < alerts.length) {
        const alert = alerts[next++]
        if (alert === undefined) break
        const r = await this.deliver(alert, report)
        if (r.ok) report.delivered++
        else {
          report.failed++
          report.lastError = r.error ?? (r.status !== undefined ? `HTTP ${r.status}` : 'failed')
        }
      }
    }
    await Promise.all(Array.from({ length: Math.min(this.cfg.concurrency, alerts.length) }, worker))
    return report
  }

  private async deliver(alert: Alert, report: DeliveryReport): Promise<Attempt> {
    const body = Buffer.from(JSON.stringify(alert))
    let last: Attempt = { ok: false, retryable: false, error: 'not attempted' }
    for (let attempt = 0; attempt < this.cfg.maxAttempts; attempt++) {
      if (this.abort.signal.aborted) return { ok: false, retryable: false, error: 'closed' }
      report.attempts++
      last = await this.post(body, alert.dedupe_key)
      if (last.ok || !last.retryable || attempt + 1 >= this.cfg.maxAttempts) return last
      const wait = last.retryAfterMs ?? backoffDelay(attempt, this.cfg.backoff.initialMs, this.cfg.backoff.maxMs, this.random)
      try {
        await sleep(wait, undefined, { signal: this.abort.signal })
      } catch {
        return { ok: false, retryable: false, error: 'closed' }
      }
    }
    return last
  }

  private post(body: Buffer, key: string): Promise<Attempt> {
    const mod = this.url.protocol === 'https:' ? https : http
    return new Promise((resolve) => {
      const req = mod.request(
        this.url,
        {
          method: 'POST',
          agent: this.agent,
          timeout: this.cfg.timeoutMs,
          headers: { ...this.headers, 'content-length': String(body.length), 'idempotency-key': key },
          signal: this.abort.signal,
        },
        (res) => {
          res.resume() // the body is not needed; drain it so the socket is reused
          res.on('end', () => {
            const status = res.statusCode ?? 0
            if (status >= 200 && status < 300) return resolve({ ok: true, retryable: false, status })
            const retryable = status === 408 || status === 429 || status >= 500
            const ra = retryable ? retryAfter(res.headers['retry-after'], this.cfg.backoff.maxMs) : undefined
            resolve({ ok: false, retryable, status, ...(ra !== undefined ? { retryAfterMs: ra } : {}) })
          })
          res.on('error', (err) => resolve({ ok: false, retryable: true, error: err.message }))
        },
      )
      req.on('timeout', () => req.destroy(new Error(`timed out after ${this.cfg.timeoutMs} ms`)))
      // Connection errors carry host and port only: the URL's credentials, if any, are not in err.message.
      req.on('error', (err) => resolve({ ok: false, retryable: !this.abort.signal.aborted, error: err.message }))
      req.end(body)
    })
  }
}
