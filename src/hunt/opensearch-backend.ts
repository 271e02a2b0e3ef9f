/**
 * HuntBackend over OpenSearch: every number comes from composite aggregations (paged by after_key,
 * bounded by maxBuckets) keyed on the identity fields of a line, the "identity tuple". Tuples are few
 * (one per distinct combination of source and destination identity facts), so resolving them to graph
 * nodes happens here, with the same precedence as the DuckDB backend.
 *
 * Difference from DuckDB, by necessity: an aggregation cannot join the client and server lines of one
 * call, so x-request-id and socket linking are unavailable; `namespace/workload` names are tied to SPIFFE
 * IDs through the server side (a pod's own workload next to its local certificate), the inventory and
 * the learned service map. A call logged by both sidecars counts on both lines in `flows`.
 */
import type { Client } from '@opensearch-project/opensearch'
import { DENIAL_FINDING_CODES, UNREACHED_RESPONSE_FLAGS } from '../detect/catalogue.js'
import { EnvoyAuditError } from '../errors.js'
import { clusterQuery, countedByServerLine, DENIED_QUERY, FIELDS } from '../store/opensearch-aggregates.js'
import { compositeAll, type CompositeBucket, type CompositeKey } from '../store/opensearch-read.js'
import type {
  DeniedRow,
  ExpandRow,
  FlowEdge,
  FlowFilter,
  FrontierEntry,
  GraphNode,
  HopCall,
  HopClusters,
  HuntBackend,
  HuntRange,
  InventoryEntry,
} from './backend.js'
import { hopCallKey, pairKey } from './backend.js'
import { kindOfNode, spiffeParts } from './node-id.js'

type Json = Record<string, unknown>
type Key = CompositeKey
type Bucket = CompositeBucket

const TUPLE = {
  reporter: FIELDS.reporter,
  src_spiffe: FIELDS.src_spiffe,
  src_ns: FIELDS.src_ns,
  src_sa: FIELDS.src_sa,
  src_wl: FIELDS.src_wl,
  src_ip: FIELDS.src_ip,
  src_sig: 'mesh.source.signal',
  dst_spiffe: FIELDS.dst_spiffe,
  dst_ns: FIELDS.dst_ns,
  dst_service: FIELDS.dst_service,
  dst_wl: FIELDS.dst_wl,
  dst_sig: 'mesh.destination.signal',
  dst_addr: FIELDS.dst_addr,
} as const
type TupleField = keyof typeof TUPLE
const SOURCES: Json[] = Object.entries(TUPLE).map(([name, field]) => ({ [name]: { terms: { field, missing_bucket: true } } }))
const DENIAL: ReadonlySet<string> = new Set(DENIAL_FINDING_CODES)
/** Not a step an attacker could take: denied, never reached the app, or refused with 401/403 (the client line of an RBAC denial is a plain 403). */
const BLOCKED: Json = {
  bool: {
    should: [
      DENIED_QUERY,
      { terms: { 'envoy.response_flags': UNREACHED_RESPONSE_FLAGS } },
      { terms: { 'http.response.status_code': [401, 403] } },
    ],
    minimum_should_match: 1,
  },
}
/** The clusters of a flows bucket's lines: each end's (peer metadata) and the proxy's own. */
const FLOW_CLUSTER_AGGS: Json = {
  source_cluster: { terms: { field: 'mesh.source.cluster', size: 16 } },
  destination_cluster: { terms: { field: 'mesh.destination.cluster', size: 16 } },
  own_cluster: { terms: { field: 'orchestrator.cluster.name', size: 16 } },
}

/** Frontier entries per query: each is a bool clause, and clusters cap clauses (1024 by default). */
const FRONTIER_CHUNK = 100

export interface OpenSearchHuntOptions {
  index: string
  pageSize?: number
  maxBuckets?: number
}

export interface Resolved {
  src: string
  srcSignal: string
  dst: string
  dstSignal: string
  service?: string
  /** The query clause matching exactly the lines whose source resolves like this tuple's. */
  srcMatch: Json
}

const v = (k: Key, f: TupleField): string | undefined => {
  const x = k[f]
  return x === null || x === undefined || x === '' ? undefined : String(x)
}

export function serviceOf(k: Key): string | undefined {
  const svc = v(k, 'dst_service')
  const ns = v(k, 'dst_ns')
  return svc === undefined ? undefined : ns === undefined || svc.includes('.') ? svc : `${svc}.${ns}`
}

/** Learns `namespace/workload` → SPIFFE ID from server lines and `service` → identity from resolved calls. */
export function learnAliases(
  keys: readonly Key[],
  inventory: readonly InventoryEntry[],
): { wl: Map<string, string>; svc: Map<string, { node: string; signal: string }> } {
  const wl = new Map<string, string>()
  for (const k of keys) {
    const id = v(k, 'dst_spiffe')
    const ns = v(k, 'dst_ns')
    const name = v(k, 'dst_wl')
    if (v(k, 'reporter') === 'destination' && id !== undefined && ns !== undefined && name !== undefined && !wl.has(`${ns}/${name}`))
      wl.set(`${ns}/${name}`, id)
  }
  const svc = new Map<string, { node: string; signal: string }>()
  for (const e of inventory)
    svc.set(e.namespace === undefined || e.service.includes('.') ? e.service : `${e.service}.${e.namespace}`, {
      node: e.identity,
      signal: 'inventory',
    })
  for (const k of keys) {
    const s = serviceOf(k)
    const ns = v(k, 'dst_ns')
    const name = v(k, 'dst_wl')
    const node =
      v(k, 'dst_spiffe') ??
      (v(k, 'reporter') === 'destination' && ns !== undefined && name !== undefined
        ? (wl.get(`${ns}/${name}`) ?? `${ns}/${name}`)
        : undefined)
    if (s !== undefined && node !== undefined && !svc.has(s)) svc.set(s, { node, signal: 'service_map' })
  }
  return { wl, svc }
}

export function resolveTuple(k: Key, aliases: ReturnType<typeof learnAliases>): Resolved {
  const reporter = v(k, 'reporter')
  const server = reporter === 'destination'
  let src: string
  let srcSignal: string
  let srcMatch: Json
  const spiffe = v(k, 'src_spiffe')
  const ns = v(k, 'src_ns')
  const name = server ? v(k, 'src_sa') : (v(k, 'src_wl') ?? v(k, 'src_sa'))
  if (spiffe !== undefined) {
    src = spiffe
    srcSignal = v(k, 'src_sig') ?? 'certificate'
    srcMatch = { term: { [TUPLE.src_spiffe]: spiffe } }
  } else if (ns !== undefined && name !== undefined) {
    const wlKey = `${ns}/${name}`
    const alias = server ? undefined : aliases.wl.get(wlKey)
    src = alias ?? wlKey
    srcSignal = server ? 'principal' : alias !== undefined ? 'kubernetes+alias' : 'kubernetes'
    const nameField = server || v(k, 'src_wl') === undefined ? TUPLE.src_sa : TUPLE.src_wl
    srcMatch = {
      bool: {
        filter: [{ term: { [TUPLE.src_ns]: ns } }, { term: { [nameField]: name } }],
        must_not: [{ exists: { field: TUPLE.src_spiffe } }, ...(server ? [] : [{ term: { [TUPLE.reporter]: 'destination' } }])],
      },
    }
  } else {
    const ip = v(k, 'src_ip')
    src = ip ?? '(unknown)'
    srcSignal = ip === undefined ? 'none' : 'address'
    srcMatch =
      ip === undefined
        ? {
            bool: {
              must_not: [{ exists: { field: TUPLE.src_spiffe } }, { exists: { field: TUPLE.src_ns } }, { exists: { field: TUPLE.src_ip } }],
            },
          }
        : {
            bool: {
              filter: [{ term: { [TUPLE.src_ip]: ip } }],
              must_not: [{ exists: { field: TUPLE.src_spiffe } }, { exists: { field: TUPLE.src_ns } }],
            },
          }
  }
  const service = serviceOf(k)
  let dst: string
  let dstSignal: string
  const dspiffe = v(k, 'dst_spiffe')
  const dns = v(k, 'dst_ns')
  const dwl = v(k, 'dst_wl')
  const mapped = service === undefined ? undefined : aliases.svc.get(service)
  if (dspiffe !== undefined) {
    dst = dspiffe
    dstSignal = v(k, 'dst_sig') ?? 'certificate'
  } else if (server && dns !== undefined && dwl !== undefined) {
    dst = aliases.wl.get(`${dns}/${dwl}`) ?? `${dns}/${dwl}`
    dstSignal = 'kubernetes'
  } else if (mapped !== undefined) {
    dst = mapped.node
    dstSignal = mapped.signal
  } else if (service !== undefined) {
    dst = service
    dstSignal = 'service'
  } else {
    dst = v(k, 'dst_addr') ?? '(unknown)'
    dstSignal = dst === '(unknown)' ? 'none' : 'address'
  }
  const out: Resolved = { src, srcSignal, dst, dstSignal, srcMatch }
  if (service !== undefined) out.service = service
  return out
}

const minStr = (a: string | undefined, b: string | undefined): string | undefined =>
  a === undefined ? b : b === undefined || a <= b ? a : b
const dateOf = (agg: unknown): string | undefined => {
  const a = agg as { value?: number | null; value_as_string?: string } | undefined
  if (a?.value_as_string !== undefined) return new Date(Date.parse(a.value_as_string)).toISOString()
  return typeof a?.value === 'number' ? new Date(a.value).toISOString() : undefined
}
const countOf = (agg: unknown): number => Number((agg as { doc_count?: number } | undefined)?.doc_count ?? 0)
const termKeys = (agg: unknown): string[] =>
  ((agg as { buckets?: { key: unknown }[] } | undefined)?.buckets ?? []).map((b) => String(b.key))

export class OpenSearchHuntBackend implements HuntBackend {
  readonly kind = 'opensearch' as const
  private readonly pageSize: number
  private readonly maxBuckets: number
  private range: { since: string; until?: string; from: string } | undefined
  /** The --cluster clause, added to every query of the prepared window. */
  private clusterFilter: Json | undefined
  private tuples: { key: Key; first: string; resolved: Resolved }[] = []
  /** Aliases learned in prepare(), reused to resolve the buckets of later queries. */
  private learned: ReturnType<typeof learnAliases> = { wl: new Map(), svc: new Map() }

  constructor(
    private readonly client: Client,
    private readonly options: OpenSearchHuntOptions,
  ) {
    this.pageSize = options.pageSize ?? 1000
    this.maxBuckets = options.maxBuckets ?? 200_000
  }

  async prepare(range: HuntRange, inventory: readonly InventoryEntry[]): Promise<void> {
    this.range = {
      since: range.since,
      from: range.baselineFrom ?? range.since,
      ...(range.until === undefined ? {} : { until: range.until }),
    }
    this.clusterFilter = range.clusters !== undefined && range.clusters.length > 0 ? clusterQuery(range.clusters) : undefined
    const buckets = await this.composite([this.timeFilter(this.range.from)], { first: { min: { field: '@timestamp' } } })
    const aliases = learnAliases(
      buckets.map((b) => b.key),
      inventory,
    )
    this.learned = aliases
    this.tuples = buckets.map((b) => ({ key: b.key, first: dateOf(b.first) ?? this.range!.from, resolved: resolveTuple(b.key, aliases) }))
  }

  private get window(): { since: string; until?: string; from: string } {
    if (this.range === undefined) throw new EnvoyAuditError('EA_STORE_QUERY', 'hunt backend used before prepare()')
    return this.range
  }

  private timeFilter(gte: string): Json {
    const bounds: Json = { gte }
    if (this.range?.until !== undefined) bounds.lt = this.range.until
    return { range: { '@timestamp': bounds } }
  }

  async nodes(): Promise<GraphNode[]> {
    const names = new Map<string, Set<string>>()
    const add = (node: string, name: string | undefined): void => {
      const set = names.get(node) ?? new Set<string>()
      if (name !== undefined && name !== '') set.add(name)
      names.set(node, set)
    }
    for (const t of this.tuples) {
      add(t.resolved.src, v(t.key, 'reporter') === 'destination' ? undefined : v(t.key, 'src_wl'))
      add(t.resolved.dst, v(t.key, 'reporter') === 'destination' ? v(t.key, 'dst_wl') : undefined)
      if (t.resolved.service !== undefined) add(t.resolved.dst, t.resolved.service.split('.')[0])
    }
    return [...names]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([id, set]) => {
        const node: GraphNode = { id, kind: kindOfNode(id), names: [...set].sort() }
        const parts = node.kind === 'spiffe' ? spiffeParts(id) : undefined
        if (parts !== undefined) Object.assign(node, parts)
        else if (node.kind === 'workload') node.namespace = id.split('/')[0]!
        return node
      })
  }

  /** A bool `should` with one clause per frontier entry: lines from that node at or after its arrival. */
  private frontierQueries(frontier: readonly FrontierEntry[]): Json[][] {
    const chunks: Json[][] = []
    for (let i = 0; i < frontier.length; i += FRONTIER_CHUNK) {
      const should: Json[] = []
      for (const e of frontier.slice(i, i + FRONTIER_CHUNK)) {
        const matches = [
          ...new Map(
            this.tuples.filter((t) => t.resolved.src === e.node).map((t) => [JSON.stringify(t.resolved.srcMatch), t.resolved.srcMatch]),
          ).values(),
        ]
        if (matches.length === 0) continue
        const since = e.since > this.window.since ? e.since : this.window.since
        should.push({ bool: { filter: [this.timeFilter(since), { bool: { should: matches, minimum_should_match: 1 } }] } })
      }
      if (should.length > 0) chunks.push([{ bool: { should, minimum_should_match: 1 } }])
    }
    return chunks
  }

  async expand(frontier: readonly FrontierEntry[]): Promise<ExpandRow[]> {
    const since = new Map(frontier.map((e) => [e.node, e.since]))
    const rows = new Map<string, ExpandRow & { plainFirst?: string; mtlsFirst?: string }>()
    for (const filters of this.frontierQueries(frontier)) {
      const buckets = await this.composite([...filters, { bool: { must_not: [BLOCKED] } }], {
        first: { min: { field: '@timestamp' } },
        plaintext: { filter: { term: { 'mesh.mtls': false } }, aggs: { first: { min: { field: '@timestamp' } } } },
        mtls: { filter: { term: { 'mesh.mtls': true } }, aggs: { first: { min: { field: '@timestamp' } } } },
      })
      for (const b of buckets) {
        const r = resolveTuple(b.key, this.learned)
        const first = dateOf(b.first)
        if (first === undefined || r.src === r.dst || !since.has(r.src) || first < since.get(r.src)!) continue
        const key = pairKey(r.src, r.dst)
        const prev = rows.get(key)
        const plainFirst = minStr(prev?.plainFirst, dateOf((b.plaintext as Json | undefined)?.first))
        const mtlsFirst = minStr(prev?.mtlsFirst, dateOf((b.mtls as Json | undefined)?.first))
        const count = b.doc_count + (prev?.count ?? 0)
        const plaintext = countOf(b.plaintext) + (prev?.plaintext ?? 0)
        if (prev !== undefined && prev.first <= first) {
          Object.assign(prev, { count, plaintext, plainFirst, mtlsFirst })
          continue
        }
        const row: ExpandRow & { plainFirst?: string; mtlsFirst?: string } = {
          src: r.src,
          dst: r.dst,
          first,
          count,
          plaintext,
          firstPlaintext: false,
          srcSignal: r.srcSignal,
          dstSignal: r.dstSignal,
        }
        if (plainFirst !== undefined) row.plainFirst = plainFirst
        if (mtlsFirst !== undefined) row.mtlsFirst = mtlsFirst
        if (r.service !== undefined) row.service = r.service
        rows.set(key, row)
      }
    }
    return [...rows.values()]
      .map(({ plainFirst, mtlsFirst, ...row }) => ({
        // The two lines of one call are separate buckets here: the witness counts as plaintext when the
        // first line that could tell (mesh.mtls true or false) said plaintext.
        ...row,
        firstPlaintext: plainFirst !== undefined && (mtlsFirst === undefined || plainFirst <= mtlsFirst),
      }))
      .sort((a, b) => (pairKey(a.src, a.dst) < pairKey(b.src, b.dst) ? -1 : 1))
  }

  async denied(frontier: readonly FrontierEntry[]): Promise<DeniedRow[]> {
    const rows = new Map<string, DeniedRow>()
    const since = new Map(frontier.map((e) => [e.node, e.since]))
    for (const filters of this.frontierQueries(frontier)) {
      const buckets = await this.composite([...filters, DENIED_QUERY], {
        first: { min: { field: '@timestamp' } },
        last: { max: { field: '@timestamp' } },
        policies: { terms: { field: 'envoy.rbac_policy', size: 16 } },
        codes: { terms: { field: 'audit.finding_codes', size: 32 } },
      })
      for (const b of buckets) {
        const r = resolveTuple(b.key, this.learned)
        const first = dateOf(b.first)
        const last = dateOf(b.last)
        if (first === undefined || last === undefined || !since.has(r.src)) continue
        const reasons = [...termKeys(b.policies).map((p) => `rbac:${p}`), ...termKeys(b.codes).filter((c) => DENIAL.has(c))]
        const key = pairKey(r.src, r.dst)
        const prev = rows.get(key)
        if (prev === undefined) {
          const row: DeniedRow = { src: r.src, dst: r.dst, count: b.doc_count, first, last, reasons: [...new Set(reasons)].sort() }
          if (r.service !== undefined) row.service = r.service
          rows.set(key, row)
        } else {
          prev.count += b.doc_count
          prev.first = minStr(prev.first, first)!
          prev.last = prev.last > last ? prev.last : last
          prev.reasons = [...new Set([...prev.reasons, ...reasons])].sort()
        }
      }
    }
    return [...rows.values()].sort((a, b) => (a.src < b.src ? -1 : a.src > b.src ? 1 : a.first < b.first ? -1 : 1))
  }

  async firstSeen(pairs: readonly { src: string; dst: string }[]): Promise<Map<string, string>> {
    const wanted = new Set(pairs.map((p) => pairKey(p.src, p.dst)))
    const out = new Map<string, string>()
    for (const t of this.tuples) {
      const key = pairKey(t.resolved.src, t.resolved.dst)
      if (wanted.has(key)) out.set(key, minStr(out.get(key), t.first)!)
    }
    return out
  }

  async flows(filter: FlowFilter): Promise<FlowEdge[]> {
    const filters: Json[] = [this.timeFilter(filter.since ?? this.window.since)]
    if (filter.until !== undefined) (filters[0] as { range: { '@timestamp': Json } }).range['@timestamp'].lt = filter.until
    // A call once, on its server line's bucket, as the embedded store's call tables count it: the search
    // rounds still read every line, since a client line alone may be what reaches a node.
    filters.push({ bool: { must_not: [countedByServerLine(false)] } })
    const buckets = await this.composite(filters, {
      first: { min: { field: '@timestamp' } },
      last: { max: { field: '@timestamp' } },
      methods: { terms: { field: 'http.request.method', size: 32 } },
      status: { terms: { field: 'http.response.status_code', size: 64 } },
      mtls: { filter: { term: { 'mesh.mtls': true } } },
      plaintext: { filter: { term: { 'mesh.mtls': false } } },
      denied: { filter: DENIED_QUERY },
      findings: { terms: { field: 'audit.finding_codes', size: 64 } },
      ...FLOW_CLUSTER_AGGS,
    })
    const edges = new Map<string, FlowEdge & { signalCounts: Map<string, number>; sc: Set<string>; dc: Set<string> }>()
    const nodeSet = filter.nodes === undefined ? undefined : new Set(filter.nodes)
    for (const b of buckets) {
      const r = resolveTuple(b.key, this.learned)
      if (nodeSet !== undefined && !nodeSet.has(r.src) && !nodeSet.has(r.dst)) continue
      const ns = filter.namespace
      if (ns !== undefined && ![v(b.key, 'src_ns'), v(b.key, 'dst_ns')].includes(ns)) continue
      const key = pairKey(r.src, r.dst)
      const e = edges.get(key) ?? {
        source: r.src,
        sourceKind: kindOfNode(r.src),
        destination: r.dst,
        destinationKind: kindOfNode(r.dst),
        count: 0,
        firstSeen: dateOf(b.first) ?? '',
        lastSeen: dateOf(b.last) ?? '',
        methods: [],
        statusClasses: Object.create(null) as Record<string, number>,
        mtls: 0,
        plaintext: 0,
        denied: 0,
        findings: [],
        signals: [],
        signalCounts: new Map<string, number>(),
        sc: new Set<string>(),
        dc: new Set<string>(),
      }
      if (r.service !== undefined) e.service ??= r.service
      const dns = v(b.key, 'dst_ns')
      if (dns !== undefined) e.destinationNamespace ??= dns
      e.count += b.doc_count
      e.firstSeen = minStr(e.firstSeen || undefined, dateOf(b.first)) ?? e.firstSeen
      const last = dateOf(b.last)
      if (last !== undefined && last > e.lastSeen) e.lastSeen = last
      e.methods = [...new Set([...e.methods, ...termKeys(b.methods)])].sort()
      for (const s of (b.status as { buckets?: { key: number; doc_count: number }[] } | undefined)?.buckets ?? []) {
        const cls =
          Number(s.key) === 0 ? 'tcp' : Number(s.key) >= 100 && Number(s.key) <= 599 ? `${Math.floor(Number(s.key) / 100)}xx` : 'none'
        e.statusClasses[cls] = (e.statusClasses[cls] ?? 0) + s.doc_count
      }
      e.mtls += countOf(b.mtls)
      e.plaintext += countOf(b.plaintext)
      e.denied += countOf(b.denied)
      e.findings = [...new Set([...e.findings, ...termKeys(b.findings)])].sort()
      e.signalCounts.set(r.dstSignal, (e.signalCounts.get(r.dstSignal) ?? 0) + b.doc_count)
      const own = termKeys(b.own_cluster)
      const server = v(b.key, 'reporter') === 'destination'
      // Each end's cluster from the peer metadata, else the proxy's own for the end it runs beside.
      for (const c of termKeys(b.source_cluster).length > 0 || server ? termKeys(b.source_cluster) : own) e.sc.add(c)
      for (const c of termKeys(b.destination_cluster).length > 0 || !server ? termKeys(b.destination_cluster) : own) e.dc.add(c)
      edges.set(key, e)
    }
    const out: FlowEdge[] = []
    for (const { signalCounts, sc, dc, ...edge } of edges.values()) {
      if (filter.finding !== undefined && !edge.findings.includes(filter.finding)) continue
      edge.sourceClusters = [...sc].sort()
      edge.destinationClusters = [...dc].sort()
      edge.signals = [...signalCounts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([s]) => s)
      out.push(edge)
    }
    out.sort(
      (a, b) => b.denied - a.denied || b.count - a.count || (pairKey(a.source, a.destination) < pairKey(b.source, b.destination) ? -1 : 1),
    )
    return out.slice(0, filter.limit ?? 10_000)
  }

  async hopClusters(calls: readonly HopCall[]): Promise<Map<string, HopClusters>> {
    const out = new Map<string, HopClusters>()
    for (const c of calls) {
      const match: Json =
        c.requestId !== undefined
          ? { term: { 'http.request.id': c.requestId } }
          : {
              bool: {
                should: [{ term: { 'mesh.source.spiffe_id': c.src } }, { term: { 'mesh.destination.spiffe_id': c.dst } }],
                minimum_should_match: 1,
              },
            }
      const res = await this.client.search({
        index: this.options.index,
        body: {
          size: 10,
          _source: ['mesh.reporter', 'mesh.source.cluster', 'mesh.destination.cluster'],
          query: { bool: { filter: [{ term: { '@timestamp': c.at } }, match] } },
          sort: [{ 'event.id': 'asc' }],
        },
      })
      const hits = (
        res.body as {
          hits: {
            hits: { _source?: { mesh?: { reporter?: string; source?: { cluster?: string }; destination?: { cluster?: string } } } }[]
          }
        }
      ).hits.hits
      // The server's line first: it logged the client's cluster from the peer metadata.
      const lines = hits
        .map((h) => h._source?.mesh ?? {})
        .sort((a, b) => Number(b.reporter === 'destination') - Number(a.reporter === 'destination'))
      const found: HopClusters = {}
      for (const m of lines) {
        if (found.source === undefined && m.source?.cluster !== undefined) found.source = m.source.cluster
        if (found.destination === undefined && m.destination?.cluster !== undefined) found.destination = m.destination.cluster
      }
      out.set(hopCallKey(c), found)
    }
    return out
  }

  async close(): Promise<void> {
    this.tuples = []
  }

  /** Every tuple bucket of the filtered lines (opensearch-read.ts pages it within search.max_buckets). */
  private composite(filters: Json[], sub: Json): Promise<Bucket[]> {
    const target = { client: this.client, index: this.options.index, what: 'opensearch hunt query' }
    const all = this.clusterFilter === undefined ? filters : [...filters, this.clusterFilter]
    return compositeAll(target, { bool: { filter: all } }, SOURCES, sub, { pageSize: this.pageSize, maxKeys: this.maxBuckets })
  }
}
