import { describe, test, expect, beforeAll, afterAll } from 'vitest'
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runCli } from '../helpers/cli.js'
import { DuckDbStore } from '../../src/store/duckdb-store.js'
import { ingestFile, openLedgered } from '../integrity/harness.js'

const KEY_TEXT = 'verify-test-key-0123456789abcdef'
let dir: string
let store: string
let keyFile: string

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ea-verify-cli-'))
  store = join(dir, 'audit.duckdb')
  keyFile = join(dir, 'key')
  writeFileSync(keyFile, `${KEY_TEXT}\n`)
  // Tampered with by SQL on copies of the DuckDB file: the table layout (segment tampering: tamper-segments.test.ts).
  const l = await openLedgered(store, { id: 'k', bytes: Buffer.from(KEY_TEXT) }, 'table')
  await ingestFile(l)
  await l.store.close()
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

async function copyAndTamper(name: string, sql: string): Promise<string> {
  const path = join(dir, `${name}.duckdb`)
  copyFileSync(store, path)
  const s = new DuckDbStore({ path, threads: 1 })
  await s.sql(sql)
  await s.close()
  return path
}

describe('envoy-audit verify', () => {
  test('an intact store: exit 0, INTACT, signatures verified with the key file', async () => {
    const r = await runCli(['verify', '--store', store, '--key-file', keyFile])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^INTACT: 20 events, 20 ledger entries in 1 streams, \d+ checkpoints \(\d+ signatures verified\)/)
    expect(r.stdout).toContain('deleted 0, modified 0, inserted 0, chain 0')
  })
  test('the key from the environment works the same', async () => {
    const r = await runCli(['verify', '--store', store, '--json'], { env: { ENVOY_AUDIT_INTEGRITY_KEY: KEY_TEXT } })
    expect(r.code).toBe(0)
    const report = JSON.parse(r.stdout) as { ok: boolean; signedVerified: number; checkpoints: number }
    expect(report.ok).toBe(true)
    expect(report.signedVerified).toBe(report.checkpoints)
  })
  test('a deleted and a modified event: exit 3, each listed by id', async () => {
    const path = await copyAndTamper(
      't',
      `DELETE FROM events WHERE id = (SELECT min(id) FROM events);
      UPDATE events SET url_path = '/nothing-to-see' WHERE id = (SELECT max(id) FROM events)`,
    )
    const r = await runCli(['verify', '--store', path, '--key-file', keyFile])
    expect(r.code).toBe(3)
    expect(r.stdout).toMatch(/^TAMPERED/)
    expect(r.stdout).toContain('deleted 1, modified 1, inserted 0, chain 0')
    expect(r.stdout).toMatch(/^deleted\t\S+\tledgered at file:/m)
    expect(r.stdout).toMatch(/^modified\t\S+\tcolumn url_path differs/m)
  })
  test('a wrong key: the checkpoints fail, exit 3', async () => {
    const other = join(dir, 'other-key')
    writeFileSync(other, 'another-key-0123456789abcdef')
    const r = await runCli(['verify', '--store', store, '--key-file', other])
    expect(r.code).toBe(3)
    expect(r.stdout).toMatch(/invalid MAC/)
  })
  test('usage errors: a bad --opensearch URL, short key rejected without echoing it, missing store', async () => {
    const os = await runCli(['verify', '--opensearch', 'not-a-url'])
    expect(os.code).toBe(2)
    expect(os.stderr).toMatch(/opensearch\.node/)
    const short = join(dir, 'short')
    writeFileSync(short, 'tiny-secret')
    const k = await runCli(['verify', '--store', store, '--key-file', short])
    expect(k.code).toBe(2)
    expect(k.stderr).toMatch(/at least 16 bytes/)
    expect(k.stderr).not.toContain('tiny-secret')
    const missing = await runCli(['verify', '--store', join(dir, 'nope.duckdb')])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toMatch(/no store at/)
    const size = await runCli(['verify', '--store', store, '--memory-limit', 'lots'])
    expect([size.code, size.stderr]).toEqual([2, expect.stringContaining('--memory-limit: not a size like 64MB or 1GB: lots')])
  })
})

describe('envoy-audit verify on a store without a ledger', () => {
  test('says there is nothing to verify (exit 1), neither intact nor tampered', async () => {
    const path = join(dir, 'plain.duckdb')
    const s = new DuckDbStore({ path, threads: 1 })
    await s.start()
    await s.close()
    const r = await runCli(['verify', '--store', path])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/has no integrity ledger/)
    expect(r.stdout).toBe('')
  })

  test('--export-heads writes signed heads of an intact store, --heads checks them, a tampered store exports none', async () => {
    const heads = join(dir, 'heads.json')
    const exported = await runCli(['verify', '--store', store, '--key-file', keyFile, '--export-heads', heads])
    expect([exported.code, exported.stderr]).toEqual([0, `heads of 1 streams written to ${heads}\n`])
    const file = JSON.parse(readFileSync(heads, 'utf8')) as { format: string; heads: { mac: string | null }[] }
    expect(file.format).toBe('envoy-audit-heads/1')
    expect(file.heads.map((h) => typeof h.mac)).toEqual(['string'])
    const checked = await runCli(['verify', '--store', store, '--key-file', keyFile, '--heads', heads])
    expect(checked.code).toBe(0)
    const other = join(dir, 'heads-other.json')
    const tampered = await copyAndTamper('export-tampered', 'DELETE FROM events WHERE id = (SELECT min(id) FROM events)')
    const refused = await runCli(['verify', '--store', tampered, '--key-file', keyFile, '--export-heads', other])
    expect([refused.code, refused.stderr]).toEqual([3, 'heads not exported: the store is not intact\n'])
    expect(existsSync(other)).toBe(false)
  }, 90_000)
})
