/**
 * The field names the Sigma rules under detections/sigma use, and where each one lives in the canonical
 * event. One table serves both sides: the evaluator reads events through it, and `setup
 * --with-security-analytics` installs it as the custom log type's field mappings (alias fields, see
 * docs/siem.md), so a rule means the same thing in `rules test` and in the cluster. Flat snake_case names,
 * as Security Analytics' own log types use (src_ip, dst_ip), keep the rules readable and short.
 */
import type { AuditEvent } from '../generated/types.js'

export const RULE_FIELDS = {
  timestamp: '@timestamp',
  event_outcome: 'event.outcome',
  finding_code: 'audit.finding_codes',
  severity: 'audit.severity',
  controls: 'audit.controls',
  au3_complete: 'audit.au3.complete',
  src_ip: 'source.ip',
  src_port: 'source.port',
  dst_ip: 'destination.ip',
  dst_port: 'destination.port',
  dst_host: 'destination.domain',
  direction: 'network.direction',
  transport: 'network.transport',
  reporter: 'mesh.reporter',
  mtls: 'mesh.mtls',
  upstream_cluster: 'mesh.upstream_cluster',
  src_spiffe_id: 'mesh.source.spiffe_id',
  src_trust_domain: 'mesh.source.trust_domain',
  src_namespace: 'mesh.source.namespace',
  src_service_account: 'mesh.source.service_account',
  src_workload: 'mesh.source.workload',
  dst_spiffe_id: 'mesh.destination.spiffe_id',
  dst_trust_domain: 'mesh.destination.trust_domain',
  dst_namespace: 'mesh.destination.namespace',
  dst_service: 'mesh.destination.service',
  dst_workload: 'mesh.destination.workload',
  http_method: 'http.request.method',
  http_status: 'http.response.status_code',
  url_path: 'url.path',
  http_user_agent: 'user_agent.original',
  tls_version: 'tls.version',
  tls_version_protocol: 'tls.version_protocol',
  tls_cipher: 'tls.cipher',
  response_flags: 'envoy.response_flags',
  response_code_details: 'envoy.response_code_details',
  connection_termination_details: 'envoy.connection_termination_details',
  upstream_transport_failure_reason: 'envoy.upstream_transport_failure_reason',
  rbac_policy: 'envoy.rbac_policy',
  peer_uri_san: 'envoy.peer.downstream_uri_san',
  upstream_peer_uri_san: 'envoy.peer.upstream_uri_san',
  k8s_namespace: 'kubernetes.namespace',
  cluster: 'orchestrator.cluster.name',
  src_cluster: 'mesh.source.cluster',
  dst_cluster: 'mesh.destination.cluster',
} as const

export type RuleField = keyof typeof RULE_FIELDS

export function isRuleField(name: string): name is RuleField {
  return Object.hasOwn(RULE_FIELDS, name)
}

/** The value of a rule field in an event: undefined when absent; arrays stay arrays (any element matches). */
export function ruleFieldValue(event: AuditEvent, field: RuleField): unknown {
  let value: unknown = event
  for (const key of RULE_FIELDS[field] === '@timestamp' ? ['@timestamp'] : RULE_FIELDS[field].split('.')) {
    if (value === null || typeof value !== 'object' || !Object.hasOwn(value, key)) return undefined
    value = (value as Record<string, unknown>)[key]
  }
  return value
}
