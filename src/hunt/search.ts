/**
 * Lateral-movement search over time-respecting paths.
 *
 * An allowed call a→b at time t extends a path that reached a at time ta only if t ≥ ta. Earliest
 * arrival is computed exactly with Bellman-Ford rounds: round k asks the backend for ONE aggregate,
 * the earliest call per (src, dst) with src in the frontier and ts ≥ arrival(src), and the frontier of
 * the next round is the set of nodes whose arrival strictly improved. After k rounds arrival(v) is the
 * earliest time over all paths of at most k hops, so `maxDepth` bounds both the work and the answer.
 *
 * The witness path of a node is copied (not linked) when its arrival improves, so it stays the path
 * that achieved that arrival in the round it was first achieved: the fewest hops among earliest-arrival
 * paths, with each hop's timestamp at or after the previous one.
 */
import type { DeniedRow, ExpandRow, HopCall, HuntBackend, HuntRange, NodeKind } from './backend.js'
import { hopCallKey, pairKey } from './backend.js'
import { kindOfNode } from './node-id.js'

export interface HuntOptions extends HuntRange {
  from: readonly string[]
  /** Rounds (hops) to search; default 6. */
  maxDepth: number
}

export interface HuntHop {
  from: string
  to: string
  /** Earliest call on this edge at or after `from` was reached. */
  at: string
  calls: number
  plaintextCalls: number
  /** The witness call itself went without mTLS. */
  plaintext: boolean
  srcSignal: string
  dstSignal: string
  service?: string
  requestId?: string
  /** No call on this edge before the analysis window (within the learning window). */
  newEdge: boolean
  firstSeen?: string
  /** The Istio clusters of the witness call's two ends (HuntBackend.hopClusters), which differ across an east-west gateway. */
  sourceCluster?: string
  destinationCluster?: string
}

export interface ReachedNode {
  node: string
  kind: NodeKind
  /** Earliest time the node was reached (the start time for an origin). */
  arrival: string
  hops: number
  path: HuntHop[]
  /** Denied calls (probes) from this node at or after its arrival. */
  probes: DeniedRow[]
}

export interface HuntResult {
  from: string[]
  since: string
  until?: string
  baselineFrom?: string
  maxDepth: number
  rounds: number
  /** True when the last round still improved some node: deeper paths may reach more. */
  truncated: boolean
  /** Origins first, then by arrival time. */
  reached: ReachedNode[]
  /** Denied-only destinations: probed but never reached through an allowed call. */
  probedOnly: string[]
  /**
   * Every edge out of a reached node used at or after that node's arrival, witness or not, earliest
   * call first: a new edge off the witness paths (a pivot to a node also reachable the normal way) is
   * still the strongest signal.
   */
  edges: HuntHop[]
}

interface Label {
  arrival: string
  path: HuntHop[]
}

function toHop(row: ExpandRow): HuntHop {
  const hop: HuntHop = {
    from: row.src,
    to: row.dst,
    at: row.first,
    calls: row.count,
    plaintextCalls: row.plaintext,
    plaintext: row.firstPlaintext,
    srcSignal: row.srcSignal,
    dstSignal: row.dstSignal,
    newEdge: false,
  }
  if (row.service !== undefined) hop.service = row.service
  if (row.requestId !== undefined) hop.requestId = row.requestId
  return hop
}

/** Runs the search on a prepared backend. ISO 8601 strings with the same precision compare as times. */
export async function huntPaths(backend: HuntBackend, opts: HuntOptions): Promise<HuntResult> {
  const labels = new Map<string, Label>()
  for (const origin of opts.from) labels.set(origin, { arrival: opts.since, path: [] })
  let frontier = [...opts.from]
  let rounds = 0
  const edges = new Map<string, HuntHop>()
  while (frontier.length > 0 && rounds < opts.maxDepth) {
    rounds++
    const rows = await backend.expand(frontier.map((node) => ({ node, since: labels.get(node)!.arrival })))
    for (const row of rows) {
      // A later round re-expands a node only from an earlier arrival, so its row for a pair is at least as early.
      const key = pairKey(row.src, row.dst)
      const seen = edges.get(key)
      if (seen === undefined || row.first <= seen.at) edges.set(key, toHop(row))
    }
    const improved = new Set<string>()
    // Relax against the arrivals of the previous round only, so a round adds exactly one hop.
    const snapshot = new Map([...labels].map(([k, v]) => [k, v]))
    for (const row of rows) {
      const from = snapshot.get(row.src)
      if (from === undefined || row.first < from.arrival) continue
      const current = labels.get(row.dst)
      if (current !== undefined && current.arrival <= row.first) continue
      labels.set(row.dst, { arrival: row.first, path: [...from.path, toHop(row)] })
      improved.add(row.dst)
    }
    frontier = [...improved].sort()
  }
  const truncated = frontier.length > 0

  const hops = [...[...labels.values()].flatMap((l) => l.path), ...edges.values()]
  const pairs = [...new Map(hops.map((h) => [pairKey(h.from, h.to), { src: h.from, dst: h.to }])).values()]
  const first = await backend.firstSeen(pairs)
  for (const hop of hops) {
    const seen = first.get(pairKey(hop.from, hop.to))
    if (seen !== undefined) hop.firstSeen = seen
    hop.newEdge = opts.baselineFrom !== undefined && (seen === undefined || seen >= opts.since)
  }

  if (backend.hopClusters !== undefined) {
    const calls = [...new Map(hops.map((h) => [hopCallKey(toCall(h)), toCall(h)])).values()]
    const clusters = await backend.hopClusters(calls)
    for (const hop of hops) {
      const c = clusters.get(hopCallKey(toCall(hop)))
      if (c?.source !== undefined) hop.sourceCluster = c.source
      if (c?.destination !== undefined) hop.destinationCluster = c.destination
    }
  }

  const probes = await backend.denied([...labels].map(([node, l]) => ({ node, since: l.arrival })))
  const origins = new Set(opts.from)
  const reached: ReachedNode[] = [...labels]
    .map(([node, l]) => ({
      node,
      kind: kindOfNode(node),
      arrival: l.arrival,
      hops: l.path.length,
      path: l.path,
      probes: probes.filter((p) => p.src === node),
    }))
    .sort((a, b) => Number(origins.has(b.node)) - Number(origins.has(a.node)) || cmp(a.arrival, b.arrival) || cmp(a.node, b.node))
  const probedOnly = [...new Set(probes.map((p) => p.dst).filter((d) => !labels.has(d)))].sort()
  const edgeList = [...edges.values()].sort((a, b) => cmp(a.at, b.at) || cmp(pairKey(a.from, a.to), pairKey(b.from, b.to)))
  const result: HuntResult = {
    from: [...opts.from],
    since: opts.since,
    maxDepth: opts.maxDepth,
    rounds,
    truncated,
    reached,
    probedOnly,
    edges: edgeList,
  }
  if (opts.until !== undefined) result.until = opts.until
  if (opts.baselineFrom !== undefined) result.baselineFrom = opts.baselineFrom
  return result
}

const toCall = (h: HuntHop): HopCall => ({
  src: h.from,
  dst: h.to,
  at: h.at,
  ...(h.requestId === undefined ? {} : { requestId: h.requestId }),
})

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)
