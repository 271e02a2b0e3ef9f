import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'
import { runCli } from '../helpers/cli.js'
import { formatTable } from '../../src/cli/sql.js'

describe('envoy-audit sql', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ea-sql-'))

  test('refuses a store that does not exist instead of creating an empty one', async () => {
    const r = await runCli(['sql', 'SELECT 1', '--store', join(dir, 'missing.duckdb')])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/no store at .*missing\.duckdb.*\[EA_IO\]/)
  })

  test('refuses a file that is not a DuckDB store (an NDJSON export) naming it, and leaves it as it was', async () => {
    const ndjson = join(dir, 'events.ndjson')
    writeFileSync(ndjson, '{"event":{"id":"a"}}\n')
    const r = await runCli(['sql', 'SELECT count(*) FROM events', '--store', ndjson])
    expect([r.code, r.stdout]).toEqual([1, ''])
    expect(r.stderr).toBe(
      `envoy-audit: ${ndjson} is not an envoy-audit store (not a DuckDB database file): pass the store written by \`envoy-audit ingest\` or \`demo\` [EA_IO]\n`,
    )
    expect(readFileSync(ndjson, 'utf8')).toBe('{"event":{"id":"a"}}\n')
  })

  test('prints a table, or NDJSON with --json; SQL errors are EA_STORE_QUERY', async () => {
    const store = join(dir, 's.duckdb')
    await runCli(['ingest', '-', '--store', store, '--quiet'], { input: '' })
    const table = await runCli(['sql', "SELECT 42 AS answer, 'x' AS label", '--store', store])
    expect(table.code).toBe(0)
    expect(table.stdout).toMatch(/answer │ label\n─+┼─+\n42 +│ x\n\(1 row\)\n/)
    const json = await runCli(['sql', 'SELECT count(*) AS n FROM events', '--store', store, '--json'])
    expect(json.stdout).toBe('{"n":0}\n')
    const bad = await runCli(['sql', 'SELEC nonsense', '--store', store])
    expect(bad.code).toBe(1)
    expect(bad.stderr).toContain('[EA_STORE_QUERY]')
  }, 90_000)

  test('--memory-limit: caps DuckDB (1GB by default), refuses a bad size, names the cap when a query exceeds it', async () => {
    const store = join(dir, 'mem.duckdb')
    await runCli(['ingest', '-', '--store', store, '--quiet'], { input: '' })
    const setting = "SELECT current_setting('memory_limit') AS m"
    expect((await runCli(['sql', setting, '--store', store, '--json'])).stdout).toBe('{"m":"953.6 MiB"}\n')
    expect((await runCli(['sql', setting, '--store', store, '--json', '--memory-limit', '256MB'])).stdout).toBe('{"m":"244.1 MiB"}\n')
    const bad = await runCli(['sql', 'SELECT 1', '--store', store, '--memory-limit', 'lots'])
    expect([bad.code, bad.stdout]).toEqual([2, ''])
    expect(bad.stderr).toContain('--memory-limit: not a size like 256MB or 1GB: lots [EA_USAGE]')
    // An aggregate DuckDB cannot spill: past the cap it fails, and says which cap and how to raise it.
    const big = await runCli([
      'sql',
      "SELECT length(string_agg(x::VARCHAR, ',')) AS n FROM range(3000000) t(x)",
      '--store',
      store,
      '--memory-limit',
      '4MB',
    ])
    expect(big.code).toBe(1)
    expect(big.stderr).toMatch(
      /Out of Memory Error.*\(the store's DuckDB memory limit is 4MB: raise it with --memory-limit\) \[EA_STORE_QUERY\]/s,
    )
  }, 90_000)

  test('table cells neutralise terminal control characters from log content', () => {
    const out = formatTable({ columns: ['path'], types: ['VARCHAR'], rows: [{ path: '/a\u001b[2Jb' }] })
    expect(out).not.toContain('\u001b')
    expect(out).toContain('\\u001b[2Jb')
  })
})
