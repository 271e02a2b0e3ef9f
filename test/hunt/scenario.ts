/**
 * Hand-built meshes for the hunt tests, written as the access-log lines the sidecars would write and
 * run through the real parser and transforms into a DuckDB store, so the search is tested on what the
 * pipeline really produces.
 *
 * Line shapes (Istio's formats in istio/istio pilot/pkg/model/telemetry_logging.go, Envoy's operators):
 * - Istio's default JSON format, 24 keys, typed since 1.8, null for unset values, plus the
 *   identity extras a Telemetry `logFormat` commonly adds (%DOWNSTREAM_PEER_URI_SAN%,
 *   %DOWNSTREAM_LOCAL_URI_SAN%, %UPSTREAM_PEER_URI_SAN%).
 * - One mesh request is two lines sharing x-request-id: the client's `outbound|port||fqdn` line
 *   (no SNI, its app speaks plaintext to it) and the server's `inbound|port||` line with the Istio mTLS
 *   SNI `outbound_.port_._.fqdn`; the server's downstream_remote_address is the client's
 *   upstream_local_address, the client's upstream_host is the server's downstream_local_address.
 * - An RBAC denial is logged by the server as 403 with details
 *   `rbac_access_denied_matched_policy[...]`, 19 bytes sent, no upstream host; the client logs a plain
 *   403 via_upstream.
 * - Fluent Bit's Kafka output wraps the line under `log` with the kubernetes filter's metadata.
 */
import type { AuditEvent } from '../../src/generated/types.js'
import { createParser } from '../../src/parse/index.js'
import { applyStages } from '../../src/pipeline/transforms.js'
import { createTransformStages } from '../../src/compose/transform-stages.js'
import { loadTransformsConfig } from '../../src/config/transforms.js'
import { DuckDbStore } from '../../src/store/duckdb-store.js'

export interface Wl {
  name: string
  ns: string
  sa: string
  ip: string
  port: number
  /** Sidecar writes no identity extras (plain default format): only SNI and the envelope name the peer. */
  plainFormat?: boolean
}

export const wl = (name: string, ns: string, ip: string, opts: Partial<Wl> = {}): Wl => ({ name, ns, sa: name, ip, port: 8080, ...opts })
export const spiffe = (w: Wl): string => `spiffe://cluster.local/ns/${w.ns}/sa/${w.sa}`
const fqdn = (w: Wl): string => `${w.name}.${w.ns}.svc.cluster.local`

/** The scenarios' clock: minute offsets from one fixed start, so tests read as a timeline. */
export const T0 = Date.parse('2026-11-20T10:00:00.000Z')
export const at = (minute: number): string => new Date(T0 + minute * 60_000).toISOString()

/** The workloads every hunt/flows scenario draws from. */
export const MESH = {
  gateway: wl('istio-ingressgateway', 'istio-system', '10.8.9.1'),
  frontend: wl('frontend', 'shop', '10.8.0.11'),
  cart: wl('cart', 'shop', '10.8.0.12'),
  catalog: wl('catalog', 'shop', '10.8.0.13'),
  payments: wl('payments', 'payments', '10.8.1.21'),
  db: wl('payments-db', 'payments', '10.8.1.22', { port: 5432 }),
} as const

export interface CallOpts {
  denied?: boolean
  /** The caller has no sidecar certificate: plaintext to a PERMISSIVE server. */
  plaintext?: boolean
  requestId?: string
  /** Only one side logged (e.g. the other sidecar's logs were lost). */
  only?: 'client' | 'server'
  method?: string
  path?: string
  /** Leave out the Kubernetes envelope (raw stdout lines). */
  bare?: boolean
  tcp?: boolean
}

let seq = 0

function envelope(line: string, w: Wl, ms: number, bare: boolean | undefined): string {
  if (bare === true) return line
  return JSON.stringify({
    '@timestamp': ms / 1000 + 0.25,
    log: line,
    stream: 'stdout',
    kubernetes: {
      pod_name: `${w.name}-7d4b9c-x${w.ip.split('.').pop()}`,
      namespace_name: w.ns,
      container_name: 'istio-proxy',
      labels: { app: w.name, 'security.istio.io/tlsMode': 'istio', 'service.istio.io/canonical-name': w.name },
    },
  })
}

function base(ms: number): Record<string, unknown> {
  return {
    start_time: new Date(ms).toISOString(),
    route_name: 'default',
    protocol: 'HTTP/1.1',
    response_flags: '-',
    connection_termination_details: null,
    bytes_received: 0,
    x_forwarded_for: null,
    user_agent: 'python-requests/2.31.0',
    upstream_transport_failure_reason: null,
    downstream_peer_uri_san: null,
    downstream_local_uri_san: null,
    upstream_peer_uri_san: null,
  }
}

/** The two lines of one call from `c` to `s` at `at` (ISO or ms). */
export function callLines(c: Wl, s: Wl, at: string | number, o: CallOpts = {}): string[] {
  seq++
  const ms = typeof at === 'number' ? at : Date.parse(at)
  const rid = o.tcp === true ? null : (o.requestId ?? `5d1e0c3a-0000-4000-8000-${String(seq).padStart(12, '0')}`)
  const mtls = o.plaintext !== true
  const status = o.denied === true ? 403 : 200
  const clientSock = `${c.ip}:${40000 + (seq % 20000)}`
  const target = `${s.ip}:${s.port}`
  const http =
    o.tcp === true
      ? { method: null, path: null, protocol: null, request_id: null, authority: null, route_name: null }
      : { method: o.method ?? 'GET', path: o.path ?? '/', request_id: rid, authority: `${s.name}.${s.ns}:${s.port}` }
  const code = o.tcp === true ? 0 : status
  const out: string[] = []
  if (o.only !== 'server') {
    out.push(
      envelope(
        JSON.stringify({
          ...base(ms),
          ...http,
          response_code: code,
          response_code_details: o.tcp === true ? null : 'via_upstream',
          bytes_sent: o.denied === true ? 19 : 512,
          duration: 4,
          upstream_service_time: '3',
          upstream_host: target,
          upstream_cluster: `outbound|${s.port}||${fqdn(s)}`,
          upstream_local_address: clientSock,
          downstream_local_address: `10.96.0.${(seq % 200) + 10}:${s.port}`,
          downstream_remote_address: `${c.ip}:${50000 + (seq % 10000)}`,
          requested_server_name: null,
          upstream_peer_uri_san: mtls && c.plainFormat !== true ? spiffe(s) : null,
        }),
        c,
        ms,
        o.bare,
      ),
    )
  }
  if (o.only !== 'client') {
    // Same start millisecond as the client line, so expected times read as whole minutes; the real
    // offset (network latency, node clock skew) is a few ms and does not change any answer here.
    out.push(
      envelope(
        JSON.stringify({
          ...base(ms),
          ...http,
          response_code: code,
          response_code_details: o.tcp === true ? null : o.denied === true ? 'rbac_access_denied_matched_policy[none]' : 'via_upstream',
          bytes_sent: o.denied === true ? 19 : 512,
          duration: 3,
          upstream_service_time: o.denied === true ? null : '2',
          upstream_host: o.denied === true ? null : target,
          upstream_cluster: `inbound|${s.port}||`,
          upstream_local_address: o.denied === true ? null : '127.0.0.6:51234',
          downstream_local_address: target,
          downstream_remote_address: clientSock,
          requested_server_name: mtls ? `outbound_.${s.port}_._.${fqdn(s)}` : null,
          downstream_peer_uri_san: mtls && s.plainFormat !== true ? spiffe(c) : null,
          downstream_local_uri_san: mtls && s.plainFormat !== true ? spiffe(s) : null,
        }),
        s,
        ms,
        o.bare,
      ),
    )
  }
  return out
}

/** Lines → parse → transforms → events, failing loudly if the pipeline dead-letters a test line. */
export function toEvents(lines: string[]): AuditEvent[] {
  const parsed = createParser().parseBatch(
    lines.map((value, i) => ({ value, coords: { kind: 'file', file: 'scenario.log', line: i + 1 } })),
  )
  if (parsed.deadLetters.length > 0) throw new Error(`scenario line dead-lettered: ${JSON.stringify(parsed.deadLetters[0])}`)
  const out = applyStages(createTransformStages(loadTransformsConfig()), parsed.events)
  if (out.deadLetters.length > 0) throw new Error(`scenario event dead-lettered: ${JSON.stringify(out.deadLetters[0])}`)
  return out.events
}

export async function storeWith(lines: string[]): Promise<DuckDbStore> {
  const store = new DuckDbStore({ path: ':memory:' })
  await store.start()
  const { rejected } = await store.writeEvents(toEvents(lines))
  if (rejected.length > 0) throw new Error(`store rejected: ${rejected[0]!.message}`)
  return store
}
