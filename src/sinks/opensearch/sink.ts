/**
 * The OpenSearch sink. `write(events)` resolves only when every document of every event is indexed
 * (or was already there: 409 on create, or found by a lookup) or permanently rejected; each document's
 * index is chosen from its event's @timestamp (routing.ts), so replays never duplicate across indices;
 * retryable failures are retried inside
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
import { planWrite } from './plan.js'
import { missingTemplates, realtimeGet, type MgetDoc } from './reads.js'
import { isWriteBlocked } from './routing.js'

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
  /** Documents looked up instead of written (read-only index, outside the time window). */
  lookups: number
  /** Bulk requests answered with a request-level 4xx (other than 401/403/413) and retried. */
  requestClientErrors: number
}

export interface OpenSearchSinkOptions {
  config: SinkConfig
  /** Either a client to use (the caller owns it) or a connection to open at start(). */
  client?: Client
  connection?: ConnectionConfig
  logger?: SinkLogger
  /** For deterministic tests of the backoff. */
  random?: () => number
  /** The clock the time window is checked against (tests). */
  now?: () => number
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
  /** Not to be written: acknowledged if the document is already in `op.index`, else rejected with this. */
  lookup?: { code: ErrorCode; reason: string }
}

export class OpenSearchSink implements Sink {
  readonly name = 'opensearch'
  readonly stats: SinkStats = { bulkRequests: 0, requestRetries: 0, itemRetries: 0, duplicates: 0, indexed: 0, rejected: 0, bytesSent: 0, lookups: 0, requestClientErrors: 0 }
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
    this.builder = new BulkOpBuilder(c.eventsAlias, c.findingsAlias, c.writeFindings, c.indexGranularity)
  }

  async start(): Promise<void> {
    if (this.client === undefined) {
      if (this.options.connection === undefined) throw new EnvoyAuditError('EA_CONFIG_INVALID', 'opensearch: a client or a connection is required')
      this.client = await createOpenSearchClient(this.options.connection, { maxRetries: 0 })
    }
    await this.checkTemplates()
  }

  /** Without setup's templates the period indices would get dynamic mappings and no alias: readers would not see them. */
  private async checkTemplates(): Promise<void> {
    const c = this.options.config
    for (const alias of await missingTemplates(this.client!, c.writeFindings ? [c.eventsAlias, c.findingsAlias] : [c.eventsAlias])) {
      this.options.logger?.warn({ alias }, `opensearch sink: no index template ${alias}-template; run envoy-audit setup first, or the ${alias}-<period> indices get dynamic mappings and no ${alias} alias to read them through`)
    }
  }

  write(events: AuditEvent[]): Promise<SinkWriteResult> {
    if (this.closing !== undefined) return Promise.reject(new EnvoyAuditError('EA_SINK_UNAVAILABLE', 'opensearch sink is closed'))
    if (this.client === undefined) return Promise.reject(new EnvoyAuditError('EA_SINK_UNAVAILABLE', 'opensearch sink not started'))
    if (events.length === 0) return Promise.resolve({ rejected: [] })
    return new Promise<SinkWriteResult>((resolve, reject) => {
      const tracker: WriteTracker = { events, remaining: 0, rejected: new Map(), resolve, reject }
      const planned = planWrite(events, this.builder, this.options.config, (this.options.now ?? Date.now)())
      tracker.remaining = planned.length
      for (const p of planned) {
        if (p.refused !== undefined) continue
        this.buffer.push(p.lookup === undefined ? { op: p.op, tracker, attempts: 0 } : { op: p.op, tracker, attempts: 0, lookup: p.lookup })
        this.bufferBytes += p.op.bytes
      }
      for (const p of planned) if (p.refused !== undefined) this.settle({ op: p.op, tracker, attempts: 0 }, p.refused)
      if (tracker.remaining === 0) return
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
    const { retry } = this.options.config
    let pending = chunk
    let round = 0
    let lastReason = ''
    while (pending.length > 0) {
      if (this.abort.signal.aborted) return this.fail(pending, lastReason || 'aborted')
      const look: PendingOp[] = []
      const send: PendingOp[] = []
      for (const p of pending) (p.lookup !== undefined ? look : send).push(p)
      const next: PendingOp[] = []
      let backoff = false
      if (look.length > 0) {
        const failed = await this.lookUp(look)
        if (failed !== undefined) {
          lastReason = failed.reason
          backoff = true
          next.push(...failed.ops)
        }
      }
      if (send.length > 0) {
        const r = await this.sendBulk(send, round)
        if (r.reason !== undefined) lastReason = r.reason
        backoff ||= r.backoff
        next.push(...r.next)
      }
      if (next.length > 0 && backoff) await this.sleep(backoffMs(round++, retry.initialMs, retry.maxMs, this.options.random))
      pending = next
    }
  }

  /**
   * One bulk request for `send`. Returns what must go round again: items to retry (with backoff), and
   * items whose index refused the write because it is read-only, which are looked up next (no backoff).
   */
  private async sendBulk(send: PendingOp[], round: number): Promise<{ next: PendingOp[]; backoff: boolean; reason?: string }> {
    const { retry, filterPath } = this.options.config
    const body = bulkBody(send.map((p) => p.op))
    let items: Record<string, BulkItemResult>[] | undefined
    try {
      this.stats.bulkRequests++
      this.stats.bytesSent += body.length
      const response = await this.client!.bulk({ body: body as never, filter_path: filterPath })
      items = (response.body as { items?: Record<string, BulkItemResult>[] }).items
      if (!Array.isArray(items) || items.length !== send.length) throw new Error(`bulk response has ${items?.length ?? 0} items for ${send.length} operations`)
    } catch (err) {
      const outcome = classifyRequestError(err)
      if (outcome.kind === 'split') {
        // 413: halve until a request fits; a single document that is too large is permanent.
        if (send.length === 1) {
          this.settle(send[0]!, { code: 'EA_SINK_TOO_LARGE', message: `document of ${send[0]!.op.bytes} bytes is larger than the cluster accepts: ${outcome.reason}` })
          return { next: [], backoff: false }
        }
        const half = Math.ceil(send.length / 2)
        await this.deliver(send.slice(0, half))
        await this.deliver(send.slice(half))
        return { next: [], backoff: false }
      }
      // A request-level status says nothing about the documents (a proxy's 404, a gateway's 400): every
      // one of them is retried, never dead-lettered (issue 16). Item-level errors are what rejects.
      if (outcome.kind === 'reject') this.stats.requestClientErrors++
      this.stats.requestRetries++
      this.options.logger?.warn({ code: outcome.code, reason: outcome.reason, operations: send.length, round }, 'opensearch bulk request failed; backing off')
      return { next: send, backoff: true, reason: outcome.reason }
    }
    const next: PendingOp[] = []
    let backoff = false
    let reason: string | undefined
    send.forEach((p, i) => {
      const entry = items[i] ?? {}
      const action = Object.keys(entry)[0] ?? 'create'
      const item = entry[action]
      if (isWriteBlocked(Number(item?.status ?? 0), item?.error)) {
        const why = typeof item?.error === 'object' ? `${item.error.type}: ${item.error.reason ?? ''}` : ''
        p.lookup = { code: 'EA_SINK_INDEX_READ_ONLY', reason: `index ${p.op.index} is read-only (${why})` }
        next.push(p)
        return
      }
      const outcome = classifyItem(action, item)
      if (outcome.kind === 'ok') {
        if (outcome.duplicate) this.stats.duplicates++
        this.settle(p)
      } else if (outcome.kind === 'reject') {
        this.settle(p, { code: outcome.code, message: outcome.reason })
      } else if (retry.maxAttempts > 0 && ++p.attempts >= retry.maxAttempts) {
        this.settle(p, { code: 'EA_SINK_ITEM_RETRYABLE', message: `gave up after ${p.attempts} attempts: ${outcome.reason}` })
      } else {
        reason = outcome.reason
        backoff = true
        this.stats.itemRetries++
        next.push(p)
      }
    })
    return { next, backoff, reason }
  }

  /**
   * Realtime multi-get of documents that are not to be written: found means a replay of what is
   * already indexed (acknowledged, as a 409 would be); not found, or no such index (retention deleted
   * it), rejects with the lookup's code. A failed lookup is retried like a failed bulk request.
   */
  private async lookUp(look: PendingOp[]): Promise<{ ops: PendingOp[]; reason: string } | undefined> {
    let docs: MgetDoc[]
    try {
      docs = await realtimeGet(this.client!, look.map((p) => p.op))
    } catch (err) {
      const outcome = classifyRequestError(err)
      this.stats.requestRetries++
      this.options.logger?.warn({ reason: outcome.reason, operations: look.length }, 'opensearch lookup failed; backing off')
      return { ops: look, reason: outcome.reason }
    }
    const again: PendingOp[] = []
    let reason = ''
    look.forEach((p, i) => {
      const d = docs[i]!
      const lookup = p.lookup!
      this.stats.lookups++
      if (d.found === true) {
        this.stats.duplicates++
        this.settle(p)
      } else if (d.error === undefined) {
        this.settle(p, { code: lookup.code, message: `${lookup.reason}; the document is not in ${p.op.index}` })
      } else if (d.error.type === 'index_not_found_exception') {
        this.settle(p, { code: lookup.code, message: `${lookup.reason}; index ${p.op.index} does not exist (deleted by retention?)` })
      } else {
        reason = `${d.error.type ?? 'error'}: ${d.error.reason ?? ''}`
        again.push(p)
      }
    })
    return again.length > 0 ? { ops: again, reason } : undefined
  }
}
