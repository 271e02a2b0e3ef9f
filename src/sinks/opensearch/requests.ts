/**
 * One round trip of the sink for a chunk of operations: the realtime lookups of documents that are not
 * to be written, then one bulk request for the rest (halved on 413 until it fits; a write refused by a
 * read-only index is looked up at once). Every answer is classified here: settled (indexed, already
 * there, or rejected for good), to be retried after a backoff (item-level 429/5xx), or not answered at
 * all (a request-level failure: the caller's outage gate decides when to try again). Nothing here
 * sleeps, so a retry never holds the concurrency slot this runs in.
 */
import type { Client } from '@opensearch-project/opensearch'
import type { ErrorCode } from '../../errors.js'
import type { SinkRejection, SinkWriteResult } from '../../pipeline/component.js'
import type { AuditEvent } from '../../schema/audit-event.js'
import { classifyItem, classifyRequestError, type BulkItemResult } from './classify.js'
import type { SinkConfig } from './config.js'
import { bulkBody, type BulkOp } from './documents.js'
import { realtimeGet, type MgetDoc } from './reads.js'
import { isWriteBlocked } from './routing.js'

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
  /** Small requests sent to find out whether OpenSearch takes writes again after a request-level failure. */
  probes: number
  /** Times the sink stopped sending because a whole request failed (an outage began). */
  outages: number
}

export interface WriteTracker {
  events: AuditEvent[]
  remaining: number
  rejected: Map<number, SinkRejection>
  failed?: Error
  resolve: (r: SinkWriteResult) => void
  reject: (e: Error) => void
}

export interface PendingOp {
  op: BulkOp
  tracker: WriteTracker
  attempts: number
  /** Not to be written: acknowledged if the document is already in `op.index`, else rejected with this. */
  lookup?: { code: ErrorCode; reason: string }
  /** Settled: indexed, rejected or failed. */
  done?: boolean
  /** The sink's count of indexed operations when this one last failed (see itemRetryMs). */
  progressMark?: number
}

export interface RequestContext {
  client: Client
  config: SinkConfig
  stats: SinkStats
  /** Marks one operation done: indexed or already there (no rejection), or rejected for good. */
  settle(p: PendingOp, rejection?: { code: ErrorCode; message: string }): void
}

export interface ChunkOutcome {
  /** Answered with a retryable item status: to be sent again after a backoff. */
  retry: PendingOp[]
  retryReason?: string
  /** Not answered: a whole request failed (connection, timeout, a status on the request). */
  failed?: { ops: PendingOp[]; code: ErrorCode; reason: string; clientError: boolean }
}

/** Sends one chunk: lookups first, then one bulk request for the rest. */
export async function sendChunk(ctx: RequestContext, chunk: PendingOp[]): Promise<ChunkOutcome> {
  const out: ChunkOutcome = { retry: [] }
  const look: PendingOp[] = []
  const send: PendingOp[] = []
  for (const p of chunk) (p.lookup !== undefined ? look : send).push(p)
  if (look.length > 0) await lookUp(ctx, look, out)
  if (send.length > 0) {
    const blocked = await sendBulk(ctx, send, out)
    if (blocked.length > 0) await lookUp(ctx, blocked, out)
  }
  return out
}

function failed(out: ChunkOutcome, ops: PendingOp[], code: ErrorCode, reason: string, clientError: boolean): void {
  if (out.failed === undefined) out.failed = { ops: [...ops], code, reason, clientError }
  else out.failed.ops.push(...ops)
}

/**
 * One bulk request for `send` (halves on 413). Settles what is done or rejected, adds retryable items
 * and unanswered operations to `out`, and returns the operations a write block refused, to be looked up.
 */
async function sendBulk(ctx: RequestContext, send: PendingOp[], out: ChunkOutcome): Promise<PendingOp[]> {
  const { stats, config } = ctx
  const body = bulkBody(send.map((p) => p.op))
  let items: Record<string, BulkItemResult>[] | undefined
  try {
    stats.bulkRequests++
    stats.bytesSent += body.length
    const response = await ctx.client.bulk({ body: body as never, filter_path: config.filterPath })
    items = (response.body as { items?: Record<string, BulkItemResult>[] }).items
    if (!Array.isArray(items) || items.length !== send.length)
      throw new Error(`bulk response has ${items?.length ?? 0} items for ${send.length} operations`)
  } catch (err) {
    const outcome = classifyRequestError(err)
    if (outcome.kind === 'split') {
      // 413: halve until a request fits; a single document that is too large is permanent.
      if (send.length === 1) {
        ctx.settle(send[0]!, {
          code: 'EA_SINK_TOO_LARGE',
          message: `document of ${send[0]!.op.bytes} bytes is larger than the cluster accepts: ${outcome.reason}`,
        })
        return []
      }
      const half = Math.ceil(send.length / 2)
      return [...(await sendBulk(ctx, send.slice(0, half), out)), ...(await sendBulk(ctx, send.slice(half), out))]
    }
    // A request-level status says nothing about the documents (a proxy's 404, a gateway's 400): every
    // one of them is retried, never dead-lettered. Item-level errors are what rejects.
    failed(out, send, outcome.code, outcome.reason, outcome.kind === 'reject')
    return []
  }
  const blocked: PendingOp[] = []
  const { maxAttempts } = config.retry
  send.forEach((p, i) => {
    const entry = items[i] ?? {}
    const action = Object.keys(entry)[0] ?? 'create'
    const item = entry[action]
    if (isWriteBlocked(Number(item?.status ?? 0), item?.error)) {
      const why = typeof item?.error === 'object' ? `${item.error.type}: ${item.error.reason ?? ''}` : ''
      p.lookup = { code: 'EA_SINK_INDEX_READ_ONLY', reason: `index ${p.op.index} is read-only (${why})` }
      blocked.push(p)
      return
    }
    const outcome = classifyItem(action, item)
    if (outcome.kind === 'ok') {
      if (outcome.duplicate) stats.duplicates++
      ctx.settle(p)
    } else if (outcome.kind === 'reject') {
      ctx.settle(p, { code: outcome.code, message: outcome.reason })
    } else if (++p.attempts >= maxAttempts && maxAttempts > 0) {
      ctx.settle(p, { code: 'EA_SINK_ITEM_RETRYABLE', message: `gave up after ${p.attempts} attempts: ${outcome.reason}` })
    } else {
      stats.itemRetries++
      out.retry.push(p)
      out.retryReason = outcome.reason
    }
  })
  return blocked
}

/**
 * Realtime multi-get of documents that are not to be written: found means a replay of what is
 * already indexed (acknowledged, as a 409 would be); not found, or no such index (retention deleted
 * it), rejects with the lookup's code. A failed lookup request is an unanswered request; a document
 * the get could not read is retried like an item.
 */
async function lookUp(ctx: RequestContext, look: PendingOp[], out: ChunkOutcome): Promise<void> {
  let docs: MgetDoc[]
  try {
    docs = await realtimeGet(
      ctx.client,
      look.map((p) => p.op),
    )
  } catch (err) {
    const outcome = classifyRequestError(err)
    failed(out, look, 'code' in outcome ? outcome.code : 'EA_SINK_UNAVAILABLE', outcome.reason, outcome.kind === 'reject')
    return
  }
  look.forEach((p, i) => {
    const d = docs[i]!
    const lookup = p.lookup!
    ctx.stats.lookups++
    if (d.found === true) {
      ctx.stats.duplicates++
      ctx.settle(p)
    } else if (d.error === undefined) {
      ctx.settle(p, { code: lookup.code, message: `${lookup.reason}; the document is not in ${p.op.index}` })
    } else if (d.error.type === 'index_not_found_exception') {
      ctx.settle(p, { code: lookup.code, message: `${lookup.reason}; index ${p.op.index} does not exist (deleted by retention?)` })
    } else {
      p.attempts++
      out.retry.push(p)
      out.retryReason = `${d.error.type ?? 'error'}: ${d.error.reason ?? ''}`
    }
  })
}
