/**
 * Policy throughput and an end-to-end sanity run over the demo mesh traffic:
 * 1. evaluate(): 400 synthetic policies (20 namespaces; templates, header conditions), 100k requests;
 * 2. demo traffic → parser + stages → recommend → check the same events against the recommendation.
 *    Expected: drift 0 (every request the mesh denied is denied by the recommendation) and gaps only for
 *    plaintext requests the mesh let through (the recommendation requires a peer identity).
 * Run: npx tsx test/policy/bench.ts   (not part of the test suite: timings are machine-dependent)
 */
import { loadTransformsConfig } from '../../src/config/transforms.js'
import { generateMeshTraffic, linesByFile } from '../../src/demo/mesh-traffic.js'
import type { AuditEvent } from '../../src/generated/types.js'
import { createParser } from '../../src/parse/index.js'
import { applyStages } from '../../src/pipeline/transforms.js'
import { createTransformStages } from '../../src/compose/transform-stages.js'
import { checkEvents } from '../../src/policy/check.js'
import { compilePolicies } from '../../src/policy/evaluator.js'
import { addManifestText, emptyPolicySet } from '../../src/policy/loader.js'
import { meshConfigFrom } from '../../src/policy/mesh-config.js'
import { flowsFromEvents, recommendationYaml, recommendPolicies } from '../../src/policy/recommend.js'
import { parseRequest } from '../../src/policy/request.js'

const mesh = meshConfigFrom({})

function evaluateBench(): void {
  let yaml = ''
  for (let i = 0; i < 200; i++) {
    yaml += `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: p${i}, namespace: ns${i % 20} }
spec:
  selector: { matchLabels: { app: app${i % 10} } }
  rules:
  - from: [{ source: { principals: ["cluster.local/ns/ns${i % 20}/sa/c${i}"] } }]
    to: [{ operation: { methods: ["GET", "POST"], paths: ["/api/v1/items/{*}", "/health*"], ports: ["8080"] } }]
  - from: [{ source: { namespaces: ["ns${(i + 1) % 20}"] } }]
    when: [{ key: "request.headers[x-tenant]", values: ["t${i}"] }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: d${i}, namespace: ns${i % 20} }
spec: { action: DENY, rules: [{ to: [{ operation: { paths: ["/admin*"] } }] }] }
---
`
  }
  let t = performance.now()
  const ev = compilePolicies(addManifestText(emptyPolicySet(), yaml, 'bench.yaml'), mesh)
  console.log(`load+compile 400 policies: ${(performance.now() - t).toFixed(0)} ms`)
  const reqs = Array.from({ length: 100_000 }, (_, i) =>
    parseRequest({
      source: { principal: `cluster.local/ns/ns${i % 20}/sa/c${i % 200}`, ip: '10.0.0.1' },
      destination: { namespace: `ns${i % 20}`, labels: { app: `app${i % 10}` }, port: 8080 },
      protocol: 'http',
      mtls: true,
      http: { method: 'GET', path: `/api/v1/items/${i}`, headers: { 'x-tenant': `t${i % 200}` } },
    }),
  )
  t = performance.now()
  let allowed = 0
  for (const r of reqs) if (ev.evaluate(r).verdict === 'ALLOW') allowed++
  const ms = performance.now() - t
  console.log(`evaluate: ${reqs.length} requests in ${ms.toFixed(0)} ms = ${Math.round((reqs.length / ms) * 1000)}/s (allowed ${allowed})`)
}

function demoRoundTrip(): void {
  const events: AuditEvent[] = []
  const stages = createTransformStages(loadTransformsConfig({}))
  for (const [file, lines] of linesByFile(generateMeshTraffic({ sessions: 3000 }).lines)) {
    const parsed = createParser({}).parseBatch(
      lines.map((value, i) => ({ value, coords: { kind: 'file' as const, file, line: i + 1, offset: String(i) } })),
    )
    events.push(...applyStages(stages, parsed.events).events)
  }
  let t = performance.now()
  const { flows, unattributed } = flowsFromEvents(events, {})
  const rec = recommendPolicies(flows, mesh)
  const yaml = recommendationYaml(rec)
  console.log(
    `recommend: ${events.length} events → ${flows.length} flows → ${rec.objects.length} objects in ${(performance.now() - t).toFixed(0)} ms; not attributable ${JSON.stringify(unattributed)}`,
  )
  const set = addManifestText(emptyPolicySet(), yaml, 'recommended.yaml')
  t = performance.now()
  const { stats } = checkEvents(events, { set, evaluator: compilePolicies(set, mesh) })
  const ms = performance.now() - t
  console.log(
    `check: ${events.length} events in ${ms.toFixed(0)} ms = ${Math.round((events.length / ms) * 1000)}/s ${JSON.stringify(stats)}`,
  )
}

evaluateBench()
demoRoundTrip()
