/**
 * The `new_edge` baseline: an edge (source identity → destination) seen in the analysis window but
 * never in the learning window before it. A workload that starts calling something it never called is
 * the strongest lateral-movement signal the logs give, and the one ConMon can alert on without rules.
 *
 * Pure over aggregated edge rows, so both stores share it and tests need no store.
 */
import type { Finding } from '../generated/types.js'
import type { FlowEdge } from './backend.js'
import { pairKey } from './backend.js'
import { FINDING_CATALOGUE } from '../detect/catalogue.js'

export const NEW_EDGE_CODE = 'new_edge'
export const NEW_EDGE_CONTROLS: readonly string[] = FINDING_CATALOGUE.new_edge.controls

export interface NewEdgeOptions {
  /** Start of the analysis window (end of the learning window), ISO 8601. */
  since: string
  /** Start of the learning window, ISO 8601; only reported in the message. */
  baselineFrom: string
  /** Edges whose source is only an address are skipped by default: IPs churn, so "new" means little. */
  includeAddresses?: boolean
}

export interface NewEdgeFinding {
  source: string
  destination: string
  firstSeen: string
  count: number
  finding: Finding
}

export function newEdgeFindings(current: readonly FlowEdge[], baseline: readonly FlowEdge[], opts: NewEdgeOptions): NewEdgeFinding[] {
  const known = new Set(baseline.filter((e) => e.firstSeen < opts.since).map((e) => pairKey(e.source, e.destination)))
  const out: NewEdgeFinding[] = []
  for (const edge of current) {
    if (edge.lastSeen < opts.since) continue
    if (known.has(pairKey(edge.source, edge.destination))) continue
    if (opts.includeAddresses !== true && (edge.sourceKind === 'ip' || edge.sourceKind === 'unknown')) continue
    const denied = edge.denied === edge.count ? ' (every call denied)' : ''
    out.push({
      source: edge.source,
      destination: edge.destination,
      firstSeen: edge.firstSeen,
      count: edge.count,
      finding: {
        code: NEW_EDGE_CODE,
        severity: 'medium',
        controls: [...NEW_EDGE_CONTROLS],
        message: `${edge.source} called ${edge.destination} ${edge.count} time(s) from ${edge.firstSeen}${denied}; no such call between ${opts.baselineFrom} and ${opts.since}`,
      },
    })
  }
  return out.sort((a, b) => (a.firstSeen < b.firstSeen ? -1 : a.firstSeen > b.firstSeen ? 1 : a.source < b.source ? -1 : 1))
}
