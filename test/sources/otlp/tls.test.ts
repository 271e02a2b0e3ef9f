/**
 * The OTLP receiver over TLS and mutual TLS, with real sockets and the OpenTelemetry JS SDK exporters as
 * clients. The certificates are made here with the machine's openssl: a CA, a server certificate for
 * 127.0.0.1, a client certificate from the same CA, and a second CA that signs a stranger's client
 * certificate. Plaintext on a non-loopback address is refused at config time unless insecure: true.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { request as httpsRequest } from 'node:https'
import { afterEach, beforeAll, describe, expect, test } from 'vitest'
import * as grpc from '@grpc/grpc-js'
import { ExportResultCode, type ExportResult } from '@opentelemetry/core'
import { LoggerProvider, SimpleLogRecordProcessor, InMemoryLogRecordExporter, type ReadableLogRecord } from '@opentelemetry/sdk-logs'
import { OTLPLogExporter as GrpcExporter } from '@opentelemetry/exporter-logs-otlp-grpc'
import { OTLPLogExporter as HttpProtoExporter } from '@opentelemetry/exporter-logs-otlp-proto'
import { createOtlpSource, otlpSourceConfigSchema, type OtlpSource } from '../../../src/sources/otlp/index.js'
import type { RawRecord } from '../../../src/pipeline/component.js'
import { validateConfig } from '../../../src/compose/config.js'

const dir = mkdtempSync(path.join(tmpdir(), 'ea-otlp-tls-'))
const file = (name: string) => path.join(dir, name)

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' })
}

/** A CA (name.pem, name-key.pem), and leaf certificates it signs. */
function makeCa(name: string): void {
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
    '-keyout',
    `${name}-key.pem`,
    '-out',
    `${name}.pem`,
  )
}
function makeLeaf(name: string, ca: string, ext: string): void {
  writeFileSync(file(`${name}.ext`), ext)
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name}`, '-keyout', `${name}-key.pem`, '-out', `${name}.csr`)
  openssl(
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}.pem`,
    '-CAkey',
    `${ca}-key.pem`,
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    `${name}.ext`,
    '-out',
    `${name}.pem`,
  )
}

beforeAll(() => {
  makeCa('ca')
  makeCa('other-ca')
  makeLeaf('server', 'ca', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n')
  makeLeaf('client', 'ca', 'extendedKeyUsage=clientAuth\n')
  makeLeaf('stranger', 'other-ca', 'extendedKeyUsage=clientAuth\n')
}, 60_000)

const pem = (name: string) => readFileSync(file(name))

// Istio's default TEXT line (istio/istio#38213), as the envoyOtelAls provider sends it.
const ENVOY_LINE =
  '[2022-04-01T03:23:12.736Z] "GET /headers HTTP/1.1" 200 - via_upstream - "-" 0 175 2 1 "-" "curl/7.82.0-DEV" ' +
  '"0d0f0e5c-5a5e-9e2f-a4b7-bdc52d1d1f2c" "httpbin:8000" "10.244.0.26:80" outbound|8000||httpbin.default.svc.cluster.local ' +
  '10.244.0.25:43522 10.96.104.206:8000 10.244.0.25:58426 - default'

function logRecords(): ReadableLogRecord[] {
  const memory = new InMemoryLogRecordExporter()
  const provider = new LoggerProvider({ processors: [new SimpleLogRecordProcessor({ exporter: memory })] })
  provider.getLogger('envoy-access').emit({ body: ENVOY_LINE })
  return memory.getFinishedLogRecords()
}

type Exporter = { export(items: ReadableLogRecord[], cb: (r: ExportResult) => void): void; shutdown(): Promise<void> }
const exportWith = (exporter: Exporter, records: ReadableLogRecord[]): Promise<ExportResult> =>
  new Promise((resolve) => exporter.export(records, resolve))

const clients: Exporter[] = []
let source: OtlpSource | undefined
let received: RawRecord[] = []

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.shutdown().catch(() => undefined)))
  await source?.close()
  source = undefined
  received = []
})

async function start(tls: Record<string, unknown>): Promise<{ grpc: number; http: number }> {
  source = createOtlpSource(
    otlpSourceConfigSchema.parse({ grpc: { host: '127.0.0.1', port: 0 }, http: { host: '127.0.0.1', port: 0 }, tls }),
  )
  await source.start()
  await source.run(async (records) => void received.push(...records))
  return source.ports()
}

const serverTls = () => ({ certFile: file('server.pem'), keyFile: file('server-key.pem') })

function grpcClient(port: number, creds: grpc.ChannelCredentials): Exporter {
  const e = new GrpcExporter({ url: `https://127.0.0.1:${port}`, credentials: creds, timeoutMillis: 4_000 })
  clients.push(e)
  return e
}
function httpClient(port: number, agent: Record<string, unknown>, scheme = 'https'): Exporter {
  const e = new HttpProtoExporter({ url: `${scheme}://127.0.0.1:${port}/v1/logs`, httpAgentOptions: agent, timeoutMillis: 4_000 })
  clients.push(e)
  return e
}

describe('OTLP receiver over TLS', () => {
  test('gRPC and HTTP answer over TLS with the server certificate; a client that does not trust it fails', async () => {
    const ports = await start(serverTls())
    const ok = await exportWith(grpcClient(ports.grpc, grpc.credentials.createSsl(pem('ca.pem'))), logRecords())
    expect(ok.code, String(ok.error)).toBe(ExportResultCode.SUCCESS)
    const okHttp = await exportWith(httpClient(ports.http, { ca: pem('ca.pem') }), logRecords())
    expect(okHttp.code, String(okHttp.error)).toBe(ExportResultCode.SUCCESS)
    expect(received).toHaveLength(2)
    // Trusting another CA: the server's certificate does not verify, nothing is delivered.
    const wrong = await exportWith(httpClient(ports.http, { ca: pem('other-ca.pem') }), logRecords())
    expect(wrong.code).toBe(ExportResultCode.FAILED)
    expect(String(wrong.error)).toMatch(/self.signed|unable to verify|certificate/i)
    // A plaintext client gets no OTLP answer from the TLS port.
    const plain = await exportWith(httpClient(ports.http, {}, 'http'), logRecords())
    expect(plain.code).toBe(ExportResultCode.FAILED)
    expect(received).toHaveLength(2)
  })

  test('mutual TLS: a client certificate from the client CA is required on both endpoints', async () => {
    const ports = await start({ ...serverTls(), clientCaFile: file('ca.pem') })
    const withCert = grpc.credentials.createSsl(pem('ca.pem'), pem('client-key.pem'), pem('client.pem'))
    const ok = await exportWith(grpcClient(ports.grpc, withCert), logRecords())
    expect(ok.code, String(ok.error)).toBe(ExportResultCode.SUCCESS)
    const okHttp = await exportWith(
      httpClient(ports.http, { ca: pem('ca.pem'), cert: pem('client.pem'), key: pem('client-key.pem') }),
      logRecords(),
    )
    expect(okHttp.code, String(okHttp.error)).toBe(ExportResultCode.SUCCESS)
    expect(received).toHaveLength(2)

    const noCertGrpc = await exportWith(grpcClient(ports.grpc, grpc.credentials.createSsl(pem('ca.pem'))), logRecords())
    expect(noCertGrpc.code).toBe(ExportResultCode.FAILED)
    const noCertHttp = await exportWith(httpClient(ports.http, { ca: pem('ca.pem') }), logRecords())
    expect(noCertHttp.code).toBe(ExportResultCode.FAILED)
    const strangerHttp = await exportWith(
      httpClient(ports.http, { ca: pem('ca.pem'), cert: pem('stranger.pem'), key: pem('stranger-key.pem') }),
      logRecords(),
    )
    expect(strangerHttp.code).toBe(ExportResultCode.FAILED)
    const strangerGrpc = await exportWith(
      grpcClient(ports.grpc, grpc.credentials.createSsl(pem('ca.pem'), pem('stranger-key.pem'), pem('stranger.pem'))),
      logRecords(),
    )
    expect(strangerGrpc.code).toBe(ExportResultCode.FAILED)
    expect(received).toHaveLength(2)
  })

  test('the TLS handshake itself refuses a client without a certificate (before any request is read)', async () => {
    const ports = await start({ ...serverTls(), clientCaFile: file('ca.pem') })
    const err = await new Promise<Error>((resolve) => {
      const req = httpsRequest({ host: '127.0.0.1', port: ports.http, path: '/v1/logs', method: 'POST', ca: pem('ca.pem') }, () =>
        resolve(new Error('answered')),
      )
      req.on('error', resolve)
      req.end()
    })
    expect(err.message).not.toBe('answered')
    expect(source!.stats().requests).toBe(0)
  })

  test('an unreadable certificate stops the start, naming the option', async () => {
    source = createOtlpSource(
      otlpSourceConfigSchema.parse({
        grpc: { host: '127.0.0.1', port: 0 },
        http: { host: '127.0.0.1', port: 0 },
        tls: { certFile: file('missing.pem'), keyFile: file('server-key.pem') },
      }),
    )
    await expect(source.start()).rejects.toThrow(/source\.otlp\.tls\.certFile: cannot read .*missing\.pem: ENOENT/)
  })
})

describe('plaintext on a non-loopback address', () => {
  const run = (otlp: Record<string, unknown>) => validateConfig({ source: { kind: 'otlp', otlp } })

  test('the defaults listen on loopback only, so a bare `kind: otlp` starts', () => {
    const otlp = run({}).source.otlp
    expect([otlp?.grpc.host, otlp?.http.host]).toEqual(['127.0.0.1', '127.0.0.1'])
  })

  test('is refused unless insecure: true; the error names source.otlp.tls', () => {
    const all = { grpc: { host: '0.0.0.0' }, http: { host: '0.0.0.0' } }
    expect(() => run(all)).toThrow(/source\.otlp\.tls: plaintext OTLP on grpc 0\.0\.0\.0 and http 0\.0\.0\.0/)
    expect(() => run({ grpc: { host: '10.0.0.7' }, http: { enabled: false } })).toThrow(/grpc 10\.0\.0\.7/)
    expect(() => run({ ...all, insecure: true })).not.toThrow()
    expect(() => run({ ...all, tls: { certFile: 'a.pem', keyFile: 'a-key.pem' } })).not.toThrow()
    expect(() => run({ grpc: { host: '127.0.0.1' }, http: { host: '::1' } })).not.toThrow()
  })

  test('tls options are checked by name', () => {
    expect(() => run({ tls: { certFile: 'a.pem' } })).toThrow(/source\.otlp\.tls\.keyFile/)
    expect(() => run({ tls: { certFile: 'a.pem', keyFile: 'k.pem', caFile: 'x' } })).toThrow(/source\.otlp\.tls/)
  })
})
