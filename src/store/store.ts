/**
 * The query side shared by the embedded store (DuckDB) and OpenSearch, so `report`, `flows`, `hunt`
 * and `policy recommend` work against either. Every aggregate runs inside the store (SQL, composite
 * aggregations): callers never pull raw events into memory to count them.
 */
import type { AuditEvent } from '../schema/audit-event.js'
import type { Lifecycle, SinkWriteResult } from '../pipeline/component.js'

/** Half-open time window [since, until) over @timestamp, ISO 8601 strings. Both optional. */
export interface TimeRange {
  since?: string
  until?: string
  /**
   * Only the records of these clusters (`--cluster`, as `hunt` and `flows` take it): written by a proxy
   * of one of them (orchestrator.cluster.name) or naming one as either end (mesh.source.cluster,
   * mesh.destination.cluster). Absent or empty: every record.
   */
  inClusters?: string[]
}

/** `cluster`: orchestrator.cluster.name, the cluster whose proxy wrote the record. */
export type CoverageDimension = 'namespace' | 'workload' | 'reporter' | 'cluster'

export interface CoverageRow {
  /** Namespace, workload (destination service or pod) or reporter; '(unknown)' when absent. */
  key: string
  events: number
  /** Inbound (mesh.reporter = destination) requests, and how many of them were mTLS. */
  inbound: number
  inboundMtls: number
  au3Complete: number
  /** AU-3 element name → number of events missing it. */
  missing: Record<string, number>
}

/** Events carrying a finding code, per coverage key (a cluster, a namespace, ...). */
export interface FindingCodeRow {
  key: string
  code: string
  count: number
}

export interface FindingCountRow {
  code: string
  severity: string
  /** Comma-free single control id, e.g. SC-8; a finding with two controls counts in both rows. */
  control: string
  count: number
}

/**
 * What every aggregated edge carries, whichever query made it: the report's `EdgeRow` (keys computed
 * per line, the same in both stores) and the identity graph's `FlowEdge` (src/hunt/backend.ts, calls
 * resolved to graph nodes) extend it, so renderers and baselines can take either.
 */
export interface EdgeAggregate {
  source: string
  destination: string
  destinationNamespace?: string
  count: number
  firstSeen: string
  lastSeen: string
  methods: string[]
  /** '2xx' | '3xx' | '4xx' | '5xx' | 'tcp' (| 'none' for FlowEdge) → count. */
  statusClasses: Record<string, number>
  mtls: number
  denied: number
  findings: string[]
}

/** An observed flow: source identity → destination, aggregated. */
export interface EdgeRow extends EdgeAggregate {
  /** SPIFFE ID when known, else namespace/service-account, else source IP; see sourceKind. */
  source: string
  /** 'workload': namespace/service-account (or namespace/workload) without a verified SPIFFE ID. */
  sourceKind: 'spiffe' | 'workload' | 'ip' | 'unknown'
  /** Destination service FQDN/name when known, else destination SPIFFE ID, else address. */
  destination: string
  destinationSpiffeId?: string
  /** With EdgeQuery.clusters: the Istio cluster ids each end was seen in (mesh.source/destination.cluster). */
  sourceClusters?: string[]
  destinationClusters?: string[]
}

export interface EdgeQuery extends TimeRange {
  sourceContains?: string
  namespace?: string
  finding?: string
  deniedOnly?: boolean
  limit?: number
  /**
   * Name identity-less sources and destinations by the workload seen at that pod address elsewhere in
   * the store (kind 'workload'). An inference for pictures of the mesh; stores that cannot do it ignore it.
   */
  inferFromAddresses?: boolean
  /** Fill sourceClusters/destinationClusters (the report's graph); a cost only the callers that show them pay. */
  clusters?: boolean
}

export interface EventQuery extends TimeRange {
  finding?: string
  namespace?: string
  limit?: number
}

export interface EgressRow {
  destination: string
  cluster: string
  count: number
  sources: string[]
  firstSeen: string
  lastSeen: string
}

export interface StoreSummary {
  events: number
  firstSeen?: string
  lastSeen?: string
}

export interface AuditStore extends Lifecycle {
  readonly kind: 'duckdb' | 'opensearch'
  /** Idempotent on event.id: writing the same event twice stores it once. */
  writeEvents(events: AuditEvent[]): Promise<SinkWriteResult>
  summary(range?: TimeRange): Promise<StoreSummary>
  coverage(dimension: CoverageDimension, range?: TimeRange): Promise<CoverageRow[]>
  findingCounts(range?: TimeRange): Promise<FindingCountRow[]>
  /** Events per (coverage key, finding code): which cluster or namespace the findings were raised in. */
  findingCodesBy(dimension: CoverageDimension, range?: TimeRange): Promise<FindingCodeRow[]>
  edges(query?: EdgeQuery): Promise<EdgeRow[]>
  /**
   * For a caller about to ask several edge questions of one window (the report): the window's edges
   * aggregated once. Until release(), edges() of that window (same inClusters and inferFromAddresses,
   * no namespace) reads the aggregate instead of the flows, with the same answers. Optional: a store
   * without it answers each question from the flows.
   */
  snapshotEdges?(range: TimeRange & Pick<EdgeQuery, 'inferFromAddresses'>): Promise<{ release(): Promise<void> }>
  egress(range?: TimeRange): Promise<EgressRow[]>
  /** Raw events, newest first, bounded by limit (default 1000): for drill-down, never for aggregation. */
  events(query?: EventQuery): Promise<AuditEvent[]>
}
