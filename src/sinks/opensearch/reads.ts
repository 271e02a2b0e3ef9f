/**
 * The two reads the sink makes besides bulk: a realtime multi-get of documents it must not write (to
 * tell a replay from a late event), and, at start, whether setup's index templates are there.
 */
import type { Client } from '@opensearch-project/opensearch'

/** One `_mget` answer: found, not found, or an error (index_not_found_exception when the index is gone). */
export interface MgetDoc {
  found?: boolean
  error?: { type?: string; reason?: string }
}

/** Realtime: sees every acknowledged write, refreshed or not. Throws on a failed request or a short answer. */
export async function realtimeGet(client: Client, targets: readonly { index: string; id: string }[]): Promise<MgetDoc[]> {
  const response = await client.mget({ realtime: true, _source: false, body: { docs: targets.map((t) => ({ _index: t.index, _id: t.id })) } } as never)
  const docs = (response.body as { docs?: MgetDoc[] }).docs
  if (!Array.isArray(docs) || docs.length !== targets.length) throw new Error(`mget response has ${docs?.length ?? 0} docs for ${targets.length} ids`)
  return docs
}

/**
 * The aliases whose index template (`<alias>-template`, as setup names it) is missing. Best effort: a
 * writer role may not read templates and an unreachable cluster is the retry loop's business, so any
 * failure answers "none missing"; bounded to 5 s.
 */
export async function missingTemplates(client: Client, aliases: readonly string[]): Promise<string[]> {
  const missing: string[] = []
  try {
    for (const alias of aliases) {
      const res = await client.indices.existsIndexTemplate({ name: `${alias}-template` }, { requestTimeout: 5_000 })
      if (res.body === false) missing.push(alias)
    }
  } catch {
    return []
  }
  return missing
}
