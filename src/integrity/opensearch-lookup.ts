/**
 * What the OpenSearch ledger reads back from `<prefix>-ledger` besides the heads: the event ids at
 * replayed positions (is it the same record again, or reused coordinates?) and the entries a writer
 * that died left beyond a head. Both read blocks and the per-event documents of the first releases
 * alike (opensearch-blocks.ts).
 */
import type { Client } from '@opensearch-project/opensearch'
import { blockId, entryId, posValue } from './opensearch-indices.js'
import { mget, request, type Json } from './opensearch-io.js'
import { decodeLedgerDoc, type DecodedLedgerDoc } from './opensearch-blocks.js'

/** Ledger documents looked at beyond a head at most (per-event ones of the previous release count one each); more means not clean (checked again next batch). */
export const ORPHAN_SCAN = 10_000
/** Blocks a replay lookup fetches by search at most: 200 blocks hold at least 200 entries, and usually 100x that. */
const LOOKUP_SCAN = 200
/** Blocks a replay lookup walks back before it searches instead (each is one realtime get). */
const WALK_BLOCKS = 32

type Hits = { hits?: { hits?: { _id: string; _source: Json }[] } }

/**
 * Search is near-real-time: documents written a moment ago (by a writer that may just have died) are
 * made searchable first. Best effort: a role without indices:admin/refresh only risks missing the last
 * second's.
 */
export async function refreshLedger(client: Client, index: string): Promise<void> {
  await client.indices.refresh({ index }).catch(() => undefined)
}

/**
 * The event ids the ledger holds at positions at or below a stream's head (a replay). Blocks first,
 * walking back from the head's latest block along `prev` with realtime gets; then per-event documents
 * of the first releases by their ids; what is still unknown (a walk cut short, hints lost) is searched
 * for. `searched` says whether it came to that.
 */
export async function idsAt(
  client: Client,
  index: string,
  stream: string,
  positions: readonly string[],
  latestBlock: string | undefined,
): Promise<{ ids: Map<string, string>; searched: boolean }> {
  const want = new Set(positions)
  const ids = new Map<string, string>()
  const take = (doc: DecodedLedgerDoc | undefined, kind?: 'entry'): void => {
    if (doc === undefined || doc.problem !== undefined || doc.stream !== stream || (kind !== undefined && doc.kind !== kind)) return
    for (const e of doc.entries) if (want.has(e.pos)) ids.set(e.pos, e.event_id)
  }
  let min = BigInt(positions[0]!)
  for (const p of positions) if (BigInt(p) < min) min = BigInt(p)
  let cur = latestBlock
  for (let hops = 0; cur !== undefined && ids.size < want.size && hops < WALK_BLOCKS; hops++) {
    const [d] = await mget(client, index, [blockId(stream, cur)])
    const doc = d?.found === true ? decodeLedgerDoc(String(d._id), d._source as Json) : undefined
    if (doc === undefined || doc.problem !== undefined || doc.stream !== stream) break
    take(doc)
    if (BigInt(doc.pos) <= min) break
    cur = doc.prev
  }
  if (ids.size < want.size) {
    const missing = positions.filter((p) => !ids.has(p))
    for (const d of await mget(
      client,
      index,
      missing.map((p) => entryId(stream, p)),
    )) {
      take(d.found === true ? decodeLedgerDoc(String(d._id), d._source as Json) : undefined, 'entry')
    }
  }
  if (ids.size === want.size) return { ids, searched: false }
  let lo: bigint | undefined
  let hi: bigint | undefined
  for (const p of positions) {
    if (ids.has(p)) continue
    const b = BigInt(p)
    if (lo === undefined || b < lo) lo = b
    if (hi === undefined || b > hi) hi = b
  }
  await refreshLedger(client, index)
  const res = await request(() =>
    client.search({
      index,
      body: {
        size: LOOKUP_SCAN,
        sort: [{ pos: 'asc' }],
        query: {
          bool: {
            filter: [
              { term: { stream } },
              { exists: { field: 'end' } },
              { range: { pos: { lte: posValue(hi!) } } },
              { range: { end: { gte: posValue(lo!) } } },
            ],
          },
        },
      } as never,
    }),
  )
  for (const h of (res.body as Hits).hits?.hits ?? []) take(decodeLedgerDoc(h._id, h._source))
  return { ids, searched: true }
}

/**
 * The ledger documents of a stream that hold entries beyond `from` (its head's position): per-event
 * documents past it and blocks that end past it (one may start below it), in position order, and how
 * many came back (ORPHAN_SCAN or more: there may be more). Refresh first (refreshLedger).
 */
export async function docsBeyond(
  client: Client,
  index: string,
  stream: string,
  from: bigint,
): Promise<{ docs: (DecodedLedgerDoc | undefined)[]; hits: number }> {
  const res = await request(() =>
    client.search({
      index,
      body: {
        size: ORPHAN_SCAN,
        sort: [{ pos: 'asc' }],
        query: {
          bool: {
            filter: [{ term: { stream } }],
            should: [{ range: { pos: { gt: posValue(from) } } }, { range: { end: { gt: posValue(from) } } }],
            minimum_should_match: 1,
          },
        },
      } as never,
    }),
  )
  const hits = (res.body as Hits).hits?.hits ?? []
  return { docs: hits.map((h) => decodeLedgerDoc(h._id, h._source)), hits: hits.length }
}
