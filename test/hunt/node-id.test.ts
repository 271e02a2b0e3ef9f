import { describe, expect, test } from 'vitest'
import { kindOfNode, parseIdentityArg, resolveIdentity } from '../../src/hunt/node-id.js'
import type { GraphNode } from '../../src/hunt/backend.js'

const FE = 'spiffe://cluster.local/ns/shop/sa/frontend'
const nodes: GraphNode[] = [
  { id: FE, kind: 'spiffe', namespace: 'shop', serviceAccount: 'frontend', names: ['frontend', 'web'] },
  { id: 'spiffe://cluster.local/ns/shop/sa/cart', kind: 'spiffe', namespace: 'shop', serviceAccount: 'cart', names: ['cart'] },
  { id: 'spiffe://cluster.local/ns/staging/sa/cart', kind: 'spiffe', namespace: 'staging', serviceAccount: 'cart', names: ['cart'] },
  { id: 'legacy/legacy-billing', kind: 'workload', namespace: 'legacy', names: ['legacy-billing'] },
  { id: 'payments-db.payments', kind: 'service', namespace: 'payments', names: ['payments-db'] },
  { id: '10.244.3.9', kind: 'ip', names: [] },
]

describe('IDENTITY resolution', () => {
  test('every accepted form resolves to the same node', () => {
    for (const arg of [FE, 'cluster.local/ns/shop/sa/frontend', 'shop/frontend', 'frontend', 'web', 'shop/web']) {
      expect(resolveIdentity(arg, nodes), arg).toEqual([FE])
    }
  })

  test('workload, service and address nodes', () => {
    expect(resolveIdentity('legacy/legacy-billing', nodes)).toEqual(['legacy/legacy-billing'])
    expect(resolveIdentity('legacy-billing', nodes)).toEqual(['legacy/legacy-billing'])
    expect(resolveIdentity('payments-db', nodes)).toEqual(['payments-db.payments'])
    expect(resolveIdentity('10.244.3.9', nodes)).toEqual(['10.244.3.9'])
  })

  test('a bare name in two namespaces is refused with the candidates; the namespaced form is not', () => {
    expect(() => resolveIdentity('cart', nodes)).toThrow(/ambiguous.*ns\/shop\/sa\/cart.*ns\/staging\/sa\/cart/)
    expect(resolveIdentity('staging/cart', nodes)).toEqual(['spiffe://cluster.local/ns/staging/sa/cart'])
  })

  test('an exact SPIFFE ID never seen is still a valid start (it may only have been called); unknown names are usage errors', () => {
    expect(resolveIdentity('spiffe://cluster.local/ns/x/sa/y', nodes)).toEqual(['spiffe://cluster.local/ns/x/sa/y'])
    expect(() => resolveIdentity('nobody', nodes)).toThrow(expect.objectContaining({ code: 'EA_USAGE' }))
  })

  test('malformed arguments are usage errors', () => {
    for (const bad of ['', 'spiffe://', 'SPIFFE://Bad Domain/x', 'a/b/c', 'td/ns/a/sa/']) {
      expect(() => parseIdentityArg(bad), bad).toThrow(expect.objectContaining({ code: 'EA_USAGE' }))
    }
  })

  test('node kinds', () => {
    expect([FE, 'shop/cart', 'cart.shop', 'api.stripe.com', '10.0.0.1', '10.0.0.1:8080', '(unknown)'].map(kindOfNode)).toEqual([
      'spiffe',
      'workload',
      'service',
      'service',
      'ip',
      'ip',
      'unknown',
    ])
  })
})
