import { type Command, Option } from 'commander'
import { EnvoyAuditError } from '../errors.js'
import { DEFAULT_STORE_PATH, openStoreForReading } from '../store/duckdb-store.js'
import { parseTime, TIME_HELP } from '../hunt/time.js'
import { writeReport, type ReportFormat } from '../report/write-report.js'
import { clusterSummary } from '../report/report-data.js'
import type { AuditStore, TimeRange } from '../store/store.js'
import { OpenSearchStore } from '../store/opensearch-store.js'
import { addOpenSearchOptions, connectionFromOptions, type OpenSearchCliOptions } from './opensearch-options.js'
import { clusterList } from './hunt-store-options.js'
import { readerMemoryLimit, readerMemoryOption } from './reader-memory.js'

interface ReportCliOptions extends OpenSearchCliOptions {
  store?: string
  eventsAlias: string
  findingsAlias: string
  out?: string
  format: ReportFormat
  since?: string
  until?: string
  title?: string
  cluster?: string[]
  memoryLimit?: string
}

export function registerReport(program: Command): void {
  const cmd = program
    .command('report')
    .description(
      'write the audit evidence report (per cluster and overall: mTLS and AU-3 coverage, findings; denied flows, egress, service graph with the cluster of each identity) from the embedded store or OpenSearch; `--since 24h` is the daily ConMon review, `--cluster NAME` some clusters only',
    )
    .option('--store <path>', `DuckDB store file (default ${DEFAULT_STORE_PATH})`)
    .option('--out <file>', 'output file, - for stdout (default: report.html, or stdout for json)')
    .addOption(new Option('--format <format>', 'report format').choices(['html', 'json']).default('html'))
    .option('--since <time>', `only events at or after this time: ${TIME_HELP}`)
    .option('--until <time>', 'only events before this time (same forms as --since)')
    .option('--title <text>', 'report title')
    .option(
      '--cluster <name...>',
      'only records of this cluster: written by its proxies or naming it as either end (repeatable, or comma-separated)',
      clusterList,
    )
    .option(
      '--events-alias <name>',
      'with --opensearch: the events alias, as given to setup (every index behind it is read)',
      'envoy-audit-events',
    )
    .option('--findings-alias <name>', 'with --opensearch: the findings alias, as given to setup', 'envoy-audit-findings')
    .addOption(readerMemoryOption())
  addOpenSearchOptions(cmd).action(async (opts: ReportCliOptions) => {
    const now = Date.now()
    const range: TimeRange = {}
    if (opts.since !== undefined) range.since = parseTime(opts.since, '--since', now)
    if (opts.until !== undefined) range.until = parseTime(opts.until, '--until', now)
    if (opts.cluster !== undefined && opts.cluster.length > 0) range.inClusters = [...new Set(opts.cluster)]
    if (range.since !== undefined && range.until !== undefined && range.until <= range.since)
      throw new EnvoyAuditError('EA_USAGE', '--until must be after --since')
    const out = opts.out ?? (opts.format === 'html' ? 'report.html' : '-')
    if (opts.store !== undefined && opts.opensearch !== undefined)
      throw new EnvoyAuditError('EA_USAGE', '--store and --opensearch are exclusive')
    let store: AuditStore
    let location: string
    if (opts.opensearch !== undefined) {
      store = new OpenSearchStore({
        connection: connectionFromOptions(opts),
        config: { eventsIndex: opts.eventsAlias, findingsIndex: opts.findingsAlias },
      })
      await store.start()
      location = opts.opensearch
    } else {
      location = opts.store ?? DEFAULT_STORE_PATH
      store = await openStoreForReading(location, { memoryLimit: readerMemoryLimit(opts.memoryLimit) })
    }
    try {
      const data = await writeReport(store, out, opts.format, {
        range,
        storeLocation: location,
        ...(opts.title === undefined ? {} : { title: opts.title }),
      })
      for (const w of data.warnings) process.stderr.write(`envoy-audit report: warning: ${w}\n`)
      if (out !== '-') {
        process.stderr.write(
          `envoy-audit report: ${data.summary.events} events, ${data.findings.total} findings, inbound mTLS ${data.mtls.pct ?? '-'}%, AU-3 complete ${data.au3.pct ?? '-'}% → ${out}\n`,
        )
        // Several clusters (or records that name none): one line each, as the report's "By cluster" table.
        if (data.clusters.length > 1 || data.clusters.some((c) => c.key !== '(unknown)'))
          process.stderr.write(`envoy-audit report: by cluster: ${clusterSummary(data)}\n`)
      }
    } finally {
      await store.close()
    }
  })
}
