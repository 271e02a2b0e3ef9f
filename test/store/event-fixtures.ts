/**
 * Hand-built canonical events for store and report tests, shaped like what parse + transforms produce
 * for an Istio inbound/outbound pair. The field values follow the Istio default JSON format documented
 * in istio/istio pilot/pkg/model/telemetry_logging.go: inbound cluster `inbound|9080||`, the mTLS
 * SNI `outbound_.9080_._.reviews.default.svc.cluster.local`, RBAC details
 * `rbac_access_denied_matched_policy[none]`, egress via `PassthroughCluster`.
 */
import type { AuditEvent, Finding } from '../../src/generated/types.js'

let counter = 0

export interface EventSpec {
  id?: string
  ts?: string
  reporter?: 'source' | 'destination' | 'gateway'
  requestId?: string
  method?: string
  status?: number
  mtls?: boolean | null
  srcSpiffe?: string
  srcNs?: string
  srcSa?: string
  dstService?: string
  dstNs?: string
  k8sNs?: string
  app?: string
  cluster?: string
  sni?: string
  sourceIp?: string
  findings?: Finding[]
  au3Missing?: string[]
  action?: string
  rbacPolicy?: string
}

export function makeEvent(spec: EventSpec = {}): AuditEvent {
  counter++
  const findings = spec.findings ?? []
  const missing = spec.au3Missing ?? []
  const e: AuditEvent = {
    '@timestamp': spec.ts ?? `2026-11-20T10:00:${String(counter % 60).padStart(2, '0')}.000Z`,
    event: {
      id: spec.id ?? `evt-${counter}`,
      kind: 'event',
      dataset: 'envoy.access',
      outcome: (spec.status ?? 200) < 400 ? 'success' : 'failure',
    },
    network: { protocol: 'http', direction: spec.reporter === 'destination' ? 'inbound' : 'outbound' },
    http: {
      request: { method: spec.method ?? 'GET', id: spec.requestId ?? `req-${counter}` },
      response: { status_code: spec.status ?? 200 },
    },
    source: { ip: spec.sourceIp ?? '10.0.0.1', port: 43612 },
    mesh: {
      reporter: spec.reporter ?? 'destination',
      upstream_cluster:
        spec.cluster ?? (spec.reporter === 'source' ? 'outbound|9080||reviews.default.svc.cluster.local' : 'inbound|9080||'),
      mtls: spec.mtls === undefined ? true : spec.mtls,
      source: {},
      destination: {},
    },
    envoy: { format: 'istio-json' },
    audit: { au3: { complete: missing.length === 0, missing } },
  }
  if (spec.action !== undefined) e.event.action = spec.action
  if (spec.srcSpiffe !== undefined) e.mesh!.source!.spiffe_id = spec.srcSpiffe
  if (spec.srcNs !== undefined) e.mesh!.source!.namespace = spec.srcNs
  if (spec.srcSa !== undefined) e.mesh!.source!.service_account = spec.srcSa
  if (spec.dstService !== undefined) e.mesh!.destination!.service = spec.dstService
  if (spec.dstNs !== undefined) e.mesh!.destination!.namespace = spec.dstNs
  if (spec.sni !== undefined) e.envoy.requested_server_name = spec.sni
  if (spec.rbacPolicy !== undefined) e.envoy.rbac_policy = spec.rbacPolicy
  if (spec.k8sNs !== undefined || spec.app !== undefined) {
    e.kubernetes = {}
    if (spec.k8sNs !== undefined) e.kubernetes.namespace = spec.k8sNs
    if (spec.app !== undefined) e.kubernetes.labels = { app: spec.app }
  }
  if (findings.length > 0) {
    e.audit.findings = findings
    e.audit.finding_codes = findings.map((f) => f.code)
    e.audit.controls = [...new Set(findings.flatMap((f) => f.controls))]
    e.audit.severity = findings[0]!.severity
  }
  return e
}

export const finding = (code: string, severity: Finding['severity'], controls: string[]): Finding => ({
  code,
  severity,
  controls,
  message: `${code} test finding`,
})
