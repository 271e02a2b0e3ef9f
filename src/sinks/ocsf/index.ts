import { readFileSync } from 'node:fs'
import type { AuditEvent } from '../../schema/audit-event.js'
import { packageFile } from '../../package-root.js'
import { toOcsf } from './ocsf-event.js'

export { OCSF_VERSION, toOcsf } from './ocsf-event.js'

/** One event as one NDJSON line of OCSF (HTTP Activity or Network Activity). */
export function ocsfEncoder(): (e: AuditEvent) => { json: string } {
  const version = (JSON.parse(readFileSync(packageFile('package.json'), 'utf8')) as { version: string }).version
  const product = { version }
  return (e) => ({ json: JSON.stringify(toOcsf(e, product)) })
}
