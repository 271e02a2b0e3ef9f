/**
 * `policy recommend` learns from legitimate traffic only: on the demo mesh the partner-bank reconciler
 * (a foreign trust domain, flagged HIGH by the same store) was let through to payments, and the
 * recommendation must not turn that incident into an ALLOW rule. The store is the demo's own traffic,
 * ingested through the real pipeline; the YAML is checked with the evaluator.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { generateMeshTraffic, linesByFile } from '../../src/demo/mesh-traffic.js'
import { FOREIGN_PEER } from '../../src/demo/incidents.js'
import { openDuckDbStore } from '../../src/store/duckdb-store.js'
import { ingestFiles } from '../../src/compose/ingest.js'
import { recommendationYaml, recommendPolicies, type ObservedFlow } from '../../src/policy/recommend.js'
import { meshConfigFrom } from '../../src/policy/mesh-config.js'
import { evaluator, policyCli } from './helpers.js'

const dir = mkdtempSync(join(tmpdir(), 'ea-recommend-flagged-'))
const storePath = join(dir, 'demo.duckdb')
const reconciler = FOREIGN_PEER.replace(/^spiffe:\/\//, '')

beforeAll(async () => {
  const traffic = generateMeshTraffic({ seed: 42, sessions: 300 })
  mkdirSync(join(dir, 'logs'))
  const files: string[] = []
  for (const [name, lines] of linesByFile(traffic.lines)) {
    const path = join(dir, 'logs', name)
    writeFileSync(path, lines.join('\n') + '\n')
    files.push(path)
  }
  const store = await openDuckDbStore(storePath)
  try {
    await ingestFiles({ files: files.sort(), store, processing: { parser: { format: 'auto' } }, deadLetterPath: join(dir, 'dlq.ndjson') })
  } finally {
    await store.close()
  }
}, 120_000)
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** The request the reconciler made, as the payments sidecar saw it. */
const settlement = (principal: string) => ({
  source: { principal },
  destination: { namespace: 'payments', labels: { app: 'payments' }, port: 8080 },
  protocol: 'http' as const,
  mtls: true,
  http: { method: 'POST', path: '/v1/settlements' },
})

describe('recommend on the demo store', () => {
  test('the foreign-trust-domain reconciler is not allowed; the comment block names it, its finding and count', async () => {
    const r = await policyCli(['recommend', '--store', storePath, '--namespace', 'payments'])
    expect(r.code).toBe(0)
    const yaml = r.stdout
    const body = yaml
      .split('\n')
      .filter((l) => !l.startsWith('#'))
      .join('\n')
    expect(body).not.toContain('partner-bank.example')
    const line = yaml.split('\n').find((l) => l.startsWith('#') && l.includes(reconciler))
    expect(line).toMatch(/foreign_trust_domain \(high\); \d+ event\(s\)/)
    expect(yaml).toMatch(/# Excluded as flagged traffic, not allowed: 1 flow/)
    const decide = evaluator(yaml)
    expect(decide(settlement(reconciler)).verdict).toBe('DENY')
    // The legitimate client of payments is still allowed.
    expect(decide({ ...settlement('cluster.local/ns/shop/sa/checkout'), http: { method: 'POST', path: '/v1/charges' } }).verdict).toBe(
      'ALLOW',
    )
  })

  test('--include-flagged must be named to allow it, and the block says it was allowed', async () => {
    const r = await policyCli(['recommend', '--store', storePath, '--namespace', 'payments', '--include-flagged'])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/# ALLOWED ALTHOUGH FLAGGED \(--include-flagged\): 1 flow/)
    expect(evaluator(r.stdout)(settlement(reconciler)).verdict).toBe('ALLOW')
  })
})

describe('recommendPolicies with flagged flows', () => {
  const mesh = meshConfigFrom({})
  const base: ObservedFlow = {
    namespace: 'ns',
    labels: { app: 'api' },
    principal: 'cluster.local/ns/ns/sa/web',
    mtls: true,
    port: 8080,
    protocol: 'http',
    method: 'GET',
    denied: false,
  }

  test('a flagged path of a clean principal stays out of the generalised template', () => {
    const flows: ObservedFlow[] = [
      { ...base, path: '/users/1' },
      { ...base, path: '/users/2' },
      { ...base, path: '/users/3', flagged: ['policy_violation (high)'], count: 4 },
    ]
    const rec = recommendPolicies(flows, mesh)
    const decide = evaluator(recommendationYaml(rec))
    const req = (path: string) => ({
      source: { principal: base.principal },
      destination: { namespace: 'ns', labels: { app: 'api' }, port: 8080 },
      protocol: 'http' as const,
      mtls: true,
      http: { method: 'GET', path },
    })
    expect(decide(req('/users/1')).verdict).toBe('ALLOW')
    expect(decide(req('/users/3')).verdict).toBe('DENY')
    expect(rec.flagged).toEqual([expect.objectContaining({ path: '/users/3', findings: ['policy_violation (high)'], count: 4 })])
  })

  test('a principal seen only in flagged traffic gets no rule at all', () => {
    const rec = recommendPolicies([{ ...base, path: '/x', flagged: ['invalid_peer_identity (medium)'] }], mesh)
    expect(recommendationYaml(rec)).not.toMatch(/principals:/)
    expect(rec.notes.join('\n')).toMatch(/no legitimate mTLS traffic seen/)
  })
})
