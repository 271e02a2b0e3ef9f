/**
 * Request/verdict tables derived from Istio's own tests. Templates from
 * istio/istio tests/integration/security/testdata/authz/*.yaml.tmpl are instantiated with fixed names:
 * `.To` = app b in ns1, `.Allowed` = a in ns1 (cluster.local/ns/ns1/sa/a), `.Denied` = a in ns2,
 * workload ports http 18080, http2 18085, grpc 17070, tcp 19090. Expected verdicts are the `allow:` values
 * of the matching cases in tests/integration/security/authz_test.go (istio/istio @0146c61a).
 */
import { describe, expect, test } from 'vitest'
import { evaluator, httpReq } from './helpers.js'

const ALLOWED = 'cluster.local/ns/ns1/sa/a'
const DENIED = 'cluster.local/ns/ns2/sa/a'

describe('TestAuthz_Principal (allow-principal.yaml.tmpl)', () => {
  const ev = evaluator(`
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: b, namespace: ns1 }
spec:
  selector: { matchLabels: { app: b } }
  action: ALLOW
  rules:
  - to: [{ operation: { ports: ["18080", "18085"], paths: ["/allow"], methods: ["GET"] } }]
    from: [{ source: { principals: ["${ALLOWED}"] } }]
  - to: [{ operation: { ports: ["17070"], paths: ["/proto.EchoTestService/Echo"], methods: ["POST"] } }]
    from: [{ source: { principals: ["${ALLOWED}"] } }]
  - to: [{ operation: { ports: ["19090"] } }]
    from: [{ source: { principals: ["${ALLOWED}"] } }]
`)
  test.each([
    [ALLOWED, 18080, '/allow', 'ALLOW'],
    [ALLOWED, 18085, '/allow?param=value', 'ALLOW'],
    [ALLOWED, 18080, '/deny', 'DENY'],
    [ALLOWED, 18085, '/deny?param=value', 'DENY'],
    [DENIED, 18080, '/allow', 'DENY'],
  ])('%s port %i path %s → %s', (principal, port, path, verdict) => {
    expect(ev(httpReq({ principal, port, path })).verdict).toBe(verdict)
  })
  test('grpc and tcp ports follow the principal', () => {
    expect(ev(httpReq({ protocol: 'grpc', port: 17070, path: '/proto.EchoTestService/Echo' })).verdict).toBe('ALLOW')
    expect(ev(httpReq({ principal: DENIED, protocol: 'grpc', port: 17070, path: '/proto.EchoTestService/Echo' })).verdict).toBe('DENY')
    expect(ev(httpReq({ protocol: 'tcp', port: 19090 })).verdict).toBe('ALLOW')
    expect(ev(httpReq({ principal: DENIED, protocol: 'tcp', port: 19090 })).verdict).toBe('DENY')
  })
  test('reports the matched rule id in Envoy form', () => {
    expect(ev(httpReq({ path: '/allow' })).policies).toEqual(['ns[ns1]-policy[b]-rule[0]'])
  })
})

describe('TestAuthz_DenyPrincipal (deny-global + deny-principal)', () => {
  const ev = evaluator(`
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: policy-deny-system, namespace: istio-system }
spec:
  action: DENY
  rules:
  - to: [{ operation: { ports: ["18080", "18085"], paths: ["/global-deny*"], notPaths: ["/global-deny/allow"] } }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: b, namespace: ns1 }
spec:
  selector: { matchLabels: { app: b } }
  action: DENY
  rules:
  - to: [{ operation: { ports: ["18080", "18085"], paths: ["/deny*"], notPaths: ["/deny/allow"], methods: ["GET"] } }]
    from: [{ source: { principals: ["${DENIED}"] } }]
  - to: [{ operation: { ports: ["19090"] } }]
    from: [{ source: { principals: ["${DENIED}"] } }]
`)
  test.each([
    [DENIED, '/deny', 'DENY'],
    [DENIED, '/deny?param=value', 'DENY'],
    [DENIED, '/deny/allow', 'ALLOW'],
    [DENIED, '/allow', 'ALLOW'],
    [ALLOWED, '/deny', 'ALLOW'],
    [ALLOWED, '/global-deny', 'DENY'],
    [DENIED, '/global-deny?param=value', 'DENY'],
    [ALLOWED, '/global-deny/allow', 'ALLOW'],
  ])('%s %s → %s', (principal, path, verdict) => {
    expect(ev(httpReq({ principal, path })).verdict).toBe(verdict)
  })
  test('root-namespace DENY applies to every namespace', () => {
    const d = ev(httpReq({ ns: 'ns2', path: '/global-deny' }))
    expect(d.verdict).toBe('DENY')
    expect(d.policies).toEqual(['ns[istio-system]-policy[policy-deny-system]-rule[0]'])
  })
  test('tcp port: denied principal refused, others allowed', () => {
    expect(ev(httpReq({ principal: DENIED, protocol: 'tcp', port: 19090 })).verdict).toBe('DENY')
    expect(ev(httpReq({ protocol: 'tcp', port: 19090 })).verdict).toBe('ALLOW')
  })
})

describe('TestAuthz_NotNamespace / NotMethod / NotPort / NotHost', () => {
  test('DENY notNamespaces [ns1]: ns1 allowed, ns2 denied', () => {
    const ev = evaluator(`
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: b-deny, namespace: ns1 }
spec:
  selector: { matchLabels: { app: b } }
  action: DENY
  rules: [{ from: [{ source: { notNamespaces: ["ns1"] } }] }]
`)
    expect(ev(httpReq({ principal: ALLOWED })).verdict).toBe('ALLOW')
    expect(ev(httpReq({ principal: DENIED })).verdict).toBe('DENY')
    expect(ev(httpReq({ principal: DENIED, protocol: 'tcp', port: 19090 })).verdict).toBe('DENY')
  })
  test('ALLOW notMethods [PUT]', () => {
    const ev = evaluator(`
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: b-allow, namespace: ns1 }
spec:
  selector: { matchLabels: { app: b } }
  rules: [{ to: [{ operation: { notMethods: ["PUT"] } }] }]
`)
    expect(ev(httpReq({ method: 'GET' })).verdict).toBe('ALLOW')
    expect(ev(httpReq({ method: 'PUT' })).verdict).toBe('DENY')
  })
  test('ALLOW notPorts [http2 port]', () => {
    const ev = evaluator(`
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: b-allow, namespace: ns1 }
spec:
  selector: { matchLabels: { app: b } }
  action: ALLOW
  rules: [{ to: [{ operation: { notPorts: ["18085"] } }] }]
`)
    expect(ev(httpReq({ port: 18080 })).verdict).toBe('ALLOW')
    expect(ev(httpReq({ port: 18085 })).verdict).toBe('DENY')
  })
  test('ALLOW notHosts [deny.b.com] (host match is case-insensitive)', () => {
    const ev = evaluator(`
apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata: { name: allow-b, namespace: ns1 }
spec:
  selector: { matchLabels: { app: b } }
  action: ALLOW
  rules: [{ to: [{ operation: { notHosts: ["deny.b.com"] } }] }]
`)
    expect(ev(httpReq({ host: 'allow.b.com' })).verdict).toBe('ALLOW')
    expect(ev(httpReq({ host: 'deny.b.com' })).verdict).toBe('DENY')
    expect(ev(httpReq({ host: 'DENY.B.COM' })).verdict).toBe('DENY')
  })
})

describe('TestAuthz_DenyPlaintext (plaintext.yaml.tmpl: PERMISSIVE + DENY notPrincipals ["*"])', () => {
  const ev = evaluator(`
apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata: { name: ns-default, namespace: ns1 }
spec: { mtls: { mode: PERMISSIVE } }
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: b, namespace: ns1 }
spec:
  selector: { matchLabels: { app: b } }
  action: DENY
  rules: [{ from: [{ source: { notPrincipals: ["*"] } }] }]
`)
  test('plaintext from ns2 is denied by authz, mTLS passes', () => {
    const d = ev(httpReq({ principal: null, mtls: false }))
    expect(d).toMatchObject({ verdict: 'DENY', layer: 'authz', mtlsMode: 'PERMISSIVE' })
    expect(ev(httpReq({ principal: DENIED })).verdict).toBe('ALLOW')
  })
})

describe('TestAuthz_PathNormalization (path-normalization.yaml.tmpl, paths ["/public*"], GET)', () => {
  const ev = evaluator(`
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: b, namespace: ns1 }
spec:
  selector: { matchLabels: { app: b } }
  rules: [{ to: [{ operation: { paths: ["/public*"], methods: ["GET"] } }] }]
`)
  test.each([
    ['/public', 'ALLOW'],
    ['/public/../public', 'ALLOW'],
    ['/private', 'DENY'],
    ['/public/../private', 'DENY'],
    ['/public/./../private', 'DENY'],
    ['/public/.././private', 'DENY'],
    ['/public/%2E%2E/private', 'DENY'],
    ['/public/%2e%2e/private', 'DENY'],
    ['/public/%2E/%2E%2E/private', 'DENY'],
    ['/public/%2e/%2e%2e/private', 'DENY'],
    ['/public/%2E%2E/%2E/private', 'DENY'],
    ['/public/%2e%2e/%2e/private', 'DENY'],
  ])('%s → %s', (path, verdict) => {
    expect(ev(httpReq({ path })).verdict).toBe(verdict)
  })
})

describe('TestAuthz_PathTemplating (path-templating.yaml.tmpl)', () => {
  const ev = evaluator(`
apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata: { name: b, namespace: ns1 }
spec:
  selector: { matchLabels: { app: b } }
  action: ALLOW
  rules: [{ to: [{ operation: { paths: ["/allow/admin/{**}", "/foo/{*}/bar/{**}.txt", "/store/{**}/cart"] } }] }]
`)
  test.each([
    ['/allow/admin/', 'ALLOW'],
    ['/allow/admin', 'DENY'],
    ['/allow/user/', 'DENY'],
    ['/allow/admin?param=value', 'DENY'],
    ['/allow', 'DENY'],
    ['/allow/admin/temp', 'ALLOW'],
    ['/allow/admin/temp.txt', 'ALLOW'],
    ['/allow/admin/foo/temp.txt', 'ALLOW'],
    ['/foo/buzz/bar/bat.txt', 'ALLOW'],
    ['/foo/buzz/bar/bat/fuzz.txt', 'ALLOW'],
    ['/foo/bar/bat.txt', 'DENY'],
    ['/foo//bar/bat.txt', 'DENY'],
    ['/foo/buzz/bar/bat', 'DENY'],
    ['/store//cart', 'ALLOW'],
    ['/store/cart', 'DENY'],
  ])('%s → %s', (path, verdict) => {
    expect(ev(httpReq({ path })).verdict).toBe(verdict)
  })
})

describe('TestAuthz_IngressGateway host matching (ingress-gateway.yaml.tmpl, DENY hosts)', () => {
  // The template denies `deny.b.com` exactly and `*.suffix.b.com`/`prefix.*` style hosts; case-insensitive.
  const ev = evaluator(`
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: deny-b, namespace: istio-system }
spec:
  selector: { matchLabels: { istio: ingressgateway } }
  action: DENY
  rules: [{ to: [{ operation: { hosts: ["deny.b.com", "*.suffix.b.com", "prefix.b*"] } }] }]
`)
  const gw = (host: string) => httpReq({ ns: 'istio-system', labels: { istio: 'ingressgateway' }, host })
  test.each([
    ['deny.b.com', 'DENY'],
    ['DENY.b.COM', 'DENY'],
    ['Deny.Suffix.b.Com', 'DENY'],
    ['PREFIX.b.COM', 'DENY'],
    ['www.b.com', 'ALLOW'],
  ])('%s → %s', (host, verdict) => {
    expect(ev(gw(host)).verdict).toBe(verdict)
  })
})

describe('TestAuthz_JWT (jwt.yaml.tmpl shape: RequestAuthentication + requestPrincipals per path)', () => {
  const ISS1 = 'test-issuer-1@istio.io'
  const ISS2 = 'test-issuer-2@istio.io'
  const ev = evaluator(`
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: { name: default, namespace: ns1 }
spec:
  jwtRules: [{ issuer: "${ISS1}" }, { issuer: "${ISS2}" }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: jwt, namespace: ns1 }
spec:
  rules:
  - to: [{ operation: { paths: ["/token1"] } }]
    from: [{ source: { requestPrincipals: ["${ISS1}/sub-1"] } }]
  - to: [{ operation: { paths: ["/token2"] } }]
    from: [{ source: { requestPrincipals: ["${ISS2}/sub-2"] } }]
  - to: [{ operation: { paths: ["/tokenAny"] } }]
    from: [{ source: { requestPrincipals: ["*"] } }]
  - to: [{ operation: { paths: ["/permission"] } }]
    when: [{ key: "request.auth.claims[permission]", values: ["editor"] }]
  - to: [{ operation: { paths: ["/nested-key1"] } }]
    when: [{ key: "request.auth.claims[nested][key1]", values: ["valueA"] }]
`)
  const t1 = { iss: ISS1, sub: 'sub-1', claims: { nested: { key1: 'valueA' } } }
  const t2 = { iss: ISS2, sub: 'sub-2', claims: { permission: 'read editor' } }
  test.each([
    ['/token1', null, 'DENY'],
    ['/token1', t1, 'ALLOW'],
    ['/token2', t1, 'DENY'],
    ['/token2', t2, 'ALLOW'],
    ['/tokenAny', t1, 'ALLOW'],
    ['/tokenAny', null, 'DENY'],
    ['/permission', t2, 'ALLOW'],
    ['/permission', t1, 'DENY'],
    ['/nested-key1', t1, 'ALLOW'],
    ['/nested-key1', t2, 'DENY'],
  ] as const)('%s with %j → %s', (path, jwt, verdict) => {
    expect(ev(httpReq({ path, jwt })).verdict).toBe(verdict)
  })
  test('an invalid token is rejected at request-authn even on an allowed path', () => {
    expect(ev(httpReq({ path: '/tokenAny', jwt: { invalid: true } }))).toMatchObject({ verdict: 'DENY', layer: 'request-authn' })
  })
})

describe('TestAuthz_Conditions (conditions.yaml.tmpl shape)', () => {
  const ev = evaluator(`
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: b, namespace: ns1 }
spec:
  selector: { matchLabels: { app: b } }
  rules:
  - to: [{ operation: { paths: ["/request-headers"] } }]
    when: [{ key: "request.headers[x-foo]", values: ["foo"] }]
  - to: [{ operation: { paths: ["/request-headers-notValues"] } }]
    when: [{ key: "request.headers[x-foo]", notValues: ["bar"] }]
  - to: [{ operation: { paths: ["/source-namespace"] } }]
    when: [{ key: source.namespace, values: ["ns1"] }]
  - to: [{ operation: { paths: ["/source-principal-notValues"] } }]
    when: [{ key: source.principal, notValues: ["${DENIED}"] }]
  - to: [{ operation: { paths: ["/destination-port-good"] } }]
    when: [{ key: destination.port, values: ["18080"] }]
  - to: [{ operation: { paths: ["/destination-port-bad"] } }]
    when: [{ key: destination.port, values: ["1"] }]
  - to: [{ operation: { paths: ["/connection-sni-good"] } }]
    when: [{ key: connection.sni, values: ["*.ns1.svc.cluster.local"] }]
`)
  const sni = 'outbound_.80_._.b.ns1.svc.cluster.local'
  test.each([
    [{ path: '/request-headers', headers: { 'X-Foo': 'foo' } }, 'ALLOW'],
    [{ path: '/request-headers', headers: { 'x-foo': 'bar' } }, 'DENY'],
    [{ path: '/request-headers' }, 'DENY'],
    [{ path: '/request-headers-notValues', headers: { 'x-foo': 'foo' } }, 'ALLOW'],
    [{ path: '/request-headers-notValues', headers: { 'x-foo': 'bar' } }, 'DENY'],
    [{ path: '/source-namespace' }, 'ALLOW'],
    [{ path: '/source-namespace', principal: DENIED }, 'DENY'],
    [{ path: '/source-principal-notValues' }, 'ALLOW'],
    [{ path: '/source-principal-notValues', principal: DENIED }, 'DENY'],
    [{ path: '/destination-port-good' }, 'ALLOW'],
    [{ path: '/destination-port-bad' }, 'DENY'],
    [{ path: '/connection-sni-good', sni }, 'ALLOW'],
    [{ path: '/other' }, 'DENY'],
  ] as const)('%j → %s', (o, verdict) => {
    expect(ev(httpReq(o)).verdict).toBe(verdict)
  })
})
