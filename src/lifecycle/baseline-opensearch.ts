/**
 * The placeholder lists of detections/baseline learnt from the events in OpenSearch, for `setup
 * --with-security-analytics`: the same lists as baselinePlaceholders (src/sigma/baseline.ts) computes from events
 * in memory, by composite aggregations over the events alias (accepted traffic only, as there).
 */
import type { Client } from '@opensearch-project/opensearch'
import { FIELDS } from '../store/opensearch-aggregates.js'
import { compositeAll } from '../store/opensearch-read.js'
import type { BaselineOptions } from '../sigma/baseline.js'
import type { Placeholders } from '../sigma/detection.js'

type Json = Record<string, unknown>

/** Bound on each learnt list: a rule with more values than this would be a rule nobody can read. */
export const MAX_LEARNT_VALUES = 10_000

const REFUSED: Json = { terms: { 'event.action': ['denied', 'rejected'] } }

export async function learnBaselineFromOpenSearch(
  client: Client,
  index: string,
  window: { since: string; until: string },
  options: BaselineOptions,
): Promise<Placeholders> {
  const target = { client, index, what: 'baseline lists' }
  const range: Json = { range: { '@timestamp': { gte: window.since, lt: window.until } } }
  const keys = async (field: string, filter: Json[]): Promise<string[]> => {
    const buckets = await compositeAll(
      target,
      { bool: { filter: [range, { exists: { field } }, ...filter], must_not: [REFUSED] } },
      [{ v: { terms: { field } } }],
      {},
      { pageSize: 1000, maxKeys: MAX_LEARNT_VALUES },
    )
    return buckets.map((b) => String(b.key.v)).sort()
  }
  const sensitive = [...new Set(options.sensitiveNamespaces)].sort()
  const callers = sensitive.length === 0 ? [] : await keys(FIELDS.src_spiffe, [{ terms: { [FIELDS.dst_ns]: sensitive } }])
  const egress = await keys(FIELDS.src_wl, [{ term: { [FIELDS.cluster]: 'PassthroughCluster' } }])
  return new Map([
    ['sensitive_namespaces', sensitive],
    ['sensitive_namespace_callers', callers],
    ['egress_sources', egress],
  ])
}
