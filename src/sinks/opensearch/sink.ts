/**
 * The OpenSearch sink. `write(events)` resolves only when every document of every event is indexed
 * (or was already there: 409 on create, or found by a lookup) or permanently rejected; each document's
 * index is chosen from its event's @timestamp (routing.ts), so replays never duplicate across indices.
 * Buffered operations from concurrent writes are coalesced into bulk requests bounded by bytes and a
 * flush interval, with at most `concurrency` requests in flight (requests.ts sends and classifies one).
 * A slow or down cluster holds writes pending, and that is the backpressure the source sees; but no
 * retry ever waits inside a concurrency slot:
 * - an item answered 429/5xx goes back to the queue after its own backoff and rides along with a later
 *   request, while other work keeps the slots;
 * - a whole request that fails (connection refused, timeout, a status on the request) stops all
 *   sending, and one small probe at most `retry.probeMaxMs` apart finds out when the cluster is back
 *   (outage.ts); then everything held goes at once.
 * `client.bulk` is called directly: `helpers.bulk` retries only item-level 429 with a fixed wait and
 * aborts on any request-level error (peer-pipelines.md §5).
 */
import type { Client } from '@opensearch-project/opensearch'
import { EnvoyAuditError, type ErrorCode } from '../../errors.js'
import type { Sink, SinkWriteResult } from '../../pipeline/component.js'
import type { AuditEvent } from '../../schema/audit-event.js'
import { itemRetryMs } from './classify.js'
import { createOpenSearchClient, type ConnectionConfig } from '../../connections/opensearch.js'
import type { SinkConfig } from './config.js'
import { BulkOpBuilder } from './documents.js'
import { OutageGate } from './outage.js'
import { planWrite } from './plan.js'
import { checkSetupTemplates } from './setup-check.js'
import { sendChunk, type ChunkOutcome, type PendingOp, type RequestContext, type SinkStats, type WriteTracker } from './requests.js'

export type { SinkStats } from './requests.js'

/** pino-compatible subset; the sink never logs document contents or credentials. */
export interface SinkLogger {
  warn(obj: object, msg: string): void
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
  /** Refuse to start when setup's index templates are missing (EA_SINK_NOT_SET_UP); else only warn. */
  requireTemplates?: boolean
  /** Called with the client at start(), before any request (the service observes it for health and metrics). */
  onClient?: (client: Client) => void
}

export class OpenSearchSink implements Sink {
  readonly name = 'opensearch'
  readonly stats: SinkStats = {
    bulkRequests: 0,
    requestRetries: 0,
    itemRetries: 0,
    duplicates: 0,
    indexed: 0,
    rejected: 0,
    bytesSent: 0,
    lookups: 0,
    requestClientErrors: 0,
    probes: 0,
    outages: 0,
  }
  private client: Client | undefined
  private readonly ownsClient: boolean
  private readonly builder: BulkOpBuilder
  /** Ready to send, oldest first; retries go in front. The first `due` go without waiting to fill a request. */
  private buffer: PendingOp[] = []
  private bufferBytes = 0
  private due = 0
  private flushTimer: NodeJS.Timeout | undefined
  /** Item retries waiting out their backoff, outside the buffer and outside any slot. */
  private readonly later = new Set<{ ops: PendingOp[]; timer: NodeJS.Timeout }>()
  private readonly gate: OutageGate
  private probeTimer: NodeJS.Timeout | undefined
  /** The gate is open and the next probe may go as soon as there is an operation to send. */
  private probeDue = false
  private inFlight = 0
  /** Operations not settled yet: buffered, waiting to retry or in flight. */
  private unsettled = 0
  private idleWaiters: (() => void)[] = []
  private aborted = false
  private closing: Promise<void> | undefined
  private lastOutageLog = 0
  /** Operations indexed or found so far: whether the cluster made progress while a request was out. */
  private progress = 0
  private readonly context: RequestContext

  constructor(private readonly options: OpenSearchSinkOptions) {
    this.client = options.client
    this.ownsClient = options.client === undefined
    const c = options.config
    this.builder = new BulkOpBuilder(c.eventsAlias, c.findingsAlias, c.writeFindings, c.indexGranularity)
    this.gate = new OutageGate(c.retry, options.random)
    const self = this
    this.context = {
      get client() {
        return self.client!
      },
      config: c,
      stats: this.stats,
      settle: (p, rejection) => this.settle(p, rejection),
    }
  }

  async start(): Promise<void> {
    if (this.client === undefined) {
      if (this.options.connection === undefined)
        throw new EnvoyAuditError('EA_CONFIG_INVALID', 'opensearch: a client or a connection is required')
      this.client = await createOpenSearchClient(this.options.connection, { maxRetries: 0 })
    }
    this.options.onClient?.(this.client)
    // Without setup's templates the period indices would get dynamic mappings and no alias (setup-check.ts).
    await checkSetupTemplates(this.client, this.options.config, {
      require: this.options.requireTemplates ?? false,
      ...(this.options.logger !== undefined ? { logger: this.options.logger } : {}),
    })
  }

  write(events: AuditEvent[]): Promise<SinkWriteResult> {
    if (this.closing !== undefined) return Promise.reject(new EnvoyAuditError('EA_SINK_UNAVAILABLE', 'opensearch sink is closed'))
    if (this.client === undefined) return Promise.reject(new EnvoyAuditError('EA_SINK_UNAVAILABLE', 'opensearch sink not started'))
    if (events.length === 0) return Promise.resolve({ rejected: [] })
    return new Promise<SinkWriteResult>((resolve, reject) => {
      const tracker: WriteTracker = { events, remaining: 0, rejected: new Map(), resolve, reject }
      const planned = planWrite(events, this.builder, this.options.config, (this.options.now ?? Date.now)())
      tracker.remaining = planned.length
      this.unsettled += planned.length
      const ops: PendingOp[] = []
      for (const p of planned) {
        if (p.refused === undefined)
          ops.push(p.lookup === undefined ? { op: p.op, tracker, attempts: 0 } : { op: p.op, tracker, attempts: 0, lookup: p.lookup })
      }
      this.enqueue(ops, 'back')
      for (const p of planned) if (p.refused !== undefined) this.settle({ op: p.op, tracker, attempts: 0 }, p.refused)
      this.pump()
    })
  }

  /** Sends everything buffered now; resolves when every operation written so far is settled. */
  async flush(): Promise<void> {
    this.due = this.buffer.length
    this.pump()
    if (this.unsettled > 0) await new Promise<void>((r) => this.idleWaiters.push(r))
  }

  async close(): Promise<void> {
    this.closing ??= this.doClose()
    return this.closing
  }

  private async doClose(): Promise<void> {
    const settled = this.flush()
    const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), this.options.config.closeTimeoutMs).unref())
    if ((await Promise.race([settled, timeout])) === 'timeout') {
      this.options.logger?.warn({ pending: this.unsettled }, 'opensearch sink: close timed out; rejecting unfinished writes')
      this.abortAll()
      await settled
    }
    clearTimeout(this.flushTimer)
    if (this.ownsClient && this.client !== undefined) await this.client.close()
  }

  /** Closing gave up: everything not in flight fails now, what is in flight fails when it comes back unfinished. */
  private abortAll(): void {
    this.aborted = true
    clearTimeout(this.flushTimer)
    clearTimeout(this.probeTimer)
    for (const l of this.later) {
      clearTimeout(l.timer)
      this.fail(l.ops, 'closed while retrying')
    }
    this.later.clear()
    const buffered = this.buffer
    this.buffer = []
    this.bufferBytes = 0
    this.due = 0
    this.fail(buffered, this.gate.open ? 'OpenSearch did not answer' : 'closed before sending')
  }

  private enqueue(ops: PendingOp[], where: 'front' | 'back'): void {
    for (const p of ops) this.bufferBytes += p.op.bytes
    if (where === 'front') {
      this.buffer = ops.concat(this.buffer)
      this.due += ops.length
    } else for (const p of ops) this.buffer.push(p)
  }

  /** Operations from the front of the buffer up to `limit` bytes (at least one). */
  private take(limit: number): PendingOp[] {
    let bytes = 0
    let n = 0
    while (n < this.buffer.length && (n === 0 || bytes + this.buffer[n]!.op.bytes <= limit)) bytes += this.buffer[n++]!.op.bytes
    this.bufferBytes -= bytes
    this.due = Math.max(0, this.due - n)
    return this.buffer.splice(0, n)
  }

  /** Starts whatever may go now: full requests, or due operations, while slots are free; a probe while the gate is open. */
  private pump(): void {
    if (this.aborted) return
    if (this.gate.open) {
      if (this.probeDue && this.buffer.length > 0) {
        this.probeDue = false
        this.stats.probes++
        this.send(this.take(1), true)
      }
      return
    }
    const { flushBytes, concurrency, flushIntervalMs } = this.options.config
    while (this.inFlight < concurrency && this.buffer.length > 0 && (this.due > 0 || this.bufferBytes >= flushBytes))
      this.send(this.take(flushBytes), false)
    if (this.buffer.length > this.due && this.flushTimer === undefined) {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = undefined
        this.due = this.buffer.length
        this.pump()
      }, flushIntervalMs)
    }
  }

  private send(chunk: PendingOp[], probe: boolean): void {
    this.inFlight++
    const progressBefore = this.progress
    void sendChunk(this.context, chunk)
      .then(
        (outcome) => this.handle(outcome, probe, progressBefore),
        (err: unknown) => {
          // A bug, not an outage: the writes fail (the source re-delivers them) instead of hanging.
          const open = chunk.filter((p) => p.done !== true)
          for (const p of open)
            p.tracker.failed ??= new EnvoyAuditError('EA_SINK_UNAVAILABLE', `opensearch sink: ${(err as Error).message}`)
          this.fail(open, 'unexpected error')
        },
      )
      .finally(() => {
        this.inFlight--
        this.pump()
      })
  }

  private handle(o: ChunkOutcome, probe: boolean, progressBefore: number): void {
    if (o.failed !== undefined) this.requestFailed(o.failed, probe)
    else {
      // Any answer while the gate is open (a probe's, or a request sent before it opened) means the
      // cluster takes writes again: release what is held at once.
      if (this.gate.open) {
        const ms = this.gate.probeSucceeded()
        clearTimeout(this.probeTimer)
        this.probeDue = false
        this.due = this.buffer.length
        this.options.logger?.warn({ outageMs: ms, held: this.unsettled }, 'opensearch answers again; sending the held writes')
      }
      if (!probe) this.gate.requestSucceeded()
    }
    if (o.retry.length > 0) this.retryLater(o.retry, progressBefore)
  }

  private requestFailed(f: NonNullable<ChunkOutcome['failed']>, probe: boolean): void {
    this.stats.requestRetries++
    if (f.clientError) this.stats.requestClientErrors++
    if (this.aborted) return this.fail(f.ops, f.reason)
    // A failed probe's document goes to the back: one document the path refuses cannot hold the rest.
    this.enqueue(f.ops, probe ? 'back' : 'front')
    const wait = probe && this.gate.open ? this.gate.probeFailed() : this.gate.requestFailed()
    if (wait === undefined) return
    if (!probe) this.stats.outages++
    clearTimeout(this.probeTimer)
    this.probeTimer = setTimeout(() => {
      this.probeTimer = undefined
      this.probeDue = true
      this.pump()
    }, wait)
    const now = Date.now()
    if (!probe || now - this.lastOutageLog >= 10_000) {
      this.lastOutageLog = now
      this.options.logger?.warn(
        { code: f.code, reason: f.reason, held: this.unsettled, outageMs: this.gate.openForMs, nextProbeMs: wait },
        probe
          ? 'opensearch still not taking requests; writes held'
          : 'opensearch request failed; holding writes and probing until it answers',
      )
    }
  }

  /**
   * Item-level retries wait out their backoff outside the buffer, then go in front of it. The cluster
   * made progress for an item when anything was indexed since it last failed (or since its first
   * request went out).
   */
  private retryLater(ops: PendingOp[], progressBefore: number): void {
    if (this.aborted) return this.fail(ops, 'closed while retrying')
    const { initialMs, maxMs } = this.options.config.retry
    let attempts = 0
    let progressed = true
    for (const p of ops) {
      attempts = Math.max(attempts, p.attempts)
      if (this.progress <= (p.progressMark ?? progressBefore)) progressed = false
      p.progressMark = this.progress
    }
    const entry = {
      ops,
      timer: setTimeout(
        () => {
          this.later.delete(entry)
          this.enqueue(ops, 'front')
          this.pump()
        },
        itemRetryMs(attempts, progressed, initialMs, maxMs, this.options.random),
      ),
    }
    this.later.add(entry)
  }

  /** Marks one operation done: indexed (no rejection), rejected, or 'failed' (closing interrupted it). */
  private settle(p: PendingOp, rejection?: { code: ErrorCode; message: string } | 'failed'): void {
    if (p.done === true) return
    p.done = true
    const t = p.tracker
    if (rejection === 'failed') {
      // Not delivered and not rejected: the write must reject so the source commits nothing past it.
    } else if (rejection !== undefined) {
      this.stats.rejected++
      if (!t.rejected.has(p.op.owner)) {
        const where = p.op.kind === 'event' ? 'event' : `finding ${p.op.id}`
        t.rejected.set(p.op.owner, {
          event: t.events[p.op.owner]!,
          code: rejection.code,
          message: `opensearch rejected ${where}: ${rejection.message}`,
        })
      }
    } else {
      this.stats.indexed++
      this.progress++
    }
    if (--t.remaining === 0) {
      if (t.failed !== undefined) t.reject(t.failed)
      else t.resolve({ rejected: [...t.rejected.values()] })
    }
    if (--this.unsettled === 0) for (const wake of this.idleWaiters.splice(0)) wake()
  }

  private fail(pending: PendingOp[], reason: string): void {
    for (const p of pending) {
      p.tracker.failed ??= new EnvoyAuditError('EA_SINK_UNAVAILABLE', `opensearch sink closed before delivery: ${reason}`)
      this.settle(p, 'failed')
    }
  }
}
