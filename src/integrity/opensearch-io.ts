/**
 * The requests the OpenSearch ledger makes, with its two kinds of failure kept apart: Transient (the
 * cluster is busy or away: back off, then re-plan the batch) and Conflict (another writer moved a
 * stream: re-read and re-plan now). Anything else the cluster refuses is thrown as an
 * EnvoyAuditError: the batch fails and the source re-delivers it.
 */
import type { Client } from '@opensearch-project/opensearch'
import { EnvoyAuditError } from '../errors.js'
import { classifyItem, classifyRequestError, type BulkItemResult } from '../sinks/opensearch/classify.js'

export type Json = Record<string, unknown>

export class Conflict extends Error {}
export class Transient extends Error {}

/** Operations per bulk request at most, and bytes (UTF-16 units of the body; the body is ASCII): ledger blocks are up to ~450 KB each, checkpoints and heads ~300 bytes. 4 MB stays well under the 10 MiB request limit of small managed domains. */
const BULK_OPS = 5_000
const BULK_CHARS = 4_000_000

/** One request; outages (connection errors, timeouts, 401/403, 429, 5xx) become Transient, refusals are thrown. */
export async function request<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    const outcome = classifyRequestError(err)
    if (outcome.kind === 'retry') throw new Transient(outcome.reason)
    throw new EnvoyAuditError('EA_SINK_UNAVAILABLE', `integrity ledger: ${outcome.reason}`, { cause: err })
  }
}

/**
 * Bulk requests of at most BULK_OPS operations and about BULK_CHARS bytes whose items all succeeded or
 * answered 409 (the caller looks at those); a retryable item failure is Transient. Returns the items in
 * operation order.
 */
export async function bulk(client: Client, ops: [Json, Json][]): Promise<Json[]> {
  const out: Json[] = []
  let lines: string[] = []
  let chars = 0
  for (const [a, d] of ops) {
    const line = `${JSON.stringify(a)}\n${JSON.stringify(d)}\n`
    if (lines.length > 0 && (lines.length >= BULK_OPS || chars + line.length > BULK_CHARS)) {
      out.push(...(await bulkOnce(client, lines)))
      lines = []
      chars = 0
    }
    lines.push(line)
    chars += line.length
  }
  if (lines.length > 0) out.push(...(await bulkOnce(client, lines)))
  return out
}

async function bulkOnce(client: Client, lines: string[]): Promise<Json[]> {
  const res = await request(() => client.bulk({ body: lines.join('') as never }))
  const items = (res.body as { items?: Json[] }).items
  if (!Array.isArray(items) || items.length !== lines.length)
    throw new Transient(`bulk response has ${items?.length ?? 0} items for ${lines.length} operations`)
  const out = items.map((entry) => (Object.values(entry)[0] ?? {}) as Json)
  for (const item of out) {
    // 409 is the caller's to judge (a copy already there, or a head another writer moved); the rest as the sink classifies items.
    if (Number(item.status ?? 0) === 409) continue
    const outcome = classifyItem('index', item as BulkItemResult)
    if (outcome.kind === 'retry') throw new Transient(`ledger item: ${outcome.reason}`)
    if (outcome.kind === 'reject') {
      throw new EnvoyAuditError(
        'EA_SINK_UNAVAILABLE',
        `integrity ledger: OpenSearch refused a ledger document (${outcome.reason}); check the integrity indices (envoy-audit setup)`,
      )
    }
  }
  return out
}

/** Realtime multi-get: sees every write acknowledged so far, refresh or not. */
export async function mget(client: Client, index: string, ids: string[]): Promise<Json[]> {
  if (ids.length === 0) return []
  const res = await request(() => client.mget({ index, body: { ids } }))
  const docs = (res.body as { docs?: Json[] }).docs ?? []
  for (const d of docs) if (d.error !== undefined) throw new Transient(`mget ${index}: ${JSON.stringify(d.error)}`)
  return docs
}
