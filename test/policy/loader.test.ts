/**
 * Manifest loading: the shapes policies are kept in (multi-document YAML, `kubectl get -o yaml` Lists,
 * JSON, directories), and rejection of what the API server would reject, with file/object/field named.
 */
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'
import { addManifestText, emptyPolicySet, loadPolicies } from '../../src/policy/loader.js'
import { meshConfigFrom } from '../../src/policy/mesh-config.js'
import { parseRequest } from '../../src/policy/request.js'

const parse = (text: string) => addManifestText(emptyPolicySet(), text, 'f.yaml')

describe('loader', () => {
  test('kind: List from kubectl, v1 and v1beta1, other kinds skipped', () => {
    const set = parse(`apiVersion: v1
kind: List
items:
- apiVersion: security.istio.io/v1beta1
  kind: AuthorizationPolicy
  metadata: { name: a, namespace: ns, creationTimestamp: "2024-03-01T10:00:00Z", annotations: { istio.io/dry-run: "true" } }
  spec: { action: DENY, rules: [{}] }
- apiVersion: security.istio.io/v1
  kind: PeerAuthentication
  metadata: { name: default, namespace: ns }
  spec: { mtls: { mode: STRICT }, portLevelMtls: { 8080: { mode: DISABLE } } }
- apiVersion: v1
  kind: Service
  metadata: { name: svc, namespace: ns }
`)
    expect(set.issues).toEqual([])
    expect(set.skipped).toBe(1)
    expect(set.authorizationPolicies[0]).toMatchObject({
      name: 'a',
      namespace: 'ns',
      index: 0,
      createdAt: Date.parse('2024-03-01T10:00:00Z'),
    })
    expect(set.authorizationPolicies[0]!.annotations['istio.io/dry-run']).toBe('true')
    expect(set.peerAuthentications[0]!.spec.portLevelMtls?.['8080']?.mode).toBe('DISABLE')
  })
  test('unknown fields and wrong types name the field; the object is left out', () => {
    const set = parse(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: bad, namespace: ns }
spec: { action: ALLOWED, rules: [{ to: [{ operation: { ports: [8080] } }] }] }
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: good, namespace: ns }
spec: {}
`)
    expect(set.authorizationPolicies.map((p) => p.name)).toEqual(['good'])
    expect(set.issues.map((i) => `${i.object} ${i.field}`)).toEqual([
      'AuthorizationPolicy ns/bad spec.action',
      'AuthorizationPolicy ns/bad spec.rules[0].to[0].operation.ports[0]',
    ])
  })
  test('prototype-polluting keys are rejected, not merged', () => {
    const set = parse(
      '{"apiVersion":"security.istio.io/v1","kind":"AuthorizationPolicy","metadata":{"name":"x","namespace":"n"},"spec":{"selector":{"matchLabels":{"__proto__":{"polluted":"yes"}}}}}',
    )
    expect(set.authorizationPolicies).toEqual([])
    expect(set.issues[0]).toMatchObject({ field: 'spec.selector.matchLabels.__proto__' })
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined()
  })
  test('a YAML syntax error is an issue, not a crash; later documents still load', () => {
    const set = parse(
      'a: [\n---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: ok, namespace: n }\nspec: {}\n',
    )
    expect(set.issues[0]!.message).toMatch(/YAML error/)
    expect(set.authorizationPolicies.map((p) => p.name)).toEqual(['ok'])
  })
  test('directories are walked for .yaml/.yml/.json, in name order', () => {
    const dir = mkdtempSync(join(tmpdir(), 'policies-'))
    mkdirSync(join(dir, 'sub'))
    writeFileSync(
      join(dir, 'b.yaml'),
      'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: b, namespace: n }\nspec: {}\n',
    )
    writeFileSync(
      join(dir, 'sub', 'a.json'),
      JSON.stringify({
        apiVersion: 'security.istio.io/v1',
        kind: 'AuthorizationPolicy',
        metadata: { name: 'a', namespace: 'n' },
        spec: {},
      }),
    )
    writeFileSync(join(dir, 'notes.txt'), 'ignored')
    expect(loadPolicies([dir]).authorizationPolicies.map((p) => p.name)).toEqual(['b', 'a'])
  })
})

describe('mesh config', () => {
  test('defaults are explicit', () => {
    expect(meshConfigFrom({})).toMatchObject({
      rootNamespace: 'istio-system',
      trustDomain: 'cluster.local',
      trustDomainAliases: [],
      pathNormalization: 'DEFAULT',
      numTrustedProxies: 0,
      enableAutoMtls: true,
      extensionProviders: null,
    })
  })
  test('reads the istio ConfigMap data.mesh and names the bad option', () => {
    const cm = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      data: { mesh: 'rootNamespace: mesh-root\ntrustDomain: td\ndefaultConfig:\n  gatewayTopology:\n    numTrustedProxies: 2\n' },
    }
    expect(meshConfigFrom(cm)).toMatchObject({ rootNamespace: 'mesh-root', trustDomain: 'td', numTrustedProxies: 2 })
    expect(() => meshConfigFrom({ pathNormalization: { normalization: 'SOMETIMES' } })).toThrow(/pathNormalization\.normalization/)
  })
})

describe('request parsing', () => {
  test('errors name the field', () => {
    expect(() => parseRequest({ source: {}, destination: { namespace: 'n', port: 'x' }, protocol: 'http', mtls: true })).toThrow(
      /request\.destination\.port/,
    )
  })
  test('header names are case-insensitive, duplicates joined with a comma, __proto__ rejected', () => {
    const r = parseRequest({
      source: { principal: 'spiffe://td/ns/a/sa/b' },
      destination: { namespace: 'n', port: 80 },
      protocol: 'http',
      mtls: true,
      http: { headers: { 'X-A': ['1', '2'] } },
    })
    expect(r.headers['x-a']).toBe('1,2')
    expect(r.principal).toBe('td/ns/a/sa/b')
    expect(() =>
      parseRequest(
        JSON.parse('{"source":{},"destination":{"namespace":"n","port":1,"labels":{"__proto__":{"x":"y"}}},"protocol":"tcp","mtls":false}'),
      ),
    ).toThrow(/prototype/)
  })
})
