/**
 * "Never before" is a verdict against history, which a Sigma rule cannot state: the specification's
 * conditions, aggregations and correlations all look at the events of one window. What Sigma does have
 * are placeholders (`field|expand: '%name%'`), lists a backend fills from what the SOC keeps. The rules
 * under detections/baseline name two such lists, learnt here from the learning window's events:
 *
 * - `%sensitive_namespace_callers%`: the identities (SPIFFE IDs) whose calls a sensitive namespace
 *   accepted, so a caller outside the list is a new edge into that namespace;
 * - `%egress_sources%`: the workloads that sent traffic out of the mesh through PassthroughCluster, so
 *   egress from a workload outside the list is its first;
 *
 * and `%sensitive_namespaces%`, the namespaces the SOC tags sensitive (configured, not learnt). Like
 * `flows --new-since`, the learning window learns accepted traffic only: a refused call teaches nothing.
 */
import type { AuditEvent } from '../generated/types.js'
import type { Placeholders } from './detection.js'

export interface BaselineOptions {
  /** Namespaces tagged sensitive (`rules test --sensitive-namespace`). */
  sensitiveNamespaces: readonly string[]
}

const REFUSED = new Set(['denied', 'rejected'])

/** The placeholder lists of detections/baseline, from the learning window's events. */
export function baselinePlaceholders(learning: readonly AuditEvent[], options: BaselineOptions): Placeholders {
  const sensitive = new Set(options.sensitiveNamespaces)
  const callers = new Set<string>()
  const egress = new Set<string>()
  for (const e of learning) {
    if (REFUSED.has(e.event.action ?? '')) continue
    const dstNs = e.mesh?.destination?.namespace
    const src = e.mesh?.source?.spiffe_id
    if (dstNs !== undefined && sensitive.has(dstNs) && src !== undefined) callers.add(src)
    const workload = e.mesh?.source?.workload
    if (e.mesh?.upstream_cluster === 'PassthroughCluster' && workload !== undefined) egress.add(workload)
  }
  return new Map([
    ['sensitive_namespaces', [...sensitive].sort()],
    ['sensitive_namespace_callers', [...callers].sort()],
    ['egress_sources', [...egress].sort()],
  ])
}
