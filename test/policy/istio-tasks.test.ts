/**
 * The istio.io authorization task pages, step by step: each step applies a policy and shows the HTTP code
 * curl prints (snips.sh next to index.md). 200 → ALLOW, 403 → DENY at authz, 401 → DENY at request-authn.
 * Sources: istio/istio.io content/en/docs/tasks/security/authorization/{authz-deny,authz-jwt}/snips.sh
 * (@1144ff0b, @0874d905); authz-tcp from the same repository's authz-tcp task (HTTP-only fields on TCP ports).
 */
import { describe, expect, test } from 'vitest'
import { evaluator, httpReq } from './helpers.js'

// sleep → httpbin in namespace foo; httpbin listens on 8080 behind Service port 8000.
const SLEEP = 'cluster.local/ns/foo/sa/sleep'
const toHttpbin = (o: Parameters<typeof httpReq>[0]) => httpReq({ principal: SLEEP, ns: 'foo', app: 'httpbin', port: 8080, ...o })

const DENY_GET = `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: deny-method-get, namespace: foo }
spec:
  selector: { matchLabels: { app: httpbin } }
  action: DENY
  rules:
  - to:
    - operation:
        methods: ["GET"]
`
const DENY_GET_UNLESS_ADMIN = `${DENY_GET}    when:
    - key: request.headers[x-token]
      notValues: ["admin"]
`
const ALLOW_IP = `---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: allow-path-ip, namespace: foo }
spec:
  selector: { matchLabels: { app: httpbin } }
  action: ALLOW
  rules:
  - to:
    - operation:
        paths: ["/ip"]
`

describe('authz-deny task', () => {
  test('before any policy: GET /ip → 200', () => {
    expect(evaluator('')(toHttpbin({ path: '/ip' })).verdict).toBe('ALLOW')
  })
  test('deny-method-get: GET /get → 403, POST /post → 200', () => {
    const ev = evaluator(DENY_GET)
    expect(ev(toHttpbin({ method: 'GET', path: '/get' }))).toMatchObject({
      verdict: 'DENY',
      policies: ['ns[foo]-policy[deny-method-get]-rule[0]'],
    })
    expect(ev(toHttpbin({ method: 'POST', path: '/post' })).verdict).toBe('ALLOW')
  })
  test('deny GET unless x-token admin: admin → 200, guest → 403', () => {
    const ev = evaluator(DENY_GET_UNLESS_ADMIN)
    expect(ev(toHttpbin({ path: '/get', headers: { 'x-token': 'admin' } })).verdict).toBe('ALLOW')
    expect(ev(toHttpbin({ path: '/get', headers: { 'x-token': 'guest' } })).verdict).toBe('DENY')
  })
  test('plus allow-path-ip: /ip guest → 403, /ip admin → 200, /get admin → 403', () => {
    const ev = evaluator(DENY_GET_UNLESS_ADMIN + ALLOW_IP)
    expect(ev(toHttpbin({ path: '/ip', headers: { 'x-token': 'guest' } })).verdict).toBe('DENY')
    expect(ev(toHttpbin({ path: '/ip', headers: { 'x-token': 'admin' } })).verdict).toBe('ALLOW')
    const d = ev(toHttpbin({ path: '/get', headers: { 'x-token': 'admin' } }))
    expect(d).toMatchObject({ verdict: 'DENY', layer: 'authz', policies: [] })
  })
})

const RA = `
apiVersion: security.istio.io/v1beta1
kind: RequestAuthentication
metadata: { name: jwt-example, namespace: foo }
spec:
  selector: { matchLabels: { app: httpbin } }
  jwtRules:
  - issuer: "testing@secure.istio.io"
    jwksUri: "https://raw.githubusercontent.com/istio/istio/release-1.8/security/tools/jwt/samples/jwks.json"
`
const REQUIRE_JWT = `---
apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata: { name: require-jwt, namespace: foo }
spec:
  selector: { matchLabels: { app: httpbin } }
  action: ALLOW
  rules:
  - from:
    - source:
       requestPrincipals: ["testing@secure.istio.io/testing@secure.istio.io"]
`
const REQUIRE_GROUP = `${REQUIRE_JWT}    when:
    - key: request.auth.claims[groups]
      values: ["group1"]
`
// Payloads of demo.jwt and groups-scope.jwt as the task prints them.
const DEMO = { iss: 'testing@secure.istio.io', sub: 'testing@secure.istio.io', claims: { exp: 4685989700, foo: 'bar', iat: 1532389700 } }
const GROUPS = {
  iss: 'testing@secure.istio.io',
  sub: 'testing@secure.istio.io',
  claims: { exp: 3537391104, groups: ['group1', 'group2'], iat: 1537391104, scope: ['scope1', 'scope2'] },
}

describe('authz-jwt task', () => {
  test('RequestAuthentication only: invalid token → 401, no token → 200', () => {
    const ev = evaluator(RA)
    expect(ev(toHttpbin({ path: '/headers', jwt: { invalid: true } }))).toMatchObject({ verdict: 'DENY', layer: 'request-authn' })
    expect(ev(toHttpbin({ path: '/headers' })).verdict).toBe('ALLOW')
  })
  test('require-jwt: demo token → 200, no token → 403', () => {
    const ev = evaluator(RA + REQUIRE_JWT)
    expect(ev(toHttpbin({ path: '/headers', jwt: DEMO })).verdict).toBe('ALLOW')
    expect(ev(toHttpbin({ path: '/headers' }))).toMatchObject({ verdict: 'DENY', layer: 'authz' })
  })
  test('require groups contains group1: groups token → 200, demo token → 403', () => {
    const ev = evaluator(RA + REQUIRE_GROUP)
    expect(ev(toHttpbin({ path: '/headers', jwt: GROUPS })).verdict).toBe('ALLOW')
    expect(ev(toHttpbin({ path: '/headers', jwt: DEMO })).verdict).toBe('DENY')
  })
  test('without the RequestAuthentication the token is never validated, so requestPrincipals cannot match', () => {
    expect(evaluator(REQUIRE_JWT)(toHttpbin({ path: '/headers', jwt: DEMO })).verdict).toBe('DENY')
  })
})
