/**
 * The recommender's contract, proven with the evaluator: the recommended policies allow every observed
 * legitimate flow (mTLS, known peer, not denied) and deny every other flow that was seen (plaintext,
 * denied). fast-check generates the traffic; the example test uses a real public inbound line.
 */
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { createParser } from '../../src/parse/index.js'
import { loadTransformsConfig } from '../../src/config/transforms.js'
import { applyStages } from '../../src/pipeline/transforms.js'
import { createTransformStages } from '../../src/compose/transform-stages.js'
import { compilePolicies } from '../../src/policy/evaluator.js'
import { inventoryFrom } from '../../src/policy/workload-inventory.js'
import { addManifestText, emptyPolicySet } from '../../src/policy/loader.js'
import { meshConfigFrom } from '../../src/policy/mesh-config.js'
import {
  DistinctFlows,
  flowsFromEvents,
  generalisePath,
  recommendationYaml,
  recommendPolicies,
  type ObservedFlow,
} from '../../src/policy/recommend.js'
import { normalizePath } from '../../src/policy/path.js'
import { parseRequest } from '../../src/policy/request.js'
import { MTLS_INBOUND_LINE } from '../detect/fixtures.js'

const mesh = meshConfigFrom({})

function verdicts(flows: ObservedFlow[], yaml: string): Array<'ALLOW' | 'DENY'> {
  const set = addManifestText(emptyPolicySet(), yaml, 'recommended.yaml')
  expect(set.issues).toEqual([])
  const ev = compilePolicies(set, mesh)
  return flows.map((f) => {
    const req = parseRequest({
      source: { principal: f.principal, ip: '10.0.0.1' },
      destination: { namespace: f.namespace, labels: f.labels, port: f.port },
      protocol: f.protocol,
      mtls: f.mtls,
      ...(f.protocol === 'http' ? { http: { method: f.method, path: f.path } } : {}),
    })
    return ev.evaluate(req).verdict
  })
}

const legit = (f: ObservedFlow) => f.mtls && f.principal !== null && !f.denied

describe('generalisePath', () => {
  test.each([
    ['/api/users/42', '/api/users/{*}'],
    ['/orders/3f2b8c1e-9d4a-4b7e-8c2f-1a2b3c4d5e6f/items', '/orders/{*}/items'],
    ['/api/v1/data', '/api/v1/data'],
    ['/blobs/deadbeefcafe1234', '/blobs/{*}'],
    ['/', '/'],
  ])('%s → %s', (p, want) => expect(generalisePath(p)).toBe(want))
})

const PRINCIPALS = ['cluster.local/ns/ns1/sa/frontend', 'cluster.local/ns/ns1/sa/batch', 'cluster.local/ns/ns2/sa/report']
// Small alphabets so that generated traffic collides often: same path shape, different IDs, dot segments.
const SEGMENTS = ['api', 'users', '42', '7', '3f2b8c1e-9d4a-4b7e-8c2f-1a2b3c4d5e6f', '..', 'x%2Fy']

const flowArb: fc.Arbitrary<ObservedFlow> = fc
  .record({
    ns: fc.constantFrom('ns1', 'ns1', 'ns2'),
    app: fc.constantFrom('a', 'a', 'b'),
    principal: fc.constantFrom(PRINCIPALS[0]!, PRINCIPALS[1]!),
    mtls: fc.boolean(),
    // A port speaks one protocol: 8080/8443 HTTP, 9090 TCP.
    port: fc.constantFrom(8080, 8080, 8443, 9090),
    method: fc.constantFrom('GET', 'POST'),
    segs: fc.array(fc.constantFrom(...SEGMENTS), { minLength: 0, maxLength: 3 }),
    denied: fc.boolean(),
  })
  .map((r): ObservedFlow => {
    const protocol = r.port === 9090 ? 'tcp' : 'http'
    const f: ObservedFlow = {
      namespace: r.ns,
      labels: { app: r.app, 'pod-template-hash': 'abc' },
      principal: r.mtls ? r.principal : null,
      mtls: r.mtls,
      port: r.port,
      protocol,
      denied: r.denied,
    }
    if (protocol === 'http') {
      f.method = r.method
      f.path = `/${r.segs.join('/')}`
    }
    return f
  })

/** Drops denied flows identical (after normalization) to a legitimate one: no policy can satisfy both. */
function withoutConflicts(flows: ObservedFlow[]): ObservedFlow[] {
  const key = (f: ObservedFlow) =>
    JSON.stringify([f.namespace, f.labels['app'], f.principal, f.port, f.method ?? null, f.protocol === 'http' ? normalize(f.path!) : null])
  const ok = new Set(flows.filter(legit).map(key))
  return flows.filter((f) => legit(f) || !f.mtls || f.principal === null || !ok.has(key(f)))
}

function normalize(p: string): string {
  const n = normalizePath(p, mesh.pathNormalization)
  return n.ok ? n.path : p
}

describe('recommended policies allow every legitimate flow and deny everything else seen', () => {
  test('property (fast-check)', () => {
    fc.assert(
      fc.property(fc.array(flowArb, { minLength: 20, maxLength: 60 }), (raw) => {
        const flows = withoutConflicts(raw)
        const rec = recommendPolicies(flows, mesh)
        const got = verdicts(flows, recommendationYaml(rec))
        flows.forEach((f, i) => {
          expect({ flow: f, verdict: got[i] }).toEqual({ flow: f, verdict: legit(f) ? 'ALLOW' : 'DENY' })
        })
      }),
      { numRuns: 200 },
    )
  })

  test('property: keeping one copy per distinct flow (as recommend --store does, for bounded memory) gives the same policies', () => {
    fc.assert(
      fc.property(
        fc.array(flowArb, { minLength: 5, maxLength: 40 }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 120 }),
        (flows, picks) => {
          // Traffic repeats flows many times, in any order, with labels in any key order, and the same
          // request is sometimes allowed and sometimes denied (the twins a sloppy key would merge).
          const repeated = picks.map((i) => {
            const f = flows[i % flows.length]!
            if (i % 3 === 0) return { ...f, denied: !f.denied }
            return i % 2 === 0 ? f : { ...f, labels: Object.fromEntries(Object.entries(f.labels).reverse()) }
          })
          const distinct = new DistinctFlows()
          distinct.add(repeated)
          distinct.add(repeated.slice().reverse())
          expect(distinct.size).toBeLessThanOrEqual(2 * flows.length)
          const all = recommendPolicies(repeated, mesh)
          const few = recommendPolicies(distinct.values(), mesh)
          expect(recommendationYaml({ objects: few.objects, notes: [] })).toBe(recommendationYaml({ objects: all.objects, notes: [] }))
          expect([...new Set(few.notes)].sort()).toEqual([...new Set(all.notes)].sort())
        },
      ),
      { numRuns: 200 },
    )
  })

  test('STRICT is proposed only where every inbound request was mTLS', () => {
    const base = { namespace: 'ns1', port: 8080, protocol: 'http' as const, method: 'GET', path: '/x', denied: false }
    const flows: ObservedFlow[] = [
      { ...base, labels: { app: 'a' }, principal: PRINCIPALS[0]!, mtls: true },
      { ...base, labels: { app: 'b' }, principal: PRINCIPALS[0]!, mtls: true },
      { ...base, labels: { app: 'b' }, principal: null, mtls: false },
    ]
    const rec = recommendPolicies(flows, mesh)
    const pas = rec.objects.filter((o) => o['kind'] === 'PeerAuthentication').map((o) => (o['metadata'] as { name: string }).name)
    expect(pas).toEqual(['a-strict'])
    expect(rec.notes.join('\n')).toMatch(/ns1\/b: plaintext requests were seen/)
  })

  test('a generalisation that would admit a denied path falls back to exact paths', () => {
    const base = {
      namespace: 'ns1',
      labels: { app: 'a' },
      principal: PRINCIPALS[0]!,
      mtls: true,
      port: 8080,
      protocol: 'http' as const,
      method: 'GET',
    }
    const flows: ObservedFlow[] = [
      { ...base, path: '/users/1', denied: false },
      { ...base, path: '/users/2', denied: false },
      { ...base, path: '/users/3', denied: true },
      { ...base, path: '/orders/9', denied: false },
    ]
    const yaml = recommendationYaml(recommendPolicies(flows, mesh))
    expect(yaml).toContain('/users/1')
    expect(yaml).toContain('/orders/{*}')
    expect(yaml).not.toContain('/users/{*}')
    expect(verdicts(flows, yaml)).toEqual(['ALLOW', 'ALLOW', 'DENY', 'ALLOW'])
  })
})

describe('from real events', () => {
  test('the istio PR #35337 inbound mTLS line becomes an ALLOW for its peer and a STRICT proposal', () => {
    const parsed = createParser({}).parseBatch([
      { value: MTLS_INBOUND_LINE, coords: { kind: 'file', file: 'public.log', line: 1, offset: '0' } },
    ])
    const evs = applyStages(createTransformStages(loadTransformsConfig({})), parsed.events).events
    const inventory = inventoryFrom({ workloads: [{ namespace: 'default', name: 'echo', labels: { app: 'echo' }, ips: ['10.244.0.12'] }] })
    const { flows } = flowsFromEvents(evs, { inventory })
    expect(flows).toHaveLength(1)
    const yaml = recommendationYaml(recommendPolicies(flows, mesh))
    expect(yaml).toContain('cluster.local/ns/default/sa/default')
    expect(yaml).toContain('kind: PeerAuthentication')
    expect(verdicts(flows, yaml)).toEqual(['ALLOW'])
  })
})
