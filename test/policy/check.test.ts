/**
 * `policy check` over real public access-log lines run through the project's parser and enrichment:
 * - kubeflow/community-distribution#2858 (2022-11-04): inbound plaintext GET denied by RBAC (policy none);
 * - istio/istio PR #35337 (2021-09-23): inbound mTLS GET from spiffe://cluster.local/ns/default/sa/default.
 * The lines themselves live in test/detect/fixtures.ts with their sources.
 */
import { describe, expect, test } from 'vitest'
import type { AuditEvent } from '../../src/generated/types.js'
import { createParser } from '../../src/parse/index.js'
import { loadTransformsConfig } from '../../src/config/transforms.js'
import { applyStages } from '../../src/pipeline/transforms.js'
import { createTransformStages } from '../../src/compose/transform-stages.js'
import {
  checkEvents,
  createPolicyCheckStage,
  policyCheckStageFromFiles,
  requestFromEvent,
  type CheckContext,
} from '../../src/policy/check.js'
import { fileURLToPath } from 'node:url'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { compilePolicies } from '../../src/policy/evaluator.js'
import { loadPolicies } from '../../src/policy/loader.js'
import { inventoryFrom } from '../../src/policy/workload-inventory.js'
import { meshConfigFrom } from '../../src/policy/mesh-config.js'
import { MTLS_INBOUND_LINE, RBAC_DENIED_PLAINTEXT_LINE } from '../detect/fixtures.js'
import { policySet } from './helpers.js'

function events(lines: string[]): AuditEvent[] {
  const parsed = createParser({}).parseBatch(
    lines.map((value, i) => ({ value, coords: { kind: 'file' as const, file: 'public.log', line: i + 1, offset: String(i) } })),
  )
  expect(parsed.deadLetters).toEqual([])
  return applyStages(createTransformStages(loadTransformsConfig({})), parsed.events).events
}

const inventory = inventoryFrom({
  workloads: [
    { namespace: 'kubeflow', name: 'profiles-kfam', labels: { app: 'profiles-kfam' }, ips: ['10.254.17.38'] },
    { namespace: 'default', name: 'echo', labels: { app: 'echo' }, ips: ['10.244.0.12'] },
  ],
})

function ctx(yaml: string, withInventory = true): CheckContext {
  const set = policySet(yaml)
  return { set, evaluator: compilePolicies(set, meshConfigFrom({})), ...(withInventory ? { inventory } : {}) }
}

const ap = (ns: string, spec: string, name = 'p') =>
  `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: ${name}, namespace: ${ns} }\nspec: ${spec}\n---\n`

describe('request rebuilt from canonical events', () => {
  test('mTLS inbound line → principal, namespace, container port, method, path, labels from inventory', () => {
    const [e] = events([MTLS_INBOUND_LINE])
    const req = requestFromEvent(e!, ctx(''))
    expect(req).toMatchObject({
      principal: 'cluster.local/ns/default/sa/default',
      namespace: 'default',
      port: 80,
      method: 'GET',
      path: '/',
      mtls: true,
      labels: { app: 'echo' },
    })
  })
  test('without labels or inventory the event is skipped, not guessed', () => {
    const [e] = events([MTLS_INBOUND_LINE])
    expect(requestFromEvent(e!, ctx('', false))).toBe('labels-unknown')
  })
})

describe('findings', () => {
  test('agreement: declared ALLOW for kubeflow principals denies the plaintext kfam call, as the log shows', () => {
    const c = ctx(
      ap('kubeflow', '{ selector: { matchLabels: { app: profiles-kfam } }, rules: [{ from: [{ source: { namespaces: [kubeflow] } }] }] }'),
    )
    const { results, stats } = checkEvents(events([RBAC_DENIED_PLAINTEXT_LINE]), c)
    expect(results).toEqual([])
    expect(stats).toMatchObject({ events: 1, checked: 1, agree: 1, gaps: 0, drift: 0 })
  })
  test('drift: the log shows an RBAC denial but the declared policy allows everything', () => {
    const { results, stats } = checkEvents(events([RBAC_DENIED_PLAINTEXT_LINE]), ctx(ap('kubeflow', '{ rules: [{}] }')))
    expect(stats.drift).toBe(1)
    expect(results[0]).toMatchObject({ kind: 'drift', finding: { code: 'policy_violation', severity: 'medium', policy: 'none' } })
    expect(results[0]!.finding.message).toMatch(/denied in the mesh/)
  })
  test('enforcement gap: declared DENY on namespace default, but the mTLS request was allowed', () => {
    const c = ctx(
      ap(
        'default',
        '{ selector: { matchLabels: { app: echo } }, action: DENY, rules: [{ from: [{ source: { namespaces: [default] } }] }] }',
        'deny-default',
      ),
    )
    const { results } = checkEvents(events([MTLS_INBOUND_LINE]), c)
    expect(results).toHaveLength(1)
    expect(results[0]).toMatchObject({
      kind: 'gap',
      finding: { severity: 'high', controls: ['AC-3', 'AC-4'], policy: 'ns[default]-policy[deny-default]-rule[0]' },
    })
  })
  test('gap at peer-authn: declared STRICT, but a plaintext request reached the app', () => {
    // Derived from the PR #35337 inbound line with the SNI and peer SAN blanked, as a PERMISSIVE sidecar logs plaintext.
    const plaintext = MTLS_INBOUND_LINE.replace(
      'outbound_.80_._.echo.default.svc.cluster.local spiffe://cluster.local/ns/default/sa/default',
      '- -',
    )
    const c = ctx(
      'apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: { name: default, namespace: istio-system }\nspec: { mtls: { mode: STRICT } }\n',
    )
    const [e] = events([plaintext])
    expect(e!.mesh?.mtls).toBe(false)
    const { results } = checkEvents([e!], c)
    expect(results[0]).toMatchObject({ kind: 'gap', decision: { layer: 'peer-authn' }, finding: { controls: ['AC-3', 'SC-8'] } })
  })
  test('a denial that depends on JWTs (absent from logs) is counted as unverifiable, not reported', () => {
    const c = ctx(ap('default', '{ rules: [{ from: [{ source: { requestPrincipals: ["*"] } }] }] }'))
    const { results, stats } = checkEvents(events([MTLS_INBOUND_LINE]), c)
    expect(results).toEqual([])
    expect(stats.skipped['depends-on-unlogged-attributes']).toBe(1)
  })
})

describe('as a pipeline stage', () => {
  test('writes the finding on the event and keeps every event', () => {
    const stage = createPolicyCheckStage(ctx(ap('kubeflow', '{ rules: [{}] }')))
    const evs = events([RBAC_DENIED_PLAINTEXT_LINE, MTLS_INBOUND_LINE])
    const out = stage.process(evs)
    expect(out.events).toHaveLength(2)
    expect(out.deadLetters).toEqual([])
    expect(out.events[0]!.audit.finding_codes).toContain('policy_violation')
    expect(out.events[1]!.audit.finding_codes ?? []).not.toContain('policy_violation')
  })
  test('an event that breaks the evaluator is dead-lettered with its original line', () => {
    const c = ctx('')
    const broken: CheckContext = {
      ...c,
      evaluator: {
        mesh: c.evaluator.mesh,
        evaluate: () => {
          throw new Error('boom')
        },
      },
    }
    const out = createPolicyCheckStage(broken).process(events([MTLS_INBOUND_LINE]))
    expect(out.events).toEqual([])
    expect(out.deadLetters[0]).toMatchObject({
      reason: 'EA_TRANSFORM_FAILED',
      raw: MTLS_INBOUND_LINE,
      event_id: events([MTLS_INBOUND_LINE])[0]!.event.id,
    })
    expect(out.deadLetters[0]!.message).toMatch(/^stage policy-check: Error: boom/)
  })
  test('built from a policy directory: the seed-000 policies are checked against the line and agree with it (ALLOW, no finding)', () => {
    const seed = fileURLToPath(new URL('../fixtures/policy/seed-000.yaml', import.meta.url))
    const stage = policyCheckStageFromFiles([seed], { inventory })
    const [e] = events([MTLS_INBOUND_LINE])
    // The positive verdict: the line was decided (not skipped) and the declared policy agrees with it.
    const set = loadPolicies([seed])
    const { stats } = checkEvents([e!], { set, evaluator: compilePolicies(set, meshConfigFrom({})), inventory })
    expect(stats).toMatchObject({ events: 1, checked: 1, agree: 1, gaps: 0, drift: 0 })
    const out = stage.process([e!])
    expect(out.events).toHaveLength(1)
    expect(out.events[0]!.audit.finding_codes ?? []).not.toContain('policy_violation')
  })
  test('built from a policy directory: a declared DENY that the log contradicts becomes a finding on the event', () => {
    const dir = mkdtempSync(join(tmpdir(), 'stage-'))
    writeFileSync(
      join(dir, 'deny.yaml'),
      ap(
        'default',
        '{ selector: { matchLabels: { app: echo } }, action: DENY, rules: [{ to: [{ operation: { methods: ["GET"] } }] }] }',
        'deny-get',
      ),
    )
    const out = policyCheckStageFromFiles([dir], { inventory }).process(events([MTLS_INBOUND_LINE]))
    expect(out.events).toHaveLength(1)
    expect(out.events[0]!.audit.finding_codes).toContain('policy_violation')
    expect(out.events[0]!.audit.findings?.find((f) => f.code === 'policy_violation')).toMatchObject({
      severity: 'high',
      policy: 'ns[default]-policy[deny-get]-rule[0]',
    })
  })
  test('fails at startup on a missing path or an invalid manifest, naming it', () => {
    expect(() => policyCheckStageFromFiles(['/nonexistent-policy-dir'])).toThrow(/nonexistent-policy-dir/)
    const dir = mkdtempSync(join(tmpdir(), 'stage-'))
    writeFileSync(
      join(dir, 'bad.yaml'),
      'apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: { name: p, namespace: n }\nspec: { mtls: { mode: STRICTEST } }\n',
    )
    expect(() => policyCheckStageFromFiles([dir])).toThrow(/PeerAuthentication n\/p: spec\.mtls\.mode/)
  })
})

describe('mTLS lines without a logged peer identity (Istio default format)', () => {
  // The PR #35337 line with its peer URI SAN blanked: SNI still shows Istio mTLS, identity unknown.
  const noSan = MTLS_INBOUND_LINE.replace('spiffe://cluster.local/ns/default/sa/default', '-')
  test('decided when no applicable policy reads the identity', () => {
    const [e] = events([noSan])
    expect(e!.mesh?.mtls).toBe(true)
    const { results, stats } = checkEvents(
      [e!],
      ctx(ap('default', '{ action: DENY, rules: [{ to: [{ operation: { methods: ["GET"] } }] }] }')),
    )
    expect(stats.checked).toBe(1)
    expect(results[0]).toMatchObject({ kind: 'gap' })
  })
  test('skipped when a policy depends on the identity', () => {
    const [e] = events([noSan])
    const { results, stats } = checkEvents(
      [e!],
      ctx(ap('default', '{ rules: [{ from: [{ source: { principals: ["cluster.local/ns/default/sa/default"] } }] }] }')),
    )
    expect(results).toEqual([])
    expect(stats.skipped['identity-not-logged']).toBe(1)
  })
})
