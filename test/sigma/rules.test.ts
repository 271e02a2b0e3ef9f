/**
 * The proof without a cluster: every rule under detections/sigma is checked against the Sigma
 * specification's required fields (and those Security Analytics needs to accept it), then evaluated over
 * the demo mesh's events (the real parser and stages) with two more planted events for the codes the
 * demo has no incident for. Each rule must fire on its planted incident and on nothing else.
 */
import { describe, expect, test } from 'vitest'
import type { AuditEvent } from '../../src/generated/types.js'
import { generateMeshTraffic } from '../../src/demo/mesh-traffic.js'
import { destinationNamesOf, namesOf, type PlantedIncident } from '../../src/demo/incidents.js'
import { spiffeId } from '../../src/demo/mesh-topology.js'
import { createParser } from '../../src/parse/index.js'
import { applyStages } from '../../src/pipeline/transforms.js'
import { createTransformStages } from '../../src/compose/transform-stages.js'
import { loadTransformsConfig } from '../../src/config/transforms.js'
import { FINDING_CATALOGUE, type FindingCode } from '../../src/detect/catalogue.js'
import { loadSigmaRules, type LoadedRule } from '../../src/sigma/loader.js'
import { compileRules, evaluateRules, type RuleResult } from '../../src/sigma/evaluate.js'
import { SIGMA_REQUIRED_FIELDS } from '../../src/sigma/rule.js'
import { MTLS_INBOUND_LINE, tlsInbound, upstreamTlsFailure } from '../detect/fixtures.js'
import { createPolicyCheckStage } from '../../src/policy/check.js'
import { compilePolicies } from '../../src/policy/evaluator.js'
import { meshConfigFrom } from '../../src/policy/mesh-config.js'
import { inventoryFrom } from '../../src/policy/workload-inventory.js'
import { policySet } from '../policy/helpers.js'

const rules = loadSigmaRules()
const traffic = generateMeshTraffic({ seed: 42, sessions: 300, noise: false })
const topo = traffic.topology
const stages = createTransformStages(loadTransformsConfig())
const parsed = createParser().parseBatch(
  traffic.lines.map((l, i) => ({ value: l.text, coords: { kind: 'file' as const, file: l.file, line: i + 1 } })),
)
const demoEvents = applyStages(stages, parsed.events).events

// The demo plants no invalid peer certificate, no failed upstream handshake and runs no policy check:
// fixture events do, inside the demo's window, through the same stages.
const mid = new Date((Date.parse(traffic.window.start) + Date.parse(traffic.window.end)) / 2).toISOString()
const planted: Record<string, AuditEvent> = {
  invalid_peer_identity: tlsInbound('TLSv1.3', 'TLS_AES_128_GCM_SHA256', 'spiffe://cluster.local/ns/a/sa/b/'),
  upstream_tls_failure: upstreamTlsFailure(),
}
for (const e of Object.values(planted)) e['@timestamp'] = mid
const plantedEvents = applyStages(stages, Object.values(planted)).events
// An enforcement gap: the declared policy denies namespace default's calls to echo, the log shows one allowed.
{
  const [line] = applyStages(
    stages,
    createParser().parseBatch([{ value: MTLS_INBOUND_LINE, coords: { kind: 'file' as const, file: 'gap.log', line: 1 } }]).events,
  ).events
  const set = policySet(
    'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: deny-default, namespace: default }\n' +
      'spec: { selector: { matchLabels: { app: echo } }, action: DENY, rules: [{ from: [{ source: { namespaces: [default] } }] }] }\n',
  )
  const inventory = inventoryFrom({ workloads: [{ namespace: 'default', name: 'echo', labels: { app: 'echo' }, ips: ['10.244.0.12'] }] })
  const [gap] = createPolicyCheckStage({ set, evaluator: compilePolicies(set, meshConfigFrom({})), inventory }).process([line!]).events
  gap!['@timestamp'] = mid
  planted.policy_violation = gap!
  plantedEvents.push(gap!)
}
const events = [...demoEvents, ...plantedEvents]
const results = new Map<string, RuleResult>(evaluateRules(compileRules(rules), events).map((r) => [r.rule.source, r]))

/**
 * The planted incidents; lateral movement also probes cart (denied by the deny-debug-paths policy), which
 * the incident list leaves out of the flows the demo's self-check requires, so it is added here.
 */
function incident(id: string): PlantedIncident {
  const inc = traffic.incidents.find((i) => i.id === id)!
  if (id !== 'lateral-movement') return inc
  const cartProbe = { finding: 'authz_denied', source: namesOf(topo.get('frontend')), destination: destinationNamesOf(topo.get('cart')) }
  return { ...inc, flows: [...inc.flows, cartProbe] }
}
const byFile = (file: string): LoadedRule => rules.find((r) => r.source === file)!

/** The names an event's source and destination go by, as the incident list writes them. */
function sourceNames(e: AuditEvent): string[] {
  const s = e.mesh?.source
  return [s?.spiffe_id, `${s?.namespace}/${s?.service_account}`, `${s?.namespace}/${s?.workload}`, e.source?.ip].filter(
    (x): x is string => x !== undefined,
  )
}
function destinationNames(e: AuditEvent): string[] {
  const d = e.mesh?.destination
  return [
    d?.spiffe_id,
    d?.service,
    d?.service !== undefined && d.namespace !== undefined ? `${d.service}.${d.namespace}` : undefined,
    d?.service !== undefined && d.namespace !== undefined ? `${d.service}.${d.namespace}.svc.cluster.local` : undefined,
    e.destination?.domain,
    e.destination?.address,
  ].filter((x): x is string => x !== undefined)
}
function inIncident(e: AuditEvent, inc: PlantedIncident): boolean {
  const src = sourceNames(e)
  const dst = destinationNames(e)
  return inc.flows.some((f) => f.source.some((n) => src.includes(n)) && f.destination.some((n) => dst.includes(n)))
}

/** Which planted incident each finding-code rule must fire on. */
const PLANTED_FOR: Partial<Record<FindingCode, string[]>> = {
  plaintext_inbound: ['legacy-plaintext'],
  plaintext_rejected: ['strict-rejects-plaintext'],
  authz_denied: ['rbac-deny', 'lateral-movement'],
  unregistered_egress: ['passthrough-egress'],
  egress_blocked: ['blocked-egress'],
  weak_tls: ['weak-tls'],
  ext_authz_denied: ['ext-authz'],
  foreign_trust_domain: ['foreign-trust-domain'],
}

describe('rule files', () => {
  test('every rule has the fields the Sigma specification requires, and those Security Analytics requires', () => {
    expect(rules.length).toBeGreaterThanOrEqual(Object.keys(FINDING_CATALOGUE).length + 2)
    for (const r of rules) {
      const doc = r as unknown as Record<string, unknown>
      for (const field of SIGMA_REQUIRED_FIELDS) expect(doc[field], `${r.source}: ${field}`).toBeDefined()
      // Security Analytics: titles may not start with _ + - nor contain these characters (isValidName).
      expect(r.title, r.source).not.toMatch(/^[_+-]|\.\.|[\\/*?"<>|,#:]/)
      expect(r.tags.some((t) => /^attack\.t\d{4}(\.\d{3})?$/.test(t)) || r.source === 'audit/au3_incomplete.yml', r.source).toBe(true)
      expect(r.logsource).toEqual({ product: 'envoy-audit', service: 'envoy-access' })
    }
  })

  test('one rule per finding code, named after it, with the catalogue controls as NIST tags and its severity as level', () => {
    for (const [code, spec] of Object.entries(FINDING_CATALOGUE)) {
      const matching = rules.filter((r) => r.source.endsWith(`/${code}.yml`))
      expect(matching, code).toHaveLength(1)
      const r = matching[0]!
      expect(JSON.stringify(r.detection), code).toContain(`"finding_code":"${code}"`)
      const nist = spec.controls.map((c) => `nist.${c.toLowerCase().replace('(', '.').replace(')', '')}`)
      expect(r.tags.filter((t) => t.startsWith('nist.')).sort(), code).toEqual(nist.sort())
      expect(r.level, code).toBe(spec.severity)
    }
  })

  test('ids are unique UUIDs', () => {
    expect(new Set(rules.map((r) => r.id)).size).toBe(rules.length)
  })
})

describe('each rule fires on its planted incident and on nothing in the clean traffic', () => {
  test.each(Object.entries(PLANTED_FOR))('%s', (code, incidents) => {
    const r = rules.find((x) => x.source.endsWith(`/${code}.yml`))!
    const result = results.get(r.source)!
    expect(result.matches.length, code).toBeGreaterThan(0)
    const incs = incidents!.map(incident)
    for (const m of result.matches) {
      for (const e of m.events)
        expect(
          incs.some((inc) => inIncident(e, inc)),
          `${code} fired on ${sourceNames(e)} → ${destinationNames(e)}`,
        ).toBe(true)
    }
    // Every flow of those incidents that carries this code is caught.
    for (const inc of incs)
      for (const flow of inc.flows.filter((f) => f.finding === code))
        expect(
          result.matches.some((m) => m.events.some((e) => inIncident(e, { ...inc, flows: [flow] }))),
          `${code}: ${inc.id} ${flow.source[0]} → ${flow.destination[0]}`,
        ).toBe(true)
  })

  test.each(Object.entries(planted))('%s fires on the planted event only', (code, event) => {
    const result = results.get(rules.find((x) => x.source.endsWith(`/${code}.yml`))!.source)!
    expect(result.matches.map((m) => m.events[0]!.event.id)).toEqual([event.event.id])
  })

  test('new_edge: nothing is planted (new edges are a window verdict, not stored on events) and nothing fires', () => {
    expect(results.get('access/new_edge.yml')!.matches).toEqual([])
  })

  test('au3_incomplete fires exactly on the records that lack an AU-3 element (the demo keeps a TEXT-format namespace)', () => {
    const result = results.get('audit/au3_incomplete.yml')!
    const incomplete = events.filter((e) => e.audit.au3?.complete === false)
    expect(incomplete.length).toBeGreaterThan(0)
    expect(result.matches.map((m) => m.events[0]!.event.id).sort()).toEqual(incomplete.map((e) => e.event.id).sort())
  })

  test('scan: the compromised frontend, denied by auth, payments, cart and payments-db within seconds, and nobody else', () => {
    const result = results.get('behaviour/mesh_scan_denied_by_many_destinations.yml')!
    expect(result.matches).toHaveLength(1)
    const [m] = result.matches
    expect(m!.group).toBe(spiffeId(topo.get('frontend')))
    expect(m!.count).toBe(4)
    const lateral = incident('lateral-movement')
    for (const e of m!.events) expect(inIncident(e, lateral)).toBe(true)
    // catalog is denied by cart four times: one destination is not a scan.
    expect(
      events.filter((e) => e.audit.finding_codes?.includes('authz_denied') && e.mesh?.source?.spiffe_id === spiffeId(topo.get('catalog'))),
    ).not.toHaveLength(0)
  })

  test('plaintext retries into STRICT: the legacy workload refused three times by the identity namespace', () => {
    const result = results.get('behaviour/plaintext_retries_into_strict_namespace.yml')!
    expect(result.matches).toHaveLength(1)
    expect(result.matches[0]!.group).toBe(topo.get('legacy-billing').pods[0]!.ip)
    expect(result.matches[0]!.events).toHaveLength(3)
    for (const e of result.matches[0]!.events) expect(inIncident(e, incident('strict-rejects-plaintext'))).toBe(true)
  })

  test('the incident names used here are the demo topology names', () => {
    expect(namesOf(topo.get('frontend'))).toContain(spiffeId(topo.get('frontend')))
    expect(destinationNamesOf(topo.get('payments'))).toContain('payments.payments')
    expect(byFile('behaviour/mesh_scan_denied_by_many_destinations.yml').group).toBe('behaviour')
  })
})

describe('transport/weak_tls.yml on tls.version', () => {
  const weak = compileRules(rules.filter((r) => r.source.endsWith('/weak_tls.yml')))
  /** Whether the rule selects the event on its TLS fields alone (no finding on it). */
  const selects = (tls: AuditEvent['tls']): boolean => {
    const e = tlsInbound('TLSv1.3', 'TLS_AES_128_GCM_SHA256')
    e.tls = tls
    return evaluateRules(weak, [e])[0]!.selected === 1
  }
  test('selects TLS 1.0 / 1.1 and SSL as ECS writes them, and as Envoy spelled them in events indexed before', () => {
    expect(selects({ established: true, version: '1.1', version_protocol: 'tls' })).toBe(true)
    expect(selects({ established: true, version: '1.0', version_protocol: 'tls' })).toBe(true)
    expect(selects({ established: true, version: '3.0', version_protocol: 'ssl' })).toBe(true)
    expect(selects({ established: true, version: 'TLSv1.1' })).toBe(true)
  })
  test('does not select TLS 1.2 or 1.3', () => {
    expect(selects({ established: true, version: '1.2', version_protocol: 'tls' })).toBe(false)
    expect(selects({ established: true, version: '1.3', version_protocol: 'tls' })).toBe(false)
  })
})
