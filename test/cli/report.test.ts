import { existsSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'
import { runCli } from '../helpers/cli.js'

// The Istio JSON sample values of /work/shared/reference/envoy-istio-log-formats.md section a.1, as an
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
    const bad = await runCli(['report', '--store', store, '--since', 'last tuesday'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('--since must be a duration')
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
    const { loadConnectionConfig, loadSinkConfig } = await import('../../src/sinks/opensearch/config.js')
    const { createParser } = await import('../../src/parse/index.js')
    const { applyStages, createTransformStages } = await import('../../src/pipeline/transforms.js')
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
      const sink = new OpenSearchSink({ connection: loadConnectionConfig({ node: os.url }), config: loadSinkConfig({ flushIntervalMs: 0 }) })
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
