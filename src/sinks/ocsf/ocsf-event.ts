/**
 * The canonical event as an OCSF 1.1.0 event: HTTP Activity (class 4002) for an HTTP line, Network
 * Activity (class 4001) for a TCP connection line, so a Security Lake custom source or any OCSF consumer
 * can take envoy-audit's output. docs/ocsf.md is the mapping table; test/sinks/ocsf.test.ts validates the
 * output against OCSF's JSON schema for both classes. Sources: the OCSF 1.1.0 schema
 * (https://schema.ocsf.io/1.1.0/classes/http_activity, .../network_activity).
 *
 * What OCSF has no attribute for (the cluster, SPIFFE trust domains and namespaces, mTLS, findings and
 * their controls, AU-3, the integrity hash, Envoy's raw fields) goes to `unmapped` under its canonical
 * (ECS) name, so nothing of the audit record is lost and a query can use the name it already knows.
 */
import { isIP } from 'node:net'
import type { AuditEvent } from '../../schema/audit-event.js'

export const OCSF_VERSION = '1.1.0'

const HTTP_ACTIVITY = { uid: 4002, name: 'HTTP Activity' }
const NETWORK_ACTIVITY = { uid: 4001, name: 'Network Activity' }

/** OCSF 1.1.0 http_activity activity_id, by HTTP method; any other method is 99 (Other). */
const HTTP_ACTIVITIES: Readonly<Record<string, readonly [number, string]>> = {
  CONNECT: [1, 'Connect'],
  DELETE: [2, 'Delete'],
  GET: [3, 'Get'],
  HEAD: [4, 'Head'],
  OPTIONS: [5, 'Options'],
  POST: [6, 'Post'],
  PUT: [7, 'Put'],
  TRACE: [8, 'Trace'],
}

const SEVERITIES: Readonly<Record<string, readonly [number, string]>> = {
  none: [1, 'Informational'],
  info: [1, 'Informational'],
  low: [2, 'Low'],
  medium: [3, 'Medium'],
  high: [4, 'High'],
  critical: [5, 'Critical'],
}

const STATUSES = { success: [1, 'Success'], failure: [2, 'Failure'], unknown: [0, 'Unknown'] } as const

/**
 * Sidecar hops (inbound, outbound) run between workloads of the mesh: OCSF's Lateral. Ingress and egress
 * gateways are where traffic enters and leaves it.
 */
const DIRECTIONS: Readonly<Record<string, readonly [number, string]>> = {
  ingress: [1, 'Inbound'],
  egress: [2, 'Outbound'],
  inbound: [3, 'Lateral'],
  outbound: [3, 'Lateral'],
  unknown: [0, 'Unknown'],
}

// OCSF's hostname_t pattern: a DNS name without a port.
const HOSTNAME = /^(([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])\.)*([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])$/

export interface OcsfProduct {
  /** envoy-audit's version, for metadata.product.version. */
  version: string
}

type Json = Record<string, unknown>

export function toOcsf(e: AuditEvent, product: OcsfProduct): Json {
  const http = e.event.category?.includes('web') === true || e.http !== undefined
  const cls = http ? HTTP_ACTIVITY : NETWORK_ACTIVITY
  const [activityId, activityName] = http ? httpActivity(e) : networkActivity(e)
  const [severityId, severity] = SEVERITIES[e.audit.severity ?? 'none'] ?? SEVERITIES['none']!
  const [statusId, status] = STATUSES[e.event.outcome]
  const time = Date.parse(e['@timestamp'])
  const out: Json = {
    activity_id: activityId,
    activity_name: activityName,
    category_uid: 4,
    category_name: 'Network Activity',
    class_uid: cls.uid,
    class_name: cls.name,
    type_uid: cls.uid * 100 + activityId,
    type_name: `${cls.name}: ${activityName}`,
    severity_id: severityId,
    severity,
    status_id: statusId,
    status,
    time,
    start_time: time,
    metadata: metadata(e, product),
    src_endpoint: endpoint(e.source, e.mesh?.source?.spiffe_id, e.mesh?.source?.workload ?? e.mesh?.source?.service_account),
    dst_endpoint: destinationEndpoint(e),
    connection_info: connectionInfo(e),
  }
  if (e.event.duration !== undefined) {
    const ms = Math.round(e.event.duration / 1e6)
    out['duration'] = ms
    out['end_time'] = time + ms
  }
  const flags = (e.envoy.response_flags ?? []).filter((f) => f !== '-')
  if (flags.length > 0) out['status_code'] = flags.join(',')
  if (e.envoy.response_code_details !== undefined) out['status_detail'] = e.envoy.response_code_details
  const findings = e.audit.findings ?? []
  if (findings.length > 0) out['message'] = findings.map((f) => f.message).join(' ')
  if (e.tls?.version !== undefined) {
    // OCSF names no format for tls.version: the numeric one ECS uses (1.3), with SSL spelled out.
    const tls: Json = { version: e.tls.version_protocol === 'ssl' ? `SSL ${e.tls.version}` : e.tls.version }
    if (e.tls.cipher !== undefined) tls['cipher'] = e.tls.cipher
    if (e.tls.client?.server_name !== undefined) tls['sni'] = e.tls.client.server_name
    out['tls'] = tls
  }
  const traffic = trafficOf(e)
  if (traffic !== undefined) out['traffic'] = traffic
  if (http) {
    out['http_request'] = httpRequest(e)
    // OCSF requires a response code; Envoy logs 0 for a request that got no response (reset, refused).
    const response: Json = { code: e.http?.response?.status_code ?? 0 }
    if (e.http?.response?.bytes !== undefined) response['length'] = e.http.response.bytes
    if (e.envoy.upstream_service_time !== undefined) response['latency'] = e.envoy.upstream_service_time
    out['http_response'] = response
  }
  if (e.event.original !== undefined) out['raw_data'] = e.event.original
  out['unmapped'] = unmapped(e)
  return out
}

function httpActivity(e: AuditEvent): readonly [number, string] {
  const method = e.http?.request?.method
  if (method === undefined) return [0, 'Unknown']
  return Object.hasOwn(HTTP_ACTIVITIES, method) ? HTTP_ACTIVITIES[method]! : [99, 'Other']
}

/** An Envoy TCP access-log line is written when the connection ends. */
function networkActivity(e: AuditEvent): readonly [number, string] {
  if (e.event.action === 'denied' || e.event.action === 'rejected') return [5, 'Refuse']
  if (e.event.outcome === 'failure') return [4, 'Fail']
  if (e.event.outcome === 'success') return [2, 'Close']
  return [0, 'Unknown']
}

function metadata(e: AuditEvent, product: OcsfProduct): Json {
  const m: Json = {
    version: OCSF_VERSION,
    product: { name: 'envoy-audit', vendor_name: 'envoy-audit', version: product.version },
    uid: e.event.id,
    log_name: e.event.dataset,
    log_provider: e.mesh?.reporter === 'ztunnel' ? 'ztunnel' : 'envoy',
    profiles: [],
  }
  if (e.event.ingested !== undefined) m['processed_time'] = Date.parse(e.event.ingested)
  if (e.http?.request?.id !== undefined) m['correlation_uid'] = e.http.request.id
  const codes = e.audit.finding_codes ?? (e.audit.findings ?? []).map((f) => f.code)
  if (codes.length > 0) m['labels'] = [...codes]
  return m
}

/** OCSF wants at least one of ip, uid, name, hostname, svc_name (and a few more) on an endpoint. */
function endpoint(addr: AuditEvent['source'], spiffeId: string | undefined, name: string | undefined): Json {
  const ep: Json = {}
  if (addr?.ip !== undefined && isIP(addr.ip) !== 0) ep['ip'] = addr.ip
  if (addr?.port !== undefined) ep['port'] = addr.port
  if (spiffeId !== undefined) ep['uid'] = spiffeId
  if (name !== undefined) ep['name'] = name
  if (Object.keys(ep).length === 0 || (ep['port'] !== undefined && Object.keys(ep).length === 1)) ep['name'] = 'unknown'
  return ep
}

function destinationEndpoint(e: AuditEvent): Json {
  const d = e.mesh?.destination
  const ep = endpoint(e.destination, d?.spiffe_id, d?.workload ?? d?.service_account)
  if (d?.service !== undefined) ep['svc_name'] = d.namespace === undefined ? d.service : `${d.service}.${d.namespace}`
  const host = e.destination?.domain ?? e.url?.domain
  if (host !== undefined && HOSTNAME.test(host)) ep['hostname'] = host
  if (ep['name'] === 'unknown' && (ep['svc_name'] !== undefined || ep['hostname'] !== undefined)) delete ep['name']
  return ep
}

function connectionInfo(e: AuditEvent): Json {
  const [directionId, direction] = DIRECTIONS[e.network?.direction ?? 'unknown'] ?? DIRECTIONS['unknown']!
  const info: Json = { direction_id: directionId, direction }
  if ((e.network?.transport ?? 'tcp') === 'tcp') {
    info['protocol_name'] = 'tcp'
    info['protocol_num'] = 6
  }
  const family = isIP(e.source?.ip ?? e.destination?.ip ?? '')
  if (family === 4) info['protocol_ver_id'] = 4
  else if (family === 6) info['protocol_ver_id'] = 6
  return info
}

/**
 * bytes_out: source to destination (what Envoy received from the downstream; a ztunnel connection's
 * source.bytes); bytes_in the reverse.
 */
function trafficOf(e: AuditEvent): Json | undefined {
  const out = e.http?.request?.bytes ?? e.source?.bytes
  const inn = e.http?.response?.bytes ?? e.destination?.bytes
  if (out === undefined && inn === undefined) return undefined
  const t: Json = {}
  if (out !== undefined) t['bytes_out'] = out
  if (inn !== undefined) t['bytes_in'] = inn
  if (out !== undefined && inn !== undefined) t['bytes'] = out + inn
  return t
}

function httpRequest(e: AuditEvent): Json {
  const req: Json = {}
  const method = e.http?.request?.method
  if (method !== undefined && Object.hasOwn(HTTP_ACTIVITIES, method)) req['http_method'] = method
  if (e.http?.request?.id !== undefined) req['uid'] = e.http.request.id
  if (e.http?.version !== undefined) req['version'] = e.http.version
  if (e.http?.request?.bytes !== undefined) req['length'] = e.http.request.bytes
  if (e.user_agent?.original !== undefined) req['user_agent'] = e.user_agent.original
  const xff = (e.envoy.x_forwarded_for ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => isIP(s) !== 0)
  if (xff.length > 0) req['x_forwarded_for'] = xff
  if (e.url !== undefined) {
    const url: Json = {}
    if (e.url.path !== undefined) url['path'] = e.url.path
    if (e.url.query !== undefined) url['query_string'] = e.url.query
    if (e.url.domain !== undefined && HOSTNAME.test(e.url.domain)) url['hostname'] = e.url.domain
    if (Object.keys(url).length > 0) req['url'] = url
  }
  return req
}

/** The canonical fields OCSF has no attribute for, under their canonical names. */
function unmapped(e: AuditEvent): Json {
  const u: Json = {}
  if (e.orchestrator !== undefined) u['orchestrator'] = e.orchestrator
  if (e.mesh !== undefined) u['mesh'] = e.mesh
  if (e.kubernetes !== undefined) u['kubernetes'] = e.kubernetes
  if (e.network?.direction !== undefined) u['network'] = { direction: e.network.direction }
  u['event'] = { action: e.event.action, outcome: e.event.outcome }
  const method = e.http?.request?.method
  if (method !== undefined && !Object.hasOwn(HTTP_ACTIVITIES, method)) u['http'] = { request: { method } }
  u['envoy'] = e.envoy
  if (e.ztunnel !== undefined) u['ztunnel'] = e.ztunnel
  u['audit'] = e.audit
  return u
}
