/**
 * The OpenSearch sink. `write(events)` resolves only when every document of every event is indexed
 * (or was already there: 409 on create) or permanently rejected; retryable failures are retried inside
 * with capped, jittered backoff, so a slow or down cluster holds the write pending and that is the
 * backpressure the source sees. Buffered operations from concurrent writes are coalesced into bulk
 * requests bounded by bytes and a flush interval, with at most `concurrency` requests in flight.
 * `client.bulk` is called directly: `helpers.bulk` retries only item-level 429 with a fixed wait and
 * aborts on any request-level error (peer-pipelines.md §5).
 */
import type { Client } from '@opensearch-project/opensearch'
import { EnvoyAuditError, type ErrorCode } from '../../errors.js'
import type { Sink, SinkRejection, SinkWriteResult } from '../../pipeline/component.js'
import type { AuditEvent } from '../../schema/audit-event.js'
import { backoffMs, classifyItem, classifyRequestError, sleepUnlessAborted, type BulkItemResult } from './classify.js'
import { createOpenSearchClient } from './client.js'
import type { ConnectionConfig, SinkConfig } from './config.js'
import { BulkOpBuilder, bulkBody, type BulkOp } from './documents.js'

/** pino-compatible subset; the sink never logs document contents or credentials. */
export interface SinkLogger {
  warn(obj: object, msg: string): void
}

export interface SinkStats {
  bulkRequests: number
  requestRetries: number
  itemRetries: number
  duplicates: number
  indexed: number
  rejected: number
  bytesSent: number
}

export interface OpenSearchSinkOptions {
  config: SinkConfig
  /** Either a client to use (the caller owns it) or a connection to open at start(). */
  client?: Client
  connection?: ConnectionConfig
  logger?: SinkLogger
  /** For deterministic tests of the backoff. */
  random?: () => number
}

interface WriteTracker {
  events: AuditEvent[]
  remaining: number
  rejected: Map<number, SinkRejection>
  failed?: Error
  resolve: (r: SinkWriteResult) => void
  reject: (e: Error) => void
}

interface PendingOp {
  op: BulkOp
  tracker: WriteTracker
  attempts: number
}

export class OpenSearchSink implements Sink {
  readonly name = 'opensearch'
  readonly stats: SinkStats = { bulkRequests: 0, requestRetries: 0, itemRetries: 0, duplicates: 0, indexed: 0, rejected: 0, bytesSent: 0 }
  private client: Client | undefined
  private readonly ownsClient: boolean
  private readonly builder: BulkOpBuilder
  private buffer: PendingOp[] = []
  private bufferBytes = 0
  private timer: NodeJS.Timeout | undefined
  private inFlight = 0
  private readonly slotWaiters: (() => void)[] = []
  private readonly running = new Set<Promise<void>>()
  private readonly abort = new AbortController()
  private closing: Promise<void> | undefined

  constructor(private readonly options: OpenSearchSinkOptions) {
    this.client = options.client
    this.ownsClient = options.client === undefined
    const c = options.config
    this.builder = new BulkOpBuilder(c.eventsAlias, c.findingsAlias, c.writeFindings)
  }

  async start(): Promise<void> {
    if (this.client !== undefined) return
    if (this.options.connection === undefined) throw new EnvoyAuditError('EA_CONFIG_INVALID', 'opensearch: a client or a connection is required')
    this.client = await createOpenSearchClient(this.options.connection, { maxRetries: 0 })
  }

  write(events: AuditEvent[]): Promise<SinkWriteResult> {
    if (this.closing !== undefined) return Promise.reject(new EnvoyAuditError('EA_SINK_UNAVAILABLE', 'opensearch sink is closed'))
    if (this.client === undefined) return Promise.reject(new EnvoyAuditError('EA_SINK_UNAVAILABLE', 'opensearch sink not started'))
    if (events.length === 0) return Promise.resolve({ rejected: [] })
    return new Promise<SinkWriteResult>((resolve, reject) => {
      const tracker: WriteTracker = { events, remaining: 0, rejected: new Map(), resolve, reject }
      const ops: BulkOp[] = []
      for (let i = 0; i < events.length; i++) this.builder.appendOps(ops, events[i] as AuditEvent, i)
      tracker.remaining = ops.length
      for (const op of ops) {
        this.buffer.push({ op, tracker, attempts: 0 })
        this.bufferBytes += op.bytes
      }
      if (this.bufferBytes >= this.options.config.flushBytes) this.flush(false)
      else this.schedule()
    })
  }

  /** Flushes buffered operations now; resolves when everything buffered so far is settled. */
  async flush(all = true): Promise<void> {
    if (this.timer !== undefined) {
      clearTimeout(this.timer)
      this.timer = undefined
    }
    const limit = this.options.config.flushBytes
    while (this.buffer.length > 0 && (all || this.bufferBytes >= limit)) {
      let bytes = 0
      let n = 0
      while (n < this.buffer.length && (n === 0 || bytes + this.buffer[n]!.op.bytes <= limit)) bytes += this.buffer[n++]!.op.bytes
      const chunk = this.buffer.splice(0, n)
      this.bufferBytes -= bytes
      this.track(this.sendChunk(chunk))
    }
    if (this.buffer.length > 0) this.schedule()
    if (all) while (this.running.size > 0) await Promise.allSettled([...this.running])
  }

  async close(): Promise<void> {
    this.closing ??= this.doClose()
    return this.closing
  }

  private async doClose(): Promise<void> {
    const settled = this.flush(true)
    const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), this.options.config.closeTimeoutMs).unref())
    if ((await Promise.race([settled, timeout])) === 'timeout') {
      this.options.logger?.warn({ pending: this.running.size }, 'opensearch sink: close timed out; rejecting unfinished writes')
      this.abort.abort()
      await settled
    }
    if (this.ownsClient && this.client !== undefined) await this.client.close()
  }

  private schedule(): void {
    if (this.timer !== undefined || this.buffer.length === 0) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      void this.flush(true).catch(() => undefined)
    }, this.options.config.flushIntervalMs)
  }

  private track(p: Promise<void>): void {
    const tracked = p.finally(() => this.running.delete(tracked))
    this.running.add(tracked)
  }

  private async acquire(): Promise<void> {
    while (this.inFlight >= this.options.config.concurrency) await new Promise<void>((r) => this.slotWaiters.push(r))
    this.inFlight++
  }

  private release(): void {
    this.inFlight--
    this.slotWaiters.shift()?.()
  }

  private sleep(ms: number): Promise<void> {
    return sleepUnlessAborted(ms, this.abort.signal)
  }

  /** Marks one operation done: indexed (no rejection), rejected, or 'failed' (closing interrupted it). */
  private settle(p: PendingOp, rejection?: { code: ErrorCode; message: string } | 'failed'): void {
    const t = p.tracker
    if (rejection === 'failed') {
      // Not delivered and not rejected: the write must reject so the source commits nothing past it.
    } else if (rejection !== undefined) {
      this.stats.rejected++
      if (!t.rejected.has(p.op.owner)) {
        const where = p.op.kind === 'event' ? 'event' : `finding ${p.op.id}`
        t.rejected.set(p.op.owner, { event: t.events[p.op.owner]!, code: rejection.code, message: `opensearch rejected ${where}: ${rejection.message}` })
      }
    } else this.stats.indexed++
    if (--t.remaining === 0) {
      if (t.failed !== undefined) t.reject(t.failed)
      else t.resolve({ rejected: [...t.rejected.values()] })
    }
  }

  private fail(pending: PendingOp[], reason: string): void {
    for (const p of pending) {
      p.tracker.failed ??= new EnvoyAuditError('EA_SINK_UNAVAILABLE', `opensearch sink closed before delivery: ${reason}`)
      this.settle(p, 'failed')
    }
  }

  /** Sends one chunk until every operation in it is settled, holding a concurrency slot meanwhile. */
  private async sendChunk(chunk: PendingOp[]): Promise<void> {
    await this.acquire()
    try {
      await this.deliver(chunk)
    } finally {
      this.release()
    }
  }

  private async deliver(chunk: PendingOp[]): Promise<void> {
    const { retry, filterPath } = this.options.config
    let pending = chunk
    let round = 0
    let lastReason = ''
    while (pending.length > 0) {
      if (this.abort.signal.aborted) return this.fail(pending, lastReason || 'aborted')
      const body = bulkBody(pending.map((p) => p.op))
      let items: Record<string, BulkItemResult>[] | undefined
      try {
        this.stats.bulkRequests++
        this.stats.bytesSent += body.length
        const response = await this.client!.bulk({ body: body as never, filter_path: filterPath })
        items = (response.body as { items?: Record<string, BulkItemResult>[] }).items
        if (!Array.isArray(items) || items.length !== pending.length) throw new Error(`bulk response has ${items?.length ?? 0} items for ${pending.length} operations`)
      } catch (err) {
        const outcome = classifyRequestError(err)
        if (outcome.kind === 'reject') {
          for (const p of pending) this.settle(p, { code: outcome.code, message: outcome.reason })
          return
        }
        if (outcome.kind === 'split') {
          // 413: halve until a request fits; a single document that is too large is permanent.
          if (pending.length === 1) return this.settle(pending[0]!, { code: 'EA_SINK_MAPPING', message: `document too large: ${outcome.reason}` })
          const half = Math.ceil(pending.length / 2)
          await this.deliver(pending.slice(0, half))
          await this.deliver(pending.slice(half))
          return
        }
        lastReason = outcome.reason
        this.stats.requestRetries++
        this.options.logger?.warn({ code: outcome.code, reason: outcome.reason, operations: pending.length, round }, 'opensearch bulk request failed; backing off')
        await this.sleep(backoffMs(round++, retry.initialMs, retry.maxMs, this.options.random))
        continue
      }
      const next: PendingOp[] = []
      pending.forEach((p, i) => {
        const entry = items[i] ?? {}
        const action = Object.keys(entry)[0] ?? 'create'
        const outcome = classifyItem(action, entry[action])
        if (outcome.kind === 'ok') {
          if (outcome.duplicate) this.stats.duplicates++
          this.settle(p)
        } else if (outcome.kind === 'reject') {
          this.settle(p, { code: outcome.code, message: outcome.reason })
        } else if (retry.maxAttempts > 0 && ++p.attempts >= retry.maxAttempts) {
          this.settle(p, { code: 'EA_SINK_ITEM_RETRYABLE', message: `gave up after ${p.attempts} attempts: ${outcome.reason}` })
        } else {
          lastReason = outcome.reason
          next.push(p)
        }
      })
      if (next.length > 0) {
        this.stats.itemRetries += next.length
        await this.sleep(backoffMs(round++, retry.initialMs, retry.maxMs, this.options.random))
      }
      pending = next
    }
  }
}
