/**
 * The `new_edge` baseline: an edge (source identity → destination) seen in the analysis window but
 * never in the learning window before it. A workload that starts calling something it never called is
 * the strongest lateral-movement signal the logs give, and the one ConMon can alert on without rules.
 *
 * The learning window learns from legitimate traffic only, as `policy recommend` does: an edge whose
 * baseline calls were all denied or all plaintext, or that carries a flagged finding bound to who called
 * (foreign trust domain, invalid peer identity, an enforcement gap, any other high or critical finding),
 * is not learnt, so the same call in the analysis window is still reported. An aggregated edge does not
 * say which of its calls a finding came from, so one such finding keeps the whole edge out; more alerts,
 * never fewer. `includeFlagged` learns them anyway.
 *
 * Pure over aggregated edge rows, so both stores share it and tests need no store.
 */
import type { Finding } from '../generated/types.js'
import type { FlowEdge } from './backend.js'
import { pairKey } from './backend.js'
import { DENIAL_FINDING_CODES, FINDING_CATALOGUE, FLAGGED_FINDING_CODES } from '../detect/catalogue.js'

export const NEW_EDGE_CODE = 'new_edge'
export const NEW_EDGE_CONTROLS: readonly string[] = FINDING_CATALOGUE.new_edge.controls

export interface NewEdgeOptions {
  /** Start of the analysis window (end of the learning window), ISO 8601. */
  since: string
  /** Start of the learning window, ISO 8601; only reported in the message. */
  baselineFrom: string
  /** Edges whose source is only an address are skipped by default: IPs churn, so "new" means little. */
  includeAddresses?: boolean
  /** Learn baseline edges with flagged traffic too (off: see the module comment). */
  includeFlagged?: boolean
}

// Denials and plaintext are counted per call, so they exclude an edge only when every call was one.
const PER_CALL: ReadonlySet<string> = new Set([...DENIAL_FINDING_CODES, 'plaintext_inbound'])
const EDGE_FLAGS: ReadonlySet<string> = new Set(FLAGGED_FINDING_CODES.filter((c) => !PER_CALL.has(c)))

/** Why a baseline edge is not learnt, or null when it is legitimate traffic. */
export function flaggedEdge(e: Pick<FlowEdge, 'count' | 'denied' | 'plaintext' | 'findings'>): string | null {
  const codes = e.findings.filter((c) => EDGE_FLAGS.has(c))
  if (codes.length > 0) return codes.join(', ')
  if (e.denied >= e.count) return 'every call denied'
  if (e.plaintext >= e.count) return 'every call plaintext'
  return null
}

export interface NewEdgeFinding {
  source: string
  destination: string
  firstSeen: string
  count: number
  finding: Finding
}

export function newEdgeFindings(current: readonly FlowEdge[], baseline: readonly FlowEdge[], opts: NewEdgeOptions): NewEdgeFinding[] {
  const known = new Set<string>()
  const flagged = new Map<string, string>()
  for (const e of baseline) {
    if (e.firstSeen >= opts.since) continue
    const key = pairKey(e.source, e.destination)
    const why = opts.includeFlagged === true ? null : flaggedEdge(e)
    if (why === null) known.add(key)
    else flagged.set(key, why)
  }
  const out: NewEdgeFinding[] = []
  for (const edge of current) {
    if (edge.lastSeen < opts.since) continue
    if (known.has(pairKey(edge.source, edge.destination))) continue
    if (opts.includeAddresses !== true && (edge.sourceKind === 'ip' || edge.sourceKind === 'unknown')) continue
    const denied = edge.denied === edge.count ? ' (every call denied)' : ''
    const why = flagged.get(pairKey(edge.source, edge.destination))
    const learnt = why === undefined ? '' : `; seen there only as flagged traffic (${why}), which the baseline does not learn`
    out.push({
      source: edge.source,
      destination: edge.destination,
      firstSeen: edge.firstSeen,
      count: edge.count,
      finding: {
        code: NEW_EDGE_CODE,
        severity: 'medium',
        controls: [...NEW_EDGE_CONTROLS],
        message: `${edge.source} called ${edge.destination} ${edge.count} time(s) from ${edge.firstSeen}${denied}; no such call between ${opts.baselineFrom} and ${opts.since}${learnt}`,
      },
    })
  }
  return out.sort((a, b) => (a.firstSeen < b.firstSeen ? -1 : a.firstSeen > b.firstSeen ? 1 : a.source < b.source ? -1 : 1))
}
