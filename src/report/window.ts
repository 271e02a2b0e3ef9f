/**
 * What a time window held, said the same way by every command that takes one (`report`, `hunt`,
 * `flows`). An empty window is a fact worth a sentence, not an empty page: "no events in the last 24h"
 * reads very differently once it says the store's data ends last month.
 */
import type { StoreSummary, TimeRange } from '../store/store.js'

export interface WindowCheck {
  /** Events in the window (the whole store when it has no bounds). */
  events: number
  /** The whole store: how many events and the first and last @timestamp. */
  storeRange: StoreSummary
  /** One sentence per empty window, empty when there is nothing to say. */
  warnings: string[]
}

export type Summarize = (range?: TimeRange) => Promise<StoreSummary>

/** "the store holds 1,204 events from A to B", or that it holds none. */
export function describeStore(s: StoreSummary): string {
  if (s.events === 0) return 'the store holds no events'
  return `the store holds ${s.events.toLocaleString('en-US')} event${s.events === 1 ? '' : 's'} from ${s.firstSeen ?? '?'} to ${s.lastSeen ?? '?'}`
}

export function describeWindow(range: TimeRange): string {
  const clusters = range.inClusters !== undefined && range.inClusters.length > 0 ? ` of cluster ${range.inClusters.join(', ')}` : ''
  if (range.since === undefined && range.until === undefined) return clusters === '' ? 'in the store' : clusters.slice(1)
  if (range.until === undefined) return `since ${range.since}${clusters}`
  if (range.since === undefined) return `before ${range.until}${clusters}`
  return `between ${range.since} and ${range.until}${clusters}`
}

/** The window selects part of the store: a time bound or some clusters. */
export const bounded = (r: TimeRange): boolean =>
  r.since !== undefined || r.until !== undefined || (r.inClusters !== undefined && r.inClusters.length > 0)

export function emptyWindowWarning(window: TimeRange, storeRange: StoreSummary): string {
  return bounded(window) ? `no events ${describeWindow(window)}; ${describeStore(storeRange)}` : describeStore(storeRange)
}

export function emptyBaselineWarning(baseline: TimeRange, storeRange: StoreSummary): string {
  return (
    `the baseline window (${baseline.since ?? 'start'} to ${baseline.until ?? 'end'}) holds no events, so every edge is marked NEW; ${describeStore(storeRange)}` +
    ' (a longer --baseline learns from older data; --baseline 0 turns the baseline off)'
  )
}

/**
 * Counts the events of `window` and, when it is empty, says what the store does hold. `baseline` is the
 * learning window that decides which edges are new: empty, it makes every edge new, which is said too.
 */
export async function checkWindow(
  summarize: Summarize,
  window: TimeRange,
  baseline?: TimeRange,
): Promise<WindowCheck & { baselineEvents?: number }> {
  const [inWindow, storeRange, inBaseline] = await Promise.all([
    bounded(window) ? summarize(window) : undefined,
    summarize(),
    baseline === undefined ? undefined : summarize(baseline),
  ])
  const events = inWindow?.events ?? storeRange.events
  const warnings: string[] = []
  if (events === 0) warnings.push(emptyWindowWarning(window, storeRange))
  // With nothing in the window there are no edges to call new: one warning is enough.
  if (events > 0 && baseline !== undefined && inBaseline !== undefined && inBaseline.events === 0)
    warnings.push(emptyBaselineWarning(baseline, storeRange))
  return { events, storeRange, warnings, ...(inBaseline === undefined ? {} : { baselineEvents: inBaseline.events }) }
}
