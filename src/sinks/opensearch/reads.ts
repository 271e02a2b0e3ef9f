/**
 * The read the sink makes besides bulk: a realtime multi-get of documents it must not write (to tell a
 * replay from a late event). Whether setup's index templates are there is checked at start (setup-check.ts).
 */
import type { Client } from '@opensearch-project/opensearch'

/** One `_mget` answer: found, not found, or an error (index_not_found_exception when the index is gone). */
export interface MgetDoc {
  found?: boolean
  error?: { type?: string; reason?: string }
}

/** Realtime: sees every acknowledged write, refreshed or not. Throws on a failed request or a short answer. */
export async function realtimeGet(client: Client, targets: readonly { index: string; id: string }[]): Promise<MgetDoc[]> {
  const response = await client.mget({
    realtime: true,
    _source: false,
    body: { docs: targets.map((t) => ({ _index: t.index, _id: t.id })) },
  } as never)
  const docs = (response.body as { docs?: MgetDoc[] }).docs
  if (!Array.isArray(docs) || docs.length !== targets.length)
    throw new Error(`mget response has ${docs?.length ?? 0} docs for ${targets.length} ids`)
  return docs
}
