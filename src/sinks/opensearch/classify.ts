/**
 * Classifies bulk outcomes, per item and per request. The split follows the peers that do not lose
 * data (Data Prepper's BulkRetryStrategy, logstash-output-opensearch): 429 and 5xx are transient and
 * only those items are re-sent; 409 on `create` means the document is already there (a replay) and is
 * success; any other 4xx is permanent and goes to the dead-letter output with the error.
 */
import { errors } from '@opensearch-project/opensearch'
import type { ErrorCode } from '../../errors.js'

export type ItemOutcome =
  | { kind: 'ok'; duplicate: boolean }
  | { kind: 'retry'; status: number; reason: string }
  | { kind: 'reject'; code: ErrorCode; status: number; reason: string }

export interface BulkItemResult {
  status?: number
  error?: { type?: string; reason?: string } | string
}

function describe(status: number, error: BulkItemResult['error']): string {
  if (error === undefined) return `status ${status}`
  if (typeof error === 'string') return `${status} ${error}`
  return `${status} ${error.type ?? 'error'}: ${error.reason ?? ''}`.trim()
}

/** `item` is the value under the action key of one `items[]` entry. */
export function classifyItem(action: string, item: BulkItemResult | undefined): ItemOutcome {
  const status = Number(item?.status ?? 0)
  if (status >= 200 && status < 300) return { kind: 'ok', duplicate: false }
  if (status === 409 && action === 'create') return { kind: 'ok', duplicate: true }
  const reason = describe(status, item?.error)
  if (status === 429 || status >= 500 || status === 0) return { kind: 'retry', status, reason }
  if (status === 401 || status === 403) return { kind: 'reject', code: 'EA_SINK_AUTH', status, reason }
  return { kind: 'reject', code: 'EA_SINK_MAPPING', status, reason }
}

export type RequestOutcome =
  | { kind: 'retry'; code: ErrorCode; reason: string }
  | { kind: 'split'; reason: string }
  | { kind: 'reject'; code: ErrorCode; reason: string }

/**
 * A whole bulk request failed. Connection problems, timeouts, 429 and 5xx are outages: back off and
 * send again (the pending write is the backpressure the source feels). 401/403 are retried too: a
 * wrong password must stall the pipeline loudly, not dead-letter every event (Vector v#14963 advanced
 * offsets past a wrong password). 413 splits the request. Any other 4xx means the request itself is
 * unacceptable: its items are rejected.
 */
export function classifyRequestError(err: unknown): RequestOutcome {
  if (err instanceof errors.ResponseError) {
    const status = err.statusCode ?? 0
    const body = err.body as { error?: { type?: string; reason?: string } } | string | undefined
    const detail = typeof body === 'object' && body?.error !== undefined ? `${body.error.type ?? ''}: ${body.error.reason ?? ''}` : ''
    const reason = `HTTP ${status} ${detail}`.trim()
    if (status === 413) return { kind: 'split', reason }
    if (status === 401 || status === 403) return { kind: 'retry', code: 'EA_SINK_AUTH', reason }
    if (status === 429 || status >= 500 || status === 0) return { kind: 'retry', code: 'EA_SINK_UNAVAILABLE', reason }
    return { kind: 'reject', code: 'EA_SINK_MAPPING', reason }
  }
  const name = err instanceof Error ? err.name : 'Error'
  const message = err instanceof Error ? err.message : String(err)
  return { kind: 'retry', code: 'EA_SINK_UNAVAILABLE', reason: `${name}: ${message}` }
}

/** Capped exponential backoff with equal jitter: at least half the step, so a storm always slows down. */
export function backoffMs(attempt: number, initialMs: number, maxMs: number, random: () => number = Math.random): number {
  const step = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30))
  return Math.round(step / 2 + (step / 2) * random())
}

/**
 * Waits `ms`, or less when `signal` aborts (close() interrupting a retry). The listener leaves with
 * the timer: a long outage retries thousands of times on the same signal.
 */
export function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve()
  return new Promise((resolve) => {
    const t = setTimeout(done, ms)
    function done(): void {
      clearTimeout(t)
      signal.removeEventListener('abort', done)
      resolve()
    }
    signal.addEventListener('abort', done, { once: true })
  })
}

/**
 * The wait before an item answered 429/5xx is sent again, after its `attempts`-th failure. It waits
 * outside the concurrency slots, so it delays only its own write. While the cluster is making
 * progress (something was indexed since the item last failed), a 429 means a full queue at that
 * instant, and the concurrency bound already limits what is sent: one short beat (`initialMs`) and the
 * item rides along with the next request. When nothing got through, the wait doubles with the item's
 * attempts up to `maxMs`, so a cluster that refuses everything is not sent the same items again and again.
 */
export function itemRetryMs(
  attempts: number,
  progressed: boolean,
  initialMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  return backoffMs(progressed ? 0 : Math.max(0, attempts - 1), initialMs, maxMs, random)
}
