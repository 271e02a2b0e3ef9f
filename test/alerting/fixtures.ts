/**
 * Canonical events shaped after real, public Istio access-log lines (as the parser turns
 * them into events), with the findings the detect stage attaches. Each cites the line it stands for.
 */
import type { AuditEvent, Finding } from '../../src/generated/types.js'

let seq = 0

function base(ts: string, findings: Finding[]): AuditEvent {
  const e: AuditEvent = {
    '@timestamp': ts,
    event: { id: `evt-${++seq}`, kind: 'event', dataset: 'envoy.access', outcome: 'failure' },
    envoy: { format: 'istio-json' },
    audit: { findings, finding_codes: findings.map((f) => f.code) },
  }
  return e
}

/**
 * Server-side RBAC denial. Shape from the Envoy RBAC filter docs and istio.io
 * content/en/docs/ops/common-problems/security-issues/index.md: 403, no response flag,
 * response_code_details `rbac_access_denied_matched_policy[ns[foo]-policy[ext-authz-server]-rule[0]]`,
 * upstream cluster `inbound|9080||`.
 */
export function rbacDenied(ts: string, sourceSa = 'sleep', dest = 'httpbin.foo.svc.cluster.local'): AuditEvent {
  const e = base(ts, [
    {
      code: 'authz_denied',
      severity: 'high',
      controls: ['AC-3', 'AC-6'],
      message: 'RBAC denied the request',
      policy: 'ns[foo]-policy[ext-authz-server]-rule[0]',
    },
  ])
  e.http = { response: { status_code: 403 } }
  e.mesh = {
    reporter: 'destination',
    upstream_cluster: 'inbound|9080||',
    mtls: true,
    source: { spiffe_id: `spiffe://cluster.local/ns/foo/sa/${sourceSa}`, namespace: 'foo', service_account: sourceSa },
    destination: { service: dest, namespace: 'foo', port: 9080 },
  }
  e.source = { ip: '10.44.1.6', port: 44392 }
  e.kubernetes = { namespace: 'foo' }
  e.envoy.rbac_policy = 'ns[foo]-policy[ext-authz-server]-rule[0]'
  return e
}

/**
 * Outbound to an unknown host under ALLOW_ANY: upstream cluster `PassthroughCluster`
 * (istio/istio issues #31555 and #37124 quote such lines). No peer identity on egress.
 */
export function passthroughEgress(ts: string, host = 'edition.cnn.com', ip = '10.44.2.9'): AuditEvent {
  const e = base(ts, [
    {
      code: 'unregistered_egress',
      severity: 'medium',
      controls: ['SC-7', 'AC-4'],
      message: 'egress bypassed the registry (PassthroughCluster)',
    },
  ])
  e.event.outcome = 'success'
  e.mesh = { reporter: 'source', upstream_cluster: 'PassthroughCluster' }
  e.destination = { domain: host, ip: '151.101.1.67', port: 443 }
  e.source = { ip }
  e.kubernetes = { namespace: 'default' }
  return e
}

/** A plaintext inbound request: SNI `-`, no peer URI SAN (the public sample in envoy-istio-log-formats c.2). */
export function plaintextInbound(ts: string, ip = '10.44.0.11'): AuditEvent {
  const e = base(ts, [
    { code: 'plaintext_inbound', severity: 'high', controls: ['SC-8'], message: 'inbound request without mTLS' },
    { code: 'au3_incomplete', severity: 'low', controls: ['AU-3'], message: 'AU-3 identity missing' },
  ])
  e.mesh = {
    reporter: 'destination',
    upstream_cluster: 'inbound|8000||',
    mtls: false,
    destination: { service: 'httpbin.foo.svc.cluster.local', namespace: 'foo' },
  }
  e.source = { ip }
  e.http = { response: { status_code: 200 } }
  return e
}

/** A clean mTLS request with no findings. */
export function clean(ts: string): AuditEvent {
  const e = base(ts, [])
  delete e.audit.findings
  delete e.audit.finding_codes
  e.event.outcome = 'success'
  return e
}
