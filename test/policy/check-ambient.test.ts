/**
 * `policy check` on ambient lines: the destination ztunnel's inbound lines are checked against what ztunnel
 * enforces (selector policies, L4 only: an L7 rule fails safe as a DENY), waypoint lines against the
 * targetRefs policies of their Gateway and of the Service addressed (istio.io docs/ambient/usage/l4-policy
 * and l7-features). The ztunnel lines are the demo's ambient namespace (src/demo/ambient.ts), run through
 * the project's parser and enrichment; the waypoint lines are Istio's default TEXT format as a waypoint
 * writes it (upstream cluster `inbound-vip|port|http|fqdn`), constructed for these tests.
 */
import { describe, expect, test } from 'vitest'
import type { AuditEvent } from '../../src/generated/types.js'
import { createParser } from '../../src/parse/index.js'
import { loadTransformsConfig } from '../../src/config/transforms.js'
import { applyStages } from '../../src/pipeline/transforms.js'
import { createTransformStages } from '../../src/compose/transform-stages.js'
import { checkEvents, requestFromEvent, type CheckContext } from '../../src/policy/check.js'
import { compilePolicies } from '../../src/policy/evaluator.js'
import { meshConfigFrom } from '../../src/policy/mesh-config.js'
import { inventoryFrom } from '../../src/policy/workload-inventory.js'
import { GuessedWorkloads } from '../../src/policy/guessed-workloads.js'
import { generateMeshTraffic } from '../../src/demo/mesh-traffic.js'
import { policySet } from './helpers.js'

function toEvents(lines: string[]): AuditEvent[] {
  const parsed = createParser({}).parseBatch(
    lines.map((value, i) => ({ value, coords: { kind: 'file' as const, file: 'ambient.log', line: i + 1, offset: String(i) } })),
  )
  expect(parsed.deadLetters).toEqual([])
  return applyStages(createTransformStages(loadTransformsConfig({})), parsed.events).events
}

const demo = generateMeshTraffic({ sessions: 60, ambient: true })
const ztunnelEvents = toEvents(demo.lines.filter((l) => l.format === 'ztunnel').map((l) => l.text))
const inbound = ztunnelEvents.filter((e) => e.network?.direction === 'inbound')
const fromReports = inbound.filter((e) => e.mesh?.source?.service_account === 'reports')
const fromScraper = inbound.filter((e) => e.mesh?.source?.service_account === 'scraper')
const plaintext = inbound.filter((e) => e.mesh?.mtls === false)

// What the demo's ambient namespace runs with: STRICT mTLS, and an L4 ALLOW that admits only reports.
const STRICT = `
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: default, namespace: analytics }
spec: { mtls: { mode: STRICT } }
---
`
const allowFrom = (sa: string, extra = '') => `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: warehouse-readers, namespace: analytics }
spec:
  selector: { matchLabels: { app: warehouse } }
  action: ALLOW
  rules:
  - from: [{ source: { principals: [cluster.local/ns/analytics/sa/${sa}] } }]${extra}
`

const inventory = inventoryFrom({
  workloads: [
    { namespace: 'analytics', name: 'warehouse', labels: { app: 'warehouse' }, ips: ['10.20.2.150'] },
    { namespace: 'analytics', name: 'reports', labels: { app: 'reports' }, ips: ['10.20.1.150'] },
  ],
})

function ctx(yaml: string, withInventory = true): CheckContext {
  const set = policySet(yaml)
  return {
    set,
    evaluator: compilePolicies(set, meshConfigFrom({})),
    ...(withInventory ? { inventory } : { guessed: new GuessedWorkloads() }),
  }
}

describe('ztunnel lines of the demo ambient namespace', () => {
  test('the demo has what the checks below rely on', () => {
    expect(fromReports.length).toBeGreaterThan(5)
    expect(fromScraper).toHaveLength(3)
    expect(plaintext).toHaveLength(1)
    expect(ztunnelEvents.filter((e) => e.network?.direction === 'outbound')).toHaveLength(fromReports.length)
  })

  test('the inbound line becomes the L4 request ztunnel decided: principal, namespace, labels by pod IP, container port', () => {
    const req = requestFromEvent(fromReports[0]!, { inventory })
    expect(req).toMatchObject({
      enforcement: 'ztunnel',
      principal: 'cluster.local/ns/analytics/sa/reports',
      namespace: 'analytics',
      labels: { app: 'warehouse' },
      port: 5433,
      protocol: 'tcp',
      mtls: true,
      destinationIp: '10.20.2.150',
    })
    // The envelope is the ztunnel pod's (istio-system, app=ztunnel): never taken as the destination.
    expect(fromReports[0]!.kubernetes?.namespace).toBe('istio-system')
  })

  test('the declared policies agree with every decision the destination ztunnels logged', () => {
    const { results, stats } = checkEvents(ztunnelEvents, ctx(STRICT + allowFrom('reports')))
    expect(results).toEqual([])
    expect(stats).toMatchObject({ checked: inbound.length, agree: inbound.length, gaps: 0, drift: 0 })
    // The client's ztunnel did not decide anything.
    expect(stats.skipped).toEqual({ 'not-a-decision-point': fromReports.length })
  })

  test('without an inventory the destination is guessed from the service name, not from the pod name', () => {
    const c = ctx(STRICT + allowFrom('reports'), false)
    const { results, stats } = checkEvents(ztunnelEvents, c)
    expect(results).toEqual([])
    expect(stats.agree).toBe(inbound.length)
    expect(c.guessed!.describe()).toEqual([
      `analytics/warehouse selected by app=warehouse (from the service name; ${inbound.length} events)`,
    ])
  })

  test('a declared policy that admits the scraper instead: gaps for reports, drift for the scraper', () => {
    const { results, stats } = checkEvents(ztunnelEvents, ctx(STRICT + allowFrom('scraper')))
    expect(stats).toMatchObject({ gaps: fromReports.length, drift: fromScraper.length })
    const drift = results.find((r) => r.kind === 'drift')!
    expect(drift.finding.message).toContain('connection closed due to policy rejection')
    expect(drift.finding.message).toContain('TCP :5433')
    const gap = results.find((r) => r.kind === 'gap')!
    expect(gap.finding.message).toContain('cluster.local/ns/analytics/sa/reports → analytics/app=warehouse TCP :5433 was allowed')
  })

  test('an L7 attribute in a policy ztunnel enforces fails safe as a DENY: the allowed connections are gaps', () => {
    const l7 = allowFrom('reports', '\n    to: [{ operation: { methods: [GET] } }]')
    const { results, stats } = checkEvents(ztunnelEvents, ctx(STRICT + l7))
    expect(stats.gaps).toBe(fromReports.length)
    expect(results[0]!.decision).toMatchObject({ verdict: 'DENY', policies: ['analytics/warehouse-readers'] })
    expect(results[0]!.finding.message).toContain('L4 only')
  })

  test('PERMISSIVE declared: the plaintext refusal ztunnel logged under STRICT is drift', () => {
    const { results, stats } = checkEvents(ztunnelEvents, ctx(allowFrom('reports')))
    // Without STRICT the L4 ALLOW still refuses the identity-less plaintext client: agreement.
    expect(stats.drift).toBe(0)
    const open = checkEvents(ztunnelEvents, ctx(''))
    expect(open.stats.drift).toBe(fromScraper.length + plaintext.length)
    expect(open.results.find((r) => r.eventId === plaintext[0]!.event.id)!.finding.policy).toBe(
      'istio-system/istio_converted_static_strict',
    )
    expect(results).toEqual([])
  })

  test('a connection that failed for another reason says nothing about the policy', () => {
    const e = structuredClone(fromReports[0]!)
    e.ztunnel!.error = 'connection refused (os error 111)'
    e.event.outcome = 'failure'
    const { stats } = checkEvents([e], ctx(STRICT))
    expect(stats.skipped).toEqual({ 'not-evaluable': 1 })
  })
})

// Istio's default TEXT format as a waypoint writes it; the upstream cluster is the waypoint's inbound-vip
// cluster for the service VIP, the upstream host the HBONE tunnel to the pod. Constructed values.
const waypointLine = (method: string, path: string, code: number, details: string) =>
  `[2026-11-20T14:03:11.204Z] "${method} ${path} HTTP/1.1" ${code} - ${details} - "-" 0 ${code === 200 ? 512 : 19} 4 3 "-" "python-requests/2.32.3" "5f0b1c2e-8d7a-4b1e-9a61-2c3d4e5f6a7b" "warehouse.analytics:8080" "envoy://connect_originate/10.20.2.150:8080" inbound-vip|8080|http|warehouse.analytics.svc.cluster.local envoy://internal_client_address/ 10.96.14.20:8080 10.20.1.150:48816 - default`

const onWaypoint = (line: string) =>
  JSON.stringify({
    log: line,
    kubernetes: {
      namespace_name: 'analytics',
      pod_name: 'waypoint-7c9d5b8f4-h2xkq',
      labels: { 'gateway.networking.k8s.io/gateway-name': 'waypoint', 'gateway.istio.io/managed': 'istio.io-mesh-controller' },
    },
  })

const WAYPOINT_POLICIES = `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: warehouse-read-only, namespace: analytics }
spec:
  targetRefs: [{ kind: Service, group: "", name: warehouse }]
  action: ALLOW
  rules:
  - to: [{ operation: { methods: [GET] } }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: no-admin, namespace: analytics }
spec:
  targetRefs: [{ kind: Gateway, group: gateway.networking.k8s.io, name: waypoint }]
  action: DENY
  rules:
  - to: [{ operation: { paths: [/admin*] } }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: selector-only, namespace: analytics }
spec:
  selector: { matchLabels: { app: warehouse } }
  action: DENY
  rules:
  - to: [{ operation: { methods: [GET] } }]
`

describe('waypoint lines', () => {
  const [get, post, admin] = toEvents([
    onWaypoint(waypointLine('GET', '/reports/daily', 200, 'via_upstream')),
    onWaypoint(waypointLine('POST', '/reports', 403, 'rbac_access_denied_matched_policy[none]')),
    onWaypoint(waypointLine('GET', '/admin/users', 200, 'via_upstream')),
  ]) as [AuditEvent, AuditEvent, AuditEvent]

  test('a waypoint line is the request its waypoint decided: Gateway from the pod label, Service from the cluster', () => {
    expect(get.mesh?.reporter).toBe('waypoint')
    expect(requestFromEvent(get, {}, { allowUnknownIdentity: true })).toMatchObject({
      enforcement: 'waypoint',
      waypoint: 'waypoint',
      service: 'warehouse',
      namespace: 'analytics',
      port: 8080,
      protocol: 'http',
      method: 'GET',
      path: '/reports/daily',
      // Only HBONE reaches a waypoint, whose inner listener logs no peer SAN (istio/istio#59046).
      mtls: true,
      principal: null,
    })
  })

  test('targetRefs policies decide, the selector policy (ztunnel and sidecars only) does not', () => {
    const set = policySet(WAYPOINT_POLICIES)
    const c: CheckContext = { set, evaluator: compilePolicies(set, meshConfigFrom({})) }
    const { results, stats } = checkEvents([get, post, admin], c)
    // GET allowed (the selector DENY on GET does not reach the waypoint), POST denied by the read-only ALLOW:
    // both agree. The GET /admin that went through is a gap: the Gateway-targeted DENY is not enforced.
    expect(stats).toMatchObject({ events: 3, checked: 3, agree: 2, gaps: 1, drift: 0 })
    expect(results[0]!.eventId).toBe(admin.event.id)
    expect(results[0]!.finding.message).toContain('analytics/service=warehouse GET /admin/users :8080 was allowed')
    expect(results[0]!.decision.policies).toEqual(['ns[analytics]-policy[no-admin]-rule[0]'])
  })

  test('a waypoint policy on the identity cannot be decided without a logged peer', () => {
    const set = policySet(`
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: by-identity, namespace: analytics }
spec:
  targetRefs: [{ kind: Service, group: "", name: warehouse }]
  rules:
  - from: [{ source: { principals: [cluster.local/ns/analytics/sa/reports] } }]
`)
    const { stats } = checkEvents([get], { set, evaluator: compilePolicies(set, meshConfigFrom({})) })
    expect(stats.skipped).toEqual({ 'identity-not-logged': 1 })
  })

  test('without the gateway-name label the Gateway is the pod name without its ReplicaSet suffixes', () => {
    const [e] = toEvents([
      JSON.stringify({
        log: waypointLine('GET', '/', 200, 'via_upstream'),
        kubernetes: { namespace_name: 'analytics', pod_name: 'waypoint-7c9d5b8f4-h2xkq' },
      }),
    ])
    expect(requestFromEvent(e!, {}, { allowUnknownIdentity: true })).toMatchObject({ waypoint: 'waypoint', enforcement: 'waypoint' })
  })
})
