import type { AuditEvent } from '../generated/types.js'

/**
 * The namespace that wrote a record, as the findings documents carry it (`$namespace` in
 * schemas/opensearch/finding.schema.json). Same rule as the embedded store's namespace key: the pod
 * that logged, else the side that reported.
 */
export function eventNamespace(e: AuditEvent): string | undefined {
  return e.kubernetes?.namespace ?? (e.mesh?.reporter === 'destination' ? e.mesh?.destination?.namespace : e.mesh?.source?.namespace)
}
