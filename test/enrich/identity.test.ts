import { describe, test, expect } from 'vitest'
import type { AuditEvent } from '../../src/generated/types.js'
import { loadTransformsConfig } from '../../src/config/transforms.js'
import { enrichIdentity, SIGNALS } from '../../src/enrich/identity.js'
import { parseAuthority, parseIstioSni, parseUpstreamCluster, serviceFromHost } from '../../src/enrich/signals.js'
import { blackhole, makeEvent, mtlsInbound, mtlsOutbound, nrFilterChain, passthrough, rbacDeniedPlaintext } from '../detect/fixtures.js'

const config = loadTransformsConfig({})
const enrich = (e: AuditEvent): AuditEvent => {
  enrichIdentity(e, config)
  return e
}

describe('upstream_cluster names (istio pilot/pkg/model/service.go; reference d.1)', () => {
  test.each([
    ['outbound|9080||reviews.default.svc.cluster.local', { kind: 'outbound', port: 9080, host: 'reviews.default.svc.cluster.local' }],
    [
      'outbound|9080|v1|reviews.default.svc.cluster.local',
      { kind: 'outbound', port: 9080, subset: 'v1', host: 'reviews.default.svc.cluster.local' },
    ],
    ['outbound|80||x.svc.cluster.local;', { kind: 'outbound', port: 80, host: 'x.svc.cluster.local' }],
    ['inbound|9080||', { kind: 'inbound', port: 9080 }],
    [
      'inbound|9080|http|productpage.default.svc.cluster.local',
      { kind: 'inbound', port: 9080, portName: 'http', host: 'productpage.default.svc.cluster.local' },
    ],
    ['inbound-vip|8080|http|svc.ns.svc.cluster.local', { kind: 'inbound-vip', port: 8080, host: 'svc.ns.svc.cluster.local' }],
    ['PassthroughCluster', { kind: 'passthrough' }],
    ['BlackHoleCluster', { kind: 'blackhole' }],
    ['InboundPassthroughClusterIpv4', { kind: 'inbound-passthrough' }],
  ])('%s', (input, expected) => expect(parseUpstreamCluster(input)).toEqual(expected))
  test.each(['-', '', 'outbound|x', 'weird|1|2|3', 'outbound|80||', 42, null])('unrecognised %j', (v) =>
    expect(parseUpstreamCluster(v)).toBeUndefined(),
  )
})

describe('Istio mTLS SNI outbound_.PORT_.SUBSET_.FQDN', () => {
  test.each([
    ['outbound_.80_._.echo.default.svc.cluster.local', { port: 80, host: 'echo.default.svc.cluster.local' }],
    ['outbound_.9080_.v2_.reviews.default.svc.cluster.local', { port: 9080, subset: 'v2', host: 'reviews.default.svc.cluster.local' }],
    ['outbound_.8000_._.httpbin.foo.svc.cluster.local', { port: 8000, host: 'httpbin.foo.svc.cluster.local' }],
  ])('%s', (input, expected) => expect(parseIstioSni(input)).toEqual(expected))
  test.each(['foo.bar.org', 'edition.cnn.com', 'outbound|80||x', 'outbound_.x_._.y', '-'])('not Istio: %s', (v) =>
    expect(parseIstioSni(v)).toBeUndefined(),
  )
})

describe(':authority forms', () => {
  test.each([
    ['reviews.default.svc.cluster.local', false, { service: 'reviews', namespace: 'default' }],
    ['reviews.default.svc.cluster.local:9080', false, { service: 'reviews', namespace: 'default', port: 9080 }],
    ['profiles-kfam.kubeflow:8081', true, { service: 'profiles-kfam', namespace: 'kubeflow', port: 8081 }],
    ['httpbin.org', false, { service: 'httpbin.org' }],
    ['reviews:9080', false, { service: 'reviews', namespace: 'bookinfo', port: 9080 }],
  ])('%s (two-label ns: %s)', (input, twoLabel, expected) => {
    expect(parseAuthority(input, { twoLabelIsNamespace: twoLabel, defaultNamespace: 'bookinfo' })).toEqual(expected)
  })
  test.each(['10.244.0.12:80', '[::1]:80', '-', '', 'a b', 'x'.repeat(400)])('skipped: %j', (v) => {
    expect(parseAuthority(v, { twoLabelIsNamespace: true })).toBeUndefined()
  })
  test('ServiceEntry host has no namespace', () => expect(serviceFromHost('edition.cnn.com')).toEqual({ service: 'edition.cnn.com' }))
})

describe('enrichIdentity on real lines', () => {
  test('inbound mTLS (istio PR #35337): source from peer SAN, destination from SNI, mtls true', () => {
    const e = enrich(mtlsInbound())
    expect(e.mesh?.source).toEqual({
      spiffe_id: 'spiffe://cluster.local/ns/default/sa/default',
      trust_domain: 'cluster.local',
      namespace: 'default',
      service_account: 'default',
      signal: SIGNALS.downstreamPeerUriSan,
    })
    expect(e.mesh?.destination).toMatchObject({ service: 'echo', namespace: 'default', port: 80, signal: SIGNALS.requestedServerName })
    expect(e.mesh?.mtls).toBe(true)
  })
  test('outbound (same request, client side): destination from the cluster, source from the pod, mtls unknowable', () => {
    const e = enrich(mtlsOutbound())
    expect(e.mesh?.destination).toEqual({ service: 'echo', namespace: 'default', port: 80, signal: SIGNALS.upstreamCluster })
    expect(e.mesh?.source).toEqual({ namespace: 'default', workload: 'shell-7854df9c5-9zfnp', signal: SIGNALS.kubernetes })
    expect(e.mesh?.mtls).toBeNull()
  })
  test('plaintext inbound (kubeflow#2858): service from :authority, port from the cluster, mtls false', () => {
    const e = enrich(rbacDeniedPlaintext())
    expect(e.mesh?.destination).toEqual({ service: 'profiles-kfam', namespace: 'kubeflow', port: 8081, signal: SIGNALS.authority })
    expect(e.mesh?.source).toBeUndefined()
    expect(e.mesh?.mtls).toBe(false)
  })
  test('egress: SNI names a BlackHole destination; passthrough TCP has no name; mtls null', () => {
    const b = enrich(blackhole())
    expect(b.mesh?.destination).toEqual({ service: 'sqa.ory.sh', signal: SIGNALS.requestedServerName })
    expect(b.mesh?.mtls).toBeNull()
    const p = enrich(passthrough())
    expect(p.mesh?.destination).toBeUndefined()
    expect(p.mesh?.mtls).toBeNull()
  })
  test('egress HTTP to an external two-label host is not read as service.namespace', () => {
    const ev = passthrough()
    ev.envoy.authority = 'httpbin.org'
    expect(enrich(ev).mesh?.destination).toEqual({ service: 'httpbin.org', signal: SIGNALS.authority })
  })
  test('STRICT rejection line is mtls false', () => expect(enrich(nrFilterChain()).mesh?.mtls).toBe(false))
  test('upstream peer SAN is the strongest destination signal', () => {
    const ev = mtlsOutbound()
    ev.envoy.peer = { upstream_uri_san: 'spiffe://cluster.local/ns/default/sa/echo-sa' }
    const e = enrich(ev)
    expect(e.mesh?.destination).toMatchObject({
      spiffe_id: 'spiffe://cluster.local/ns/default/sa/echo-sa',
      service_account: 'echo-sa',
      service: 'echo',
      signal: SIGNALS.upstreamPeerUriSan,
    })
    expect(e.mesh?.mtls).toBe(true)
  })
  test('local URI SAN names the destination on inbound; labels name the workload', () => {
    const ev = rbacDeniedPlaintext()
    ev.envoy.peer = { downstream_local_uri_san: 'spiffe://cluster.local/ns/kubeflow/sa/profiles' }
    ev.kubernetes = {
      namespace: 'kubeflow',
      pod: 'profiles-abc',
      labels: { app: 'profiles', 'service.istio.io/canonical-name': 'profiles-kfam' },
    }
    const d = enrich(ev).mesh?.destination
    expect(d).toMatchObject({
      spiffe_id: 'spiffe://cluster.local/ns/kubeflow/sa/profiles',
      service_account: 'profiles',
      workload: 'profiles-kfam',
      signal: SIGNALS.downstreamLocalUriSan,
    })
  })
  test('comma-joined SANs: the first valid SPIFFE ID wins', () => {
    const ev = rbacDeniedPlaintext()
    ev.envoy.peer = { downstream_uri_san: 'urn:example:x,spiffe://cluster.local/ns/a/sa/b,spiffe://cluster.local/ns/c/sa/d' }
    const e = enrich(ev)
    expect(e.mesh?.source?.spiffe_id).toBe('spiffe://cluster.local/ns/a/sa/b')
    expect(e.mesh?.mtls).toBe(true)
  })
  test('inbound with a non-Istio SNI or TLS without a logged identity is unknowable, not plaintext', () => {
    const a = rbacDeniedPlaintext()
    a.envoy.requested_server_name = 'foo.bar.org'
    expect(enrich(a).mesh?.mtls).toBeNull()
    const b = rbacDeniedPlaintext()
    b.tls = { established: true, version: '1.3', version_protocol: 'tls' }
    expect(enrich(b).mesh?.mtls).toBeNull()
  })
  test('values the parser already set are not overwritten; prototype keys in labels are ignored', () => {
    const ev = mtlsInbound()
    ev.mesh = { ...ev.mesh, destination: { service: 'preset', signal: 'custom' } }
    ev.kubernetes = { namespace: 'default', labels: JSON.parse('{"__proto__": {"app": "polluted"}}') as Record<string, string> }
    const e = enrich(ev)
    expect(e.mesh?.destination?.service).toBe('preset')
    expect(e.mesh?.destination?.signal).toBe('custom')
    expect(e.mesh?.destination?.workload).toBeUndefined()
    expect(({} as Record<string, unknown>).app).toBeUndefined()
  })
  test('ambient waypoint line (inbound-vip) without a peer SAN is unknowable, not plaintext (istio#59046)', () => {
    const ev = rbacDeniedPlaintext()
    ev.mesh = { upstream_cluster: 'inbound-vip|8080|http|reviews.bookinfo.svc.cluster.local' }
    const e = enrich(ev)
    expect(e.mesh?.mtls).toBeNull()
    expect(e.mesh?.destination).toMatchObject({ service: 'reviews', namespace: 'bookinfo', port: 8080, signal: SIGNALS.upstreamCluster })
  })
  test('a peer SAN proves mTLS even when the direction is unknown', () => {
    const e = enrich(makeEvent({ envoy: { format: 'x', peer: { downstream_uri_san: 'spiffe://cluster.local/ns/a/sa/b' } } }))
    expect(e.mesh?.mtls).toBe(true)
    expect(e.mesh?.source?.service_account).toBe('b')
  })
  test('direction from the parser when there is no cluster', () => {
    const e = enrich(
      makeEvent({
        network: { direction: 'inbound' },
        envoy: { format: 'x', requested_server_name: 'outbound_.80_._.a.b.svc.cluster.local' },
      }),
    )
    expect(e.mesh?.mtls).toBe(true)
    expect(e.mesh?.destination).toMatchObject({ service: 'a', namespace: 'b', port: 80 })
  })
})
