/**
 * Renders the report from a store into a file (or stdout), in HTML or JSON. Shared by `report` and
 * `demo`. The file is written to a temporary name and renamed, so a reader never sees half a report.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { EnvoyAuditError } from '../errors.js'
import type { AuditStore } from '../store/store.js'
import { buildReportData } from './report-data.js'
import type { ReportData, ReportOptions } from './report-data.js'
import { renderHtmlReport } from './html-report.js'

export type ReportFormat = 'html' | 'json'

export function renderReport(data: ReportData, format: ReportFormat): string {
  return format === 'html' ? renderHtmlReport(data) : JSON.stringify(data, null, 2) + '\n'
}

export async function writeReport(store: AuditStore, out: string, format: ReportFormat, options: ReportOptions = {}): Promise<ReportData> {
  const data = await buildReportData(store, options)
  const body = renderReport(data, format)
  if (out === '-') {
    process.stdout.write(body)
    return data
  }
  try {
    mkdirSync(dirname(out), { recursive: true })
    const tmp = `${out}.${process.pid}.tmp`
    writeFileSync(tmp, body)
    renameSync(tmp, out)
  } catch (err) {
    throw new EnvoyAuditError('EA_IO', `cannot write the report to ${out}: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    })
  }
  return data
}
