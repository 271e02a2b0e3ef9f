/**
 * Fault injection for the test server. Item faults shape the per-item results inside an HTTP 200 bulk
 * response (what `helpers.bulk` mishandles and the sink must classify); request faults fail whole HTTP
 * requests (status, destroyed socket); latency delays every response.
 */
import { createHash } from 'node:crypto'
import type { Doc } from './search.js'

export interface ItemFaultContext {
  action: 'create' | 'index'
  index: string
  id: string
  doc: Doc
  /** How many times this index/id was seen in earlier bulk requests (0 on first sight). */
  attempt: number
}

export type ItemFault = null | undefined | number | { status: number; type?: string; reason?: string }
export type ItemFaultFn = (ctx: ItemFaultContext) => ItemFault

export type RequestFault = number | 'destroy'

interface RequestRule {
  match: RegExp
  fault: RequestFault
  remaining: number
}

/** Realistic error bodies for injected item statuses, as OpenSearch reports them. */
export function itemErrorFor(status: number, index: string): { type: string; reason: string } {
  if (status === 429)
    return {
      type: 'rejected_execution_exception',
      reason: `rejected execution of coordinating operation [shard_detail=[${index}][0][C]] (test server injected)`,
    }
  if (status === 400)
    return { type: 'mapper_parsing_exception', reason: 'failed to parse field [source.ip] of type [ip] (test server injected)' }
  if (status === 404) return { type: 'index_not_found_exception', reason: `no such index [${index}]` }
  if (status >= 500)
    return { type: 'unavailable_shards_exception', reason: `[${index}][0] primary shard is not active (test server injected)` }
  return { type: 'illegal_argument_exception', reason: 'test server injected' }
}

export class Faults {
  item: ItemFaultFn | undefined
  latencyMs = 0
  private rules: RequestRule[] = []

  /** Fails the next `times` requests whose "METHOD /path" matches with a status or a destroyed socket. */
  failRequests(match: RegExp, fault: RequestFault, times = 1): void {
    this.rules.push({ match, fault, remaining: times })
  }

  /** Consumes and returns the fault for this request, if any rule still applies. */
  takeRequestFault(method: string, path: string): RequestFault | undefined {
    const line = `${method} ${path}`
    for (const rule of this.rules) {
      if (rule.remaining > 0 && rule.match.test(line)) {
        rule.remaining--
        return rule.fault
      }
    }
    return undefined
  }

  pendingRequestFaults(): number {
    return this.rules.reduce((n, r) => n + r.remaining, 0)
  }

  clear(): void {
    this.item = undefined
    this.latencyMs = 0
    this.rules = []
  }
}

/**
 * Fails a deterministic fraction of items with `status`. The draw hashes id and attempt, so the same
 * item may fail again on a retry but eventually gets through, like a busy cluster.
 */
export function failByRate(status: number, rate: number, seed = 'seed'): ItemFaultFn {
  return ({ id, attempt }) => {
    const h = createHash('sha1').update(`${seed}:${id}:${attempt}`).digest()
    return h.readUInt32BE(0) / 0x1_0000_0000 < rate ? status : null
  }
}

/** Fails the listed ids with `status` on their first `times` attempts (times = Infinity: always). */
export function failIds(ids: Iterable<string>, status: number, times = Number.POSITIVE_INFINITY): ItemFaultFn {
  const set = new Set(ids)
  return ({ id, attempt }) => (set.has(id) && attempt < times ? status : null)
}
