import { describe, test, expect } from 'vitest'
import { readFileSync } from 'node:fs'
import type { AuditEvent } from '../../src/generated/types.js'
import { loadTransformsConfig } from '../../src/config/transforms.js'
import { applyStages } from '../../src/pipeline/transforms.js'
import { createTransformStages } from '../../src/compose/transform-stages.js'
import { FINDING_CATALOGUE, renderFindingsMarkdown } from '../../src/detect/catalogue.js'
import { applyFindings } from '../../src/detect/detectors.js'
import {
  blackhole,
  clientSide403,
  mtlsInbound,
  mtlsOutbound,
  nrFilterChain,
  passthrough,
  rbacDeniedPlaintext,
  tcpRbacDenied,
  tlsInbound,
  uaex,
  upstreamTlsFailure,
} from './fixtures.js'

const config = loadTransformsConfig({})
const stages = createTransformStages(config)

function run(e: AuditEvent, cfg = config): AuditEvent {
  const r = applyStages(cfg === config ? stages : createTransformStages(cfg), [e])
  expect(r.deadLetters).toEqual([])
  expect(r.events).toHaveLength(1)
  return r.events[0] as AuditEvent
}

const codes = (e: AuditEvent): string[] => e.audit.finding_codes ?? []
const finding = (e: AuditEvent, code: string) => e.audit.findings?.find((f) => f.code === code)

// Positive and negative cases per code. The negative column lists fixtures that must NOT raise it.
describe('finding table over real lines', () => {
  const cases: [string, () => AuditEvent, string[]][] = [
    ['rbac denial, plaintext inbound (kubeflow#2858)', rbacDeniedPlaintext, ['plaintext_inbound', 'authz_denied']],
    ['mTLS inbound with peer SAN (istio PR #35337)', mtlsInbound, []],
    ['outbound client side of the same request (istio PR #35337)', mtlsOutbound, ['au3_incomplete']],
    ['STRICT rejects plaintext (ratelimit#296)', nrFilterChain, ['plaintext_rejected']],
    ['BlackHoleCluster (istio#51178)', blackhole, ['egress_blocked', 'au3_incomplete']],
    ['PassthroughCluster (engarde PR #8)', passthrough, ['unregistered_egress', 'au3_incomplete']],
    ['UAEX (envoy#18964)', uaex, ['ext_authz_denied', 'au3_incomplete']],
    ['client-side 403 via_upstream (constructed)', clientSide403, ['au3_incomplete']],
    ['TCP RBAC denial (constructed)', () => tcpRbacDenied(), ['authz_denied', 'au3_incomplete']],
  ]
  test.each(cases)('%s → %j', (_name, make, expected) => {
    const e = run(make())
    expect([...codes(e)].sort()).toEqual([...expected].sort())
    expect(e.audit.severity).toBe(expected.length === 0 ? 'none' : e.audit.severity)
    const controls = new Set(expected.flatMap((c) => FINDING_CATALOGUE[c as keyof typeof FINDING_CATALOGUE].controls))
    expect(e.audit.controls).toEqual([...controls].sort())
  })
})

describe('plaintext_inbound / plaintext_rejected', () => {
  test('inbound plaintext is mtls=false, SC-8, high', () => {
    const e = run(rbacDeniedPlaintext())
    expect(e.mesh?.mtls).toBe(false)
    expect(finding(e, 'plaintext_inbound')).toMatchObject({ severity: 'high', controls: ['SC-8'] })
    expect(e.audit.severity).toBe('high')
  })
  test('Istio SNI alone (default format, no SAN logged) is mTLS, not plaintext', () => {
    const ev = mtlsInbound()
    delete ev.envoy.peer
    const e = run(ev)
    expect(e.mesh?.mtls).toBe(true)
    expect(codes(e)).not.toContain('plaintext_inbound')
  })
  test('a filter_chain_not_found line is the rejection, not an accepted plaintext request', () => {
    const ev = nrFilterChain()
    ev.mesh = { upstream_cluster: 'inbound|8081||' }
    const e = run(ev)
    expect(codes(e)).toContain('plaintext_rejected')
    expect(codes(e)).not.toContain('plaintext_inbound')
    expect(e.mesh?.mtls).toBe(false)
  })
  test('NR filter_chain_not_found at a gateway (no SNI match) is not a plaintext rejection', () => {
    const ev = nrFilterChain()
    ev.mesh = { reporter: 'gateway' }
    expect(codes(run(ev))).not.toContain('plaintext_rejected')
  })
  test('NR route_not_found is not a rejection of plaintext', () => {
    const ev = nrFilterChain()
    ev.envoy.response_code_details = 'route_not_found'
    expect(codes(run(ev))).not.toContain('plaintext_rejected')
  })
  test('outbound lines never raise plaintext_inbound (the app-to-sidecar hop is local)', () => {
    expect(codes(run(mtlsOutbound()))).not.toContain('plaintext_inbound')
  })
})

describe('authz_denied', () => {
  test('implicit deny keeps policy none, medium, AC-3 and AC-6', () => {
    expect(finding(run(rbacDeniedPlaintext()), 'authz_denied')).toMatchObject({
      policy: 'none',
      severity: 'medium',
      controls: ['AC-3', 'AC-6'],
    })
  })
  test('a named DENY rule is kept verbatim and is high', () => {
    const ev = rbacDeniedPlaintext()
    ev.envoy.response_code_details = 'rbac_access_denied_matched_policy[ns[foo]-policy[deny-path-headers]-rule[0]]'
    expect(finding(run(ev), 'authz_denied')).toMatchObject({ policy: 'ns[foo]-policy[deny-path-headers]-rule[0]', severity: 'high' })
  })
  test('HTTP line whose status was not logged still counts', () => {
    const ev = rbacDeniedPlaintext()
    delete ev.http?.response?.status_code
    expect(finding(run(ev), 'authz_denied')?.policy).toBe('none')
  })
  test('TCP: policy from connection_termination_details', () => {
    expect(finding(run(tcpRbacDenied()), 'authz_denied')).toMatchObject({ policy: 'ns[foo]-policy[deny-mysql]-rule[0]' })
  })
  test('older Envoy `rbac_access_denied` without a policy id', () => {
    const ev = rbacDeniedPlaintext()
    ev.envoy.response_code_details = 'rbac_access_denied'
    delete ev.envoy.rbac_policy
    const f = finding(run(ev), 'authz_denied')
    expect(f).toBeDefined()
    expect(f?.policy).toBeUndefined()
  })
  test.each([
    ['an app 403', (e: AuditEvent) => (e.envoy.response_code_details = 'via_upstream')],
    ['an RBAC-like detail on a 200', (e: AuditEvent) => e.http?.response && (e.http.response.status_code = 200)],
    ['a lookalike detail', (e: AuditEvent) => (e.envoy.response_code_details = 'xrbac_access_denied_matched_policy[none]')],
    ['an RBAC detail on a 401', (e: AuditEvent) => e.http?.response && (e.http.response.status_code = 401)],
  ])('negative: %s', (_n, mutate) => {
    const ev = rbacDeniedPlaintext()
    delete ev.envoy.rbac_policy
    mutate(ev)
    expect(codes(run(ev))).not.toContain('authz_denied')
  })
})

describe('ext_authz_denied, egress', () => {
  test('UAEX is AC-3', () => expect(finding(run(uaex()), 'ext_authz_denied')?.controls).toEqual(['AC-3']))
  test('no UAEX flag, no finding', () => {
    const ev = uaex()
    ev.envoy.response_flags = ['UF', 'URX']
    expect(codes(run(ev))).not.toContain('ext_authz_denied')
  })
  test('passthrough names the destination address', () => {
    const f = finding(run(passthrough()), 'unregistered_egress')
    expect(f?.controls).toEqual(['SC-7', 'AC-4'])
    expect(f?.message).toContain('1.2.3.4:443')
  })
  test('blackhole names the SNI host', () => expect(finding(run(blackhole()), 'egress_blocked')?.message).toContain('sqa.ory.sh'))
  test('Istio 1.23/1.24 JSON `PassthroughCluster;`-style suffixes and registered egress', () => {
    const ev = passthrough()
    ev.mesh = { upstream_cluster: 'outbound|443||edition.cnn.com;' }
    expect(codes(run(ev))).not.toContain('unregistered_egress')
  })
  test('InboundPassthroughCluster is not egress', () => {
    const ev = passthrough()
    ev.mesh = { upstream_cluster: 'InboundPassthroughClusterIpv4' }
    expect(codes(run(ev))).not.toContain('unregistered_egress')
  })
})

describe('weak_tls', () => {
  test.each([
    ['TLSv1.3', 'TLS_AES_256_GCM_SHA384', undefined],
    ['TLSv1.2', 'ECDHE-RSA-AES128-GCM-SHA256', undefined],
    ['TLSv1.2', 'ECDHE-RSA-CHACHA20-POLY1305', 'medium'],
    ['TLSv1.3', 'TLS_CHACHA20_POLY1305_SHA256', 'medium'],
    ['TLSv1.1', 'ECDHE-RSA-AES128-SHA', 'high'],
    ['TLSv1', 'AES128-SHA', 'high'],
  ])('%s %s → %s', (version, cipher, severity) => {
    const f = finding(run(tlsInbound(version, cipher)), 'weak_tls')
    if (severity === undefined) expect(f).toBeUndefined()
    else expect(f).toMatchObject({ severity, controls: ['SC-8(1)', 'SC-13'] })
  })
  test('the protocol counts: SSL 3.0 is below every TLS minimum, although its number is higher', () => {
    const f = finding(run(tlsInbound('SSLv3', 'AES128-SHA')), 'weak_tls')
    expect(f).toMatchObject({ severity: 'high', message: expect.stringContaining('downstream SSL 3.0 below the minimum TLS 1.2') })
  })
  test('an event stored before tls.version followed ECS (Envoy spelling, no version_protocol) is judged the same', () => {
    const old = mtlsInbound()
    old.tls = { established: true, version: 'TLSv1.1', cipher: 'ECDHE-RSA-AES128-GCM-SHA256' }
    expect(finding(run(old), 'weak_tls')).toMatchObject({ severity: 'high', message: expect.stringContaining('downstream TLS 1.1 below') })
  })
  test('upstream hop is checked too, and minTlsVersion is configurable', () => {
    const ev = mtlsOutbound()
    ev.envoy.peer = { upstream_tls_version: 'TLSv1.2', upstream_tls_cipher: 'ECDHE-RSA-AES128-GCM-SHA256' }
    const strict = loadTransformsConfig({ minTlsVersion: 'TLSv1.3' })
    expect(finding(run(structuredClone(ev), strict), 'weak_tls')?.severity).toBe('high')
    expect(finding(run(ev), 'weak_tls')).toBeUndefined()
  })
})

describe('foreign_trust_domain', () => {
  test('peer in another trust domain → IA-3, IA-9, high', () => {
    const f = finding(run(tlsInbound('TLSv1.3', 'TLS_AES_128_GCM_SHA256', 'spiffe://evil.example/ns/a/sa/b')), 'foreign_trust_domain')
    expect(f).toMatchObject({ severity: 'high', controls: ['IA-3', 'IA-9'] })
    expect(f?.message).toContain('evil.example')
  })
  test('aliases are trusted; any foreign SAN in a comma-joined list counts', () => {
    const cfg = loadTransformsConfig({ trustDomain: 'new-td', trustDomainAliases: ['old-td'] })
    const ok = tlsInbound('TLSv1.3', 'TLS_AES_128_GCM_SHA256', 'spiffe://old-td/ns/a/sa/b')
    ok.envoy.peer = { ...ok.envoy.peer, downstream_local_uri_san: 'spiffe://new-td/ns/default/sa/default' }
    expect(codes(run(ok, cfg))).not.toContain('foreign_trust_domain')
    const bad = tlsInbound('TLSv1.3', 'TLS_AES_128_GCM_SHA256', 'spiffe://old-td/ns/a/sa/b,spiffe://cluster.local/ns/a/sa/b')
    expect(codes(run(bad, cfg))).toContain('foreign_trust_domain')
  })
})

describe('invalid_peer_identity, upstream_tls_failure', () => {
  test('a peer URI SAN that is not a SPIFFE ID → IA-3', () => {
    const e = run(tlsInbound('TLSv1.3', 'TLS_AES_128_GCM_SHA256', 'spiffe://cluster.local/ns/a/sa/b/'))
    expect(finding(e, 'invalid_peer_identity')).toMatchObject({ controls: ['IA-3'], severity: 'medium' })
    expect(finding(e, 'invalid_peer_identity')?.message).toContain('trailing_slash')
  })
  test('one valid SPIFFE ID among other SANs is fine; gateways are exempt', () => {
    expect(codes(run(tlsInbound('TLSv1.3', 'TLS_AES_128_GCM_SHA256', 'urn:x,spiffe://cluster.local/ns/a/sa/b')))).not.toContain(
      'invalid_peer_identity',
    )
    const gw = tlsInbound('TLSv1.3', 'TLS_AES_128_GCM_SHA256', 'https://corp.example/device/42')
    gw.mesh = { reporter: 'gateway', upstream_cluster: 'outbound|80||echo.default.svc.cluster.local' }
    gw.network = { direction: 'ingress' }
    expect(codes(run(gw))).not.toContain('invalid_peer_identity')
  })
  test('CERTIFICATE_VERIFY_FAILED (istio#34920 reason) → SC-8, IA-3', () => {
    const f = finding(run(upstreamTlsFailure()), 'upstream_tls_failure')
    expect(f).toMatchObject({ controls: ['SC-8', 'IA-3'], severity: 'medium' })
    expect(f?.message).toContain('CERTIFICATE_VERIFY_FAILED')
  })
  test('a non-TLS transport failure is not one', () => {
    const ev = upstreamTlsFailure()
    ev.envoy.upstream_transport_failure_reason = 'delayed connect error: 111'
    expect(codes(run(ev))).not.toContain('upstream_tls_failure')
  })
})

describe('au3_incomplete and aggregation', () => {
  test('au3_incomplete can be switched off', () => {
    expect(codes(run(mtlsOutbound(), loadTransformsConfig({ au3Findings: false })))).toEqual([])
  })
  test('findings already on the event are kept, duplicates merged, severity is the max', () => {
    const e = mtlsInbound()
    e.audit.findings = [{ code: 'custom_rule', severity: 'critical', controls: ['SI-4'], message: 'from an earlier stage' }]
    applyFindings(e, [
      { code: 'custom_rule', severity: 'critical', controls: ['SI-4'], message: 'again' },
      { code: 'weak_tls', severity: 'medium', controls: ['SC-8(1)', 'SC-13'], message: 'x' },
    ])
    expect(e.audit.finding_codes).toEqual(['custom_rule', 'weak_tls'])
    expect(e.audit.controls).toEqual(['SC-13', 'SC-8(1)', 'SI-4'])
    expect(e.audit.severity).toBe('critical')
  })
  test('docs/au3-and-findings.md carries exactly the rendered findings table', () => {
    const doc = readFileSync(new URL('../../docs/au3-and-findings.md', import.meta.url), 'utf8')
    const m = /<!-- findings-table:start -->\n([\s\S]*?)<!-- findings-table:end -->/.exec(doc)
    expect(m?.[1]).toBe(renderFindingsMarkdown())
  })
  test('the catalogue renders one markdown row per code', () => {
    const md = renderFindingsMarkdown()
    for (const code of Object.keys(FINDING_CATALOGUE)) expect(md).toContain(`\`${code}\``)
    expect(md.trim().split('\n')).toHaveLength(Object.keys(FINDING_CATALOGUE).length + 2)
  })
})
