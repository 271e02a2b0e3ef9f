import { appendFileSync, mkdtempSync, readFileSync, existsSync, writeFileSync } from 'node:fs'
import { gzipSync } from 'node:zlib'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'
import { runCli } from '../helpers/cli.js'
import { liveCli } from '../helpers/live-cli.js'

// Public lines: the typed JSON example values are public samples of Istio's default JSON format
// (istio/istio pilot/pkg/model/telemetry_logging.go); the RBAC text line follows the kubeflow denial
// of kubeflow/community-distribution#2858;
// the istio-agent line is from https://github.com/istio/istio/issues/31555.
const JSON_LINE =
  '{"authority":"reviews:9080","bytes_received":0,"bytes_sent":358,"connection_termination_details":null,"downstream_local_address":"10.124.1.5:9080","downstream_remote_address":"10.124.0.13:43612","duration":15,"method":"GET","path":"/reviews/0","protocol":"HTTP/1.1","request_id":"6e8e2e5c-2f1a-4a0e-9b1a-4e7f0f3b2c11","requested_server_name":"outbound_.9080_._.reviews.default.svc.cluster.local","response_code":200,"response_code_details":"via_upstream","response_flags":"-","route_name":"default","start_time":"2022-09-08T12:51:05.656Z","upstream_cluster":"inbound|9080||","upstream_host":"10.124.1.5:9080","upstream_local_address":"127.0.0.6:37685","upstream_service_time":"14","upstream_transport_failure_reason":null,"user_agent":"curl/7.79.1","x_forwarded_for":null}'
const RBAC_TEXT =
  '[2022-07-22T12:24:12.945Z] "GET /ratings/0 HTTP/1.1" 403 - rbac_access_denied_matched_policy[none] - "-" 0 19 0 - "-" "curl/7.79.1" "abc" "ratings:9080" "-" inbound|9080|| - 10.1.1.5:9080 10.1.1.9:40000 - -'
const AGENT_LINE = '2021-03-16T09:29:20.896837Z info Envoy proxy is ready'

describe('envoy-audit parse', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ea-parse-'))

  test('turns mixed input into enriched events and reasoned dead letters, with a summary on stderr', async () => {
    const input = join(dir, 'mixed.log')
    writeFileSync(input, [JSON_LINE, RBAC_TEXT, AGENT_LINE, '{"truncated": '].join('\n') + '\n')
    const dlq = join(dir, 'dlq.ndjson')
    const r = await runCli(['parse', input, '--dlq', dlq])
    expect(r.code).toBe(0)
    const events = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
    expect(events).toHaveLength(2)
    expect(events[0]['@timestamp']).toBe('2022-09-08T12:51:05.656Z')
    expect(events[0].mesh.reporter).toBe('destination')
    expect(events[0].audit.source).toEqual({ kind: 'file', file: input, line: 1, offset: '0' })
    expect(events[1].audit.finding_codes).toContain('authz_denied')
    expect(events[1].envoy.rbac_policy).toBe('none')
    const dead = readFileSync(dlq, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
    expect(dead.map((d) => d.reason)).toEqual(['EA_PARSE_NOT_ACCESS_LOG', 'EA_PARSE_INVALID_JSON'])
    expect(dead[0].raw).toBe(AGENT_LINE)
    expect(dead[1].source.line).toBe(4)
    expect(r.stderr).toMatch(/read 4 records: 2 events, 2 dead letters/)
  })

  test('reads stdin and creates no dead-letter file when nothing is dead-lettered', async () => {
    const dlq = join(dir, 'none.ndjson')
    const r = await runCli(['parse', '--dlq', dlq, '-q'], { input: JSON_LINE + '\n' })
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout).audit.source.kind).toBe('stdin')
    expect(r.stderr).not.toMatch(/read \d+ records/)
    expect(existsSync(dlq)).toBe(false)
  })

  test('a missing input file is an I/O error with exit code 1 and a clear message', async () => {
    const r = await runCli(['parse', join(dir, 'missing.log'), '--dlq', join(dir, 'x.ndjson')])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('missing.log')
    expect(r.stderr).toContain('EA_IO')
  })

  test('a bad option value is a usage error with exit code 2', async () => {
    const r = await runCli(['parse', '--format', 'nope'])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/format/)
  })

  test('--workers 2 writes the same bytes, dead letters and summary as --workers 0; a bad value is a usage error', async () => {
    const input = join(dir, 'workers.log')
    const fixture = readFileSync('test/fixtures/envoy/mixed-real-world.log', 'utf8')
    writeFileSync(input, fixture.repeat(40))
    const runs = []
    for (const workers of ['0', '2']) {
      const dlq = join(dir, `dlq-${workers}.ndjson`)
      const r = await runCli(['parse', input, '--dlq', dlq, '--workers', workers])
      expect(r.code).toBe(0)
      const dead = readFileSync(dlq, 'utf8').replace(/"at":"[^"]*",?/g, '')
      runs.push({ stdout: r.stdout, dead, summary: r.stderr.split('\n').find((l) => l.startsWith('read ')) })
    }
    expect(runs[1]).toEqual(runs[0])
    expect(runs[0]!.stdout.split('\n').length).toBeGreaterThan(500)
    const bad = await runCli(['parse', input, '--workers', 'many'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/--workers/)
  }, 60_000)
})

describe('envoy-audit parse: custom formats from the command line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ea-parse-custom-'))

  test('--field-map FILE maps a custom JSON format onto canonical fields', async () => {
    const map = join(dir, 'map.yaml')
    writeFileSync(
      map,
      'name: acme\nfields:\n  start_time: ts\n  method: verb\n  path: uri\n  response_code: status\n  downstream_peer_uri_san: peer\n',
    )
    const line =
      '{"ts":"2024-03-01T10:00:00.000Z","verb":"POST","uri":"/pay?x=1","status":201,"peer":"spiffe://cluster.local/ns/shop/sa/checkout"}'
    const r = await runCli(['parse', '--format', 'custom-json', '--field-map', map, '--dlq', join(dir, 'd1.ndjson')], {
      input: line + '\n',
    })
    expect(r.code).toBe(0)
    const e = JSON.parse(r.stdout)
    expect(e.envoy.format).toBe('custom:acme')
    expect(e.http.request.method).toBe('POST')
    expect(e.http.response.status_code).toBe(201)
    expect(e.mesh.source.spiffe_id).toBe('spiffe://cluster.local/ns/shop/sa/checkout')
  })

  test('--field-map with neither a preset nor a file is a usage error naming the value', async () => {
    const r = await runCli(['parse', '--field-map', join(dir, 'missing.yaml')], { input: '' })
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('missing.yaml')
  })

  test('--text-format parses a custom TEXT access-log format', async () => {
    const fmt = '[%START_TIME%] %REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %RESPONSE_CODE% %DURATION% %DOWNSTREAM_REMOTE_ADDRESS%'
    const line = '[2024-03-01T10:00:00.000Z] GET /health 200 3 10.1.2.3:5555'
    const r = await runCli(['parse', '--format', 'custom-text', '--text-format', fmt, '--dlq', join(dir, 'd2.ndjson')], {
      input: line + '\n',
    })
    expect(r.code).toBe(0)
    const e = JSON.parse(r.stdout)
    expect(e['@timestamp']).toBe('2024-03-01T10:00:00.000Z')
    expect(e.url.path).toBe('/health')
    expect(e.source).toMatchObject({ ip: '10.1.2.3', port: 5555 })
    expect(e.event.duration).toBe(3_000_000)
  })
})

describe('envoy-audit parse: compressed and unreadable input', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ea-parse-gz-'))

  test('a gzip file (a rotated kubelet log) is read as text, by its magic bytes, also from stdin', async () => {
    const gz = gzipSync([JSON_LINE, RBAC_TEXT].join('\n') + '\n')
    const file = join(dir, '0.log.20240301-101500.gz')
    writeFileSync(file, gz)
    const r = await runCli(['parse', file, '--dlq', join(dir, 'd1.ndjson')])
    expect(r.code).toBe(0)
    expect(r.stderr).toMatch(/read 2 records: 2 events, 0 dead letters/)
    expect(r.stderr).not.toContain('warning')
    expect(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).http.response.status_code),
    ).toEqual([200, 403])
    const piped = await runCli(['parse', '-', '--dlq', join(dir, 'd2.ndjson')], { input: gz })
    expect(piped.stderr).toMatch(/read 2 records: 2 events, 0 dead letters/)
  })

  test('a file that is mostly dead letters is named on stderr with its share and top reason', async () => {
    const bin = join(dir, 'image.bin')
    writeFileSync(
      bin,
      Buffer.concat([
        Buffer.from([0x89, 0x50, 0x4e, 0x47, 0xff, 0xfe, 0x0a]),
        Buffer.from([0xc3, 0x28, 0x0a]),
        Buffer.from(AGENT_LINE + '\n'),
      ]),
    )
    const good = join(dir, 'good.log')
    writeFileSync(good, [JSON_LINE, RBAC_TEXT, AGENT_LINE].join('\n') + '\n')
    const r = await runCli(['parse', good, bin, '--dlq', join(dir, 'd3.ndjson')])
    expect(r.code).toBe(0)
    const warnings = r.stderr.split('\n').filter((l) => l.includes('warning'))
    expect(warnings).toEqual([
      `envoy-audit parse: warning: ${bin}: 3 of 3 records (100%) are dead letters, most of them EA_PARSE_INVALID_UTF8 (2): binary or compressed data, or a text encoding other than UTF-8?`,
    ])
  })
})

describe('envoy-audit parse: progress without a terminal', () => {
  test('a long parse says how far it is on stderr every --progress-every seconds, stdout stays events only', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ea-parse-progress-'))
    const cli = liveCli(['parse', '-', '--dlq', join(dir, 'd.ndjson'), '--progress-every', '0.2'])
    cli.write(JSON_LINE + '\n')
    await cli.waitFor((out) => /parse: 1 records/.test(out))
    await new Promise((r) => setTimeout(r, 500))
    cli.child.stdin?.end(RBAC_TEXT + '\n')
    expect((await cli.exited).code).toBe(0)
    const lines = cli
      .stderr()
      .split('\n')
      .filter((l) => /^envoy-audit parse: \d+ records \(\d+\/s\), \d+ events, \d+ dead letters/.test(l))
    expect(lines.length, cli.stderr()).toBeGreaterThanOrEqual(2)
    expect(
      cli
        .stdout()
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).http.response.status_code),
    ).toEqual([200, 403])
  }, 60_000)
})

describe('envoy-audit parse --follow', () => {
  test('events appear as lines are appended; Ctrl-C stops with exit 0, and --state makes the next run go on where it stopped', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ea-parse-follow-'))
    const log = join(dir, 'access.log')
    const state = join(dir, 'positions.json')
    writeFileSync(log, JSON_LINE + '\n')
    const args = ['parse', '--follow', log, '--state', state, '--dlq', join(dir, 'd.ndjson'), '--progress-every', '0']
    const first = liveCli(args)
    await first.waitFor(() => first.stdout().split('\n').length === 2)
    appendFileSync(log, RBAC_TEXT + '\n')
    await first.waitFor(() => first.stdout().split('\n').length === 3)
    first.child.kill('SIGINT')
    expect((await first.exited).code).toBe(0)
    expect(first.stderr()).toMatch(/read 2 records: 2 events/)
    expect(first.stderr()).toContain(`stopped: 2 records written; read positions saved in ${state}: the same command goes on from there`)

    appendFileSync(log, RBAC_TEXT.replace('/ratings/0', '/ratings/1') + '\n')
    const second = liveCli(args)
    await second.waitFor(() => second.stdout().split('\n').length === 2)
    second.child.kill('SIGTERM')
    expect((await second.exited).code).toBe(0)
    const events = second
      .stdout()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
    expect(events.map((e) => [e.url.path, e.audit.source.line])).toEqual([['/ratings/1', 3]])
  }, 90_000)

  test('--follow with stdin, or --state without --follow, is a usage error', async () => {
    const a = await runCli(['parse', '--follow', '-'])
    expect(a.code).toBe(2)
    expect(a.stderr).toContain('--follow reads files by name')
    const b = await runCli(['parse', '--state', 'x.json', 'a.log'])
    expect(b.code).toBe(2)
    expect(b.stderr).toContain('--state goes with --follow')
  })
})
