/**
 * The OTLP receiver against the OpenTelemetry JS SDK's own exporters (gRPC, HTTP/protobuf, HTTP/JSON) as
 * clients, over real sockets: each export request becomes one raw record per log record, carrying the
 * resource's Kubernetes attributes, and is answered only once the handler acknowledged them.
 */
import { afterEach, describe, expect, test } from 'vitest'
import { ExportResultCode, type ExportResult } from '@opentelemetry/core'
import { LoggerProvider, SimpleLogRecordProcessor, InMemoryLogRecordExporter, type ReadableLogRecord } from '@opentelemetry/sdk-logs'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { OTLPLogExporter as GrpcExporter } from '@opentelemetry/exporter-logs-otlp-grpc'
import { OTLPLogExporter as HttpJsonExporter } from '@opentelemetry/exporter-logs-otlp-http'
import { OTLPLogExporter as HttpProtoExporter } from '@opentelemetry/exporter-logs-otlp-proto'
import { createOtlpSource, otlpSourceConfigSchema, type OtlpSource } from '../../../src/sources/otlp/index.js'
import type { RawRecord } from '../../../src/pipeline/component.js'
import { createParser } from '../../../src/parse/index.js'
import { validateConfig } from '../../../src/compose/config.js'
import { sources } from '../../../src/compose/sources.js'

// Istio's default TEXT access-log line (istio/istio#38213, the outbound line of the 2022-04-01 comment), as
// the envoyOtelAls provider sends it in the log record body.
const ENVOY_LINE =
  '[2022-04-01T03:23:12.736Z] "GET /headers HTTP/1.1" 200 - via_upstream - "-" 0 175 2 1 "-" "curl/7.82.0-DEV" ' +
  '"0d0f0e5c-5a5e-9e2f-a4b7-bdc52d1d1f2c" "httpbin:8000" "10.244.0.26:80" outbound|8000||httpbin.default.svc.cluster.local ' +
  '10.244.0.25:43522 10.96.104.206:8000 10.244.0.25:58426 - default'

const RESOURCE = {
  'k8s.pod.name': 'sleep-5c9d7f9b6-xk2lp',
  'k8s.namespace.name': 'default',
  'k8s.cluster.name': 'east',
  'service.name': 'sleep.default',
}

/** Real SDK log records: emitted through a LoggerProvider into memory, then handed to an OTLP exporter. */
function logRecords(bodies: string[]): ReadableLogRecord[] {
  const memory = new InMemoryLogRecordExporter()
  const provider = new LoggerProvider({
    resource: resourceFromAttributes(RESOURCE),
    processors: [new SimpleLogRecordProcessor({ exporter: memory })],
  })
  const logger = provider.getLogger('envoy-access')
  for (const body of bodies) logger.emit({ body, timestamp: new Date('2022-04-01T03:23:12.800Z') })
  return memory.getFinishedLogRecords()
}

type Exporter = { export(items: ReadableLogRecord[], cb: (r: ExportResult) => void): void; shutdown(): Promise<void> }

function exportWith(exporter: Exporter, records: ReadableLogRecord[]): Promise<ExportResult> {
  return new Promise((resolve) => exporter.export(records, resolve))
}

const clients: Exporter[] = []
let source: OtlpSource | undefined

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.shutdown().catch(() => undefined)))
  await source?.close()
  source = undefined
})

async function startReceiver(
  handler: (records: RawRecord[]) => Promise<void>,
  options: Record<string, unknown> = {},
): Promise<{ grpc: number; http: number }> {
  const config = otlpSourceConfigSchema.parse({
    grpc: { host: '127.0.0.1', port: 0 },
    http: { host: '127.0.0.1', port: 0 },
    ...options,
  })
  source = createOtlpSource(config)
  await source.start()
  await source.run(handler)
  return source.ports()
}

function exporters(ports: { grpc: number; http: number }): [string, Exporter][] {
  const made: [string, Exporter][] = [
    ['gRPC', new GrpcExporter({ url: `http://127.0.0.1:${ports.grpc}`, timeoutMillis: 20_000 })],
    ['HTTP/protobuf', new HttpProtoExporter({ url: `http://127.0.0.1:${ports.http}/v1/logs`, timeoutMillis: 20_000 })],
    ['HTTP/JSON', new HttpJsonExporter({ url: `http://127.0.0.1:${ports.http}/v1/logs`, timeoutMillis: 20_000 })],
  ]
  clients.push(...made.map(([, e]) => e))
  return made
}

describe('OTLP logs receiver (source.kind otlp)', () => {
  test('gRPC, HTTP/protobuf and HTTP/JSON export requests become Envoy events with kubernetes.* from the resource', async () => {
    const got: RawRecord[][] = []
    const ports = await startReceiver(async (records) => {
      got.push(records)
    })
    for (const [name, exporter] of exporters(ports)) {
      const result = await exportWith(exporter, logRecords([ENVOY_LINE, 'not an access log']))
      expect(result.code, `${name}: ${String(result.error)}`).toBe(ExportResultCode.SUCCESS)
    }
    expect(got).toHaveLength(3)
    const parsed = createParser().parseBatch(got.flat())
    expect(parsed.events).toHaveLength(3)
    expect(parsed.deadLetters.map((d) => d.reason)).toEqual([
      'EA_PARSE_NOT_ACCESS_LOG',
      'EA_PARSE_NOT_ACCESS_LOG',
      'EA_PARSE_NOT_ACCESS_LOG',
    ])
    for (const e of parsed.events) {
      expect(e.event.original).toBe(ENVOY_LINE)
      expect(e.kubernetes).toMatchObject({ namespace: 'default', pod: 'sleep-5c9d7f9b6-xk2lp' })
      expect(e.orchestrator?.cluster?.name).toBe('east')
      expect(e.mesh?.upstream_cluster).toBe('outbound|8000||httpbin.default.svc.cluster.local')
      expect(e.audit.source).toMatchObject({ kind: 'otlp', line: 1 })
    }
    // The same line from the same pod is the same event, whatever the transport.
    expect(new Set(parsed.events.map((e) => e.event.id)).size).toBe(1)
    expect(source!.stats()).toMatchObject({ requests: 3, logRecords: 6, acknowledged: 6, failed: 0 })
  })

  test('an export request is answered only after the pipeline acknowledged it (back-pressure end to end)', async () => {
    let release!: () => void
    let gate = Promise.resolve()
    let delivered = 0
    const ports = await startReceiver(async (records) => {
      delivered += records.length
      await gate
    })
    for (const [name, exporter] of exporters(ports)) {
      gate = new Promise<void>((r) => (release = r))
      let answered = false
      const pending = exportWith(exporter, logRecords([ENVOY_LINE])).then((r) => {
        answered = true
        return r
      })
      await expect.poll(() => delivered, { timeout: 10_000 }).toBeGreaterThan(0)
      await new Promise((r) => setTimeout(r, 300))
      expect(answered, `${name} answered before the acknowledgement`).toBe(false)
      expect(source!.stats().inFlightRequests).toBe(1)
      release()
      expect((await pending).code).toBe(ExportResultCode.SUCCESS)
      delivered = 0
    }
  })

  test('a batch the pipeline cannot acknowledge is refused as retryable, never answered as success', async () => {
    let attempts = 0
    const ports = await startReceiver(
      async () => {
        attempts++
        throw new Error('sink down')
      },
      { retryAfterSeconds: 1 },
    )
    // A short timeout bounds the exporter's retries of the 503s.
    const http = new HttpProtoExporter({ url: `http://127.0.0.1:${ports.http}/v1/logs`, timeoutMillis: 5_000 })
    clients.push(http)
    const result = await exportWith(http, logRecords([ENVOY_LINE]))
    expect(result.code).toBe(ExportResultCode.FAILED)
    // The exporter retried the 503 it got (OTLP/HTTP retryable status), so the handler saw it more than once.
    expect(attempts).toBeGreaterThan(1)
    expect(source!.stats().acknowledged).toBe(0)
  }, 60_000)

  test('more requests waiting than maxInFlightRequests: the extra one is refused with 503 and Retry-After', async () => {
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    const ports = await startReceiver(() => gate, { maxInFlightRequests: 1, retryAfterSeconds: 7 })
    const body = JSON.stringify({ resourceLogs: [{ scopeLogs: [{ logRecords: [{ body: { stringValue: ENVOY_LINE } }] }] }] })
    const post = () =>
      fetch(`http://127.0.0.1:${ports.http}/v1/logs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
    const first = post()
    await expect.poll(() => source!.stats().inFlightRequests).toBe(1)
    const second = await post()
    expect([second.status, second.headers.get('retry-after')]).toEqual([503, '7'])
    release()
    expect((await first).status).toBe(200)
    expect(source!.stats().refusedBusy).toBe(1)
  })

  test('a body that is not OTLP is refused as not retryable (400) and counted', async () => {
    const ports = await startReceiver(async () => undefined)
    const bad = await fetch(`http://127.0.0.1:${ports.http}/v1/logs`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf' },
      body: Buffer.from([0xff, 0xff, 0xff, 0xff]),
    })
    expect(bad.status).toBe(400)
    expect((await fetch(`http://127.0.0.1:${ports.http}/v1/traces`, { method: 'POST', body: '{}' })).status).toBe(404)
    expect(source!.stats().refusedInvalid).toBe(1)
  })

  test('a run config selects it with source.kind otlp; errors name the option path', async () => {
    const config = validateConfig({ source: { kind: 'otlp', otlp: { grpc: { port: 0, host: '127.0.0.1' }, http: { enabled: false } } } })
    expect(config.source.kind).toBe('otlp')
    const built = sources.buildSection(config.source, { env: {}, warn: () => undefined }) as OtlpSource
    await built.start()
    try {
      expect(built.ports().grpc).toBeGreaterThan(0)
      expect(built.ports().http).toBe(0)
    } finally {
      await built.close()
    }
    expect(() => validateConfig({ source: { kind: 'otlp', otlp: { http: { port: 70000 } } } })).toThrow(/source\.otlp\.http\.port/)
  })
})
