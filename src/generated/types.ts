/* Generated from schemas/*.schema.json by `npm run generate`. Do not edit. */
/**
 * One Envoy access-log record as canonical audit evidence. ECS field names where ECS has the concept; project fields under mesh.*, envoy.*, audit.*. Absent values are omitted, never written as null (except mesh.mtls, where null means unknowable). x-opensearch gives the index mapping type of a leaf; every other leaf maps as keyword. x-duckdb makes a leaf a typed column of the embedded store (src/schema/duckdb-generate.ts).
 */
export interface AuditEvent {
  /**
   * Request start (Envoy START_TIME), ISO 8601 UTC. Only a record that logs no start time gets another time, named by audit.time_source.
   */
  "@timestamp": string;
  event: EventFields;
  network?: NetworkFields;
  http?: HttpFields;
  url?: UrlFields;
  user_agent?: UserAgentFields;
  source?: SourceFields;
  destination?: DestinationFields;
  tls?: TlsFields;
  mesh?: MeshFields;
  envoy: EnvoyFields;
  ztunnel?: ZtunnelFields;
  kubernetes?: KubernetesFields;
  orchestrator?: OrchestratorFields;
  audit: AuditFields;
}
export interface EventFields {
  /**
   * Deterministic id derived from the access-log line and the workload (namespace, pod, container) that emitted it, never from where it was read (src/pipeline/event-id.ts); the OpenSearch _id.
   */
  id: string;
  kind: "event";
  /**
   * envoy.access: an Envoy line (sidecar, gateway, waypoint); ztunnel.access: an Istio ambient ztunnel connection line.
   */
  dataset: "envoy.access" | "ztunnel.access";
  category?: string[];
  type?: string[];
  /**
   * allowed | denied | connection | rejected
   */
  action?: string;
  outcome: "success" | "failure" | "unknown";
  /**
   * Nanoseconds (Envoy DURATION ms x 1e6).
   */
  duration?: number;
  /**
   * The Envoy line itself, envelope stripped, after redaction.
   */
  original?: string;
  /**
   * ECS event.hash: SHA-256 (hex) of the line event.original would hold (envelope stripped, UTF-8, before redaction). Written instead of event.original when parser.preserveOriginal is false, so the record still binds to the raw line kept elsewhere (Kafka, an archive).
   */
  hash?: string;
  ingested?: string;
  /**
   * When envoy-audit read the record. Set only on a record that logs no request start time (audit.time_source); left out of audit.hash, like event.ingested.
   */
  created?: string;
}
export interface NetworkFields {
  /**
   * http, tcp, ...
   */
  protocol?: string;
  transport?: string;
  direction?: "inbound" | "outbound" | "ingress" | "egress" | "unknown";
}
export interface HttpFields {
  version?: string;
  request?: HttpRequestFields;
  response?: HttpResponseFields;
}
export interface HttpRequestFields {
  method?: string;
  id?: string;
  bytes?: number;
}
export interface HttpResponseFields {
  status_code?: number;
  bytes?: number;
}
export interface UrlFields {
  /**
   * Path without the query string.
   */
  path?: string;
  query?: string;
  /**
   * Host part of :authority.
   */
  domain?: string;
}
export interface UserAgentFields {
  original?: string;
}
export interface SourceFields {
  ip?: string;
  port?: number;
  address?: string;
  /**
   * ECS source.bytes: bytes the source sent to the destination over the connection (ztunnel lines: bytes_sent or bytes_recv by direction, see docs/ambient.md).
   */
  bytes?: number;
}
export interface DestinationFields {
  ip?: string;
  port?: number;
  address?: string;
  domain?: string;
  /**
   * ECS destination.bytes: bytes the destination sent to the source over the connection (ztunnel lines, as source.bytes).
   */
  bytes?: number;
}
export interface TlsFields {
  established?: boolean;
  /**
   * ECS tls.version: the numeric part of the negotiated version (Envoy %DOWNSTREAM_TLS_VERSION% TLSv1.2 is 1.2, TLSv1 is 1.0).
   */
  version?: string;
  /**
   * ECS tls.version_protocol: the protocol of tls.version, lowercase.
   */
  version_protocol?: "tls" | "ssl";
  cipher?: string;
  client?: TlsClientFields;
}
export interface TlsClientFields {
  server_name?: string;
}
export interface MeshFields {
  /**
   * The proxy that wrote the line: a client (source) or server (destination) sidecar, a gateway, an ambient waypoint, or an ambient node proxy (ztunnel).
   */
  reporter?: "source" | "destination" | "gateway" | "waypoint" | "ztunnel" | "unknown";
  upstream_cluster?: string;
  route_name?: string;
  mtls?: boolean | null;
  source?: MeshSourceFields;
  destination?: MeshDestinationFields;
}
export interface MeshSourceFields {
  spiffe_id?: string;
  trust_domain?: string;
  namespace?: string;
  service_account?: string;
  workload?: string;
  /**
   * Which field the identity came from.
   */
  signal?: string;
  /**
   * Istio cluster id of this peer: from the peer metadata the line logs, or the reporting proxy's own cluster for its own side. The two sides differ on east-west (cross-cluster) traffic.
   */
  cluster?: string;
}
export interface MeshDestinationFields {
  service?: string;
  namespace?: string;
  port?: number;
  subset?: string;
  spiffe_id?: string;
  trust_domain?: string;
  service_account?: string;
  workload?: string;
  /**
   * Which field the service/identity came from.
   */
  signal?: string;
  /**
   * Istio cluster id of this peer: from the peer metadata the line logs, or the reporting proxy's own cluster for its own side. The two sides differ on east-west (cross-cluster) traffic.
   */
  cluster?: string;
}
export interface EnvoyFields {
  /**
   * Recognised format, e.g. istio-json, istio-text-1.9, envoy-default, custom:<map>.
   */
  format: string;
  response_flags?: string[];
  response_code_details?: string;
  connection_termination_details?: string;
  upstream_transport_failure_reason?: string;
  upstream_host?: string;
  upstream_local_address?: string;
  downstream_local_address?: string;
  downstream_remote_address?: string;
  /**
   * Milliseconds.
   */
  upstream_service_time?: number;
  x_forwarded_for?: string;
  connection_id?: string;
  authority?: string;
  requested_server_name?: string;
  /**
   * Matched RBAC policy id from rbac_access_denied_matched_policy[...].
   */
  rbac_policy?: string;
  peer?: EnvoyPeerFields;
}
export interface EnvoyPeerFields {
  downstream_uri_san?: string;
  downstream_local_uri_san?: string;
  downstream_subject?: string;
  upstream_uri_san?: string;
  upstream_tls_version?: string;
  upstream_tls_cipher?: string;
}
/**
 * The fields of an Istio ambient ztunnel access line as it logged them (src/proxy/metrics.rs in istio/ztunnel); mesh.*, source.* and destination.* hold their interpretation.
 */
export interface ZtunnelFields {
  /**
   * connection complete, connection opened or connection failed.
   */
  message?: string;
  level?: string;
  src_addr?: string;
  src_workload?: string;
  src_namespace?: string;
  src_identity?: string;
  dst_addr?: string;
  /**
   * The HBONE target (:authority of the CONNECT): present when the connection was tunnelled over HBONE mTLS.
   */
  dst_hbone_addr?: string;
  dst_service?: string;
  dst_workload?: string;
  dst_namespace?: string;
  dst_identity?: string;
  /**
   * bytes_sent as ztunnel logged it (its log un-flips the source-reported metric, istio/istio#32399).
   */
  bytes_sent?: number;
  /**
   * bytes_recv as ztunnel logged it.
   */
  bytes_recv?: number;
  error?: string;
  /**
   * namespace/name of the AuthorizationPolicy a rejection names (explicitly denied by: ...).
   */
  policy?: string;
}
export interface KubernetesFields {
  namespace?: string;
  pod?: string;
  container?: string;
  node?: string;
  labels?: {
    [k: string]: string | undefined;
  };
}
/**
 * The Kubernetes cluster the record came from (ECS orchestrator.*): from the source (a per-topic or per-source cluster option), the log envelope, the parser's default cluster, or the Istio cluster id the proxy logs; absent when none names one.
 */
export interface OrchestratorFields {
  type?: "kubernetes";
  cluster?: OrchestratorClusterFields;
}
export interface OrchestratorClusterFields {
  /**
   * The cluster's name as the SOC knows it: the source's, the envelope's or the configured cluster, else the Istio cluster id.
   */
  name?: string;
  /**
   * The Istio cluster id of the reporting proxy (its CLUSTER_ID node metadata, logged e.g. as %ENVIRONMENT(ISTIO_META_CLUSTER_ID)%).
   */
  id?: string;
}
export interface AuditFields {
  source?: AuditSourceFields;
  /**
   * Set only when the record logs no request start time: @timestamp is then the time its log envelope gives (CRI, Docker, Fluent Bit, Vector) or, without one, the time envoy-audit read it, and AU-3 'when' is missing.
   */
  time_source?: "envelope" | "ingest";
  au3?: Au3Fields;
  findings?: Finding[];
  /**
   * Codes of audit.findings, flat for aggregations.
   */
  finding_codes?: string[];
  controls?: string[];
  severity?: "none" | "info" | "low" | "medium" | "high" | "critical";
  redactions?: number;
  /**
   * Integrity hash of the canonical event (tamper evidence).
   */
  hash?: string;
}
/**
 * Where the record was read: file+line+byte offset, or topic+partition+offset.
 */
export interface AuditSourceFields {
  kind?: "file" | "stdin" | "kafka" | "otlp";
  file?: string;
  /**
   * Line number (file), or the log record's 1-based position in its OTLP export request (an otlp source, or a Kafka record holding an OTLP export request).
   */
  line?: number;
  /**
   * Byte offset (file), Kafka offset, or the OTLP receiver's request number, as a string (64-bit).
   */
  offset?: string;
  topic?: string;
  partition?: number;
}
export interface Au3Fields {
  complete?: boolean;
  missing?: string[];
  /**
   * AU-3(1) additional elements not present (reported, not required).
   */
  extras_missing?: string[];
}
export interface Finding {
  code: string;
  severity: "info" | "low" | "medium" | "high" | "critical";
  controls: string[];
  message: string;
  policy?: string;
}

/**
 * A record that could not become an indexed event: why, and the original bytes so it can be replayed. raw holds the bytes when they are valid UTF-8; raw_base64 otherwise. A joined CRI line also carries the partial records it was made of in parts.
 */
export interface DeadLetter {
  /**
   * Deterministic dead-letter id: SHA-256 over the reason and the bytes of every record the dead letter holds (parts, then raw), never where they were read; 22 base64url characters. A replay of the same bad record gets the same id: it is the Kafka message key on the dead-letter topic and the primary key of the embedded store's dead_letters table.
   */
  id: string;
  /**
   * Stable error code from src/errors.ts, e.g. EA_PARSE_NOT_ACCESS_LOG.
   */
  reason: string;
  message: string;
  stage: "parse" | "transform" | "sink";
  raw?: string;
  raw_base64?: string;
  /**
   * The CRI partial (P) records this record completed, oldest first, each with its own bytes and source. Present when a joined line could not become an event: the records read were parts[0], ..., parts[n-1], then raw.
   */
  parts?: DeadLetterPart[];
  event_id?: string;
  source: DeadLetterSource;
  headers?: {
    [k: string]: string | undefined;
  };
  /**
   * Values replaced by redaction in raw/raw_base64, parts, message and headers; when present, raw is no longer byte-identical to the record read.
   */
  redacted?: number;
  at: string;
}
export interface DeadLetterPart {
  raw?: string;
  raw_base64?: string;
  source: DeadLetterSource;
}
export interface DeadLetterSource {
  kind?: "file" | "stdin" | "kafka" | "otlp";
  file?: string;
  line?: number;
  offset?: string;
  topic?: string;
  partition?: number;
}

/**
 * One document per finding in the findings index, for alerting monitors and dashboards: the finding plus the key fields of the event it was raised on (who, to whom, where, which policy). Field names follow the event schema so the same queries work on both indices. x-opensearch gives the index mapping type of a leaf; every other leaf maps as keyword. x-from names where a leaf's value comes from (the generated finding writer, src/generated/finding-writer.ts, reads it): a path in the audit event, audit.findings[].<member> for the finding the document is for, $index for its position in audit.findings, $namespace for the event's namespace (src/schema/event-namespace.ts); a list is the first of them that is neither undefined nor null. A member of the document is left out when its value is undefined, and an object when every leaf under it is.
 */
export interface FindingDocument {
  /**
   * The event's @timestamp (request start).
   */
  "@timestamp": string;
  event: {
    /**
     * event.id of the event the finding was raised on (the events index _id).
     */
    id: string;
    action?: string;
    outcome?: string;
  };
  finding: {
    code: string;
    severity: "info" | "low" | "medium" | "high" | "critical";
    controls: string[];
    message?: string;
    policy?: string;
    /**
     * Position in the event's audit.findings.
     */
    index?: number;
  };
  /**
   * The namespace that wrote the record, as coverage counts it: the reporting pod's, else the destination's for inbound lines, else the source's.
   */
  namespace?: string;
  source?: {
    ip?: string;
    port?: number;
  };
  destination?: {
    ip?: string;
    port?: number;
    address?: string;
    domain?: string;
  };
  http?: {
    request?: {
      method?: string;
    };
    response?: {
      status_code?: number;
    };
  };
  mesh?: {
    reporter?: string;
    upstream_cluster?: string;
    source?: {
      spiffe_id?: string;
      trust_domain?: string;
      namespace?: string;
      service_account?: string;
      workload?: string;
    };
    destination?: {
      service?: string;
      namespace?: string;
      spiffe_id?: string;
      service_account?: string;
      workload?: string;
    };
  };
  kubernetes?: {
    namespace?: string;
    pod?: string;
  };
}
