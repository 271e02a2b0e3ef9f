/**
 * The intermediate record every format parser fills: one slot per Envoy command operator we know, named
 * after the key Istio's default JSON format uses for it (so the Istio JSON map is the identity map).
 * Text and JSON parsers only copy raw values here; all interpretation (unset markers, numbers, addresses,
 * direction, outcome) happens once, in build-event.ts, so every format gets identical semantics.
 */

/** A raw value as a format delivers it. `"-"`, `""` and null all mean "unset" (Envoy's text / JSON forms). */
export type RawValue = string | number | boolean | null | undefined

export const CANONICAL_FIELDS = [
  'start_time',
  'method',
  'path',
  'protocol',
  'response_code',
  'response_flags',
  'response_code_details',
  'connection_termination_details',
  'upstream_transport_failure_reason',
  'bytes_received',
  'bytes_sent',
  'duration',
  'upstream_service_time',
  'x_forwarded_for',
  'user_agent',
  'request_id',
  'authority',
  'upstream_host',
  'upstream_cluster',
  'upstream_local_address',
  'downstream_local_address',
  'downstream_remote_address',
  'requested_server_name',
  'route_name',
  'connection_id',
  'downstream_peer_uri_san',
  'downstream_local_uri_san',
  'downstream_peer_subject',
  'downstream_tls_version',
  'downstream_tls_cipher',
  'upstream_peer_uri_san',
  'upstream_tls_version',
  'upstream_tls_cipher',
  'istio_policy_status',
  'cluster_id',
  'downstream_peer_cluster',
  'upstream_peer_cluster',
] as const

export type CanonicalField = (typeof CANONICAL_FIELDS)[number]

const CANONICAL_SET: ReadonlySet<string> = new Set(CANONICAL_FIELDS)

export function isCanonicalField(name: string): name is CanonicalField {
  return CANONICAL_SET.has(name)
}

/**
 * A class rather than a dictionary: every instance has the same hidden class, which keeps the hot
 * path monomorphic, and no key of it ever comes from untrusted input.
 */
export class RawFields {
  start_time: RawValue = undefined
  method: RawValue = undefined
  path: RawValue = undefined
  protocol: RawValue = undefined
  response_code: RawValue = undefined
  response_flags: RawValue = undefined
  response_code_details: RawValue = undefined
  connection_termination_details: RawValue = undefined
  upstream_transport_failure_reason: RawValue = undefined
  bytes_received: RawValue = undefined
  bytes_sent: RawValue = undefined
  duration: RawValue = undefined
  upstream_service_time: RawValue = undefined
  x_forwarded_for: RawValue = undefined
  user_agent: RawValue = undefined
  request_id: RawValue = undefined
  authority: RawValue = undefined
  upstream_host: RawValue = undefined
  upstream_cluster: RawValue = undefined
  upstream_local_address: RawValue = undefined
  downstream_local_address: RawValue = undefined
  downstream_remote_address: RawValue = undefined
  requested_server_name: RawValue = undefined
  route_name: RawValue = undefined
  connection_id: RawValue = undefined
  downstream_peer_uri_san: RawValue = undefined
  downstream_local_uri_san: RawValue = undefined
  downstream_peer_subject: RawValue = undefined
  downstream_tls_version: RawValue = undefined
  downstream_tls_cipher: RawValue = undefined
  upstream_peer_uri_san: RawValue = undefined
  upstream_tls_version: RawValue = undefined
  upstream_tls_cipher: RawValue = undefined
  istio_policy_status: RawValue = undefined
  /** The reporting proxy's Istio cluster id (`%ENVIRONMENT(ISTIO_META_CLUSTER_ID)%`, its CLUSTER_ID node metadata). */
  cluster_id: RawValue = undefined
  /** The Istio cluster ids of the peers, where a custom format logs Istio's peer metadata. */
  downstream_peer_cluster: RawValue = undefined
  upstream_peer_cluster: RawValue = undefined
  /**
   * True when the format logs the downstream TLS operators at all (a JSON key was present, even if
   * null). Only then does an unset TLS version mean "no TLS on the downstream connection".
   */
  downstreamTlsLogged = false
}

/** Kubernetes metadata recovered from an envelope or a `kubectl logs --prefix` / stern prefix. */
export interface KubeMeta {
  namespace?: string
  pod?: string
  container?: string
  node?: string
  labels?: Record<string, string>
  /** The cluster an envelope names (a collector that adds its cluster's name to every record). */
  cluster?: string
}
