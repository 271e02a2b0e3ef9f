import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'
import { runCli } from '../helpers/cli.js'

describe('envoy-audit demo', () => {
  test('generates logs, ingests them, finds every planted incident and writes the report', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ea-demo-cli-'))
    const r = await runCli(['demo', '--out', join(dir, 'out'), '--store', join(dir, 'demo.duckdb'), '--sessions', '120', '--seed', '7'], {
      timeoutMs: 90_000,
    })
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('planted incidents found: 9/9')
    expect(r.stdout).not.toContain('✗')
    expect(readdirSync(join(dir, 'out', 'logs')).length).toBeGreaterThanOrEqual(3)
    const html = readFileSync(join(dir, 'out', 'report.html'), 'utf8')
    for (const code of [
      'plaintext_inbound',
      'plaintext_rejected',
      'authz_denied',
      'ext_authz_denied',
      'unregistered_egress',
      'egress_blocked',
      'weak_tls',
      'foreign_trust_domain',
    ]) {
      expect(html).toContain(`data-finding="${code}"`)
    }
    expect(existsSync(join(dir, 'out', 'report.json'))).toBe(true)

    // The hint names a command a user can paste: `envoy-audit` alone is not on PATH after `npm install`.
    const hint = /^explore: npx envoy-audit sql --store (\S+) "([^"]+)"$/m.exec(r.stdout)
    expect(hint, r.stdout).not.toBeNull()
    const explore = await runCli(['sql', '--store', hint?.[1] ?? '', hint?.[2] ?? ''])
    expect(explore.code).toBe(0)
    expect(explore.stdout).toContain('plaintext_inbound')
  }, 120_000)

  // The quick start's store, as a new user gets it: segments of up to 10,000 documents, each row group's
  // document column read whole by verify's store scan.
  test('verify --store vouches for the store the default demo wrote', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ea-demo-verify-'))
    const store = join(dir, 'demo.duckdb')
    const demo = await runCli(['demo', '--out', join(dir, 'out'), '--store', store], { timeoutMs: 150_000 })
    expect(demo.code, demo.stderr).toBe(0)
    expect(existsSync(join(dir, 'demo.segments'))).toBe(true)
    const r = await runCli(['verify', '--store', store], { timeoutMs: 120_000 })
    expect(r.stderr).not.toContain('Out of Memory')
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain('deleted 0, modified 0, inserted 0')
  }, 300_000)

  test('rejects a non-numeric seed as a usage error', async () => {
    const r = await runCli(['demo', '--seed', 'abc'])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('--seed must be an integer')
  })
})
