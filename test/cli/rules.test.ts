import { mkdtempSync, rmSync, writeFileSync, cpSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { runCli } from '../helpers/cli.js'
import { baselineRulesDir, defaultRulesDir, loadSigmaRules } from '../../src/sigma/loader.js'

/** `rules test` over a store the demo filled (real CLI, child processes). */
describe('envoy-audit rules test', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ea-rules-'))
  const store = join(dir, 'audit.duckdb')
  const rules = loadSigmaRules()

  beforeAll(async () => {
    const demo = await runCli(['demo', '--store', store, '--out', join(dir, 'out'), '--sessions', '200'], { timeoutMs: 120_000 })
    expect(demo.code, demo.stderr).toBe(0)
  }, 150_000)
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  test('lists every rule with its matches; the planted scan and plaintext retries show with their group', async () => {
    const r = await runCli(['rules', 'test', '--store', store, '--json'], { timeoutMs: 60_000 })
    expect(r.code, r.stderr).toBe(0)
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { file: string; matches: number; groups?: { group: string; count: number }[] })
    expect(lines.map((l) => l.file)).toEqual([...rules, ...loadSigmaRules(baselineRulesDir())].map((x) => x.source))
    const by = (file: string) => lines.find((l) => l.file === file)!
    // auth, payments, cart, payments-db and, in the second cluster, ledger.
    expect(by('behaviour/mesh_scan_denied_by_many_destinations.yml').groups).toEqual([
      { group: 'spiffe://cluster.local/ns/shop/sa/frontend', count: 5 },
    ])
    // Without --since there is no learning window: the baseline rules say what they need instead of guessing.
    expect(lines.find((l) => l.file === 'first_egress_from_workload.yml')).toMatchObject({
      matches: 0,
      skipped: 'needs the placeholder list(s) %egress_sources%',
    })
    expect(by('behaviour/plaintext_retries_into_strict_namespace.yml').matches).toBe(1)
    expect(by('egress/unregistered_egress.yml').matches).toBeGreaterThan(0)
    expect(by('access/new_edge.yml').matches).toBe(0)
  }, 90_000)

  test('the table form, --since past the window, and a rule folder of the SOC own', async () => {
    const table = await runCli(['rules', 'test', '--store', store, '--show', '1'], { timeoutMs: 60_000 })
    expect(table.code).toBe(0)
    expect(table.stdout).toMatch(/^high\s+1\s+behaviour\/mesh_scan_denied_by_many_destinations\.yml/m)
    expect(table.stdout).toContain('[spiffe://cluster.local/ns/shop/sa/frontend: 5 in ')

    const none = await runCli(['rules', 'test', '--store', store, '--since', '2099-01-01T00:00:00Z'], { timeoutMs: 60_000 })
    expect(none.stdout).toMatch(/^0 events, /)

    const own = join(dir, 'rules')
    cpSync(join(defaultRulesDir(), 'egress'), own, { recursive: true })
    const file = join(own, 'egress_blocked.yml')
    writeFileSync(file, readFileSync(file, 'utf8').replace('condition: evidence or finding', 'condition: evidence | near finding'))
    const bad = await runCli(['rules', 'test', '--store', store, '--rules', own], { timeoutMs: 60_000 })
    expect(bad.code).not.toBe(0)
    expect(bad.stderr).toContain('EA_SIGMA_UNSUPPORTED')
    expect(bad.stderr).toContain('egress_blocked.yml')
  }, 120_000)

  test('baseline rules learn from the window before --since: the first egress of checkout and its new call into finance', async () => {
    const args = ['rules', 'test', '--store', store, '--json', '--since', '2026-11-20T14:07:00Z', '--baseline', '7m']
    const r = await runCli([...args, '--sensitive-namespace', 'finance'], { timeoutMs: 60_000 })
    expect(r.code, r.stderr).toBe(0)
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { file: string; matches: number; skipped?: string })
    const by = (file: string) => lines.find((l) => l.file === file)!
    expect(by('first_egress_from_workload.yml')).toMatchObject({ matches: 1 })
    expect(by('new_edge_into_sensitive_namespace.yml').matches).toBeGreaterThan(0)
    expect(by('new_edge_into_sensitive_namespace.yml').skipped).toBeUndefined()
    // No namespace tagged sensitive: the new-caller rule has nothing to watch.
    const untagged = await runCli(args, { timeoutMs: 60_000 })
    const line = untagged.stdout.split('\n').find((l) => l.includes('new_edge_into_sensitive_namespace'))!
    expect((JSON.parse(line) as { matches: number }).matches).toBe(0)
  }, 120_000)

  test('--cluster: the rules over the events of some clusters, from the store and from an NDJSON file', async () => {
    type Line = { file: string; matches: number; events: string[][]; groups?: { group: string; count: number }[] }
    const run = async (args: string[]): Promise<Line[]> => {
      const r = await runCli(['rules', 'test', ...args, '--json'], { timeoutMs: 60_000 })
      expect(r.code, r.stderr).toBe(0)
      return r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Line)
    }
    const scan = (lines: Line[]) => lines.find((l) => l.file === 'behaviour/mesh_scan_denied_by_many_destinations.yml')!
    // frontend's denied probes: four destinations in east, and ledger across the gateway (its server line is west's).
    const east = await run(['--store', store, '--cluster', 'east'])
    expect(scan(east).groups).toEqual([{ group: 'spiffe://cluster.local/ns/shop/sa/frontend', count: 5 }])
    const west = await run(['--store', store, '--cluster', 'west'])
    expect(scan(west).matches).toBe(0)
    const both = await run(['--store', store, '--cluster', 'east,west'])
    expect(both.map((l) => l.matches)).toEqual((await run(['--store', store])).map((l) => l.matches))

    // The same selection over a file of events: what `sql` exports of the store.
    const exported = await runCli(['sql', '--store', store, '--json', 'SELECT event_json FROM events'], { timeoutMs: 60_000 })
    expect(exported.code, exported.stderr).toBe(0)
    const ndjson = join(dir, 'events.ndjson')
    writeFileSync(
      ndjson,
      exported.stdout
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { event_json: string }).event_json)
        .join('\n') + '\n',
    )
    const fromFile = await run(['--events', ndjson, '--cluster', 'west'])
    expect(fromFile.map((l) => [l.file, l.matches])).toEqual(west.map((l) => [l.file, l.matches]))
    expect((await runCli(['rules', 'test', '--help'])).stdout).toContain('--cluster <name...>')
  }, 240_000)
})
