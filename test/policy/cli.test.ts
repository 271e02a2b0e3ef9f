/**
 * The `policy` commands through the real CLI entry point: exit codes, NDJSON shapes, and the
 * parse → check / recommend chain on real public lines (sources in test/detect/fixtures.ts).
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'
import { createParser } from '../../src/parse/index.js'
import { loadTransformsConfig } from '../../src/config/transforms.js'
import { applyStages } from '../../src/pipeline/transforms.js'
import { createTransformStages } from '../../src/compose/transform-stages.js'
import { openDuckDbStore } from '../../src/store/duckdb-store.js'
import type { AuditEvent } from '../../src/generated/types.js'
import { runCli } from '../helpers/cli.js'
import { policyCli } from './helpers.js'
import { MTLS_INBOUND_LINE, RBAC_DENIED_PLAINTEXT_LINE } from '../detect/fixtures.js'

const dir = mkdtempSync(join(tmpdir(), 'policy-cli-'))
const file = (name: string, text: string) => {
  const p = join(dir, name)
  writeFileSync(p, text)
  return p
}
const SEED_000 = 'test/fixtures/policy/seed-000.yaml'

describe('policy eval', () => {
  test('NDJSON decisions in the documented shape, one per request; a bad line is reported and exits 2', async () => {
    const reqs = file(
      'reqs.jsonl',
      [
        JSON.stringify({
          source: { principal: 'cluster.local/ns/other/sa/intruder', ip: '10.0.0.9' },
          destination: { namespace: 'production', labels: { app: 'mission-data-service' }, port: 8080 },
          protocol: 'http',
          mtls: true,
          http: { method: 'GET', path: '/api/v1/data/secrets' },
        }),
        JSON.stringify({
          source: { principal: null, ip: '10.0.0.9' },
          destination: { namespace: 'production', labels: { app: 'mission-data-service' }, port: 8080 },
          protocol: 'http',
          mtls: false,
          http: { method: 'GET', path: '/api/v1/data/x' },
        }),
        '{"source": {}}',
      ].join('\n'),
    )
    const r = await policyCli(['eval', '--policies', SEED_000, '--requests', reqs, '--json'])
    expect(r.code).toBe(2)
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(Object.keys(lines[0]!).slice(0, 5)).toEqual(['verdict', 'layer', 'policies', 'dryRun', 'reason'])
    expect(lines[0]).toMatchObject({
      verdict: 'ALLOW',
      layer: 'authz',
      policies: ['ns[production]-policy[mission-data-service-allow]-rule[1]'],
      dryRun: null,
    })
    expect(lines[1]).toMatchObject({ verdict: 'DENY', layer: 'peer-authn' })
    expect(lines[2]).toMatchObject({ line: 3 })
    expect(String(lines[2]!['error'])).toMatch(/request\.destination/)
  })
  test('invalid policy manifests fail with the file, object and field named', async () => {
    const bad = file(
      'bad.yaml',
      'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: x, namespace: ns }\nspec: { rules: [{ from: [{ source: { hosts: ["a"] } }] }] }\n',
    )
    const req = file(
      'one.json',
      JSON.stringify({ source: { principal: null }, destination: { namespace: 'ns', port: 80 }, protocol: 'tcp', mtls: false }),
    )
    const r = await policyCli(['eval', '--policies', bad, '--request', req])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('AuthorizationPolicy ns/x: spec.rules[0].from[0].source.hosts: unknown field "hosts"')
  })
})

describe('policy lint', () => {
  test('through the real entry point: flags both seed policies and exits 1 on high findings', async () => {
    const r = await runCli(['policy', 'lint', '--policies', 'test/fixtures/policy', '--json'])
    expect(r.code).toBe(1)
    const fs = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { code: string; object: string })
    expect(
      fs
        .filter((f) => f.code === 'POL001')
        .map((f) => f.object)
        .sort(),
    ).toEqual(['AuthorizationPolicy default/payment-service-policy', 'AuthorizationPolicy production/mission-data-service-allow'])
  })
})

describe('parsed events → policy check / recommend', () => {
  // What `envoy-audit parse` writes: the parser plus the transform stages, one event per line.
  const parsed = (): AuditEvent[] => {
    const p = createParser({}).parseBatch(
      [RBAC_DENIED_PLAINTEXT_LINE, MTLS_INBOUND_LINE].map((value, i) => ({
        value,
        coords: { kind: 'file' as const, file: 'access.log', line: i + 1, offset: String(i) },
      })),
    )
    return applyStages(createTransformStages(loadTransformsConfig({})), p.events).events
  }
  const parsedEvents = () =>
    file(
      'events.ndjson',
      parsed()
        .map((e) => JSON.stringify(e))
        .join('\n') + '\n',
    )
  const inventory = file(
    'workloads.yaml',
    'workloads:\n  - { namespace: kubeflow, name: profiles-kfam, labels: { app: profiles-kfam }, ips: [10.254.17.38] }\n  - { namespace: default, name: echo, labels: { app: echo }, ips: [10.244.0.12] }\n',
  )
  test('check reports drift for the RBAC-denied line under an allow-all policy', async () => {
    const events = await parsedEvents()
    const policies = file(
      'allow-all.yaml',
      'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: all, namespace: kubeflow }\nspec: { rules: [{}] }\n',
    )
    const r = await policyCli(['check', '--policies', policies, '--workloads', inventory, '--json', events])
    expect(r.code).toBe(0)
    const findings = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { kind: string; finding: { code: string } })
    expect(findings).toHaveLength(1)
    expect(findings[0]).toMatchObject({ kind: 'drift', finding: { code: 'policy_violation' } })
    expect(JSON.parse(r.stderr.trim().split('\n').pop()!)).toMatchObject({ summary: { events: 2, checked: 2, drift: 1, gaps: 0 } })
  })
  test('recommend writes YAML that policy eval accepts', async () => {
    const events = await parsedEvents()
    const out = join(dir, 'recommended.yaml')
    const r = await policyCli(['recommend', '--workloads', inventory, '-o', out, events])
    expect(r.code).toBe(0)
    const req = file(
      'echo.json',
      JSON.stringify({
        source: { principal: 'spiffe://cluster.local/ns/default/sa/default' },
        destination: { namespace: 'default', labels: { app: 'echo' }, port: 80 },
        protocol: 'http',
        mtls: true,
        http: { method: 'GET', path: '/' },
      }),
    )
    const e = await policyCli(['eval', '--policies', out, '--request', req, '--json'])
    expect(JSON.parse(e.stdout)).toMatchObject({ verdict: 'ALLOW', policies: ['ns[default]-policy[echo-least-privilege]-rule[0]'] })
  })
  test('without --workloads, check and recommend guess the workloads from the events and say which', async () => {
    const events = await parsedEvents()
    const policies = file(
      'allow-all-guess.yaml',
      'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: all, namespace: kubeflow }\nspec: { rules: [{}] }\n',
    )
    const c = await policyCli(['check', '--policies', policies, '--json', events])
    expect(c.code).toBe(0)
    const summary = (JSON.parse(c.stderr.trim().split('\n').pop()!) as { summary: Record<string, unknown> }).summary
    expect(summary).toMatchObject({ events: 2, checked: 2, drift: 1 })
    expect(summary['skipped']).toEqual({})
    expect(summary['guessedWorkloads']).toEqual([
      { namespace: 'default', labels: { app: 'echo' }, from: 'service', events: 1 },
      { namespace: 'kubeflow', labels: { app: 'profiles-kfam' }, from: 'service', events: 1 },
    ])
    const text = await policyCli(['check', '--policies', policies, events])
    expect(text.stdout).toContain('guessed 2 workload(s) from the events (no --workloads')
    expect(text.stdout).toContain('kubeflow/profiles-kfam selected by app=profiles-kfam (from the service name; 1 events)')
    const r = await policyCli(['recommend', events])
    expect(r.stdout).toMatch(/# GUESSED workloads \(no --workloads/)
    expect(r.stdout).toContain('#   default/echo selected by app=echo')
    expect(r.stdout).toContain('name: echo-least-privilege')
    // With an inventory nothing is guessed.
    const withInventory = await policyCli(['recommend', '--workloads', inventory, events])
    expect(withInventory.stdout).not.toContain('GUESSED')
  })
  test('check --store reads the events through the AuditStore interface', async () => {
    const path = join(dir, 'audit.duckdb')
    const store = await openDuckDbStore(path)
    try {
      await store.writeEvents(parsed())
    } finally {
      await store.close()
    }
    const policies = file(
      'allow-all-2.yaml',
      'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: all, namespace: kubeflow }\nspec: { rules: [{}] }\n',
    )
    const r = await policyCli(['check', '--policies', policies, '--workloads', inventory, '--store', path, '--json'])
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stderr.trim())).toMatchObject({ summary: { events: 2, drift: 1 } })
  })
  test('check --policies DIR events.ndjson, as docs/policy.md writes it: the flag takes one path, so the file stays an input', async () => {
    const events = await parsedEvents()
    const policyDir = join(dir, 'policies')
    mkdirSync(policyDir, { recursive: true })
    writeFileSync(
      join(policyDir, 'allow-all.yaml'),
      'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: all, namespace: kubeflow }\nspec: { rules: [{}] }\n',
    )
    const r = await runCli(['policy', 'check', '--policies', policyDir, events, '--workloads', inventory, '--json'])
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stderr.trim())).toMatchObject({ summary: { events: 2, checked: 2, drift: 1 } })
    // Repeated for more than one path; the old variadic habit (two paths after one flag) is refused, naming the path.
    const lintTwo = await policyCli(['lint', '--policies', policyDir, '--policies', SEED_000, '--json', '--fail-on', 'none'])
    expect(lintTwo.stdout).toContain('seed-000.yaml')
    const old = await policyCli(['check', '--policies', SEED_000, policyDir, events])
    expect([old.code, old.stderr]).toEqual([
      2,
      expect.stringContaining(`"${policyDir}" looks like a policy folder, not an NDJSON events file`),
    ])
  })
  test('check and recommend --store read every event, past the old silent 100,000 cut, and --limit says what it left out', async () => {
    const path = join(dir, 'big.duckdb')
    // The table layout: the copies are side-loaded by SQL into the events table.
    const store = await openDuckDbStore(path, { callTables: false, layout: 'table' })
    try {
      await store.writeEvents(parsed())
      // 100,000 copies under new ids and times, written by SQL: the pipeline would take minutes here.
      await store.sql(
        `INSERT INTO events SELECT e.* REPLACE (e.id || '-' || t.i AS id, e.ts + to_seconds(t.i) AS ts) FROM events e, range(50000) t(i)`,
      )
    } finally {
      await store.close()
    }
    const policies = file(
      'allow-all-big.yaml',
      'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: all, namespace: kubeflow }\nspec: { rules: [{}] }\n',
    )
    const all = await policyCli(['check', '--policies', policies, '--workloads', inventory, '--store', path, '--json'])
    expect(all.code).toBe(0)
    expect(JSON.parse(all.stderr.trim())).toMatchObject({ summary: { events: 100_002, store: { path, events: 100_002, read: 100_002 } } })
    const some = await policyCli(['check', '--policies', policies, '--workloads', inventory, '--store', path, '--limit', '5'])
    expect(some.stdout).toContain(`checked 5 of 5 events (the newest 5 of 100,002 events of ${path} (--limit 5))`)
    expect(some.stderr).toBe(
      `envoy-audit policy check: read the newest 5 of 100,002 events of ${path} (--limit 5); older events were not checked\n`,
    )
    const out = join(dir, 'big-recommended.yaml')
    const rec = await policyCli(['recommend', '--workloads', inventory, '--store', path, '-o', out])
    expect([rec.code, rec.stderr]).toEqual([0, ''])
    expect(readFileSync(out, 'utf8').split('\n')[0]).toBe(`# learnt from all 100,002 events of ${path}`)
    const bad = await policyCli(['recommend', '--store', path, '--limit', '0'])
    expect([bad.code, bad.stderr]).toEqual([2, expect.stringContaining('--limit must be a positive integer, got "0"')])
  }, 300_000)
})
