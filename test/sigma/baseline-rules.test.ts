/**
 * The behavioural rules that need history (detections/baseline): a new caller into a namespace tagged
 * sensitive, and the first egress of a workload. Sigma cannot say "never before"; these rules name
 * placeholder lists that src/sigma/baseline.ts learns from the learning window, and the rules are then
 * plain Sigma over the analysis window. Evaluated over the demo's two clusters through the real parser
 * and stages: each fires on the lateral movement's step into the second cluster's finance namespace or
 * on its exfiltration, and on nothing else (payments' ledger entries and its Stripe egress are learnt).
 */
import { describe, expect, test } from 'vitest'
import { generateMeshTraffic } from '../../src/demo/mesh-traffic.js'
import { spiffeId } from '../../src/demo/mesh-topology.js'
import { EXFIL_HOST, SENSITIVE_NAMESPACE } from '../../src/demo/east-west.js'
import { createParser } from '../../src/parse/index.js'
import { applyStages } from '../../src/pipeline/transforms.js'
import { createTransformStages } from '../../src/compose/transform-stages.js'
import { loadTransformsConfig } from '../../src/config/transforms.js'
import { baselineRulesDir, loadSigmaRules } from '../../src/sigma/loader.js'
import { compileRules, evaluateRules } from '../../src/sigma/evaluate.js'
import { baselinePlaceholders } from '../../src/sigma/baseline.js'
import { SIGMA_REQUIRED_FIELDS } from '../../src/sigma/rule.js'

const rules = loadSigmaRules(baselineRulesDir())
const traffic = generateMeshTraffic({ seed: 42, sessions: 300, noise: false, eastWest: true })
const parsed = createParser({ cluster: 'east' }).parseBatch(
  traffic.lines.map((l, i) => ({ value: l.text, coords: { kind: 'file' as const, file: l.file, line: i + 1 } })),
)
const events = applyStages(createTransformStages(loadTransformsConfig()), parsed.events).events
// The first half of the demo window is the learning window; the incident starts at 60%.
const split = new Date((Date.parse(traffic.window.start) + Date.parse(traffic.window.end)) / 2).toISOString()
const learning = events.filter((e) => e['@timestamp'] < split)
const analysis = events.filter((e) => e['@timestamp'] >= split)
const placeholders = baselinePlaceholders(learning, { sensitiveNamespaces: [SENSITIVE_NAMESPACE] })
const results = new Map(evaluateRules(compileRules(rules, placeholders), analysis).map((r) => [r.rule.source, r]))
const CHECKOUT = spiffeId(traffic.topology.get('checkout'))

describe('baseline rules', () => {
  test('the files have the fields the specification and Security Analytics require, and unique ids', () => {
    expect(rules.map((r) => r.source).sort()).toEqual(['first_egress_from_workload.yml', 'new_edge_into_sensitive_namespace.yml'])
    for (const r of rules)
      for (const f of SIGMA_REQUIRED_FIELDS) expect((r as unknown as Record<string, unknown>)[f], `${r.source}: ${f}`).toBeDefined()
    expect(new Set([...rules, ...loadSigmaRules()].map((r) => r.id)).size).toBe(rules.length + loadSigmaRules().length)
  })

  test('the learning window learns the callers of finance and the workloads that egress', () => {
    expect(placeholders.get('sensitive_namespace_callers')).toEqual([
      'spiffe://cluster.local/ns/finance/sa/statements',
      spiffeId(traffic.topology.get('payments')),
    ])
    expect(placeholders.get('egress_sources')).toEqual(['payments'])
  })

  test('new caller into the sensitive namespace: checkout, the pivot, across the east-west gateway, and nothing else', () => {
    const r = results.get('new_edge_into_sensitive_namespace.yml')!
    expect(r.skipped).toBeUndefined()
    expect(r.matches.length).toBeGreaterThan(0)
    for (const m of r.matches) {
      const e = m.events[0]!
      expect([e.mesh?.source?.spiffe_id, e.mesh?.destination?.namespace, e.url?.path]).toEqual([
        CHECKOUT,
        SENSITIVE_NAMESPACE,
        '/v1/accounts/export',
      ])
      expect([e.mesh?.source?.cluster, e.orchestrator?.cluster?.name]).toEqual(['east', 'west'])
    }
    // The refused probe of the compromised frontend is a denial (authz_denied), not an edge.
    expect(analysis.some((e) => e.mesh?.destination?.namespace === SENSITIVE_NAMESPACE && e.event.action === 'denied')).toBe(true)
  })

  test('first egress: checkout to the drop host, and not payments, whose egress was learnt', () => {
    const r = results.get('first_egress_from_workload.yml')!
    expect(r.matches.length).toBe(1)
    const e = r.matches[0]!.events[0]!
    expect([e.mesh?.source?.workload, e.envoy?.requested_server_name]).toEqual(['checkout', EXFIL_HOST.host])
    // payments egressed in the analysis window too.
    expect(analysis.some((x) => x.mesh?.upstream_cluster === 'PassthroughCluster' && x.mesh?.source?.workload === 'payments')).toBe(true)
  })

  test('on the clean traffic (the same mesh without the incident window) neither rule fires', () => {
    const clean = analysis.filter((e) => e['@timestamp'] < new Date(Date.parse(traffic.window.start) + 0.6 * 15 * 60_000).toISOString())
    expect(clean.length).toBeGreaterThan(100)
    for (const r of evaluateRules(compileRules(rules, placeholders), clean)) expect(r.matches, r.rule.source).toEqual([])
  })

  test('without the lists the rules are not evaluated, and say which lists they need', () => {
    const bare = evaluateRules(compileRules(rules), analysis)
    expect(bare.map((r) => [r.rule.source, r.matches.length, r.skipped]).sort()).toEqual([
      ['first_egress_from_workload.yml', 0, 'needs the placeholder list(s) %egress_sources%'],
      ['new_edge_into_sensitive_namespace.yml', 0, 'needs the placeholder list(s) %sensitive_namespace_callers%, %sensitive_namespaces%'],
    ])
  })
})
