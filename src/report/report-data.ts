/**
 * The numbers of the evidence report, gathered from any AuditStore (DuckDB or OpenSearch) through its
 * aggregate queries only. The HTML and JSON formats both render this object, so they cannot disagree.
 */
import type { AuditStore, CoverageRow, EdgeRow, EgressRow, FindingCodeRow, StoreSummary, TimeRange } from '../store/store.js'
import { bounded, emptyWindowWarning } from './window.js'

export interface CoverageLine {
  key: string
  events: number
  inbound: number
  inboundMtls: number
  /** Percent of inbound requests with mTLS; null when the key saw no inbound request. */
  mtlsPct: number | null
  au3Complete: number
  au3Pct: number | null
  missing: Record<string, number>
}

/** One cluster (orchestrator.cluster.name): its coverage numbers and the findings raised on its records. */
export interface ClusterLine extends CoverageLine {
  /** Finding code → records carrying it. */
  findings: Record<string, number>
  findingsTotal: number
}

export interface FindingLine {
  code: string
  /** The highest severity this code was raised with; `bySeverity` has the split. */
  severity: string
  count: number
  bySeverity: Record<string, number>
  controls: string[]
}

export interface ControlLine {
  control: string
  count: number
  codes: string[]
}

export interface ReportData {
  title: string
  generatedAt: string
  range: TimeRange
  store: { kind: string; location?: string }
  /** Events in `range`. */
  summary: StoreSummary
  /** The whole store, whatever the range: what a window could have held. */
  storeRange: StoreSummary
  /** Said on stderr too: an empty window, with the store's range. */
  warnings: string[]
  mtls: { inbound: number; inboundMtls: number; pct: number | null; byNamespace: CoverageLine[]; byWorkload: CoverageLine[] }
  au3: {
    events: number
    complete: number
    pct: number | null
    byNamespace: CoverageLine[]
    byReporter: CoverageLine[]
    missing: { element: string; count: number }[]
  }
  /** Per cluster the records came from, biggest first; one `(unknown)` row for records that name none. */
  clusters: ClusterLine[]
  findings: {
    total: number
    byCode: FindingLine[]
    byControl: ControlLine[]
    bySeverity: Record<string, number>
    examples: Record<string, EdgeRow[]>
  }
  deniedFlows: EdgeRow[]
  egress: EgressRow[]
  edges: EdgeRow[]
}

export interface ReportOptions {
  range?: TimeRange
  title?: string
  storeLocation?: string
  now?: Date
  /** Rows in "top denied flows" and per-finding examples; edges drawn in the service graph. */
  topDenied?: number
  examplesPerFinding?: number
  graphEdges?: number
}

export const REPORT_DEFAULTS = { topDenied: 15, examplesPerFinding: 5, graphEdges: 400 } as const

export const SEVERITY_ORDER = ['critical', 'high', 'medium', 'low', 'info'] as const

const pct = (part: number, whole: number): number | null => (whole === 0 ? null : Math.round((1000 * part) / whole) / 10)

/** Gaps first: an assessor reads the top rows. */
function worstFirst(lines: CoverageLine[]): CoverageLine[] {
  return [...lines].sort((a, b) => (a.mtlsPct ?? 101) - (b.mtlsPct ?? 101) || b.inbound - a.inbound || a.key.localeCompare(b.key))
}

function coverageLine(r: CoverageRow): CoverageLine {
  return { ...r, mtlsPct: pct(r.inboundMtls, r.inbound), au3Pct: pct(r.au3Complete, r.events) }
}

/** One line per cluster for the commands' stderr summaries: `east 2,100 events, mTLS 98.6%, AU-3 55.0%, 40 findings`. */
export function clusterSummary(d: Pick<ReportData, 'clusters'>): string {
  return d.clusters
    .map(
      (c) =>
        `${c.key} ${c.events} events, inbound mTLS ${c.mtlsPct ?? '-'}%, AU-3 complete ${c.au3Pct ?? '-'}%, ${c.findingsTotal} findings`,
    )
    .join('; ')
}

function clusterLines(rows: CoverageRow[], codes: FindingCodeRow[]): ClusterLine[] {
  return rows.map((r) => {
    const findings: Record<string, number> = Object.create(null) as Record<string, number>
    for (const c of codes) if (c.key === r.key) findings[c.code] = c.count
    return { ...coverageLine(r), findings, findingsTotal: Object.values(findings).reduce((s, n) => s + n, 0) }
  })
}

export async function buildReportData(store: AuditStore, options: ReportOptions = {}): Promise<ReportData> {
  const range = options.range ?? {}
  // Every edge question below is about this window with addresses inferred: aggregated once where the store can.
  const snapshot = await store.snapshotEdges?.({ ...range, inferFromAddresses: true })
  try {
    return await reportData(store, range, options)
  } finally {
    await snapshot?.release()
  }
}

async function reportData(store: AuditStore, range: TimeRange, options: ReportOptions): Promise<ReportData> {
  const opts = { ...REPORT_DEFAULTS, ...options }
  const [summary, storeRange, byNamespace, byWorkload, byReporter, findingRows, deniedFlows, egress, edges, byCluster, clusterCodes] =
    await Promise.all([
      store.summary(range),
      bounded(range) ? store.summary() : undefined,
      store.coverage('namespace', range),
      store.coverage('workload', range),
      store.coverage('reporter', range),
      store.findingCounts(range),
      store.edges({ ...range, deniedOnly: true, limit: opts.topDenied, inferFromAddresses: true }),
      store.egress(range),
      store.edges({ ...range, limit: opts.graphEdges, inferFromAddresses: true, clusters: true }),
      store.coverage('cluster', range),
      store.findingCodesBy('cluster', range),
    ])

  const ns = byNamespace.map(coverageLine)
  const inbound = ns.reduce((s, r) => s + r.inbound, 0)
  const inboundMtls = ns.reduce((s, r) => s + r.inboundMtls, 0)
  const complete = ns.reduce((s, r) => s + r.au3Complete, 0)
  const missingTotals = new Map<string, number>()
  for (const r of ns)
    for (const [element, n] of Object.entries(r.missing)) missingTotals.set(element, (missingTotals.get(element) ?? 0) + n)

  // A finding is counted once per control it cites; its own count is the largest of those rows
  // (every finding with a code cites that code's controls, so the rows agree).
  const byCodeMap = new Map<string, FindingLine>()
  const byControlMap = new Map<string, ControlLine>()
  for (const r of findingRows) {
    const key = `${r.code}\u0000${r.severity}`
    const line = byCodeMap.get(key) ?? { code: r.code, severity: r.severity, count: 0, bySeverity: {}, controls: [] }
    line.count = Math.max(line.count, r.count)
    if (r.control !== '(none)' && !line.controls.includes(r.control)) line.controls.push(r.control)
    byCodeMap.set(key, line)
    const c = byControlMap.get(r.control) ?? { control: r.control, count: 0, codes: [] }
    c.count += r.count
    if (!c.codes.includes(r.code)) c.codes.push(r.code)
    byControlMap.set(r.control, c)
  }
  const rank = (s: string) => {
    const i = SEVERITY_ORDER.indexOf(s as (typeof SEVERITY_ORDER)[number])
    return i === -1 ? SEVERITY_ORDER.length : i
  }
  // Detectors may raise one code at several severities (a denial on a database is worse): one row per code.
  const perCode = new Map<string, FindingLine>()
  for (const l of byCodeMap.values()) {
    const line = perCode.get(l.code) ?? { code: l.code, severity: l.severity, count: 0, bySeverity: {}, controls: [] }
    line.count += l.count
    line.bySeverity[l.severity] = (line.bySeverity[l.severity] ?? 0) + l.count
    if (rank(l.severity) < rank(line.severity)) line.severity = l.severity
    for (const c of l.controls) if (!line.controls.includes(c)) line.controls.push(c)
    perCode.set(l.code, line)
  }
  const byCode = [...perCode.values()].sort(
    (a, b) => rank(a.severity) - rank(b.severity) || b.count - a.count || a.code.localeCompare(b.code),
  )
  for (const l of byCode) l.controls.sort()
  const bySeverity: Record<string, number> = {}
  for (const l of byCodeMap.values()) bySeverity[l.severity] = (bySeverity[l.severity] ?? 0) + l.count

  const examples: Record<string, EdgeRow[]> = {}
  const codes = [...new Set(byCode.map((l) => l.code))]
  const exampleRows = await Promise.all(
    codes.map((code) => store.edges({ ...range, finding: code, limit: opts.examplesPerFinding, inferFromAddresses: true })),
  )
  codes.forEach((code, i) => {
    examples[code] = exampleRows[i]!
  })

  const store_: ReportData['store'] = { kind: store.kind }
  if (options.storeLocation !== undefined) store_.location = options.storeLocation
  return {
    title: options.title ?? 'Service mesh audit evidence',
    generatedAt: (options.now ?? new Date()).toISOString(),
    range,
    store: store_,
    summary,
    storeRange: storeRange ?? summary,
    warnings: summary.events === 0 ? [emptyWindowWarning(range, storeRange ?? summary)] : [],
    mtls: {
      inbound,
      inboundMtls,
      pct: pct(inboundMtls, inbound),
      byNamespace: worstFirst(ns.filter((r) => r.inbound > 0)),
      byWorkload: worstFirst(byWorkload.map(coverageLine).filter((r) => r.inbound > 0)),
    },
    au3: {
      events: summary.events,
      complete,
      pct: pct(complete, summary.events),
      byNamespace: ns,
      byReporter: byReporter.map(coverageLine),
      missing: [...missingTotals]
        .map(([element, count]) => ({ element, count }))
        .sort((a, b) => b.count - a.count || a.element.localeCompare(b.element)),
    },
    findings: {
      total: byCode.reduce((s, l) => s + l.count, 0),
      byCode,
      byControl: [...byControlMap.values()].sort((a, b) => b.count - a.count || a.control.localeCompare(b.control)),
      bySeverity,
      examples,
    },
    clusters: clusterLines(byCluster, clusterCodes),
    deniedFlows,
    egress,
    edges,
  }
}
