/**
 * The small query surface the lateral-movement search and `flows` need from a store. Both stores
 * answer it with aggregations that run inside the store (DuckDB SQL, OpenSearch composite
 * aggregations): the search only ever sees one row per (source, destination) pair and round, never raw
 * events.
 *
 * Nodes are workload identities, resolved per request by the backend: the SPIFFE ID when a certificate
 * named it, else `namespace/workload`, else a service (`name.namespace`), else an address. Each row
 * says which signal linked it, so a responder can judge how much to trust a hop.
 */
import type { EdgeAggregate, TimeRange } from '../store/store.js'

export type NodeKind = 'spiffe' | 'workload' | 'service' | 'ip' | 'unknown'

/** A node of the identity graph with the attributes IDENTITY arguments are matched against. */
export interface GraphNode {
  id: string
  kind: NodeKind
  namespace?: string
  serviceAccount?: string
  /** Workload (app label or pod) and service names the node was seen under. */
  names: string[]
}

/** A frontier entry: paths reached `node` at `since` (ISO 8601), so only calls at or after it extend them. */
export interface FrontierEntry {
  node: string
  since: string
}

/** The earliest allowed call on one (src, dst) pair at or after the frontier time of src. */
export interface ExpandRow {
  src: string
  dst: string
  /** ISO 8601 of the earliest call at or after the source's arrival. */
  first: string
  /** Calls on this pair at or after the source's arrival, and how many of them were plaintext. */
  count: number
  plaintext: number
  /** Whether the earliest call itself was plaintext (mesh.mtls = false). */
  firstPlaintext: boolean
  /** The signal that tied the source and the destination of the earliest call to identities. */
  srcSignal: string
  dstSignal: string
  /** Destination service the call addressed, when known. */
  service?: string
  requestId?: string
}

/** Denied calls (probes) from a node at or after its arrival. */
export interface DeniedRow {
  src: string
  dst: string
  count: number
  first: string
  last: string
  /** RBAC policy ids or finding codes that explain the denial. */
  reasons: string[]
  service?: string
}

/** One aggregated edge of the identity graph for `flows`: graph nodes at both ends (see EdgeAggregate). */
export interface FlowEdge extends EdgeAggregate {
  sourceKind: NodeKind
  destinationKind: NodeKind
  service?: string
  /** Calls without mTLS (mesh.mtls = false); `mtls` counts those with it, the rest were unknowable. */
  plaintext: number
  /** Signals that linked the destination over the aggregated calls, most frequent first. */
  signals: string[]
  /**
   * The clusters the calls ran between: each end's from the peer metadata (mesh.source.cluster,
   * mesh.destination.cluster), else the cluster of the proxy beside that end (orchestrator.cluster.name).
   * Empty when no line named one.
   */
  sourceClusters?: string[]
  destinationClusters?: string[]
}

export interface FlowFilter extends TimeRange {
  /** Source or destination node id, or an IDENTITY the caller already resolved to node ids. */
  nodes?: string[]
  namespace?: string
  finding?: string
  limit?: number
}

/** Service → identity, from an --inventory file. */
export interface InventoryEntry {
  service: string
  namespace?: string
  identity: string
}

/**
 * The analysis window [since, until) and the learning window before it: calls from `baselineFrom` up
 * to `since` only decide whether an edge is new; the search and the flow counts never use them.
 */
export interface HuntRange {
  since: string
  until?: string
  /** Start of the learning window; absent means the analysis window alone (every edge is then new). */
  baselineFrom?: string
  /**
   * Only the lines of these clusters (`--cluster`): written by a proxy in one of them
   * (orchestrator.cluster.name) or naming one as either end (mesh.source/destination.cluster), in the
   * analysis and the learning window. Absent or empty: every cluster.
   */
  clusters?: readonly string[]
}

/** A witness call to place in its clusters: the earliest call of a hop (time, request id) and its two nodes. */
export interface HopCall {
  src: string
  dst: string
  at: string
  requestId?: string
}

/** The Istio cluster ids of a call's two ends (mesh.source.cluster, mesh.destination.cluster), when logged. */
export interface HopClusters {
  source?: string
  destination?: string
}

/** Key of a HopCall in hopClusters' answer. */
export const hopCallKey = (h: HopCall): string => `${h.src}\u0000${h.dst}\u0000${h.at}`

export interface HuntBackend {
  readonly kind: 'duckdb' | 'opensearch'
  /** Prepares whatever the queries share (DuckDB builds its per-request hop table once). */
  prepare(range: HuntRange, inventory: readonly InventoryEntry[]): Promise<void>
  /** The graph nodes seen in the prepared range, to resolve an IDENTITY argument. */
  nodes(): Promise<GraphNode[]>
  /** One Bellman-Ford round: earliest allowed call per (src, dst) with src in the frontier and ts ≥ since(src). */
  expand(frontier: readonly FrontierEntry[]): Promise<ExpandRow[]>
  denied(frontier: readonly FrontierEntry[]): Promise<DeniedRow[]>
  /** Earliest call (allowed or not) per pair over the learning and analysis windows: an edge is new when it is ≥ since. */
  firstSeen(pairs: readonly { src: string; dst: string }[]): Promise<Map<string, string>>
  flows(filter: FlowFilter): Promise<FlowEdge[]>
  /**
   * The clusters of each witness call, read from its own log lines (same start time, same request id,
   * or for a call without one a line naming either end): across an east-west gateway the two differ.
   * Optional: a backend without it leaves hops without clusters.
   */
  hopClusters?(calls: readonly HopCall[]): Promise<Map<string, HopClusters>>
  close(): Promise<void>
}

export const pairKey = (src: string, dst: string): string => `${src}\u0000${dst}`
