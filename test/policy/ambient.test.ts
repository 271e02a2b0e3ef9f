/**
 * policy eval for Istio ambient mode: which policies attach at a ztunnel and at a waypoint, and the L4-only
 * enforcement of ztunnel (a policy with L7 attributes fails safe as a DENY there, as Istio's ambient L4
 * policy guide, istio.io docs/ambient/usage/l4-policy, says).
 */
import { describe, expect, test } from 'vitest'
import { compilePolicies } from '../../src/policy/evaluator.js'
import { parseRequest } from '../../src/policy/request.js'
import { DEFAULT_MESH_CONFIG } from '../../src/policy/mesh-config.js'
import { policySet } from './helpers.js'

const POLICIES = `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: allow-curl-l4, namespace: shop }
spec:
  selector: { matchLabels: { app: orders } }
  action: ALLOW
  rules:
  - from: [{ source: { principals: [cluster.local/ns/shop/sa/curl, cluster.local/ns/shop/sa/waypoint] } }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: orders-get-only, namespace: shop }
spec:
  targetRefs: [{ kind: Service, group: "", name: orders }]
  action: ALLOW
  rules:
  - to: [{ operation: { methods: [GET] } }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: waypoint-deny-admin, namespace: shop }
spec:
  targetRefs: [{ kind: Gateway, group: gateway.networking.k8s.io, name: waypoint }]
  action: DENY
  rules:
  - to: [{ operation: { paths: [/admin*] } }]
`

const L7_AT_ZTUNNEL = `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: methods-on-ztunnel, namespace: pay }
spec:
  selector: { matchLabels: { app: ledger } }
  action: ALLOW
  rules:
  - to: [{ operation: { methods: [GET] } }]
`

const request = (over: Record<string, unknown>) =>
  parseRequest({
    source: { principal: 'cluster.local/ns/shop/sa/curl' },
    destination: { namespace: 'shop', labels: { app: 'orders' }, port: 8080, service: 'orders', waypoint: 'waypoint' },
    protocol: 'http',
    mtls: true,
    http: { method: 'GET', path: '/' },
    ...over,
  })

describe('policy eval: ambient attachment', () => {
  const ev = compilePolicies(policySet(POLICIES, 'ambient.yaml'), DEFAULT_MESH_CONFIG)

  test('at ztunnel the selector policy applies and targetRefs policies do not', () => {
    expect(ev.evaluate(request({ enforcement: 'ztunnel', protocol: 'tcp', http: undefined }))).toMatchObject({
      verdict: 'ALLOW',
      policies: ['ns[shop]-policy[allow-curl-l4]-rule[0]'],
    })
    const stranger = ev.evaluate(
      request({ enforcement: 'ztunnel', protocol: 'tcp', http: undefined, source: { principal: 'cluster.local/ns/x/sa/y' } }),
    )
    expect(stranger.verdict).toBe('DENY')
  })

  test('at the waypoint only targetRefs to its Gateway or to the addressed Service apply', () => {
    expect(ev.evaluate(request({ enforcement: 'waypoint' }))).toMatchObject({
      verdict: 'ALLOW',
      policies: ['ns[shop]-policy[orders-get-only]-rule[0]'],
    })
    expect(ev.evaluate(request({ enforcement: 'waypoint', http: { method: 'POST', path: '/' } })).verdict).toBe('DENY')
    expect(ev.evaluate(request({ enforcement: 'waypoint', http: { method: 'GET', path: '/admin/x' } }))).toMatchObject({
      verdict: 'DENY',
      policies: ['ns[shop]-policy[waypoint-deny-admin]-rule[0]'],
    })
    // Another service behind the same waypoint: the Service-targeted ALLOW does not reach it; the Gateway DENY does.
    const other = request({ enforcement: 'waypoint', destination: { namespace: 'shop', port: 80, service: 'cart', waypoint: 'waypoint' } })
    expect(ev.evaluate(other)).toMatchObject({ verdict: 'ALLOW', reason: expect.stringContaining('no ALLOW policy') })
    // A sidecar never sees targetRefs policies: the selector ALLOW decides.
    expect(ev.evaluate(request({ http: { method: 'POST', path: '/admin' } })).verdict).toBe('ALLOW')
  })

  test('an L7 rule on a ztunnel-enforced policy denies everything it selects', () => {
    const l7 = compilePolicies(policySet(L7_AT_ZTUNNEL, 'ambient.yaml'), DEFAULT_MESH_CONFIG)
    const req = (enforcement: string) =>
      parseRequest({
        source: { principal: 'cluster.local/ns/pay/sa/web' },
        destination: { namespace: 'pay', labels: { app: 'ledger' }, port: 8080 },
        protocol: 'http',
        mtls: true,
        http: { method: 'GET', path: '/' },
        enforcement,
      })
    expect(l7.evaluate(req('sidecar')).verdict).toBe('ALLOW')
    expect(l7.evaluate(req('ztunnel'))).toMatchObject({ verdict: 'DENY', policies: ['pay/methods-on-ztunnel'] })
  })
})
