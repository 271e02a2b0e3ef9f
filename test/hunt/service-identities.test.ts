import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, test } from 'vitest'
import { loadInventory, parseInventory } from '../../src/hunt/service-identities.js'

const dir = mkdtempSync(join(tmpdir(), 'ea-inventory-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('--inventory', () => {
  test('YAML and JSON files; identities normalised to the SPIFFE URI', () => {
    const yaml = join(dir, 'inv.yaml')
    writeFileSync(
      yaml,
      'services:\n  - service: payments-db\n    namespace: payments\n    identity: cluster.local/ns/payments/sa/payments-db\n  - service: api.stripe.com\n    identity: egress/stripe-proxy\n',
    )
    expect(loadInventory(yaml)).toEqual([
      { service: 'payments-db', namespace: 'payments', identity: 'spiffe://cluster.local/ns/payments/sa/payments-db' },
      { service: 'api.stripe.com', identity: 'egress/stripe-proxy' },
    ])
    const json = join(dir, 'inv.json')
    writeFileSync(json, JSON.stringify({ services: [{ service: 'cart', identity: 'spiffe://cluster.local/ns/shop/sa/cart' }] }))
    expect(loadInventory(json)).toEqual([{ service: 'cart', identity: 'spiffe://cluster.local/ns/shop/sa/cart' }])
  })

  test('errors name the path; unknown and prototype keys are refused', () => {
    expect(() => parseInventory({ services: [{ service: 'a', identity: 'not an id' }] })).toThrow(/inventory\.services\.0\.identity/)
    expect(() => parseInventory({ services: [{ service: 'a', identity: 'x/y', owner: 'me' }] })).toThrow(/inventory\.services\.0/)
    expect(() => parseInventory(JSON.parse('{"services":[],"__proto__":{"polluted":true}}'))).toThrow(/inventory/)
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    expect(() => loadInventory(join(dir, 'missing.yaml'))).toThrow(expect.objectContaining({ code: 'EA_IO' }))
    const dup = join(dir, 'dup.yaml')
    writeFileSync(dup, 'services: []\nservices: []\n')
    expect(() => loadInventory(dup)).toThrow(expect.objectContaining({ code: 'EA_CONFIG_INVALID' }))
  })
})
