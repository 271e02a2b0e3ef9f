import { describe, test, expect } from 'vitest'
import { buildEvent } from '../../src/parse/build-event.js'
import { RawFields, type KubeMeta } from '../../src/parse/fields.js'
import type { AuditEvent } from '../../src/schema/audit-event.js'

// Decision tables for the derived fields. Field values are the shapes of the real lines in
// text.test.ts/json.test.ts (Elastic fixtures, istio/istio issues), reduced to what each rule reads.
function build(values: Partial<Record<keyof RawFields, unknown>>, kube?: KubeMeta): AuditEvent {
  const f = new RawFields()
  Object.assign(f, { start_time: '2022-09-08T12:51:05.656Z', ...values })
  const r = buildEvent(f, {
    record: { value: 'x', coords: { kind: 'file', file: 'a.log', line: 1 } },
    format: 'istio-json',
    original: 'x',
    kube,
    now: new Date('2022-09-08T12:51:06.000Z'),
  })
  if (!('event' in r)) throw new Error(r.message)
  return r.event
}

const HTTP = { method: 'GET', protocol: 'HTTP/1.1' }
const TCP = { method: null, protocol: null }

describe('event.outcome', () => {
  test.each([
    ['HTTP 200', { ...HTTP, response_code: 200 }, 'success'],
    ['HTTP 302', { ...HTTP, response_code: 302 }, 'success'],
    ['HTTP 404 NR', { ...HTTP, response_code: 404, response_flags: 'NR' }, 'failure'],
    ['HTTP 503 UH', { ...HTTP, response_code: 503, response_flags: 'UH' }, 'failure'],
    ['HTTP 0 DC', { ...HTTP, response_code: 0, response_flags: 'DC' }, 'failure'],
    ['HTTP 0 no flags', { ...HTTP, response_code: 0, response_flags: '-' }, 'unknown'],
    ['HTTP 0 only delay injected', { ...HTTP, response_code: 0, response_flags: 'DI' }, 'unknown'],
    ['HTTP no status at all', { ...HTTP }, 'unknown'],
    ['TCP 0 no flags', { ...TCP, response_code: 0, response_flags: '-' }, 'success'],
    ['TCP 0 UF,URX', { ...TCP, response_code: 0, response_flags: 'UF,URX' }, 'failure'],
    [
      'TCP 0 RBAC termination',
      { ...TCP, response_code: 0, response_flags: '-', connection_termination_details: 'rbac_access_denied_matched_policy[none]' },
      'failure',
    ],
    ['untyped "503"', { ...HTTP, response_code: '503' }, 'failure'],
  ] as const)('%s -> %s', (_name, values, outcome) => {
    expect(build(values).event.outcome).toBe(outcome)
  })
})

describe('direction, reporter, action', () => {
  test.each([
    ['outbound|9080||reviews.default.svc.cluster.local', 'outbound', 'source'],
    ['outbound|80||x.svc.cluster.local;', 'outbound', 'source'],
    ['inbound|9080||', 'inbound', 'destination'],
    ['inbound|9080|http|productpage.default.svc.cluster.local', 'inbound', 'destination'],
    ['InboundPassthroughClusterIpv4', 'inbound', 'destination'],
    ['inbound-vip|8080|http|reviews.default.svc.cluster.local', 'inbound', 'waypoint'],
    ['PassthroughCluster', 'egress', 'source'],
    ['BlackHoleCluster', 'egress', 'source'],
    ['-', 'unknown', 'unknown'],
    [null, 'unknown', 'unknown'],
    ['some_static_cluster', 'unknown', 'unknown'],
  ] as const)('cluster %s -> %s / %s', (cluster, direction, reporter) => {
    const e = build({ ...HTTP, response_code: 200, upstream_cluster: cluster })
    expect(e.network?.direction).toBe(direction)
    expect(e.mesh?.reporter).toBe(reporter)
  })

  test('a waypoint pod (gateway.istio.io/managed: istio.io-mesh-controller) reports as waypoint, not as an ingress gateway', () => {
    const waypoint = {
      pod: 'waypoint-57f4fcd686-6vwck',
      labels: { 'gateway.istio.io/managed': 'istio.io-mesh-controller', 'gateway.networking.k8s.io/gateway-name': 'waypoint' },
    }
    const e = build({ ...HTTP, response_code: 403, upstream_cluster: 'outbound|8080||handson.default.svc.cluster.local' }, waypoint)
    expect([e.mesh?.reporter, e.network?.direction]).toEqual(['waypoint', 'inbound'])
    const gw = {
      pod: 'gw-istio-7c9f-xyz',
      labels: { 'gateway.istio.io/managed': 'istio.io-gateway-controller', 'gateway.networking.k8s.io/gateway-name': 'gw' },
    }
    expect(build({ ...HTTP, response_code: 200 }, gw).mesh?.reporter).toBe('gateway')
  })

  test('gateway pods: ingress stays ingress, egress through Passthrough stays egress', () => {
    const ingress = { pod: 'istio-ingressgateway-5d8f5b4b6-abcde', labels: { istio: 'ingressgateway' } }
    expect(
      build({ ...HTTP, response_code: 200, upstream_cluster: 'outbound|9080||productpage.default.svc.cluster.local' }, ingress).network
        ?.direction,
    ).toBe('ingress')
    expect(build({ ...HTTP, response_code: 200, upstream_cluster: 'PassthroughCluster' }, ingress).network?.direction).toBe('egress')
    expect(build({ ...HTTP, response_code: 200 }, { pod: 'istio-egressgateway-7c9f-xyz' }).mesh?.reporter).toBe('gateway')
    expect(build({ ...HTTP, response_code: 200 }, { pod: 'reviews-v1-545db77b95-x2k8z' }).mesh?.reporter).toBe('unknown')
  })

  test('an east-west gateway (SNI passthrough on 15443) is a gateway taking traffic into its cluster', () => {
    const sni = 'outbound_.8080_._.ledger.finance.svc.cluster.local'
    const line = { ...TCP, response_code: 0, upstream_cluster: sni, requested_server_name: sni }
    for (const kube of [{ pod: 'istio-eastwestgateway-7d9f6c5b8-q4znr' }, { pod: 'ew-1', labels: { istio: 'eastwestgateway' } }]) {
      const e = build(line, kube)
      expect([e.mesh?.reporter, e.network?.direction]).toEqual(['gateway', 'ingress'])
    }
  })

  test.each([
    [
      'RBAC deny',
      { ...HTTP, response_code: 403, response_code_details: 'rbac_access_denied_matched_policy[ns[foo]-policy[deny]-rule[0]]' },
      'denied',
      'ns[foo]-policy[deny]-rule[0]',
    ],
    ['old Envoy RBAC details', { ...HTTP, response_code: 403, response_code_details: 'rbac_access_denied' }, 'denied', undefined],
    ['ext_authz UAEX', { ...HTTP, response_code: 403, response_flags: 'UAEX' }, 'denied', undefined],
    [
      'no filter chain',
      { ...TCP, response_code: 0, response_flags: 'NR', response_code_details: 'filter_chain_not_found' },
      'rejected',
      undefined,
    ],
    ['TCP connection', { ...TCP, response_code: 0 }, 'connection', undefined],
    ['app 403 seen by the client', { ...HTTP, response_code: 403, response_code_details: 'via_upstream' }, 'allowed', undefined],
  ] as const)('%s -> action %s', (_n, values, action, policy) => {
    const e = build(values)
    expect(e.event.action).toBe(action)
    expect(e.envoy.rbac_policy).toBe(policy)
  })
})

describe('field mapping details', () => {
  test('bytes are not inverted: request = BYTES_RECEIVED, response = BYTES_SENT', () => {
    const e = build({ ...HTTP, response_code: 200, bytes_received: 154, bytes_sent: 7 })
    expect(e.http?.request?.bytes).toBe(154)
    expect(e.http?.response?.bytes).toBe(7)
  })

  test('durations: integer ms, fractional custom ms, out-of-range dropped', () => {
    expect(build({ duration: 15 }).event.duration).toBe(15_000_000)
    expect(build({ duration: '12.5' }).event.duration).toBe(12_500_000)
    expect(build({ duration: 1e20 }).event.duration).toBeUndefined()
    expect(build({ duration: 'abc' }).event.duration).toBeUndefined()
  })

  test('inbound destination is the local address; outbound is the upstream host with a ClusterIP fallback', () => {
    const inbound = build({
      ...HTTP,
      upstream_cluster: 'inbound|9080||',
      upstream_host: '127.0.0.1:9080',
      downstream_local_address: '10.60.1.30:9080',
    })
    expect(inbound.destination).toMatchObject({ ip: '10.60.1.30', port: 9080 })
    const outbound = build({
      ...HTTP,
      upstream_cluster: 'outbound|8000||httpbin.default.svc.cluster.local',
      upstream_host: null,
      downstream_local_address: '10.99.37.119:8000',
    })
    expect(outbound.destination).toMatchObject({ ip: '10.99.37.119', port: 8000 })
  })

  test('unset markers never reach the event', () => {
    const e = build({
      ...HTTP,
      response_code: 200,
      user_agent: '-',
      request_id: '',
      x_forwarded_for: null,
      route_name: '-',
      upstream_service_time: '-',
    })
    expect(e.user_agent).toBeUndefined()
    expect(e.http?.request?.id).toBeUndefined()
    expect(e.envoy.x_forwarded_for).toBeUndefined()
    expect(e.mesh?.route_name).toBeUndefined()
    expect(e.envoy.upstream_service_time).toBeUndefined()
  })

  test('never sets the fields the enrichment stage owns', () => {
    const e = build({
      ...HTTP,
      response_code: 200,
      downstream_peer_uri_san: 'spiffe://cluster.local/ns/default/sa/sleep',
      upstream_cluster: 'inbound|9080||',
    })
    expect(e.mesh?.source).toBeUndefined()
    expect(e.mesh?.destination).toBeUndefined()
    expect(e.mesh?.mtls).toBeUndefined()
    expect(e.audit.au3).toBeUndefined()
    expect(e.audit.findings).toBeUndefined()
    expect(e.envoy.peer?.downstream_uri_san).toBe('spiffe://cluster.local/ns/default/sa/sleep')
  })
})
