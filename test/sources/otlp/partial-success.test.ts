/**
 * partial_success (OTLP specification, "Partial Success": opentelemetry.io/docs/specs/otlp/#partial-success):
 * when some log records of an export request are dead-lettered, the request is still a success (HTTP 200,
 * gRPC OK) and the response's ExportLogsServiceResponse.partial_success says how many were rejected and
 * why. The OpenTelemetry JS SDK exporters are the clients; they report a partial success through their
 * diagnostic logger ("Received Partial Success response: ..."), which is how an operator of an SDK or
 * Collector sees it. The records go through the project's real batch handler (parser, stages).
 */
import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import { diag, DiagLogLevel } from '@opentelemetry/api'
import { ExportResultCode, type ExportResult } from '@opentelemetry/core'
import { LoggerProvider, SimpleLogRecordProcessor, InMemoryLogRecordExporter, type ReadableLogRecord } from '@opentelemetry/sdk-logs'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { OTLPLogExporter as GrpcExporter } from '@opentelemetry/exporter-logs-otlp-grpc'
import { OTLPLogExporter as HttpJsonExporter } from '@opentelemetry/exporter-logs-otlp-http'
import { OTLPLogExporter as HttpProtoExporter } from '@opentelemetry/exporter-logs-otlp-proto'
import { createOtlpSource, otlpSourceConfigSchema, type OtlpSource } from '../../../src/sources/otlp/index.js'
import { createBatchHandler } from '../../../src/pipeline/runner.js'
import { createParser } from '../../../src/parse/index.js'
import { createTransformStages } from '../../../src/compose/transform-stages.js'
import { loadTransformsConfig } from '../../../src/config/transforms.js'
import type { AuditEvent, DeadLetter } from '../../../src/schema/audit-event.js'
import type { DeadLetterSink, Sink } from '../../../src/pipeline/component.js'

// Istio's default TEXT line (istio/istio#38213), as the envoyOtelAls provider sends it in the record body.
const ENVOY_LINE =
  '[2022-04-01T03:23:12.736Z] "GET /headers HTTP/1.1" 200 - via_upstream - "-" 0 175 2 1 "-" "curl/7.82.0-DEV" ' +
  '"0d0f0e5c-5a5e-9e2f-a4b7-bdc52d1d1f2c" "httpbin:8000" "10.244.0.26:80" outbound|8000||httpbin.default.svc.cluster.local ' +
  '10.244.0.25:43522 10.96.104.206:8000 10.244.0.25:58426 - default'

function logRecords(bodies: string[]): ReadableLogRecord[] {
  const memory = new InMemoryLogRecordExporter()
  const provider = new LoggerProvider({
    resource: resourceFromAttributes({ 'k8s.pod.name': 'sleep-5c9d7f9b6-xk2lp', 'k8s.namespace.name': 'default' }),
    processors: [new SimpleLogRecordProcessor({ exporter: memory })],
  })
  const logger = provider.getLogger('envoy-access')
  for (const body of bodies) logger.emit({ body, timestamp: new Date('2022-04-01T03:23:12.800Z') })
  return memory.getFinishedLogRecords()
}

type Exporter = { export(items: ReadableLogRecord[], cb: (r: ExportResult) => void): void; shutdown(): Promise<void> }
const exportWith = (exporter: Exporter, records: ReadableLogRecord[]): Promise<ExportResult> =>
  new Promise((resolve) => exporter.export(records, resolve))

const indexed: AuditEvent[] = []
const deadLetters: DeadLetter[] = []
const sink: Sink = {
  name: 'memory',
  start: async () => undefined,
  close: async () => undefined,
  write: async (e) => (indexed.push(...e), { rejected: [] }),
}
const dlq: DeadLetterSink = { start: async () => undefined, close: async () => undefined, write: async (d) => void deadLetters.push(...d) }

const warnings: string[] = []
const clients: Exporter[] = []
let source: OtlpSource | undefined

beforeEach(() => {
  const keep = (...args: unknown[]) => void warnings.push(args.map(String).join(' '))
  diag.setLogger({ error: keep, warn: keep, info: () => undefined, debug: () => undefined, verbose: () => undefined }, DiagLogLevel.WARN)
})

afterEach(async () => {
  diag.disable()
  await Promise.all(clients.splice(0).map((c) => c.shutdown().catch(() => undefined)))
  await source?.close()
  source = undefined
  indexed.length = 0
  deadLetters.length = 0
  warnings.length = 0
})

async function start(): Promise<{ grpc: number; http: number }> {
  source = createOtlpSource(otlpSourceConfigSchema.parse({ grpc: { host: '127.0.0.1', port: 0 }, http: { host: '127.0.0.1', port: 0 } }))
  await source.start()
  await source.run(
    createBatchHandler({ parser: createParser(), stages: createTransformStages(loadTransformsConfig({})), sink, deadLetters: dlq }),
  )
  return source.ports()
}

describe('partial_success for dead-lettered log records', () => {
  test.each([
    ['gRPC', (p: { grpc: number; http: number }) => new GrpcExporter({ url: `http://127.0.0.1:${p.grpc}`, timeoutMillis: 20_000 })],
    [
      'HTTP/protobuf',
      (p: { grpc: number; http: number }) => new HttpProtoExporter({ url: `http://127.0.0.1:${p.http}/v1/logs`, timeoutMillis: 20_000 }),
    ],
    [
      'HTTP/JSON',
      (p: { grpc: number; http: number }) => new HttpJsonExporter({ url: `http://127.0.0.1:${p.http}/v1/logs`, timeoutMillis: 20_000 }),
    ],
  ])('%s: 2 of 3 records dead-lettered -> success with rejected_log_records 2 and the reasons', async (_name, make) => {
    const exporter = make(await start())
    clients.push(exporter)
    const result = await exportWith(exporter, logRecords([ENVOY_LINE, 'Envoy proxy is ready', '{"not":"an access log"}']))
    expect(result.code).toBe(ExportResultCode.SUCCESS)
    expect(indexed).toHaveLength(1)
    expect(deadLetters).toHaveLength(2)
    const partial = warnings.filter((w) => w.startsWith('Received Partial Success response:'))
    expect(partial).toHaveLength(1)
    const body = JSON.parse(partial[0]!.slice('Received Partial Success response: '.length)) as {
      rejectedLogRecords: string | number
      errorMessage: string
    }
    expect(Number(body.rejectedLogRecords)).toBe(2)
    expect(body.errorMessage).toMatch(/^2 of 3 log records dead-lettered \(EA_PARSE_[A-Z_]+: \d(, EA_PARSE_[A-Z_]+: \d)?\)/)
    for (const d of deadLetters) expect(body.errorMessage).toContain(d.reason)
    expect(source!.stats()).toMatchObject({ requests: 1, logRecords: 3, acknowledged: 3, rejectedLogRecords: 2 })
  })

  test('a request whose records were all indexed gets no partial_success', async () => {
    const exporter = new HttpProtoExporter({ url: `http://127.0.0.1:${(await start()).http}/v1/logs`, timeoutMillis: 20_000 })
    clients.push(exporter)
    expect((await exportWith(exporter, logRecords([ENVOY_LINE]))).code).toBe(ExportResultCode.SUCCESS)
    expect(indexed).toHaveLength(1)
    expect(warnings).toEqual([])
    expect(source!.stats().rejectedLogRecords).toBe(0)
  })
})
