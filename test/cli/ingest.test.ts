import { appendFileSync, existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'
import { runCli } from '../helpers/cli.js'
import { hasScript, liveCli, ptyCli } from '../helpers/live-cli.js'
import { deleteSegmentRows } from '../store/segment-files.js'

// Real public lines: the typed Istio JSON inbound line uses public sample values of Istio's default JSON
// format (istio/istio pilot/pkg/model/telemetry_logging.go); the RBAC denial follows the line of
// kubeflow/community-distribution#2858 (`403 - rbac_access_denied_matched_policy[none]`); the istio-agent
// line is from https://github.com/istio/istio/issues/31555.
const JSON_LINE =
  '{"authority":"reviews:9080","bytes_received":0,"bytes_sent":358,"connection_termination_details":null,"downstream_local_address":"10.124.1.5:9080","downstream_remote_address":"10.124.0.13:43612","duration":15,"method":"GET","path":"/reviews/0","protocol":"HTTP/1.1","request_id":"6e8e2e5c-2f1a-4a0e-9b1a-4e7f0f3b2c11","requested_server_name":"outbound_.9080_._.reviews.default.svc.cluster.local","response_code":200,"response_code_details":"via_upstream","response_flags":"-","route_name":"default","start_time":"2022-09-08T12:51:05.656Z","upstream_cluster":"inbound|9080||","upstream_host":"10.124.1.5:9080","upstream_local_address":"127.0.0.6:37685","upstream_service_time":"14","upstream_transport_failure_reason":null,"user_agent":"curl/7.79.1","x_forwarded_for":null}'
const RBAC_TEXT =
  '[2022-07-22T12:24:12.945Z] "GET /ratings/0 HTTP/1.1" 403 - rbac_access_denied_matched_policy[none] - "-" 0 19 0 - "-" "curl/7.79.1" "abc" "ratings:9080" "-" inbound|9080|| - 10.1.1.5:9080 10.1.1.9:40000 - -'
const AGENT_LINE = '2021-03-16T09:29:20.896837Z info Envoy proxy is ready'

describe('envoy-audit ingest', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ea-ingest-'))
  const input = join(dir, 'mixed.log')
  writeFileSync(input, [JSON_LINE, RBAC_TEXT, AGENT_LINE].join('\n') + '\n')
  const store = join(dir, 'audit.duckdb')

  test('stores events, dead-letters the rest next to the store, and is idempotent on re-ingest', async () => {
    const first = await runCli(['ingest', input, '--store', store])
    expect(first.code).toBe(0)
    // stderr is not a TTY here: no progress bar, exactly one summary line.
    expect(first.stderr.trim().split('\n')).toHaveLength(1)
    expect(first.stderr).toMatch(/read 3 records: 2 events, 1 dead letters \(EA_PARSE_NOT_ACCESS_LOG 1\).*stored 2 new events/)
    const dlq = readFileSync(join(dir, 'dead-letters.ndjson'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { reason: string; raw: string })
    expect(dlq.map((d) => [d.reason, d.raw])).toEqual([['EA_PARSE_NOT_ACCESS_LOG', AGENT_LINE]])

    const second = await runCli(['ingest', input, '--store', store, '--dlq', join(dir, 'second-dlq.ndjson')])
    expect(second.code).toBe(0)
    expect(second.stderr).toContain('stored 0 new events (2 already stored)')

    const count = await runCli([
      'sql',
      "SELECT count(*) AS n, count(*) FILTER (WHERE list_contains(finding_codes, 'authz_denied')) AS denied FROM events",
      '--store',
      store,
      '--json',
    ])
    expect(JSON.parse(count.stdout)).toEqual({ n: 2, denied: 1 })
  })

  test('reads standard input with -', async () => {
    const s = join(dir, 'stdin.duckdb')
    const r = await runCli(['ingest', '-', '--store', s, '--quiet'], { input: JSON_LINE + '\n' })
    expect(r.code).toBe(0)
    expect(r.stderr).toBe('')
    const q = await runCli(['sql', 'SELECT source_kind, source_line FROM events', '--store', s, '--json'])
    expect(JSON.parse(q.stdout)).toEqual({ source_kind: 'stdin', source_line: 1 })
  })

  test('--batch-records sets the records per store write (one segment each here), and only 1 to 100000 is taken', async () => {
    const segments = async (s: string): Promise<number> =>
      Number(JSON.parse((await runCli(['sql', 'SELECT count(*) AS n FROM store_segments', '--store', s, '--json'])).stdout).n)
    // Five lines of one hour: one segment per write.
    const lines = join(dir, 'five.log')
    writeFileSync(
      lines,
      [1, 2, 3, 4, 5].map((i) => JSON_LINE.replace('05.656Z', `0${i}.656Z`).replace('6e8e2e5c', `6e8e2e5${i}`)).join('\n') + '\n',
    )
    const two = join(dir, 'batch-two.duckdb')
    const r = await runCli(['ingest', lines, '--store', two, '-q', '--batch-records', '2'])
    expect([r.code, r.stderr]).toEqual([0, ''])
    expect(await segments(two)).toBe(3)
    const whole = join(dir, 'batch-default.duckdb')
    expect((await runCli(['ingest', lines, '--store', whole, '-q'])).code).toBe(0)
    expect(await segments(whole)).toBe(1)
    for (const bad of ['0', '100001', '2.5', 'ten', '-3']) {
      const b = await runCli(['ingest', input, '--store', join(dir, 'batch-bad.duckdb'), '--batch-records', bad])
      expect([b.code, b.stderr], bad).toEqual([2, expect.stringContaining('--batch-records must be a whole number from 1 to 100000')])
    }
    expect(existsSync(join(dir, 'batch-bad.duckdb'))).toBe(false)
  })

  test('a missing input file is an I/O error with a clear message', async () => {
    const r = await runCli(['ingest', join(dir, 'nope.log'), '--store', join(dir, 'x.duckdb')])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('nope.log')
  })
})

describe('envoy-audit ingest --layout segments', () => {
  test('stores into segments, migrates a table store, re-ingest stores nothing twice, and sql, flows and verify read it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ea-ingest-seg-'))
    const input = join(dir, 'mixed.log')
    writeFileSync(input, [JSON_LINE, RBAC_TEXT, AGENT_LINE].join('\n') + '\n')
    const fresh = join(dir, 'fresh.duckdb')
    const migrated = join(dir, 'migrated.duckdb')
    expect((await runCli(['ingest', input, '--store', fresh, '-q', '--layout', 'segments'])).code).toBe(0)
    // New stores get segments: the store to migrate is made a table store explicitly.
    expect((await runCli(['ingest', input, '--store', migrated, '-q', '--layout', 'table'])).code).toBe(0)
    const again = await runCli(['ingest', input, '--store', migrated, '--layout', 'segments', '--dlq', join(dir, 'again.ndjson')])
    expect(again.stderr).toContain('stored 0 new events (2 already stored)')
    for (const store of [fresh, migrated]) {
      const rows = await runCli([
        'sql',
        '--store',
        store,
        '--json',
        "SELECT (SELECT count(*) FROM events) AS events, (SELECT value FROM store_meta WHERE key = 'layout') AS layout",
      ])
      expect([rows.code, JSON.parse(rows.stdout)]).toEqual([0, { events: 2, layout: 'segments' }])
      expect(existsSync(join(dir, `${store.endsWith('fresh.duckdb') ? 'fresh' : 'migrated'}.segments`))).toBe(true)
      const flows = await runCli(['flows', '--store', store, '--since', '2022-01-01T00:00:00Z'])
      expect([flows.code, flows.stderr]).toEqual([0, ''])
      expect(flows.stdout).toContain('ratings')
      expect((await runCli(['verify', '--store', store])).code).toBe(0)
    }
    const bad = await runCli(['ingest', input, '--store', fresh, '--retention-days', '-1'])
    expect([bad.code, bad.stderr]).toEqual([2, expect.stringContaining('--retention-days must be a whole number')])
  }, 240_000)
})

describe('envoy-audit ingest keeps the integrity ledger', () => {
  test('verify finds an ingested store intact, and a deleted event after tampering (exit 3)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ea-ingest-verify-'))
    const store = join(dir, 'audit.duckdb')
    const env = { ENVOY_AUDIT_INTEGRITY_KEY: 'k'.repeat(32) }
    expect(
      (await runCli(['ingest', '-', '--store', store, '--quiet'], { input: [JSON_LINE, RBAC_TEXT].join('\n') + '\n', env })).code,
    ).toBe(0)
    const ok = await runCli(['verify', '--store', store], { env })
    expect(ok.stdout + ok.stderr).toMatch(/INTACT: 2 events/)
    expect(ok.code).toBe(0)

    // A new store has the segment layout: the event is deleted from its segment file behind the store's back.
    expect(await deleteSegmentRows(store, 'status_code = 403')).toBe(1)
    const bad = await runCli(['verify', '--store', store], { env })
    expect(bad.code).toBe(3)
    expect(bad.stdout + bad.stderr).toMatch(/deleted 1/)
  })
})

/** Distinct access lines (distinct request ids, so distinct events). */
const manyLines = (n: number): string => Array.from({ length: n }, (_, i) => JSON_LINE.replace('6e8e2e5c', `r${i}`)).join('\n') + '\n'

describe('envoy-audit ingest: progress and interruption without a terminal', () => {
  test('a long ingest writes a plain progress line on stderr every --progress-every seconds', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ea-ingest-progress-'))
    const cli = liveCli(['ingest', '-', '--store', join(dir, 's.duckdb'), '--progress-every', '0.2'])
    cli.write(JSON_LINE.replace('6e8e2e5c', 'p0') + '\n')
    // Handed on after lingerMs (1 s) of idle input, then counted by the next progress line.
    await cli.waitFor((out) => /ingest: 1 records/.test(out))
    for (let i = 1; i < 6; i++) {
      cli.write(JSON_LINE.replace('6e8e2e5c', `p${i}`) + '\n')
      await new Promise((r) => setTimeout(r, 200))
    }
    cli.child.stdin?.end()
    expect((await cli.exited).code).toBe(0)
    const progress = cli
      .stderr()
      .split('\n')
      .filter((l) => /^envoy-audit ingest: \d+ records \(\d+\/s\), \d+ events, \d+ dead letters, \d+s elapsed/.test(l))
    expect(progress.length, cli.stderr()).toBeGreaterThanOrEqual(3)
    expect(cli.stderr()).not.toContain('\x1b')
    expect(cli.stderr()).toMatch(/read 6 records: 6 events/)
  }, 60_000)

  test('SIGTERM stops after storing what was read, says so, and exits 143; the store holds those records', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ea-ingest-term-'))
    const store = join(dir, 's.duckdb')
    const cli = liveCli(['ingest', '-', '--store', store, '--progress-every', '0.1'])
    cli.write(manyLines(2))
    await cli.waitFor((out) => /ingest: 2 records/.test(out))
    cli.child.kill('SIGTERM')
    const { code } = await cli.exited
    expect(cli.stderr()).toMatch(/interrupted: 2 records stored \(2 new events, 0 dead letters\); what followed on stdin was not read/)
    expect(code).toBe(143)
    const q = await runCli(['sql', 'SELECT count(*) AS n FROM events', '--store', store, '--json'])
    expect(JSON.parse(q.stdout)).toEqual({ n: 2 })
  }, 60_000)
})

describe.runIf(hasScript())('envoy-audit ingest on a terminal (a pseudo-terminal from util-linux script)', () => {
  test('the bar shows the percentage of the file and its size, and the terminal is restored at the end', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ea-ingest-tty-'))
    const input = join(dir, 'big.log')
    writeFileSync(input, manyLines(6000))
    const cli = ptyCli(['ingest', input, '--store', join(dir, 's.duckdb')])
    const { code } = await cli.exited
    const screen = cli.stdout()
    expect(code, screen).toBe(0)
    const size = (statSync(input).size / 1024 ** 2).toFixed(1)
    expect(screen).toMatch(new RegExp(`ingest \\S+ \\d+% of ${size.replace('.', '\\.')} MiB \\| \\d+ records`))
    expect(screen).toMatch(/stored 6000 new events/)
    const afterLastHide = screen.slice(screen.lastIndexOf('\x1b[?25l'))
    expect(afterLastHide).toContain('\x1b[?25h')
    expect(afterLastHide).toContain('\x1b[?7h')
  }, 120_000)

  test('Ctrl-C stores what was read, says "interrupted: N records stored", restores the cursor and line wrap, exits 130', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ea-ingest-ctrlc-'))
    const store = join(dir, 's.duckdb')
    const cli = ptyCli(['ingest', '-', '--store', store])
    // Typed at the terminal: the lines are the command's stdin.
    cli.write(manyLines(2))
    await cli.waitFor((out) => / 2 records \| /.test(out))
    cli.write('\x03')
    const { code } = await cli.exited
    const screen = cli.stdout()
    expect(screen).toMatch(/interrupted: 2 records stored \(2 new events, 0 dead letters\)/)
    expect(code, screen).toBe(130)
    const afterLastHide = screen.slice(screen.lastIndexOf('\x1b[?25l'))
    expect(afterLastHide).toContain('\x1b[?25h')
    expect(afterLastHide).toContain('\x1b[?7h')
    const q = await runCli(['sql', 'SELECT count(*) AS n FROM events', '--store', store, '--json'])
    expect(JSON.parse(q.stdout)).toEqual({ n: 2 })
  }, 60_000)
})

describe('envoy-audit ingest --follow', () => {
  test('stores lines as they are appended, stops on SIGTERM with exit 0, keeps its positions next to the store and goes on from them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ea-ingest-follow-'))
    const log = join(dir, 'access.log')
    const store = join(dir, 'audit.duckdb')
    writeFileSync(log, manyLines(3))
    const first = liveCli(['ingest', '--follow', log, '--store', store, '--progress-every', '0.2'])
    await first.waitFor((out) => /ingest: 3 records/.test(out))
    appendFileSync(log, JSON_LINE.replace('6e8e2e5c', 'late') + '\n')
    await first.waitFor((out) => /ingest: 4 records/.test(out))
    first.child.kill('SIGTERM')
    expect((await first.exited).code).toBe(0)
    expect(first.stderr()).toMatch(
      /stopped: 4 records stored; read positions saved in .*file-positions\.json: the same command goes on from there/,
    )
    expect(existsSync(join(dir, 'file-positions.json'))).toBe(true)

    appendFileSync(log, JSON_LINE.replace('6e8e2e5c', 'while-stopped') + '\n')
    const second = liveCli(['ingest', '--follow', log, '--store', store, '--progress-every', '0.2'])
    await second.waitFor((out) => /ingest: 1 records/.test(out))
    second.child.kill('SIGTERM')
    expect((await second.exited).code).toBe(0)
    expect(second.stderr()).toMatch(/read 1 records: 1 events.*stored 1 new events/)
    const q = await runCli(['sql', 'SELECT count(*) AS n FROM events', '--store', store, '--json'])
    expect(JSON.parse(q.stdout)).toEqual({ n: 5 })
  }, 90_000)
})
