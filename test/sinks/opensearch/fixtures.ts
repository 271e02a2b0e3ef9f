/**
 * Events for the OpenSearch tests, built from the values of real public Istio access-log lines (the
 * sink and store tests must not depend on the parser under development; the values are the lines').
 *
 * OK_LINE: istio.io, docs/tasks/observability/logs/access-log (the httpbin example, outbound side):
 *   [2020-11-25T21:26:18.409Z] "GET /status/418 HTTP/1.1" 418 - via_upstream - "-" 0 135 4 4 "-" "curl/7.73.0-DEV"
 *   "84961386-6d84-929d-98bd-c5aee93b5c88" "httpbin:8000" "10.44.1.27:80" outbound|8000||httpbin.foo.svc.cluster.local
 *   10.44.1.23:37652 10.0.45.184:8000 10.0.45.184:8000 - default
 * DENIED: the RBAC denial shape from Envoy's rbac_filter (403, details
 *   rbac_access_denied_matched_policy[ns[foo]-policy[ext-authz-server]-rule[0]], bytes_sent 19), policy id as
 *   istio.io content/en/docs/ops/common-problems/security-issues shows it; inbound cluster inbound|9080||.
 */
import type { AuditEvent } from '../../../src/schema/audit-event.js'

export function okEvent(i: number, at = Date.parse('2020-11-25T21:26:18.409Z')): AuditEvent {
  return {
    '@timestamp': new Date(at + i * 1000).toISOString(),
    event: {
      id: `ok-${i.toString().padStart(6, '0')}`,
      kind: 'event',
      dataset: 'envoy.access',
      outcome: 'success',
      action: 'allowed',
      duration: 4_000_000,
    },
    network: { protocol: 'http', transport: 'tcp', direction: 'outbound' },
    http: {
      version: '1.1',
      request: { method: 'GET', id: '84961386-6d84-929d-98bd-c5aee93b5c88', bytes: 0 },
      response: { status_code: 418, bytes: 135 },
    },
    url: { path: '/status/418', domain: 'httpbin' },
    user_agent: { original: 'curl/7.73.0-DEV' },
    source: { ip: '10.44.1.23', port: 37652, address: '10.44.1.23:37652' },
    destination: { ip: '10.0.45.184', port: 8000, address: '10.0.45.184:8000' },
    mesh: {
      reporter: 'source',
      upstream_cluster: 'outbound|8000||httpbin.foo.svc.cluster.local',
      route_name: 'default',
      source: { namespace: 'foo', workload: 'sleep', signal: 'kubernetes' },
      destination: { service: 'httpbin.foo.svc.cluster.local', namespace: 'foo', port: 8000, signal: 'upstream_cluster' },
    },
    envoy: {
      format: 'istio-text-1.9',
      response_flags: [],
      response_code_details: 'via_upstream',
      upstream_host: '10.44.1.27:80',
      authority: 'httpbin:8000',
    },
    kubernetes: { namespace: 'foo', pod: 'sleep-5ccc998f5f-abcde' },
    audit: {
      source: { kind: 'file', file: '/var/log/istio/access.log', line: i + 1, offset: String(i * 300) },
      au3: { complete: false, missing: ['identity'] },
      findings: [],
      finding_codes: [],
      severity: 'none',
    },
  }
}

export function deniedEvent(i: number, at = Date.parse('2020-11-25T21:30:00.000Z')): AuditEvent {
  const policy = 'ns[foo]-policy[ext-authz-server]-rule[0]'
  return {
    '@timestamp': new Date(at + i * 1000).toISOString(),
    event: { id: `denied-${i.toString().padStart(6, '0')}`, kind: 'event', dataset: 'envoy.access', outcome: 'failure', action: 'denied' },
    network: { protocol: 'http', direction: 'inbound' },
    http: { request: { method: 'GET' }, response: { status_code: 403, bytes: 19 } },
    url: { path: '/productpage' },
    source: { ip: '10.124.0.13', port: 43612 },
    destination: { ip: '10.124.1.5', port: 9080 },
    tls: { established: true, version: '1.3', version_protocol: 'tls' },
    mesh: {
      reporter: 'destination',
      upstream_cluster: 'inbound|9080||',
      mtls: true,
      source: {
        spiffe_id: 'spiffe://cluster.local/ns/bar/sa/sleep',
        trust_domain: 'cluster.local',
        namespace: 'bar',
        service_account: 'sleep',
      },
      destination: {
        service: 'productpage.foo.svc.cluster.local',
        namespace: 'foo',
        spiffe_id: 'spiffe://cluster.local/ns/foo/sa/productpage',
      },
    },
    envoy: { format: 'istio-json', response_code_details: `rbac_access_denied_matched_policy[${policy}]`, rbac_policy: policy },
    audit: {
      au3: { complete: true, missing: [] },
      findings: [{ code: 'authz_denied', severity: 'medium', controls: ['AC-3', 'AC-6'], message: 'request denied by RBAC', policy }],
      finding_codes: ['authz_denied'],
      controls: ['AC-3', 'AC-6'],
      severity: 'medium',
    },
  }
}
