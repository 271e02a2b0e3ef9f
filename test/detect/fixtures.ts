/**
 * Canonical events built by hand from real public access-log lines (each cited), mapped field by
 * field the way schemas/audit-event.schema.json defines them, so the transform stages can be tested
 * without the parser. Lines marked CONSTRUCTED have no attributable public original; their shape
 * follows the cited Envoy/Istio source and is said so next to them.
 */
import type { AuditEvent } from '../../src/generated/types.js'
import { ecsTlsVersion } from '../../src/schema/tls-version.js'

type DeepPartial<T> = { [K in keyof T]?: T[K] extends (infer U)[] ? U[] : T[K] extends object ? DeepPartial<T[K]> : T[K] }

let seq = 0

/** A minimal valid event; `parts` are merged one level deep into each top-level object. */
export function makeEvent(parts: DeepPartial<AuditEvent> & { original?: string }): AuditEvent {
  const { original, ...rest } = parts
  seq++
  const e: AuditEvent = {
    '@timestamp': '2022-11-03T08:38:50.667Z',
    event: {
      id: `test-${seq}`,
      kind: 'event',
      dataset: 'envoy.access',
      outcome: 'unknown',
      ...(original === undefined ? {} : { original }),
    },
    envoy: { format: 'istio-text-1.9' },
    audit: { source: { kind: 'file', file: 'fixture.log', line: seq, offset: String(seq * 100) } },
  }
  for (const [k, v] of Object.entries(rest)) {
    const cur = (e as unknown as Record<string, unknown>)[k]
    ;(e as unknown as Record<string, unknown>)[k] =
      typeof v === 'object' && v !== null && !Array.isArray(v) && typeof cur === 'object' && cur !== null ? { ...cur, ...v } : v
  }
  return e
}

// kubeflow/community-distribution#2858 (2022-11-04): an inbound RBAC denial, SNI `-` = no mTLS.
export const RBAC_DENIED_PLAINTEXT_LINE =
  '[2022-11-03T08:38:50.667Z] "GET /kfam/v1/bindings?user=user%40example.com HTTP/1.1" 403 - rbac_access_denied_matched_policy[none] - "-" 0 19 0 - "-" "-" "0614bb23-2978-9109-803c-870a6b63734f" "profiles-kfam.kubeflow:8081" "-" inbound|8081|| - 10.254.17.38:8081 10.254.15.161:37922 - -'
export const rbacDeniedPlaintext = (): AuditEvent =>
  makeEvent({
    original: RBAC_DENIED_PLAINTEXT_LINE,
    '@timestamp': '2022-11-03T08:38:50.667Z',
    event: { action: 'denied', outcome: 'failure', duration: 0 },
    network: { protocol: 'http', transport: 'tcp', direction: 'inbound' },
    http: {
      version: '1.1',
      request: { method: 'GET', id: '0614bb23-2978-9109-803c-870a6b63734f', bytes: 0 },
      response: { status_code: 403, bytes: 19 },
    },
    url: { path: '/kfam/v1/bindings', query: 'user=user%40example.com', domain: 'profiles-kfam.kubeflow' },
    source: { ip: '10.254.15.161', port: 37922, address: '10.254.15.161:37922' },
    destination: { ip: '10.254.17.38', port: 8081, address: '10.254.17.38:8081' },
    mesh: { reporter: 'destination', upstream_cluster: 'inbound|8081||' },
    envoy: {
      response_code_details: 'rbac_access_denied_matched_policy[none]',
      rbac_policy: 'none',
      authority: 'profiles-kfam.kubeflow:8081',
      downstream_local_address: '10.254.17.38:8081',
      downstream_remote_address: '10.254.15.161:37922',
    },
  })

// istio/istio PR #35337 (2021-09-23): default TEXT format plus %DOWNSTREAM_PEER_URI_SAN% before the
// route name; the same request seen by the server (inbound, mTLS) and the client (outbound) sidecar.
export const MTLS_INBOUND_LINE =
  '[2021-09-23T23:40:40.289Z] "GET / HTTP/1.1" 200 - via_upstream - "-" 0 603 0 0 "-" "curl/7.69.1" "51531b24-e16f-4ac9-ab6c-667711893a60" "echo" "10.244.0.12:80" inbound|80|| 127.0.0.6:58943 10.244.0.12:80 10.244.0.11:35560 outbound_.80_._.echo.default.svc.cluster.local spiffe://cluster.local/ns/default/sa/default default'
export const mtlsInbound = (): AuditEvent =>
  makeEvent({
    original: MTLS_INBOUND_LINE,
    '@timestamp': '2021-09-23T23:40:40.289Z',
    event: { action: 'allowed', outcome: 'success', duration: 0 },
    network: { protocol: 'http', transport: 'tcp', direction: 'inbound' },
    http: {
      version: '1.1',
      request: { method: 'GET', id: '51531b24-e16f-4ac9-ab6c-667711893a60', bytes: 0 },
      response: { status_code: 200, bytes: 603 },
    },
    url: { path: '/', domain: 'echo' },
    user_agent: { original: 'curl/7.69.1' },
    source: { ip: '10.244.0.11', port: 35560, address: '10.244.0.11:35560' },
    mesh: { reporter: 'destination', upstream_cluster: 'inbound|80||', route_name: 'default' },
    envoy: {
      format: 'custom:istio-text+downstream-san',
      response_code_details: 'via_upstream',
      authority: 'echo',
      upstream_host: '10.244.0.12:80',
      upstream_local_address: '127.0.0.6:58943',
      downstream_local_address: '10.244.0.12:80',
      downstream_remote_address: '10.244.0.11:35560',
      upstream_service_time: 0,
      requested_server_name: 'outbound_.80_._.echo.default.svc.cluster.local',
      peer: { downstream_uri_san: 'spiffe://cluster.local/ns/default/sa/default' },
    },
    kubernetes: { namespace: 'default', pod: 'echo-cb96f8d94-722gq', container: 'istio-proxy' },
  })

export const MTLS_OUTBOUND_LINE =
  '[2021-09-23T23:40:40.289Z] "GET / HTTP/1.1" 200 - via_upstream - "-" 0 603 8 8 "-" "curl/7.69.1" "51531b24-e16f-4ac9-ab6c-667711893a60" "echo" "10.244.0.12:80" outbound|80||echo.default.svc.cluster.local 10.244.0.11:35560 10.96.116.201:80 10.244.0.11:39818 - - default'
export const mtlsOutbound = (): AuditEvent =>
  makeEvent({
    original: MTLS_OUTBOUND_LINE,
    '@timestamp': '2021-09-23T23:40:40.289Z',
    event: { action: 'allowed', outcome: 'success', duration: 8_000_000 },
    network: { protocol: 'http', transport: 'tcp', direction: 'outbound' },
    http: {
      version: '1.1',
      request: { method: 'GET', id: '51531b24-e16f-4ac9-ab6c-667711893a60', bytes: 0 },
      response: { status_code: 200, bytes: 603 },
    },
    url: { path: '/', domain: 'echo' },
    source: { ip: '10.244.0.11', port: 39818 },
    mesh: { reporter: 'source', upstream_cluster: 'outbound|80||echo.default.svc.cluster.local', route_name: 'default' },
    envoy: {
      format: 'custom:istio-text+downstream-san',
      response_code_details: 'via_upstream',
      authority: 'echo',
      upstream_host: '10.244.0.12:80',
      upstream_local_address: '10.244.0.11:35560',
      downstream_local_address: '10.96.116.201:80',
      downstream_remote_address: '10.244.0.11:39818',
    },
    // `default/shell-7854df9c5-9zfnp[istio-proxy]` prefix of the same line (kubectl/stern).
    kubernetes: { namespace: 'default', pod: 'shell-7854df9c5-9zfnp', container: 'istio-proxy' },
  })

// envoyproxy/ratelimit#296 (2021-09-28): right after PeerAuthentication STRICT, a plaintext client.
export const NR_FILTER_CHAIN_LINE =
  '[2021-09-28T14:55:12.134Z] "- - -" 0 NR filter_chain_not_found - "-" 0 0 0 - "-" "-" "-" "-" "-" - - 172.17.0.8:8081 172.17.0.1:38748 - -'
export const nrFilterChain = (): AuditEvent =>
  makeEvent({
    original: NR_FILTER_CHAIN_LINE,
    '@timestamp': '2021-09-28T14:55:12.134Z',
    event: { action: 'rejected', outcome: 'failure', duration: 0 },
    network: { transport: 'tcp', direction: 'unknown' },
    http: { request: { bytes: 0 }, response: { bytes: 0 } },
    source: { ip: '172.17.0.1', port: 38748 },
    envoy: {
      response_flags: ['NR'],
      response_code_details: 'filter_chain_not_found',
      downstream_local_address: '172.17.0.8:8081',
      downstream_remote_address: '172.17.0.1:38748',
    },
  })

// istio/istio#51178 (2024-05-21), TEXT line quoted from 2023-04-24: REGISTRY_ONLY blocking egress.
export const BLACKHOLE_LINE =
  '[2023-04-24T15:57:17.434Z] "- - -" 0 UH - - "-" 0 0 0 - "-" "-" "-" "-" "-" BlackHoleCluster - 142.250.217.115:443 10.52.97.65:58576 sqa.ory.sh -'
export const blackhole = (): AuditEvent =>
  makeEvent({
    original: BLACKHOLE_LINE,
    '@timestamp': '2023-04-24T15:57:17.434Z',
    event: { action: 'denied', outcome: 'failure', duration: 0 },
    network: { transport: 'tcp', direction: 'outbound' },
    http: { request: { bytes: 0 }, response: { bytes: 0 } },
    source: { ip: '10.52.97.65', port: 58576 },
    mesh: { reporter: 'source', upstream_cluster: 'BlackHoleCluster' },
    envoy: {
      response_flags: ['UH'],
      downstream_local_address: '142.250.217.115:443',
      downstream_remote_address: '10.52.97.65:58576',
      requested_server_name: 'sqa.ory.sh',
    },
  })

// nitishm/engarde PR #8 (2020-05-19), Istio 1.3-1.7 TEXT format (mixer status, failure reason):
// a TCP connection out through ALLOW_ANY.
export const PASSTHROUGH_LINE =
  '[2020-05-19T19:53:38.151Z] "- - -" 0 - "-" "-" 2279 3059 63 - "-" "-" "-" "-" "1.2.3.4:443" PassthroughCluster 10.0.0.93:37018 1.2.3.4:443 10.0.0.93:39849 - -'
export const passthrough = (): AuditEvent =>
  makeEvent({
    original: PASSTHROUGH_LINE,
    '@timestamp': '2020-05-19T19:53:38.151Z',
    event: { action: 'connection', outcome: 'success', duration: 63_000_000 },
    network: { transport: 'tcp', direction: 'outbound' },
    http: { request: { bytes: 2279 }, response: { bytes: 3059 } },
    source: { ip: '10.0.0.93', port: 39849 },
    mesh: { reporter: 'source', upstream_cluster: 'PassthroughCluster' },
    envoy: {
      format: 'istio-text-1.3',
      upstream_host: '1.2.3.4:443',
      upstream_local_address: '10.0.0.93:37018',
      downstream_local_address: '1.2.3.4:443',
      downstream_remote_address: '10.0.0.93:39849',
    },
  })

// envoyproxy/envoy#18964 (2021-11-10), the expected line in Envoy's own default format: ext_authz deny.
export const UAEX_LINE =
  '[2021-11-10T17:49:25.117Z] "GET / HTTP/1.1" 401 UAEX 0 46 2 - "-" "curl/7.78.0" "b8837414-03e2-44c2-985a-9ea679f57183" "example.com:8443" "-"'
export const uaex = (): AuditEvent =>
  makeEvent({
    original: UAEX_LINE,
    '@timestamp': '2021-11-10T17:49:25.117Z',
    event: { action: 'denied', outcome: 'failure', duration: 2_000_000 },
    network: { protocol: 'http', direction: 'unknown' },
    http: {
      version: '1.1',
      request: { method: 'GET', id: 'b8837414-03e2-44c2-985a-9ea679f57183', bytes: 0 },
      response: { status_code: 401, bytes: 46 },
    },
    url: { path: '/', domain: 'example.com' },
    envoy: { format: 'envoy-default', response_flags: ['UAEX'], authority: 'example.com:8443' },
  })

// CONSTRUCTED: the client-side line of the kubeflow denial above. Reference c.2 (envoy-istio-log-formats.md):
// "The client's outbound log shows the same request as a plain `403 - via_upstream`".
export const clientSide403 = (): AuditEvent => {
  const e = rbacDeniedPlaintext()
  e.mesh = { reporter: 'source', upstream_cluster: 'outbound|8081||profiles-kfam.kubeflow.svc.cluster.local' }
  e.network = { protocol: 'http', transport: 'tcp', direction: 'outbound' }
  e.envoy = {
    format: 'istio-text-1.9',
    response_code_details: 'via_upstream',
    authority: 'profiles-kfam.kubeflow:8081',
    upstream_host: '10.254.17.38:8081',
  }
  return e
}

// CONSTRUCTED: a TCP RBAC denial. Envoy network rbac_filter.rst: "the CONNECTION_TERMINATION_DETAILS
// will include the name of the matched policy"; policy id shape from istio.io security-issues doc.
export const tcpRbacDenied = (policy = 'ns[foo]-policy[deny-mysql]-rule[0]'): AuditEvent =>
  makeEvent({
    '@timestamp': '2024-01-01T00:00:00.000Z',
    event: { action: 'denied', outcome: 'failure', duration: 0 },
    network: { transport: 'tcp', direction: 'inbound' },
    http: { request: { bytes: 0 }, response: { bytes: 0 } },
    source: { ip: '10.0.0.5', port: 40000 },
    mesh: { reporter: 'destination', upstream_cluster: 'inbound|3306||' },
    envoy: {
      connection_termination_details: `rbac_access_denied_matched_policy[${policy}]`,
      downstream_local_address: '10.0.0.9:3306',
      downstream_remote_address: '10.0.0.5:40000',
      requested_server_name: 'outbound_.3306_._.mysql.foo.svc.cluster.local',
    },
  })

// CONSTRUCTED: a custom format with the TLS operators (envoy substitution_formatter.rst examples:
// `TLSv1.3`, `ECDHE-RSA-CHACHA20-POLY1305`, `TLS_AES_256_GCM_SHA384`).
/** `version` as Envoy logs it (TLSv1.3), written as parse writes it: ECS tls.version 1.3 and version_protocol tls. */
export const tlsInbound = (version: string, cipher: string, san = 'spiffe://cluster.local/ns/foo/sa/client'): AuditEvent => {
  const e = mtlsInbound()
  const ecs = ecsTlsVersion(version)
  e.tls = { established: true, ...(ecs === undefined ? { version } : { version: ecs.version, version_protocol: ecs.protocol }), cipher }
  e.envoy.peer = { downstream_uri_san: san }
  return e
}

// CONSTRUCTED: the client line of a failed upstream TLS handshake. The failure reason text is real,
// from istio/istio#34920 ("transport failure reason: TLS error: 268435581:SSL
// routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED"); flags UF,URX per Envoy's flag table.
export const upstreamTlsFailure = (): AuditEvent => {
  const e = mtlsOutbound()
  e.http = { ...e.http, response: { status_code: 503, bytes: 190 } }
  e.event.outcome = 'failure'
  e.envoy.response_flags = ['UF', 'URX']
  e.envoy.response_code_details =
    'upstream_reset_before_response_started{connection_failure,TLS_error:_268435581:SSL_routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED}'
  e.envoy.upstream_transport_failure_reason = 'TLS error: 268435581:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED'
  return e
}
