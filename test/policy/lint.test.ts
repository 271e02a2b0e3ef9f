/**
 * One fixture per documented mistake (docs/policy.md, `lint`), plus the two seed
 * policies. Each case checks the code fires on the mistake AND stays silent on the corrected policy.
 */
import { fileURLToPath } from 'node:url'
import { describe, expect, test } from 'vitest'
import { compilePolicies } from '../../src/policy/evaluator.js'
import { inventoryFrom } from '../../src/policy/workload-inventory.js'
import { LINT_CODES, lintPolicies, type LintFinding } from '../../src/policy/lint.js'
import { addManifestText, emptyPolicySet, loadPolicies } from '../../src/policy/loader.js'
import { meshConfigFrom } from '../../src/policy/mesh-config.js'
import { parseRequest } from '../../src/policy/request.js'
import { httpReq } from './helpers.js'

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/policy/${name}`, import.meta.url))

const STRICT =
  'apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: { name: default, namespace: istio-system }\nspec: { mtls: { mode: STRICT } }\n---\n'
const ap = (spec: string, meta = '{ name: p, namespace: ns1 }') =>
  `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: ${meta}\nspec: ${spec}\n---\n`

function lint(yaml: string, mesh: unknown = {}, inventory?: unknown): LintFinding[] {
  const set = addManifestText(emptyPolicySet(), yaml, 'case.yaml')
  return lintPolicies(set, { mesh: meshConfigFrom(mesh), ...(inventory === undefined ? {} : { inventory: inventoryFrom(inventory) }) })
}
const codes = (fs: LintFinding[]) => [...new Set(fs.map((f) => f.code))].sort()

describe('seed policies (two published examples, seed-000 and seed-003) are flagged', () => {
  test('seed-000: from/to split → POL001 high on the ALLOW policy', () => {
    const fs = lintPolicies(loadPolicies([fixture('seed-000.yaml')]), { mesh: meshConfigFrom({}) })
    const f = fs.find((x) => x.code === 'POL001')
    expect(f).toMatchObject({
      severity: 'high',
      object: 'AuthorizationPolicy production/mission-data-service-allow',
      field: 'spec.rules[0] / spec.rules[1]',
    })
    expect(f!.fix).toMatch(/same rule/)
  })
  test('seed-003: POL001 plus the missing namespace (POL008)', () => {
    const fs = lintPolicies(loadPolicies([fixture('seed-003.yaml')]), { mesh: meshConfigFrom({}) })
    expect(codes(fs)).toEqual(expect.arrayContaining(['POL001', 'POL008']))
  })
  test('the evaluator shows why: seed-000 lets any identity GET the data API and analytics-service do anything', () => {
    const ev = compilePolicies(loadPolicies([fixture('seed-000.yaml')]), meshConfigFrom({}))
    const run = (principal: string, method: string, path: string) =>
      ev.evaluate(parseRequest(httpReq({ ns: 'production', app: 'mission-data-service', principal, method, path }))).verdict
    expect(run('cluster.local/ns/other/sa/intruder', 'GET', '/api/v1/data/secrets')).toBe('ALLOW')
    expect(run('cluster.local/ns/production/sa/analytics-service', 'DELETE', '/admin')).toBe('ALLOW')
    expect(run('cluster.local/ns/other/sa/intruder', 'DELETE', '/admin')).toBe('DENY')
  })
})

const good = ap(
  '{ selector: { matchLabels: { app: b } }, rules: [{ from: [{ source: { principals: ["cluster.local/ns/ns1/sa/a"] } }], to: [{ operation: { methods: ["GET"], paths: ["/api/*"] } }] }] }',
)

describe('each documented mistake has a code that fires on it and not on the fix', () => {
  test('a correct policy under STRICT mTLS is clean', () => {
    expect(lint(STRICT + good)).toEqual([])
  })
  // [code, mistake, corrected, inventory, mesh config for the corrected version]
  const cases: Array<[keyof typeof LINT_CODES, string, string, unknown?, unknown?]> = [
    [
      'POL001',
      ap('{ rules: [{ from: [{ source: { namespaces: [a] } }] }, { to: [{ operation: { methods: [GET] } }] }] }'),
      ap('{ rules: [{ from: [{ source: { namespaces: [a] } }], to: [{ operation: { methods: [GET] } }] }] }'),
    ],
    [
      'POL002',
      ap('{ rules: [{ from: [{ source: { notNamespaces: [foo] } }] }] }'),
      STRICT + ap('{ rules: [{ from: [{ source: { notNamespaces: [foo] } }] }] }'),
    ],
    [
      'POL003',
      ap('{ action: DENY, rules: [{ to: [{ operation: { methods: [GET] } }] }] }'),
      ap('{ action: DENY, rules: [{ to: [{ operation: { methods: [GET], ports: ["8080"] } }] }] }'),
    ],
    [
      'POL004',
      STRICT + ap('{ rules: [{ to: [{ operation: { notPaths: ["/admin*"] } }] }] }'),
      STRICT + ap('{ rules: [{ to: [{ operation: { paths: ["/api*"] } }] }] }'),
    ],
    [
      'POL005',
      ap('{ action: DENY, rules: [{ to: [{ operation: { paths: ["/data/secret"], ports: ["80"] } }] }] }'),
      ap('{ action: DENY, rules: [{ to: [{ operation: { paths: ["/data/secret"], ports: ["80"] } }] }] }'),
      undefined,
      { pathNormalization: { normalization: 'MERGE_SLASHES' } },
    ],
    [
      'POL006',
      ap(
        '{ selector: { matchLabels: { istio: ingressgateway } }, action: DENY, rules: [{ to: [{ operation: { hosts: ["admin.example.com"], ports: ["8080"] } }] }] }',
        '{ name: p, namespace: istio-system }',
      ),
      ap(
        '{ selector: { matchLabels: { istio: ingressgateway } }, action: DENY, rules: [{ to: [{ operation: { hosts: ["admin.example.com", "admin.example.com:*"], ports: ["8080"] } }] }] }',
        '{ name: p, namespace: istio-system }',
      ),
    ],
    [
      'POL007',
      STRICT + ap('{ selector: { matchLabels: { app: ghost } }, rules: [{}] }'),
      STRICT + ap('{ selector: { matchLabels: { app: b } }, rules: [{}] }'),
      { workloads: [{ namespace: 'ns1', name: 'b', labels: { app: 'b' } }] },
    ],
    [
      'POL008',
      STRICT + ap('{ selector: { matchLabels: { app: b } }, rules: [{}] }', '{ name: p, namespace: ns2 }'),
      STRICT + ap('{ selector: { matchLabels: { app: b } }, rules: [{}] }'),
      { workloads: [{ namespace: 'ns1', name: 'b', labels: { app: 'b' } }] },
    ],
    [
      'POL009',
      STRICT + ap('{ selector: { matchLabels: { app: b } }, rules: [{ from: [{ source: { namespaces: [n1] } }] }] }'),
      STRICT + ap('{ selector: { matchLabels: { app: b } }, rules: [{ from: [{ source: { namespaces: [ns1] } }] }] }'),
      { workloads: [{ namespace: 'ns1', name: 'b', labels: { app: 'b' } }] },
    ],
    [
      'POL010',
      STRICT + ap('{ rules: [{ from: [{ source: { principals: ["example.org/ns/ns1/sa/a"] } }] }] }'),
      STRICT + ap('{ rules: [{ from: [{ source: { principals: ["example.org/ns/ns1/sa/a"] } }] }] }'),
      undefined,
      { trustDomainAliases: ['example.org'] },
    ],
    [
      'POL011',
      STRICT + ap('{ rules: [{ to: [{ operation: { methods: ["get"] } }] }] }'),
      STRICT + ap('{ rules: [{ to: [{ operation: { methods: ["GET"] } }] }] }'),
    ],
    ['POL012', ap('{ action: DENY }'), ap('{ action: DENY, rules: [{}] }')],
    [
      'POL013',
      ap('{ targetRefs: [{ kind: Service, group: "", name: b }], rules: [{}] }'),
      ap('{ selector: { matchLabels: { app: b } }, rules: [{}] }'),
    ],
    [
      'POL014',
      ap('{ action: CUSTOM, provider: { name: a }, rules: [{}] }') +
        ap('{ action: CUSTOM, provider: { name: b }, rules: [{}] }', '{ name: q, namespace: ns1 }'),
      ap('{ action: CUSTOM, provider: { name: a }, rules: [{}] }') +
        ap('{ action: CUSTOM, provider: { name: a }, rules: [{}] }', '{ name: q, namespace: ns1 }'),
    ],
    [
      'POL015',
      STRICT + ap('{ selector: { matchLabels: { app: b } }, rules: [{ to: [{ operation: { ports: ["80"] } }] }] }'),
      STRICT + ap('{ selector: { matchLabels: { app: b } }, rules: [{ to: [{ operation: { ports: ["8080"] } }] }] }'),
      {
        workloads: [{ namespace: 'ns1', name: 'b', labels: { app: 'b' } }],
        services: [{ namespace: 'ns1', name: 'b', ports: [{ port: 80, targetPort: 8080 }] }],
      },
    ],
    [
      'POL016',
      ap('{ rules: [{ from: [{ source: { requestPrincipals: ["*@example.com"] } }] }] }'),
      ap('{ rules: [{ from: [{ source: { requestPrincipals: ["https://idp.example.com/*"] } }] }] }'),
    ],
    [
      'POL017',
      'apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: { name: jwt, namespace: ns1 }\nspec: { jwtRules: [{ issuer: x }] }\n---\n',
      'apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: { name: jwt, namespace: ns1 }\nspec: { jwtRules: [{ issuer: x }] }\n---\n' +
        ap('{ rules: [{ from: [{ source: { requestPrincipals: ["*"] } }] }] }'),
    ],
    [
      'POL018',
      'apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: { name: x, namespace: istio-system }\nspec: { selector: { matchLabels: { app: b } }, mtls: { mode: STRICT } }\n',
      'apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: { name: x, namespace: ns1 }\nspec: { selector: { matchLabels: { app: b } }, mtls: { mode: STRICT } }\n',
    ],
    [
      'POL019',
      STRICT +
        'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: { name: legacy, namespace: ns1 }\nspec: { host: "*.ns1.svc.cluster.local", trafficPolicy: { tls: { mode: DISABLE } } }\n',
      STRICT +
        'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: { name: legacy, namespace: ns1 }\nspec: { host: "*.ns1.svc.cluster.local", trafficPolicy: { tls: { mode: ISTIO_MUTUAL } } }\n',
    ],
    // security-policy-patterns @ebe3148d had `hosts` under `source`.
    [
      'POL020',
      ap('{ rules: [{ from: [{ source: { hosts: ["x.com"] } }] }] }'),
      ap('{ rules: [{ to: [{ operation: { hosts: ["x.com", "x.com:*"] } }] }] }'),
    ],
  ]
  test.each(cases)('%s fires on the mistake and not on the fix', (code, bad, fixed, inventory, fixedMesh) => {
    const onBad = lint(bad, {}, inventory)
    const hit = onBad.find((f) => f.code === code)
    expect(hit, JSON.stringify(onBad)).toBeDefined()
    expect(hit!.name).toBe(LINT_CODES[code])
    expect(hit!.field.length).toBeGreaterThan(0)
    expect(hit!.fix.length).toBeGreaterThan(0)
    expect(lint(fixed, fixedMesh ?? {}, inventory).filter((f) => f.code === code)).toEqual([])
  })
  test('all 20 codes are exercised', () => {
    expect(cases.map((c) => c[0]).sort()).toEqual(Object.keys(LINT_CODES).sort())
  })
})

describe('principal spelled with spiffe://', () => {
  test('never matches in the evaluator, and POL010 says so', () => {
    const yaml = STRICT + ap('{ rules: [{ from: [{ source: { principals: ["spiffe://cluster.local/ns/ns1/sa/a"] } }] }] }')
    const ev = compilePolicies(addManifestText(emptyPolicySet(), yaml, 'x.yaml'), meshConfigFrom({}))
    expect(ev.evaluate(parseRequest(httpReq({ principal: 'cluster.local/ns/ns1/sa/a' }))).verdict).toBe('DENY')
    expect(lint(yaml).find((f) => f.code === 'POL010')?.message).toMatch(/spiffe:\/\//)
  })
})
