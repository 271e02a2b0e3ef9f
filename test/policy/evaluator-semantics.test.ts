/**
 * Semantics pinned by Istio's proto docs, pilot builder goldens and unit tests, and ztunnel's rbac.rs truth
 * tables. Each block cites its source.
 */
import { describe, expect, test } from 'vitest'
import { requestPrincipalMatcher } from '../../src/policy/match.js'
import { evaluator, httpReq } from './helpers.js'

const ap = (name: string, ns: string, spec: string, extraMeta = ''): string =>
  `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: ${name}, namespace: ${ns}${extraMeta} }\nspec: ${spec}\n---\n`

describe('allow-nothing, allow-all, deny-all (proto `rules`, `message Rule`; goldens allow-nil-rule, allow-empty-rule, deny-empty-rule)', () => {
  test('no policy at all → allow', () => {
    expect(evaluator('')(httpReq({}))).toMatchObject({ verdict: 'ALLOW', policies: [] })
  })
  test('spec: {} denies everything in the namespace', () => {
    const ev = evaluator(ap('allow-nothing', 'ns1', '{}'))
    expect(ev(httpReq({})).verdict).toBe('DENY')
    expect(ev(httpReq({ protocol: 'tcp' })).verdict).toBe('DENY')
    expect(ev(httpReq({ ns: 'ns2' })).verdict).toBe('ALLOW')
  })
  test('rules: [{}] ALLOW allows everything, even plaintext', () => {
    const ev = evaluator(ap('allow-all', 'ns1', '{ rules: [{}] }'))
    expect(ev(httpReq({ mtls: false, principal: null }))).toMatchObject({
      verdict: 'ALLOW',
      policies: ['ns[ns1]-policy[allow-all]-rule[0]'],
    })
  })
  test('DENY rules: [{}] wins over an ALLOW-all (concepts: "always deny ... even if there is another ALLOW policy")', () => {
    const ev = evaluator(ap('allow-all', 'ns1', '{ rules: [{}] }') + ap('deny-all', 'ns1', '{ action: DENY, rules: [{}] }'))
    expect(ev(httpReq({}))).toMatchObject({ verdict: 'DENY', policies: ['ns[ns1]-policy[deny-all]-rule[0]'] })
  })
  test('DENY without rules never matches (rejected by validation; the builder would emit nothing to match)', () => {
    expect(evaluator(ap('d', 'ns1', '{ action: DENY }'))(httpReq({})).verdict).toBe('ALLOW')
  })
  test('a nil rule is skipped (builder "skipped nil rule")', () => {
    const ev = evaluator(ap('p', 'ns1', '{ rules: [null, { to: [{ operation: { paths: ["/x"] } }] }] }'))
    expect(ev(httpReq({ path: '/x' })).policies).toEqual(['ns[ns1]-policy[p]-rule[1]'])
    expect(ev(httpReq({ path: '/y' })).verdict).toBe('DENY')
  })
})

describe('dry-run and AUDIT never decide (builder isDryRun / RBAC LOG; security-issues page)', () => {
  const dry = ', annotations: { "istio.io/dry-run": "true" }'
  test('dry-run DENY: enforced verdict ALLOW, dryRun DENY', () => {
    const ev = evaluator(ap('d', 'ns1', '{ action: DENY, rules: [{ to: [{ operation: { paths: ["/admin"] } }] }] }', dry))
    expect(ev(httpReq({ path: '/admin' }))).toMatchObject({ verdict: 'ALLOW', dryRun: 'DENY' })
    expect(ev(httpReq({ path: '/x' }))).toMatchObject({ verdict: 'ALLOW', dryRun: 'ALLOW' })
  })
  test('only dry-run ALLOW policies: still allow-by-default (ztunnel state.rs: dry-run ALLOW not counted)', () => {
    const ev = evaluator(ap('a', 'ns1', '{ rules: [{ to: [{ operation: { paths: ["/ok"] } }] }] }', dry))
    expect(ev(httpReq({ path: '/nope' }))).toMatchObject({ verdict: 'ALLOW', dryRun: 'DENY' })
  })
  test('no dry-run policy → dryRun null', () => {
    expect(evaluator(ap('a', 'ns1', '{ rules: [{}] }'))(httpReq({})).dryRun).toBeNull()
  })
  test('AUDIT matches are reported but do not change the verdict', () => {
    const ev = evaluator(ap('a', 'ns1', '{ action: AUDIT, rules: [{ to: [{ operation: { paths: ["/audit*"] } }] }] }'))
    expect(ev(httpReq({ path: '/audit/x' }))).toMatchObject({ verdict: 'ALLOW', audit: ['ns[ns1]-policy[a]-rule[0]'] })
  })
})

describe('scope (pilot model/authorization.go, policyattachment.go)', () => {
  test('root-namespace policy with a selector applies to matching workloads in every namespace', () => {
    const ev = evaluator(ap('v1-only', 'istio-system', '{ selector: { matchLabels: { version: v1 } }, action: DENY, rules: [{}] }'))
    expect(ev(httpReq({ ns: 'ns7', labels: { app: 'b', version: 'v1' } })).verdict).toBe('DENY')
    expect(ev(httpReq({ ns: 'ns7', labels: { app: 'b', version: 'v2' } })).verdict).toBe('ALLOW')
  })
  test('rootNamespace comes from mesh config', () => {
    const ev = evaluator(ap('d', 'mesh-root', '{ action: DENY, rules: [{}] }'), { rootNamespace: 'mesh-root' })
    expect(ev(httpReq({ ns: 'anything' })).verdict).toBe('DENY')
  })
  test('a policy in a third namespace never applies', () => {
    expect(evaluator(ap('d', 'other', '{ action: DENY, rules: [{}] }'))(httpReq({})).verdict).toBe('ALLOW')
  })
  test('selector must be a subset of workload labels', () => {
    const ev = evaluator(ap('d', 'ns1', '{ selector: { matchLabels: { app: b, version: v2 } }, action: DENY, rules: [{}] }'))
    expect(ev(httpReq({ labels: { app: 'b' } })).verdict).toBe('ALLOW')
    expect(ev(httpReq({ labels: { app: 'b', version: 'v2', extra: 'x' } })).verdict).toBe('DENY')
  })
  test('targetRefs policies are ignored on sidecars', () => {
    const ev = evaluator(ap('w', 'ns1', '{ targetRefs: [{ kind: Service, group: "", name: b }], action: DENY, rules: [{}] }'))
    expect(ev(httpReq({})).verdict).toBe('ALLOW')
  })
})

describe('TCP and HTTP-only fields (model checkError; authz-tcp task; goldens tcp/allow-only-http, tcp/deny-both-http-tcp)', () => {
  test('ALLOW rule with methods+ports is dropped on TCP: both ports rejected (authz-tcp task)', () => {
    const ev = evaluator(ap('tcp-policy', 'ns1', '{ rules: [{ to: [{ operation: { methods: ["GET"], ports: ["9000"] } }] }] }'))
    expect(ev(httpReq({ protocol: 'tcp', port: 9000 })).verdict).toBe('DENY')
    expect(ev(httpReq({ protocol: 'tcp', port: 9001 })).verdict).toBe('DENY')
    expect(ev(httpReq({ port: 9000, method: 'GET' })).verdict).toBe('ALLOW')
  })
  test('DENY methods [GET] without ports denies all TCP traffic (rule widened)', () => {
    const ev = evaluator(ap('tcp-policy', 'ns1', '{ action: DENY, rules: [{ to: [{ operation: { methods: ["GET"] } }] }] }'))
    expect(ev(httpReq({ protocol: 'tcp', port: 9000 })).verdict).toBe('DENY')
    expect(ev(httpReq({ method: 'POST' })).verdict).toBe('ALLOW')
  })
  test('DENY methods [GET] scoped to ports only widens on that port', () => {
    const ev = evaluator(ap('p', 'ns1', '{ action: DENY, rules: [{ to: [{ operation: { methods: ["GET"], ports: ["9000"] } }] }] }'))
    expect(ev(httpReq({ protocol: 'tcp', port: 9000 })).verdict).toBe('DENY')
    expect(ev(httpReq({ protocol: 'tcp', port: 9001 })).verdict).toBe('ALLOW')
  })
  test('requestPrincipals-only source becomes any on TCP for DENY', () => {
    const ev = evaluator(ap('p', 'ns1', '{ action: DENY, rules: [{ from: [{ source: { requestPrincipals: ["x/y"] } }] }] }'))
    expect(ev(httpReq({ protocol: 'tcp' })).verdict).toBe('DENY')
    expect(ev(httpReq({})).verdict).toBe('ALLOW')
  })
})

describe('unknown `when` key skips the rule for every action (builder; conditions page)', () => {
  test('DENY with destination.labels never matches; ALLOW with it never matches', () => {
    const when = '{ key: "destination.labels[app]", values: ["b"] }'
    expect(evaluator(ap('d', 'ns1', `{ action: DENY, rules: [{ when: [${when}] }] }`))(httpReq({})).verdict).toBe('ALLOW')
    expect(evaluator(ap('a', 'ns1', `{ rules: [{ when: [${when}] }] }`))(httpReq({})).verdict).toBe('DENY')
  })
})

describe('ztunnel src/rbac.rs truth tables (plaintext_conn / tls_conn / tls_conn_alt)', () => {
  // tls_conn = td/ns/namespace/sa/account from 127.0.0.1 to 127.0.0.2:8080; tls_conn_alt = td-alt/ns/ns-alt/sa/sa=alt
  // from 127.0.0.3 to 127.0.0.4:9090; plaintext_conn has no identity, same addresses as tls_conn.
  const conns = {
    plaintext: { principal: null, mtls: false, sourceIp: '127.0.0.1', port: 8080 },
    tls: { principal: 'td/ns/namespace/sa/account', sourceIp: '127.0.0.1', port: 8080 },
    alt: { principal: 'td-alt/ns/ns-alt/sa/sa=alt', sourceIp: '127.0.0.3', port: 9090 },
  } as const
  const table: Array<[string, string, [boolean, boolean, boolean]]> = [
    ['namespaces', '{ from: [{ source: { namespaces: ["namespace"] } }] }', [false, true, false]],
    ['not_namespaces', '{ from: [{ source: { notNamespaces: ["namespace"] } }] }', [true, false, true]],
    ['service_accounts', '{ from: [{ source: { serviceAccounts: ["namespace/account"] } }] }', [false, true, false]],
    ['not_service_accounts', '{ from: [{ source: { notServiceAccounts: ["namespace/account"] } }] }', [true, false, true]],
    ['principals', '{ from: [{ source: { principals: ["td/ns/namespace/sa/account"] } }] }', [false, true, false]],
    ['not_principals', '{ from: [{ source: { notPrincipals: ["td/ns/namespace/sa/account"] } }] }', [true, false, true]],
    ['source_ips', '{ from: [{ source: { ipBlocks: ["127.0.0.1/32"] } }] }', [true, true, false]],
    ['not_source_ips', '{ from: [{ source: { notIpBlocks: ["127.0.0.1/32"] } }] }', [false, false, true]],
    ['destination_ports', '{ to: [{ operation: { ports: ["8080"] } }] }', [true, true, false]],
    ['not_destination_ports', '{ to: [{ operation: { notPorts: ["8080"] } }] }', [false, false, true]],
  ]
  test.each(table)('%s', (_name, rule, [plain, tls, alt]) => {
    const ev = evaluator(ap('p', 'namespace', `{ rules: [${rule}] }`), { trustDomain: 'td' })
    const run = (c: (typeof conns)[keyof typeof conns]) => ev(httpReq({ ...c, ns: 'namespace', protocol: 'tcp' })).verdict === 'ALLOW'
    expect([run(conns.plaintext), run(conns.tls), run(conns.alt)]).toEqual([plain, tls, alt])
  })
})

describe('trust-domain aliases (bundle.go ReplaceTrustDomainAliases; authz-td-migration task)', () => {
  const spec = '{ rules: [{ from: [{ source: { principals: ["cluster.local/ns/ns1/sa/a"] } }] }] }'
  test('cluster.local in a policy means the local trust domain and every alias', () => {
    const ev = evaluator(ap('p', 'ns1', spec), { trustDomain: 'new-td', trustDomainAliases: ['old-td'] })
    expect(ev(httpReq({ principal: 'new-td/ns/ns1/sa/a' })).verdict).toBe('ALLOW')
    expect(ev(httpReq({ principal: 'spiffe://old-td/ns/ns1/sa/a' })).verdict).toBe('ALLOW')
    expect(ev(httpReq({ principal: 'cluster.local/ns/ns1/sa/a' })).verdict).toBe('DENY')
    expect(ev(httpReq({ principal: 'other-td/ns/ns1/sa/a' })).verdict).toBe('DENY')
  })
  test('a foreign trust domain stays verbatim; `*` trust domain is not enforced', () => {
    const ev = evaluator(ap('p', 'ns1', '{ rules: [{ from: [{ source: { principals: ["foreign/ns/ns1/sa/a", "*/ns/ns2/sa/b"] } }] }] }'))
    expect(ev(httpReq({ principal: 'foreign/ns/ns1/sa/a' })).verdict).toBe('ALLOW')
    expect(ev(httpReq({ principal: 'anything/ns/ns2/sa/b' })).verdict).toBe('ALLOW')
  })
})

describe('requestPrincipals value forms (generator_test.go requestPrincipalGenerator)', () => {
  test.each([
    ['*', 'foo', 'bar', true],
    ['foo*', 'foox', 'bar', true],
    ['foo/*', 'foo', 'bar', true],
    ['foo/*', 'foox', 'bar', false],
    ['foo/bar*', 'foo', 'barx', true],
    ['*foo', 'whatever', 'xfoo', true],
    ['*@example.com', 'https://issuer.other', 'user@example.com', true],
    ['*@example.com', 'x@example.com', 'user', false],
    ['*/foo', 'any', 'foo', true],
    ['*bar/foo', 'xbar', 'foo', true],
    ['foo/bar', 'foo', 'bar', true],
    ['foo/bar', 'foo', 'baz', false],
    ['https://accounts.example.com/x/sub', 'https://accounts.example.com/x', 'sub', true],
  ])('%s vs iss=%s sub=%s → %s', (value, iss, sub, want) => {
    expect(requestPrincipalMatcher(value)(iss, sub)).toBe(want)
  })
})

describe('mTLS-only fields on plaintext (ISTIO-SECURITY-2021-004)', () => {
  test('ALLOW notNamespaces [foo] admits plaintext from foo; DENY namespaces [foo] misses plaintext', () => {
    const allow = evaluator(ap('a', 'ns1', '{ rules: [{ from: [{ source: { notNamespaces: ["foo"] } }] }] }'))
    expect(allow(httpReq({ principal: 'cluster.local/ns/foo/sa/x', mtls: false })).verdict).toBe('ALLOW')
    expect(allow(httpReq({ principal: 'cluster.local/ns/foo/sa/x' })).verdict).toBe('DENY')
    const deny = evaluator(ap('d', 'ns1', '{ action: DENY, rules: [{ from: [{ source: { namespaces: ["foo"] } }] }] }'))
    expect(deny(httpReq({ principal: 'cluster.local/ns/foo/sa/x', mtls: false })).verdict).toBe('ALLOW')
    expect(deny(httpReq({ principal: 'cluster.local/ns/foo/sa/x' })).verdict).toBe('DENY')
  })
})

describe('CUSTOM (proto CUSTOM; builder getBadCustomDenyRules)', () => {
  const custom = (name: string, provider: string) =>
    ap(name, 'ns1', `{ action: CUSTOM, provider: { name: ${provider} }, rules: [{ to: [{ operation: { paths: ["/ext*"] } }] }] }`)
  test('a matching CUSTOM rule delegates; the verdict assumes the provider allows', () => {
    const d = evaluator(custom('c', 'ext'))(httpReq({ path: '/ext/a' }))
    expect(d).toMatchObject({ verdict: 'ALLOW', delegatedTo: 'ext' })
  })
  test('two providers on one workload turn CUSTOM rules into DENY', () => {
    const ev = evaluator(custom('c1', 'ext1') + custom('c2', 'ext2'))
    expect(ev(httpReq({ path: '/ext/a' })).verdict).toBe('DENY')
    expect(ev(httpReq({ path: '/other' })).verdict).toBe('ALLOW')
  })
  test('a provider missing from meshConfig.extensionProviders becomes DENY', () => {
    const ev = evaluator(custom('c', 'ext'), { extensionProviders: [{ name: 'other' }] })
    expect(ev(httpReq({ path: '/ext/a' })).verdict).toBe('DENY')
  })
})

describe('remote.ip from XFF with numTrustedProxies (remoteIpBlocks; TestAuthz_IngressGateway)', () => {
  const spec = '{ rules: [{ from: [{ source: { remoteIpBlocks: ["10.4.5.6"] } }] }] }'
  test('numTrustedProxies 0: remote ip is the peer; 1: the XFF client', () => {
    const req = httpReq({ headers: { 'x-forwarded-for': '10.4.5.6' }, sourceIp: '172.16.0.9' })
    expect(evaluator(ap('p', 'ns1', spec))(req).verdict).toBe('DENY')
    expect(evaluator(ap('p', 'ns1', spec), { numTrustedProxies: 1 })(req).verdict).toBe('ALLOW')
  })
})

describe('header conditions match comma-separated elements (golden http/allow-full-rule-out: ^v$|^v,.*|.*,v,.*|.*,v$)', () => {
  const ev = evaluator(ap('h', 'ns1', '{ rules: [{ when: [{ key: "request.headers[x-role]", values: ["admin", "ops-*"] }] }] }'))
  test.each([
    [{ 'x-role': 'admin' }, 'ALLOW'],
    [{ 'x-role': 'guest,admin' }, 'ALLOW'],
    [{ 'x-role': 'guest,ops-team,x' }, 'ALLOW'],
    [{ 'x-role': 'administrator' }, 'DENY'],
    [{ 'x-role': 'guest' }, 'DENY'],
    [{}, 'DENY'],
  ] as const)('%j → %s', (headers, verdict) => {
    expect(ev(httpReq({ headers })).verdict).toBe(verdict)
  })
})
