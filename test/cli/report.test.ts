import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'
import { runCli } from '../helpers/cli.js'

// Public sample values of Istio's default JSON format (istio/istio pilot/pkg/model/telemetry_logging.go), as an
// inbound mTLS request (SNI outbound_.9080_._.reviews.default.svc.cluster.local).
const JSON_LINE =
  '{"authority":"reviews:9080","bytes_received":0,"bytes_sent":358,"connection_termination_details":null,"downstream_local_address":"10.124.1.5:9080","downstream_remote_address":"10.124.0.13:43612","duration":15,"method":"GET","path":"/reviews/0","protocol":"HTTP/1.1","request_id":"6e8e2e5c-2f1a-4a0e-9b1a-4e7f0f3b2c11","requested_server_name":"outbound_.9080_._.reviews.default.svc.cluster.local","response_code":200,"response_code_details":"via_upstream","response_flags":"-","route_name":"default","start_time":"2022-09-08T12:51:05.656Z","upstream_cluster":"inbound|9080||","upstream_host":"10.124.1.5:9080","upstream_local_address":"127.0.0.6:37685","upstream_service_time":"14","upstream_transport_failure_reason":null,"user_agent":"curl/7.79.1","x_forwarded_for":null}'

describe('envoy-audit report', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ea-report-'))
  const store = join(dir, 'audit.duckdb')

  test('writes HTML to a file and JSON to stdout, with the same numbers', async () => {
    expect((await runCli(['ingest', '-', '--store', store, '--quiet'], { input: JSON_LINE + '\n' })).code).toBe(0)
    const out = join(dir, 'r.html')
    const html = await runCli(['report', '--store', store, '--out', out])
    expect(html.code).toBe(0)
    expect(html.stderr).toContain(`1 events`)
    expect(readFileSync(out, 'utf8')).toContain('data-metric="events">1<')
    const json = await runCli(['report', '--store', store, '--format', 'json'])
    expect(json.code).toBe(0)
    const data = JSON.parse(json.stdout) as { summary: { events: number }; mtls: { inbound: number; inboundMtls: number } }
    expect(data.summary.events).toBe(1)
    expect(data.mtls).toMatchObject({ inbound: 1, inboundMtls: 1 })
  })

  test('--since narrows the window; bad values are usage errors', async () => {
    const json = await runCli(['report', '--store', store, '--format', 'json', '--since', '2023-01-01T00:00:00Z'])
    expect((JSON.parse(json.stdout) as { summary: { events: number } }).summary.events).toBe(0)
    for (const [option, value] of [
      ['--since', 'last tuesday'],
      ['--since', 'March 7, 2024'],
      ['--until', '2022-02-30'],
    ]) {
      const bad = await runCli(['report', '--store', store, option!, value!])
      expect([bad.code, bad.stderr]).toEqual([2, expect.stringContaining(`${option}: "${value}" is not an ISO 8601 time`)])
    }
  }, 90_000)

  test('--memory-limit: the same report under a small cap; a size DuckDB cannot read is a usage error', async () => {
    const capped = await runCli(['report', '--store', store, '--format', 'json', '--memory-limit', '64MB'])
    expect(capped.code).toBe(0)
    expect((JSON.parse(capped.stdout) as { summary: { events: number } }).summary.events).toBe(1)
    const bad = await runCli(['report', '--store', store, '--memory-limit', '1 gigabyte'])
    expect([bad.code, bad.stderr]).toEqual([2, expect.stringContaining('--memory-limit: not a size like 256MB or 1GB: 1 gigabyte')])
  }, 90_000)

  test('an empty window says what the store holds: on stderr, in the JSON (storeRange, warnings) and in the HTML', async () => {
    const json = await runCli(['report', '--store', store, '--format', 'json', '--since', '24h'])
    expect(json.code).toBe(0)
    const data = JSON.parse(json.stdout) as {
      summary: { events: number }
      storeRange: { events: number; firstSeen: string; lastSeen: string }
      warnings: string[]
    }
    expect(data.summary.events).toBe(0)
    expect(data.storeRange).toEqual({ events: 1, firstSeen: '2022-09-08T12:51:05.656Z', lastSeen: '2022-09-08T12:51:05.656Z' })
    expect(data.warnings).toEqual([
      expect.stringMatching(/^no events since \S+Z; the store holds 1 event from 2022-09-08T12:51:05.656Z to 2022-09-08T12:51:05.656Z$/),
    ])
    expect(json.stderr).toBe(`envoy-audit report: warning: ${data.warnings[0]}\n`)
    const out = join(dir, 'empty.html')
    const html = await runCli(['report', '--store', store, '--out', out, '--since', '2023-01-01', '--until', '2023-02-01'])
    expect(html.stderr).toContain(
      'warning: no events between 2023-01-01T00:00:00.000Z and 2023-02-01T00:00:00.000Z; the store holds 1 event',
    )
    expect(readFileSync(out, 'utf8')).toMatch(
      /<p class="notice" data-warning>no events between .*the store holds 1 event from 2022-09-08T12:51:05.656Z/,
    )
    const full = await runCli(['report', '--store', store, '--format', 'json'])
    expect([full.stderr, (JSON.parse(full.stdout) as { warnings: string[] }).warnings]).toEqual(['', []])
  }, 90_000)

  test('a time without a zone is UTC, not the host zone (child process in New York time)', async () => {
    const env = { TZ: 'America/New_York' }
    const events = async (...args: string[]) => {
      const r = await runCli(['report', '--store', store, '--format', 'json', ...args], { env })
      expect(r.code).toBe(0)
      return (JSON.parse(r.stdout) as { summary: { events: number } }).summary.events
    }
    // The event is at 12:51:05.656Z; read in New York time (UTC-4 that day) 12:00 would be 16:00Z.
    expect(await events('--since', '2022-09-08T12:00:00')).toBe(1)
    expect(await events('--until', '2022-09-08T12:51:05')).toBe(0)
    expect(await events('--since', '2022-09-08T12:00:00-04:00')).toBe(0)
    const help = await runCli(['report', '--help'])
    expect(help.stdout.replace(/\s+/g, ' ')).toContain(
      '--since <time> only events at or after this time: ISO 8601, UTC unless it carries a zone',
    )
  }, 90_000)

  test('a file that is not a store (an NDJSON file) is refused naming the path, and is left as it was', async () => {
    const ndjson = join(dir, 'events.ndjson')
    writeFileSync(ndjson, `${JSON_LINE}\n`)
    const r = await runCli(['report', '--store', ndjson, '--format', 'json'])
    expect(r.code).toBe(1)
    expect(r.stderr).toBe(
      `envoy-audit: ${ndjson} is not an envoy-audit store (not a DuckDB database file): pass the store written by \`envoy-audit ingest\` or \`demo\` [EA_IO]\n`,
    )
    expect(readFileSync(ndjson, 'utf8')).toBe(`${JSON_LINE}\n`)
    const empty = join(dir, 'empty.duckdb')
    writeFileSync(empty, '')
    expect((await runCli(['report', '--store', empty])).stderr).toContain(`${empty} is not an envoy-audit store`)
  })

  test('a missing store is an error, and no report file is written', async () => {
    const out = join(dir, 'none.html')
    const r = await runCli(['report', '--store', join(dir, 'nope.duckdb'), '--out', out])
    expect(r.code).toBe(1)
    expect(existsSync(out)).toBe(false)
  })
})

describe('envoy-audit report --opensearch (against the OpenSearch test server)', () => {
  test('reads the same numbers from OpenSearch as from the embedded store, and --store/--opensearch are exclusive', async () => {
    const { TestOpenSearch } = await import('../support/opensearch-server/index.js')
    const { refreshIndex } = await import('../support/opensearch-server/state.js')
    const { OpenSearchSink } = await import('../../src/sinks/opensearch/sink.js')
    const { loadConnectionConfig } = await import('../../src/connections/opensearch.js')
    const { loadSinkConfig } = await import('../../src/sinks/opensearch/config.js')
    const { createParser } = await import('../../src/parse/index.js')
    const { applyStages } = await import('../../src/pipeline/transforms.js')
    const { createTransformStages } = await import('../../src/compose/transform-stages.js')
    const { loadTransformsConfig } = await import('../../src/config/transforms.js')
    const os = await TestOpenSearch.start()
    try {
      // setup first, as in production: the templates attach the alias report reads to the indices the sink writes.
      const { Client } = await import('@opensearch-project/opensearch')
      const { runSetup } = await import('../../src/lifecycle/setup.js')
      const { loadLifecycleConfig } = await import('../../src/lifecycle/config.js')
      const admin = new Client({ node: os.url })
      await runSetup(admin, loadLifecycleConfig())
      await admin.close()
      const parsed = createParser().parseBatch([{ value: JSON_LINE, coords: { kind: 'stdin', file: '-', line: 1, offset: '0' } }])
      const { events } = applyStages(createTransformStages(loadTransformsConfig()), parsed.events)
      const sink = new OpenSearchSink({
        connection: loadConnectionConfig({ node: os.url }),
        config: loadSinkConfig({ flushIntervalMs: 0 }),
      })
      await sink.start()
      expect((await sink.write(events)).rejected).toEqual([])
      await sink.close()
      os.state.indices.forEach((i) => refreshIndex(i))
      const json = await runCli(['report', '--opensearch', os.url, '--format', 'json'])
      expect(json.stderr).toBe('')
      expect(json.code).toBe(0)
      const data = JSON.parse(json.stdout) as { summary: { events: number }; mtls: { inbound: number; inboundMtls: number } }
      expect(data.summary.events).toBe(1)
      expect(data.mtls).toMatchObject({ inbound: 1, inboundMtls: 1 })
      const both = await runCli(['report', '--opensearch', os.url, '--store', 'x.duckdb'])
      expect(both.code).toBe(2)
    } finally {
      await os.close()
    }
  })
})
