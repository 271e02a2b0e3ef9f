/**
 * `envoy-audit demo`: generate the simulated mesh's logs into <out>/logs, ingest them through the full
 * pipeline into the store, check that every planted incident was found, and write the report. The
 * whole run is deterministic for a seed: same files, same event ids, same numbers.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { PipelineCounters } from '../pipeline/counters.js'
import type { ProcessingConfig } from '../compose/stages.js'
import { EnvoyAuditError } from '../errors.js'
import { openDuckDbStore } from '../store/duckdb-store.js'
import { ingestFiles, ingestSummary } from '../compose/ingest.js'
import type { IngestResult } from '../compose/ingest.js'
import { writeReport } from '../report/write-report.js'
import { clusterSummary } from '../report/report-data.js'
import type { ReportData } from '../report/report-data.js'
import { generateMeshTraffic, linesByFile } from './mesh-traffic.js'
import type { MeshTrafficOptions } from './mesh-traffic.js'
import { checkIncidents } from './incident-check.js'
import { CLUSTERS } from './east-west.js'
import type { IncidentCheck } from './incident-check.js'

export interface DemoOptions {
  storePath: string
  outDir: string
  traffic?: MeshTrafficOptions
  /** Parser and stage sections; the defaults (format auto, redaction on) otherwise. */
  processing?: ProcessingConfig
  onBatch?: (counters: PipelineCounters) => void
}

export interface DemoResult {
  files: string[]
  lines: number
  ingest: IngestResult
  incidents: IncidentCheck[]
  report: ReportData
  reportPath: string
  jsonPath: string
  elapsedMs: number
}

export async function runDemo(opts: DemoOptions): Promise<DemoResult> {
  const started = performance.now()
  const traffic = generateMeshTraffic({ ambient: true, eastWest: true, ...opts.traffic })
  const logDir = join(opts.outDir, 'logs')
  const files: string[] = []
  try {
    mkdirSync(logDir, { recursive: true })
    for (const [name, lines] of linesByFile(traffic.lines)) {
      const path = join(logDir, name)
      writeFileSync(path, lines.join('\n') + '\n')
      files.push(path)
    }
  } catch (err) {
    throw new EnvoyAuditError('EA_IO', `cannot write the demo logs under ${logDir}: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    })
  }
  files.sort()

  const store = await openDuckDbStore(opts.storePath)
  try {
    // The first cluster's raw CRI files name no cluster: they are ingested as `ingest --cluster east` would.
    // The second cluster's collector adds cluster_name to each record, which wins over the configured one.
    const processing = traffic.lines.some((l) => l.cluster !== undefined)
      ? { ...opts.processing, parser: { ...(opts.processing?.parser as object | undefined), cluster: CLUSTERS.first } }
      : opts.processing
    const ingest = await ingestFiles({
      files,
      store,
      deadLetterPath: join(opts.outDir, 'dead-letters.ndjson'),
      ...(processing === undefined ? {} : { processing }),
      ...(opts.onBatch === undefined ? {} : { onBatch: opts.onBatch }),
    })
    // The report covers the simulated window only, so a store shared with real data still shows the demo.
    const range = { since: traffic.window.start, until: new Date(Date.parse(traffic.window.end) + 120_000).toISOString() }
    const incidents = await checkIncidents(store, traffic.incidents, range)
    const reportPath = join(opts.outDir, 'report.html')
    const jsonPath = join(opts.outDir, 'report.json')
    const reportOptions = { range, storeLocation: opts.storePath, title: 'Demo mesh: audit evidence' }
    const report = await writeReport(store, reportPath, 'html', reportOptions)
    await writeReport(store, jsonPath, 'json', { ...reportOptions, now: new Date(report.generatedAt) })
    return { files, lines: traffic.lines.length, ingest, incidents, report, reportPath, jsonPath, elapsedMs: performance.now() - started }
  } finally {
    await store.close()
  }
}

/** The human summary `demo` prints: what was generated, what the pipeline found, where to look next. */
export function demoSummary(r: DemoResult, storePath: string): string {
  const found = r.incidents.filter((i) => i.found).length
  const lines = [
    `generated ${r.lines} log lines in ${r.files.length} files (Istio JSON and TEXT, Fluent Bit and CRI envelopes)`,
    ingestSummary(r.ingest, storePath),
    '',
    `inbound mTLS ${r.report.mtls.pct ?? '-'}% · AU-3 complete ${r.report.au3.pct ?? '-'}% · ${r.report.findings.total} findings · ${r.report.deniedFlows.length} denied flows · ${r.report.egress.length} unregistered egress destinations`,
    `by cluster: ${clusterSummary(r.report)}`,
    '',
    `planted incidents found: ${found}/${r.incidents.length}`,
  ]
  for (const check of r.incidents) {
    const codes = [...new Set(check.flows.map((f) => f.flow.finding).filter((c) => c !== undefined))].join(', ')
    lines.push(`  ${check.found ? '✓' : '✗'} ${check.incident.title}${codes === '' ? '' : `  [${codes}]`}`)
    if (!check.found) {
      for (const f of check.flows.filter((x) => x.edge === undefined))
        lines.push(
          `      missing: ${f.flow.source[0]} → ${f.flow.destination[0]}${f.flow.finding === undefined ? '' : ` (${f.flow.finding})`}`,
        )
    }
  }
  lines.push(
    '',
    `report: ${r.reportPath} (JSON: ${r.jsonPath})`,
    `explore: npx envoy-audit sql --store ${storePath} "SELECT code, count(*) AS n FROM findings GROUP BY code ORDER BY n DESC"`,
    `done in ${(r.elapsedMs / 1000).toFixed(1)} s`,
  )
  return lines.join('\n') + '\n'
}
