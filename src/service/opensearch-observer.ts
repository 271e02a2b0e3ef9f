/**
 * Watches the OpenSearch sink's client (its 'request' and 'response' events) for the service: how long
 * each request took (a histogram by operation), whether the cluster answers (for /readyz), and the
 * bulk items it refused (a counter by status, and one summary log line per interval instead of one
 * per item). Everything is read from the events, so the sink's retry loop is left as it is.
 *
 * An answer is a response that says the cluster takes requests: any 2xx, a 404 to an existence check,
 * or a 4xx other than 408/429 to anything but a bulk request (a ping answered 401/403 still answers).
 * No response (refused, reset, timed out), 5xx, 408, 429, and any non-2xx to a bulk request (the sink
 * retries those as an outage) are failures. The outage starts at the earliest failed or unanswered
 * request since the last answer; a request still open after `answerWindowMs` counts as unanswered.
 */
import type { Client } from '@opensearch-project/opensearch'
import { Counter, Histogram, type Registry } from 'prom-client'
import { LATENCY_BUCKETS } from './metrics.js'
import type { ComponentHealth } from './readiness.js'

interface ResponseMeta {
  statusCode?: number | null
  body?: unknown
  meta?: { request?: { id?: unknown; params?: { method?: string; path?: string } } }
}

export interface ObserverLogger {
  warn(obj: object, msg: string): void
}

export interface OpenSearchObserverOptions {
  registry: Registry
  logger?: ObserverLogger
  /** A request open longer than this is unanswered (and the idle probe's timeout). */
  answerWindowMs: number
  /** Item failures are summed up in one log line per interval. */
  summaryIntervalMs?: number
  now?: () => number
}

/** The operation a request path stands for, as a label with few values. */
export function operationOf(method: string, path: string): string {
  if (/\/_bulk(\?|$)/.test(path)) return 'bulk'
  if (/\/_mget(\?|$)/.test(path)) return 'mget'
  if (path.startsWith('/_index_template')) return 'template'
  if ((method === 'HEAD' || method === 'GET') && (path === '/' || path === '')) return 'ping'
  return 'other'
}

function failureOf(operation: string, method: string, err: unknown, res: ResponseMeta): string | undefined {
  const status = res.statusCode ?? undefined
  if (status === undefined || status === null) return err instanceof Error ? `${err.name}: ${err.message}` : 'no response'
  if (status >= 200 && status < 300) return undefined
  if (status === 404 && method === 'HEAD') return undefined
  if (status >= 500 || status === 408 || status === 429 || operation === 'bulk') {
    const e = (res.body as { error?: { type?: string; reason?: string } | string } | undefined)?.error
    const detail = typeof e === 'string' ? e : e?.type !== undefined ? `${e.type}: ${e.reason ?? ''}` : ''
    return `HTTP ${status}${detail !== '' ? ` ${detail}` : ''}`.slice(0, 300)
  }
  return undefined
}

export class OpenSearchObserver {
  private readonly now: () => number
  private readonly open = new Map<unknown, { at: number; operation: string; method: string; path: string }>()
  private lastAnswerAt: number | undefined
  private failingSince: number | undefined
  private lastFailure: string | undefined
  private readonly seconds: Histogram<'operation' | 'outcome'>
  private readonly itemErrors: Counter<'status'>
  private window = new Map<string, number>()
  private windowRequests = 0
  private summaryTimer: NodeJS.Timeout | undefined
  private probing: Promise<unknown> | undefined
  private client: Client | undefined

  constructor(private readonly o: OpenSearchObserverOptions) {
    this.now = o.now ?? Date.now
    this.seconds = new Histogram({
      name: 'envoy_audit_opensearch_request_duration_seconds',
      help: 'OpenSearch request latency seen by the sink, by operation (bulk, mget, template, ping, other) and outcome (answered, failed).',
      labelNames: ['operation', 'outcome'],
      buckets: LATENCY_BUCKETS,
      registers: [o.registry],
    })
    this.itemErrors = new Counter({
      name: 'envoy_audit_opensearch_bulk_item_errors_total',
      help:
        'Bulk items OpenSearch did not index, by HTTP status (429 and 5xx are retried; 409 on ' +
        'create is a replay and not counted; other 4xx are dead-lettered).',
      labelNames: ['status'],
      registers: [o.registry],
    })
  }

  attach(client: Client): void {
    this.client = client
    client.on('request', (_err: unknown, res: ResponseMeta) => {
      const id = res.meta?.request?.id
      if (id === undefined || this.open.has(id)) return
      const method = res.meta?.request?.params?.method ?? 'GET'
      const path = res.meta?.request?.params?.path ?? '/'
      this.open.set(id, { at: this.now(), operation: operationOf(method, path), method, path })
    })
    client.on('response', (err: unknown, res: ResponseMeta) => {
      const id = res.meta?.request?.id
      const req = this.open.get(id)
      if (req === undefined) return
      this.open.delete(id)
      const now = this.now()
      const failure = failureOf(req.operation, req.method, err, res)
      this.seconds.observe({ operation: req.operation, outcome: failure === undefined ? 'answered' : 'failed' }, (now - req.at) / 1000)
      if (failure === undefined) {
        this.lastAnswerAt = now
        this.failingSince = undefined
      } else {
        this.failingSince = Math.min(this.failingSince ?? req.at, req.at)
        this.lastFailure = `${req.method} ${req.path}: ${failure}`
      }
      if (req.operation === 'bulk' && failure === undefined) this.countItems(res.body)
    })
    const every = this.o.summaryIntervalMs ?? 10_000
    this.summaryTimer = setInterval(() => this.summarize(every), every)
    this.summaryTimer.unref()
  }

  private countItems(body: unknown): void {
    const b = body as { errors?: boolean; items?: Record<string, { status?: number }>[] } | undefined
    if (b?.errors !== true || !Array.isArray(b.items)) return
    this.windowRequests++
    for (const entry of b.items) {
      const action = Object.keys(entry)[0] ?? ''
      const status = Number(entry[action]?.status ?? 0)
      if ((status >= 200 && status < 300) || (status === 409 && action === 'create')) continue
      const key = String(status)
      this.itemErrors.inc({ status: key })
      this.window.set(key, (this.window.get(key) ?? 0) + 1)
    }
  }

  /** One line for every interval in which items failed: counts by status, never one line per item. */
  summarize(intervalMs: number): void {
    if (this.window.size === 0) return
    const items = Object.fromEntries([...this.window].sort((a, b) => b[1] - a[1]))
    const retried = [...this.window].filter(([s]) => s === '429' || Number(s) >= 500 || s === '0').reduce((n, [, c]) => n + c, 0)
    this.o.logger?.warn(
      { items, retried, requests: this.windowRequests, intervalSeconds: intervalMs / 1000 },
      `opensearch bulk items not indexed in the last ${intervalMs / 1000} s: ${retried} to retry (429/5xx), ` +
        `${Object.values(items).reduce((a, b) => a + b, 0) - retried} refused`,
    )
    this.window = new Map()
    this.windowRequests = 0
  }

  /** Sends a ping when nothing has answered within `idleMs` and nothing is open: an idle sink still shows an outage. */
  probeIfIdle(idleMs: number): void {
    const client = this.client
    if (client === undefined || this.probing !== undefined || this.open.size > 0) return
    if (this.lastAnswerAt !== undefined && this.failingSince === undefined && this.now() - this.lastAnswerAt < idleMs) return
    this.probing = client
      .ping({}, { requestTimeout: this.o.answerWindowMs, maxRetries: 0 })
      .catch(() => undefined)
      .finally(() => (this.probing = undefined))
  }

  health(): ComponentHealth {
    const now = this.now()
    let since = this.failingSince
    let reason = this.lastFailure
    for (const r of this.open.values()) {
      if (now - r.at > this.o.answerWindowMs && (since === undefined || r.at < since)) {
        since = r.at
        reason = `${r.method} ${r.path}: no answer for ${Math.round((now - r.at) / 1000)} s`
      }
    }
    if (since !== undefined) return { ok: false, since, reason: `opensearch: ${reason ?? 'failing'}` }
    if (this.lastAnswerAt === undefined)
      return { ok: false, reason: this.client === undefined ? 'opensearch: not started' : 'opensearch: no answer yet' }
    return { ok: true, detail: `last answer ${Math.round((now - this.lastAnswerAt) / 1000)} s ago` }
  }

  close(): void {
    clearInterval(this.summaryTimer)
    this.summarize(this.o.summaryIntervalMs ?? 10_000)
  }
}
