/**
 * AuditStore over OpenSearch, so `report`, `flows` and `hunt` run against the SIEM's indices. Writes go
 * through the OpenSearch sink (same bulk, retry and replay rules); reads are aggregations computed in
 * OpenSearch, composite aggregations paged with after_key, bounded by `maxBuckets` (opensearch-read.ts keeps
 * each request within search.max_buckets and index.max_result_window). Rows are merged in
 * memory only where several composite keys resolve to one row key (e.g. a SPIFFE ID seen from many IPs).
 *
 * Known difference from the embedded store: DuckDB's edge queries drop the client-side line of a
 * request whose server-side line was also logged (same x-request-id); an aggregation cannot join, so
 * here a request logged by both sidecars counts on both lines' edges (they usually differ: the client
 * line has no peer SPIFFE ID). Coverage and finding counts are the same.
 */
import { loadConfigSection } from '../config/validate.js'
import { z } from 'zod'
import type { Client } from '@opensearch-project/opensearch'
import { EnvoyAuditError } from '../errors.js'
import type { SinkWriteResult } from '../pipeline/component.js'
import type { AuditEvent } from '../schema/audit-event.js'
import { createOpenSearchClient, type ConnectionConfig } from '../connections/opensearch.js'
import { loadSinkConfig, type SinkConfigInput } from '../sinks/opensearch/config.js'
import { OpenSearchSink } from '../sinks/opensearch/sink.js'
import {
  boolQuery,
  compositeSources,
  COVERAGE_FIELDS,
  EDGE_CLUSTER_AGGS,
  COVERAGE_SUB_AGGS,
  coverageKey,
  DESTINATION_FIELDS,
  destinationKey,
  EDGE_SUB_AGGS,
  EGRESS_QUERY,
  egressDestination,
  namespaceFilter,
  rangeFilter,
  COUNTED_BY_SERVER_LINE,
  timeFilter,
  SOURCE_FIELDS,
  sourceKey,
  TIME_AGGS,
  type FieldName,
} from './opensearch-aggregates.js'
import { compositeAll, hitsAll, searchOnce, type CompositeBucket, type ReadTarget } from './opensearch-read.js'
import type {
  AuditStore,
  CoverageDimension,
  FindingCodeRow,
  CoverageRow,
  EdgeQuery,
  EdgeRow,
  EgressRow,
  EventQuery,
  FindingCountRow,
  StoreSummary,
  TimeRange,
} from './store.js'

type Json = Record<string, unknown>
type Bucket = CompositeBucket

export const openSearchStoreConfigSchema = z
  .object({
    /** Read targets: the aliases (all generations behind them are searched). */
    eventsIndex: z.string().min(1).max(500).default('envoy-audit-events'),
    findingsIndex: z.string().min(1).max(500).default('envoy-audit-findings'),
    /**
     * Composite page size (keys per request; halved while the cluster refuses a page for search.max_buckets)
     * and the most groups one query may walk before failing.
     */
    pageSize: z.number().int().min(10).max(10_000).default(1000),
    maxBuckets: z.number().int().min(100).max(10_000_000).default(200_000),
    /** Events per request when listing events; more are paged with search_after in a point in time. */
    hitsPageSize: z.number().int().min(1).max(10_000).default(1000),
    defaultEventLimit: z.number().int().min(1).max(1_000_000).default(1000),
    defaultEdgeLimit: z.number().int().min(1).max(1_000_000).default(1000),
  })
  .strict()

export type OpenSearchStoreConfig = Readonly<z.output<typeof openSearchStoreConfigSchema>>

export interface OpenSearchStoreOptions {
  client?: Client
  connection?: ConnectionConfig
  config?: z.input<typeof openSearchStoreConfigSchema>
  sink?: SinkConfigInput
}

const num = (v: unknown): number => Number((v as { doc_count?: number } | undefined)?.doc_count ?? 0)
const keys = (agg: unknown): string[] => ((agg as { buckets?: { key: unknown }[] } | undefined)?.buckets ?? []).map((b) => String(b.key))
const dateOf = (agg: unknown): string | undefined => (agg as { value_as_string?: string } | undefined)?.value_as_string
const minIso = (a: string, b: string | undefined) => (b !== undefined && (a === '' || b < a) ? b : a)
const maxIso = (a: string, b: string | undefined) => (b !== undefined && b > a ? b : a)

export class OpenSearchStore implements AuditStore {
  readonly kind = 'opensearch' as const
  readonly config: OpenSearchStoreConfig
  private client: Client | undefined
  private sink: OpenSearchSink | undefined
  private closed = false

  constructor(private readonly options: OpenSearchStoreOptions) {
    this.config = loadConfigSection(openSearchStoreConfigSchema, options.config, 'store.opensearch')
    this.client = options.client
  }

  async start(): Promise<void> {
    if (this.client === undefined) {
      if (this.options.connection === undefined)
        throw new EnvoyAuditError('EA_CONFIG_INVALID', 'store.opensearch: a client or a connection is required')
      this.client = await createOpenSearchClient(this.options.connection, { maxRetries: 3 })
    }
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    if (this.sink !== undefined) {
      await this.sink.close()
      // Make what was just written searchable for the next command (report right after ingest).
      await this.client?.indices
        .refresh({ index: `${this.config.eventsIndex},${this.config.findingsIndex}` }, { ignore: [404] })
        .catch(() => undefined)
    }
    if (this.options.client === undefined) await this.client?.close()
  }

  async writeEvents(events: AuditEvent[]): Promise<SinkWriteResult> {
    if (this.sink === undefined) {
      this.sink = new OpenSearchSink({ client: this.requireClient(), config: loadSinkConfig(this.options.sink ?? {}) })
      await this.sink.start()
    }
    const result = await this.sink.write(events)
    // Search is near-real-time (refresh_interval 5s in the templates): this store's next query must see what it just wrote.
    await this.client?.indices
      .refresh({ index: `${this.config.eventsIndex},${this.config.findingsIndex}` }, { ignore: [404] })
      .catch(() => undefined)
    return result
  }

  async summary(range?: TimeRange): Promise<StoreSummary> {
    const body = await this.search(this.config.eventsIndex, {
      size: 0,
      track_total_hits: true,
      query: boolQuery(rangeFilter(range)),
      aggs: TIME_AGGS,
    })
    const total = (body.hits as { total?: { value?: number } }).total?.value ?? 0
    const aggs = body.aggregations as Json
    const out: StoreSummary = { events: total }
    if (total > 0) {
      out.firstSeen = dateOf(aggs.first)
      out.lastSeen = dateOf(aggs.last)
    }
    return out
  }

  async coverage(dimension: CoverageDimension, range?: TimeRange): Promise<CoverageRow[]> {
    const rows = new Map<string, CoverageRow>()
    for (const b of await this.composite(this.config.eventsIndex, rangeFilter(range), COVERAGE_FIELDS[dimension], COVERAGE_SUB_AGGS)) {
      const key = coverageKey(dimension, b.key)
      const row = rows.get(key) ?? {
        key,
        events: 0,
        inbound: 0,
        inboundMtls: 0,
        au3Complete: 0,
        missing: Object.create(null) as Record<string, number>,
      }
      row.events += b.doc_count
      row.inbound += num(b.inbound)
      row.inboundMtls += num(b.inbound_mtls)
      row.au3Complete += num(b.au3_complete)
      for (const m of (b.missing as { buckets: { key: string; doc_count: number }[] }).buckets)
        row.missing[m.key] = (row.missing[m.key] ?? 0) + m.doc_count
      rows.set(key, row)
    }
    return [...rows.values()].sort((a, b) => b.events - a.events || (a.key < b.key ? -1 : 1))
  }

  async findingCodesBy(dimension: CoverageDimension, range?: TimeRange): Promise<FindingCodeRow[]> {
    const counts = new Map<string, FindingCodeRow>()
    const filters = [...rangeFilter(range), { exists: { field: 'audit.finding_codes' } }]
    for (const b of await this.composite(this.config.eventsIndex, filters, [...COVERAGE_FIELDS[dimension], 'finding_code'], {})) {
      const key = coverageKey(dimension, b.key)
      const code = String(b.key.finding_code)
      const id = JSON.stringify([key, code])
      const row = counts.get(id) ?? { key, code, count: 0 }
      row.count += b.doc_count
      counts.set(id, row)
    }
    return [...counts.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : b.count - a.count || (a.code < b.code ? -1 : 1)))
  }

  async findingCounts(range?: TimeRange): Promise<FindingCountRow[]> {
    const sources = [
      { code: { terms: { field: 'finding.code', missing_bucket: true } } },
      { severity: { terms: { field: 'finding.severity', missing_bucket: true } } },
      { control: { terms: { field: 'finding.controls', missing_bucket: true } } },
    ]
    let rows = (await this.compositeRaw(this.config.findingsIndex, timeFilter(range), sources, {})).map((b) => ({
      code: String(b.key.code ?? '(none)'),
      severity: String(b.key.severity ?? 'info'),
      control: String(b.key.control ?? '(none)'),
      count: b.doc_count,
    }))
    if (range?.inClusters !== undefined && range.inClusters.length > 0) rows = await this.clusterFindingCounts(range, rows)
    return rows.sort((a, b) => b.count - a.count || a.code.localeCompare(b.code) || a.control.localeCompare(b.control))
  }

  /**
   * findingCounts of some clusters. A finding document carries no cluster, so the counts per code come
   * from the events of those clusters (records carrying the code); the code's controls and severity from
   * its finding documents of the window, the highest severity when it was raised at several (an event's
   * findings are not nested documents: its codes and severities cannot be paired in an aggregation).
   */
  private async clusterFindingCounts(range: TimeRange, all: FindingCountRow[]): Promise<FindingCountRow[]> {
    const filters = [...rangeFilter(range), { exists: { field: 'audit.finding_codes' } }]
    const sources = [{ code: { terms: { field: 'audit.finding_codes' } } }]
    const out: FindingCountRow[] = []
    for (const b of await this.compositeRaw(this.config.eventsIndex, filters, sources, {})) {
      const code = String(b.key.code)
      const known = all.filter((r) => r.code === code)
      const severity = known.map((r) => r.severity).sort((x, y) => severityRank(x) - severityRank(y))[0] ?? 'info'
      const controls = [...new Set(known.map((r) => r.control))]
      for (const control of controls.length === 0 ? ['(none)'] : controls) out.push({ code, severity, control, count: b.doc_count })
    }
    return out
  }

  async edges(query: EdgeQuery = {}): Promise<EdgeRow[]> {
    // One line per call, as the embedded store's flows view: the server line's (COUNTED_BY_SERVER_LINE).
    const filters = [...rangeFilter(query), ...namespaceFilter(query.namespace), { bool: { must_not: [COUNTED_BY_SERVER_LINE] } }]
    const rows = new Map<string, EdgeRow & { findingSet: Set<string>; methodSet: Set<string> }>()
    const subAggs = query.clusters === true ? { ...EDGE_SUB_AGGS, ...EDGE_CLUSTER_AGGS } : EDGE_SUB_AGGS
    const clusterSets = new Map<string, { source: Set<string>; destination: Set<string> }>()
    for (const b of await this.composite(this.config.eventsIndex, filters, [...SOURCE_FIELDS, ...DESTINATION_FIELDS], subAggs)) {
      const src = sourceKey(b.key)
      if (query.sourceContains !== undefined && !src.key.toLowerCase().includes(query.sourceContains.toLowerCase())) continue
      const destination = destinationKey(b.key)
      const id = JSON.stringify([src.key, destination])
      let row = rows.get(id)
      if (row === undefined) {
        row = {
          source: src.key,
          sourceKind: src.kind,
          destination,
          count: 0,
          firstSeen: '',
          lastSeen: '',
          methods: [],
          statusClasses: Object.create(null) as Record<string, number>,
          mtls: 0,
          denied: 0,
          findings: [],
          findingSet: new Set(),
          methodSet: new Set(),
        }
        rows.set(id, row)
      }
      row.count += b.doc_count
      row.firstSeen = minIso(row.firstSeen, dateOf(b.first))
      row.lastSeen = maxIso(row.lastSeen, dateOf(b.last))
      for (const m of keys(b.methods)) row.methodSet.add(m)
      for (const f of keys(b.findings)) row.findingSet.add(f)
      for (const [cls, agg] of Object.entries((b.status as { buckets: Json }).buckets))
        if (num(agg) > 0) row.statusClasses[cls] = (row.statusClasses[cls] ?? 0) + num(agg)
      row.mtls += num(b.mtls)
      row.denied += num(b.denied)
      if (query.clusters === true) {
        const sets = clusterSets.get(id) ?? { source: new Set<string>(), destination: new Set<string>() }
        for (const c of keys(b.source_clusters)) sets.source.add(c)
        for (const c of keys(b.destination_clusters)) sets.destination.add(c)
        clusterSets.set(id, sets)
      }
      const dstSpiffe = b.key.dst_spiffe
      if (row.destinationSpiffeId === undefined && typeof dstSpiffe === 'string') row.destinationSpiffeId = dstSpiffe
      const dstNs = b.key.dst_ns
      if (row.destinationNamespace === undefined && typeof dstNs === 'string') row.destinationNamespace = dstNs
    }
    let out: EdgeRow[] = [...rows.values()].map(({ findingSet, methodSet, ...row }) => {
      const r: EdgeRow = { ...row, methods: [...methodSet].sort(), findings: [...findingSet].sort() }
      if (r.destinationSpiffeId === undefined) delete r.destinationSpiffeId
      if (r.destinationNamespace === undefined) delete r.destinationNamespace
      const sets = clusterSets.get(JSON.stringify([r.source, r.destination]))
      if (query.clusters === true) {
        r.sourceClusters = [...(sets?.source ?? [])].sort()
        r.destinationClusters = [...(sets?.destination ?? [])].sort()
      }
      return r
    })
    if (query.finding !== undefined) out = out.filter((r) => r.findings.includes(query.finding!))
    if (query.deniedOnly === true) out = out.filter((r) => r.denied > 0)
    out.sort(
      (a, b) =>
        b.denied - a.denied ||
        b.count - a.count ||
        (a.source < b.source ? -1 : a.source > b.source ? 1 : a.destination < b.destination ? -1 : 1),
    )
    return out.slice(0, query.limit ?? this.config.defaultEdgeLimit)
  }

  async egress(range?: TimeRange): Promise<EgressRow[]> {
    const rows = new Map<string, EgressRow & { sourceSet: Set<string> }>()
    const fields = [...SOURCE_FIELDS, 'sni', 'url_domain', 'dst_domain', 'authority', 'upstream_host', 'dst_addr', 'cluster'] as const
    for (const b of await this.composite(this.config.eventsIndex, [...rangeFilter(range), EGRESS_QUERY], [...fields], TIME_AGGS)) {
      const destination = egressDestination(b.key)
      const cluster = b.key.cluster === null || b.key.cluster === undefined ? '(none)' : String(b.key.cluster)
      const id = JSON.stringify([destination, cluster])
      const row = rows.get(id) ?? { destination, cluster, count: 0, sources: [], firstSeen: '', lastSeen: '', sourceSet: new Set<string>() }
      row.count += b.doc_count
      row.sourceSet.add(sourceKey(b.key).key)
      row.firstSeen = minIso(row.firstSeen, dateOf(b.first))
      row.lastSeen = maxIso(row.lastSeen, dateOf(b.last))
      rows.set(id, row)
    }
    return [...rows.values()]
      .map(({ sourceSet, ...r }) => ({ ...r, sources: [...sourceSet].sort() }))
      .sort((a, b) => b.count - a.count || (a.destination < b.destination ? -1 : 1))
  }

  async events(query: EventQuery = {}): Promise<AuditEvent[]> {
    const filters = [...rangeFilter(query), ...namespaceFilter(query.namespace)]
    if (query.finding !== undefined) filters.push({ term: { 'audit.finding_codes': query.finding } })
    // event.id is unique: the tiebreaker search_after needs to page without skipping or repeating.
    const sort = [{ '@timestamp': { order: 'desc' } }, { 'event.id': { order: 'asc' } }]
    const hits = await hitsAll(
      this.target(this.config.eventsIndex),
      boolQuery(filters),
      sort,
      query.limit ?? this.config.defaultEventLimit,
      {
        pageSize: this.config.hitsPageSize,
      },
    )
    return hits.map((h) => h._source as unknown as AuditEvent)
  }

  private requireClient(): Client {
    if (this.client === undefined) throw new EnvoyAuditError('EA_STORE_QUERY', 'opensearch store not started')
    return this.client
  }

  private target(index: string): ReadTarget {
    return { client: this.requireClient(), index, what: 'opensearch query' }
  }

  private search(index: string, body: Json): Promise<Json> {
    return searchOnce(this.target(index), body)
  }

  private composite(index: string, filters: Json[], fields: readonly FieldName[], sub: Json): Promise<Bucket[]> {
    return this.compositeRaw(index, filters, compositeSources([...fields]), sub)
  }

  /** Every page of a composite aggregation (after_key), split under search.max_buckets, failing past maxBuckets groups. */
  private compositeRaw(index: string, filters: Json[], sources: Json[], sub: Json): Promise<Bucket[]> {
    return compositeAll(this.target(index), boolQuery(filters), sources, sub, {
      pageSize: this.config.pageSize,
      maxKeys: this.config.maxBuckets,
    })
  }
}

const SEVERITIES = ['critical', 'high', 'medium', 'low', 'info']
const severityRank = (s: string): number => (SEVERITIES.includes(s) ? SEVERITIES.indexOf(s) : SEVERITIES.length)
