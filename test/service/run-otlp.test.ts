/**
 * `envoy-audit run` with `source.kind: otlp`, as a user runs it (its own process, a YAML config), fed by
 * the OpenTelemetry JS SDK's OTLP/HTTP (protobuf) and OTLP/gRPC exporters:
 * - into the embedded store: every log record is an event in the store or a dead letter in the file;
 * - into OpenSearch (the project's test server, whose faults stall the sink): an export request is
 *   answered only after the sink acknowledged its records: while bulk requests fail, the exporter waits
 *   and nothing is indexed; once they succeed it gets its answer;
 * - into a real OpenSearch node when OPENSEARCH_URL is set (unique index prefix per run).
 */
import { mkdtempSync, readFileSync } from 'node:fs'
import { createServer, connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { ExportResultCode, type ExportResult } from '@opentelemetry/core'
import { LoggerProvider, SimpleLogRecordProcessor, InMemoryLogRecordExporter, type ReadableLogRecord } from '@opentelemetry/sdk-logs'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { OTLPLogExporter as GrpcExporter } from '@opentelemetry/exporter-logs-otlp-grpc'
import { OTLPLogExporter as HttpProtoExporter } from '@opentelemetry/exporter-logs-otlp-proto'
import { TestOpenSearch } from '../support/opensearch-server/index.js'
import { setupOpenSearch, startService, waitFor, type ServiceProcess } from '../helpers/service-process.js'
import { DuckDbStore } from '../../src/store/duckdb-store.js'

const LINE = (i: number) =>
  `[2024-05-01T10:00:${String(i % 60).padStart(2, '0')}.000Z] "GET /api/items/${i} HTTP/1.1" 200 - via_upstream - "-" 0 ${100 + i} 3 2 ` +
  `"-" "curl/8.0" "req-otlp-${i}" "catalog.shop:8080" "10.0.0.5:8080" inbound|8080|| 127.0.0.6:4000 10.0.0.5:8080 ` +
  `10.0.1.9:5000${i % 10} outbound_.8080_._.catalog.shop.svc.cluster.local default`
const JUNK = (i: number) => `2024-05-01T10:00:00.000000Z info envoy proxy message ${i}`

function logRecords(bodies: string[]): ReadableLogRecord[] {
  const memory = new InMemoryLogRecordExporter()
  const provider = new LoggerProvider({
    resource: resourceFromAttributes({ 'k8s.pod.name': 'catalog-7d9f-abcde', 'k8s.namespace.name': 'shop' }),
    processors: [new SimpleLogRecordProcessor({ exporter: memory })],
  })
  const logger = provider.getLogger('envoy-access')
  for (const body of bodies) logger.emit({ body })
  return memory.getFinishedLogRecords()
}

type Exporter = { export(items: ReadableLogRecord[], cb: (r: ExportResult) => void): void; shutdown(): Promise<void> }
const exportWith = (exporter: Exporter, records: ReadableLogRecord[]): Promise<ExportResult> =>
  new Promise((resolve) => exporter.export(records, resolve))

async function freePort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const port = (s.address() as { port: number }).port
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

const listening = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const c = connect(port, '127.0.0.1')
    c.once('connect', () => (c.destroy(), resolve(true)))
    c.once('error', () => resolve(false))
  })

async function otlpService(dir: string, name: string, sink: unknown): Promise<{ svc: ServiceProcess; grpc: number; http: number }> {
  const grpc = await freePort()
  const http = await freePort()
  const svc = startService(
    {
      source: { kind: 'otlp', otlp: { grpc: { host: '127.0.0.1', port: grpc }, http: { host: '127.0.0.1', port: http } } },
      sink,
      deadLetter: { kind: 'file', path: join(dir, `${name}-dl.ndjson`) },
      service: { port: 0, host: '127.0.0.1', shutdownTimeoutSeconds: 20 },
      log: { level: 'info' },
    },
    join(dir, `${name}.yaml`),
  )
  await waitFor(async () => svc.child.exitCode !== null || ((await listening(http)) && (await listening(grpc))), 30_000, 'the receiver')
  expect(svc.child.exitCode, svc.stderr()).toBeNull()
  return { svc, grpc, http }
}

async function stop(svc: ServiceProcess): Promise<void> {
  svc.child.kill('SIGTERM')
  expect(await svc.exited, svc.stderr()).toBe(0)
}

const deadLetterLines = (path: string): { reason: string; raw?: string }[] =>
  readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { reason: string; raw?: string })

const dir = mkdtempSync(join(tmpdir(), 'ea-run-otlp-'))

describe('envoy-audit run: otlp source → embedded store', () => {
  test('every log record of every export is an event in the store or a dead letter; exports succeed once stored', async () => {
    const storePath = join(dir, 'store.duckdb')
    const { svc, grpc, http } = await otlpService(dir, 'embedded', { kind: 'embedded', embedded: { path: storePath } })
    const exporters: Exporter[] = [
      new HttpProtoExporter({ url: `http://127.0.0.1:${http}/v1/logs`, timeoutMillis: 30_000 }),
      new GrpcExporter({ url: `http://127.0.0.1:${grpc}`, timeoutMillis: 30_000 }),
    ]
    try {
      let n = 0
      for (let round = 0; round < 3; round++) {
        for (const exporter of exporters) {
          const bodies = Array.from({ length: 20 }, () => (n++ % 10 === 9 ? JUNK(n) : LINE(n)))
          const result = await exportWith(exporter, logRecords(bodies))
          expect(result.code, String(result.error)).toBe(ExportResultCode.SUCCESS)
        }
      }
      expect(n).toBe(120)
    } finally {
      await Promise.all(exporters.map((e) => e.shutdown()))
      await stop(svc)
    }
    const store = new DuckDbStore({ path: storePath, threads: 1 })
    try {
      const rows = (await store.sql(`SELECT count(*)::INTEGER AS n, count(DISTINCT id)::INTEGER AS ids FROM events`)).rows[0]!
      expect(rows).toEqual({ n: 108, ids: 108 })
      const kinds = (await store.sql(`SELECT DISTINCT json_extract_string(event_json, '$.audit.source.kind') AS k FROM events`)).rows
      expect(kinds).toEqual([{ k: 'otlp' }])
    } finally {
      await store.close()
    }
    const dl = deadLetterLines(join(dir, 'embedded-dl.ndjson'))
    expect(dl).toHaveLength(12)
    expect(dl.every((d) => d.reason === 'EA_PARSE_NOT_ACCESS_LOG' && (d.raw ?? '').includes('envoy proxy message'))).toBe(true)
  }, 120_000)
})

describe('envoy-audit run: otlp source → OpenSearch (test server)', () => {
  let os: TestOpenSearch
  beforeAll(async () => {
    os = await TestOpenSearch.start()
    await setupOpenSearch(os.url)
  })
  afterAll(async () => {
    await os?.close()
  })

  test('the export is answered only after the sink acknowledged: failing bulk requests hold it, nothing is lost', async () => {
    const { svc, http } = await otlpService(dir, 'os', {
      kind: 'opensearch',
      opensearch: { connection: { node: os.url }, sink: { flushIntervalMs: 20, retry: { initialMs: 50, maxMs: 200 } } },
    })
    const exporter = new HttpProtoExporter({ url: `http://127.0.0.1:${http}/v1/logs`, timeoutMillis: 60_000 })
    try {
      // OpenSearch refuses the next bulk requests: the sink retries, the receiver does not answer.
      os.faults.failRequests(/_bulk/, 503, 12)
      let answered: ExportResult | undefined
      const pending = exportWith(exporter, logRecords(Array.from({ length: 10 }, (_, i) => LINE(1000 + i)))).then((r) => (answered = r))
      await waitFor(() => os.faults.pendingRequestFaults() <= 6, 30_000, 'half of the refused bulk requests')
      expect(answered).toBeUndefined()
      expect(os.docs('envoy-audit-events*')).toHaveLength(0)
      await pending
      expect(answered!.code, String(answered!.error)).toBe(ExportResultCode.SUCCESS)
      expect(os.faults.pendingRequestFaults()).toBe(0)
      expect(os.docs('envoy-audit-events*')).toHaveLength(10)
    } finally {
      await exporter.shutdown()
      await stop(svc)
    }
  }, 120_000)
})

const OPENSEARCH_URL = process.env['OPENSEARCH_URL']

describe.skipIf(OPENSEARCH_URL === undefined)('envoy-audit run: otlp source → real OpenSearch', () => {
  test('exports over OTLP/gRPC become documents in the real node', async () => {
    const prefix = `envoy-audit-otlp-it-${process.pid}-${Date.now()}`
    const { svc, grpc } = await otlpService(dir, 'real', {
      kind: 'opensearch',
      // No setup (it is about delivery): the sink's period indices <alias>-YYYY.MM.DD, as test/integration does.
      opensearch: {
        connection: { node: OPENSEARCH_URL },
        sink: { flushIntervalMs: 20, eventsAlias: prefix, findingsAlias: `${prefix}-findings` },
        requireSetup: false,
      },
    })
    const exporter = new GrpcExporter({ url: `http://127.0.0.1:${grpc}`, timeoutMillis: 30_000 })
    try {
      const result = await exportWith(exporter, logRecords(Array.from({ length: 25 }, (_, i) => LINE(2000 + i))))
      expect(result.code, String(result.error)).toBe(ExportResultCode.SUCCESS)
      // Answered means indexed: the documents are there (after a refresh) without waiting.
      await fetch(`${OPENSEARCH_URL}/${prefix}-*/_refresh`, { method: 'POST' })
      const count = (await (await fetch(`${OPENSEARCH_URL}/${prefix}-*,-${prefix}-findings*/_count`)).json()) as { count: number }
      expect(count.count).toBe(25)
    } finally {
      await exporter.shutdown()
      await stop(svc)
      await fetch(`${OPENSEARCH_URL}/${prefix}-*`, { method: 'DELETE' })
    }
  }, 120_000)
})
