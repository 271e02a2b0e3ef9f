import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, test } from 'vitest'
import { loadInventory as loadHuntInventory } from '../../src/hunt/service-identities.js'
import { inventoryFrom, loadInventory, serviceIdentities } from '../../src/policy/workload-inventory.js'

const dir = mkdtempSync(join(tmpdir(), 'ea-workload-inventory-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const ONE_FILE = `
workloads:
  - { namespace: shop, name: payments, labels: { app: payments }, serviceAccount: payments, ips: [10.1.2.3] }
services:
  - { namespace: shop, name: payments, ports: [{ port: 80, targetPort: 8080 }], identity: cluster.local/ns/shop/sa/payments }
  - { namespace: shop, name: cart, ports: [{ port: 80 }] }
  - { name: api.stripe.com, identity: egress/stripe-proxy }
namespaces: [istio-system]
`

describe('one inventory format for the policy commands and hunt', () => {
  test('the policy commands and hunt read the same file, each the facts it needs', () => {
    const file = join(dir, 'inventory.yaml')
    writeFileSync(file, ONE_FILE)
    const inv = loadInventory(file)
    expect(inv.workloads.map((w) => `${w.namespace}/${w.name}`)).toEqual(['shop/payments'])
    expect(inv.services.map((s) => [s.namespace, s.name, s.ports])).toEqual([
      ['shop', 'payments', [{ port: 80, targetPort: 8080 }]],
      ['shop', 'cart', [{ port: 80, targetPort: 80 }]],
      [undefined, 'api.stripe.com', []],
    ])
    expect([...inv.namespaces].sort()).toEqual(['istio-system', 'shop'])
    expect(loadHuntInventory(file)).toEqual([
      { service: 'payments', namespace: 'shop', identity: 'spiffe://cluster.local/ns/shop/sa/payments' },
      { service: 'api.stripe.com', identity: 'egress/stripe-proxy' },
    ])
  })

  test('a file in the earlier hunt-only format is still read by both', () => {
    const identity = 'spiffe://cluster.local/ns/payments/sa/payments-db'
    const legacy = { services: [{ service: 'payments-db', namespace: 'payments', identity }] }
    expect(serviceIdentities(legacy)).toEqual([{ service: 'payments-db', namespace: 'payments', identity }])
    const inv = inventoryFrom(legacy)
    expect(inv.services).toEqual([{ namespace: 'payments', name: 'payments-db', ports: [], identity }])
    expect([...inv.namespaces]).toEqual(['payments'])
    expect(inv.workloads).toEqual([])
  })

  test('a bad identity is refused with its path in either format', () => {
    expect(() => serviceIdentities({ services: [{ name: 'a', identity: 'not an id' }] })).toThrow(/inventory: services\[0\]\.identity/)
    expect(() => serviceIdentities({ services: [{ service: 'a', identity: 'not an id' }] })).toThrow(/inventory\.services\.0\.identity/)
  })

  test('unknown keys and prototype keys are refused', () => {
    expect(() => inventoryFrom({ services: [{ name: 'a', owner: 'me' }] })).toThrow(/services\[0\]: Unrecognized key/)
    expect(() => inventoryFrom(JSON.parse('{"workloads":[],"__proto__":{"polluted":true}}'))).toThrow(/prototype/)
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })
})
