/**
 * `source.kind: otlp`: an OpenTelemetry logs receiver, OTLP/gRPC (LogsService/Export over @grpc/grpc-js)
 * and OTLP/HTTP (POST /v1/logs, application/x-protobuf or application/json, optionally gzip), as the OTLP
 * specification defines them (opentelemetry.io/docs/specs/otlp). Istio's `envoyOtelAls` provider and an
 * OpenTelemetry Collector's otlp / otlphttp exporters send to it.
 *
 * Acknowledgement is end to end: the answer to an export request is sent only after the pipeline
 * acknowledged every one of its log records (indexed, or written to the dead-letter output). Until then
 * the exporter waits; when the pipeline cannot acknowledge (sink or dead-letter output down at close),
 * or more requests than `maxInFlightRequests` are waiting, the answer is a retryable refusal
 * (HTTP 503 with Retry-After, gRPC UNAVAILABLE) and the exporter sends the request again: a request that
 * is not acknowledged is never lost. A request that is not OTLP is refused as not retryable (HTTP 400,
 * gRPC INVALID_ARGUMENT) and counted.
 *
 * A request some of whose log records were dead-lettered (not an access line, a sink rejection) is
 * accepted, as the OTLP specification's "Partial Success" section says a partially accepted request
 * must be (opentelemetry.io/docs/specs/otlp/#partial-success): success (HTTP 200, gRPC OK) with
 * ExportLogsServiceResponse.partial_success holding rejected_log_records and an error_message that names
 * the reasons. The exporter must not retry it: those records are kept, with their bytes, in the
 * dead-letter output.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createTlsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { gunzipSync } from 'node:zlib'
import * as grpc from '@grpc/grpc-js'
import { z } from 'zod'
import type { BatchHandler, RawRecord, Source } from '../../pipeline/component.js'
import { otlpLogsCodec, type ExportLogsRequest, type PartialSuccess } from './proto.js'
import { recordsFromExport } from './records.js'
import { isLoopback, loadOtlpTls, otlpTlsSchema } from './tls.js'

const endpoint = (port: number) =>
  z
    .object({
      enabled: z.boolean().default(true),
      /** Loopback unless set, as the OpenTelemetry Collector's receivers default to localhost: listening
       * on every address is a choice an operator makes, with tls (or insecure) beside it. */
      host: z.string().min(1).max(255).default('127.0.0.1'),
      /** 0 picks a free port (tests). */
      port: z.number().int().min(0).max(65535).default(port),
    })
    .strict()

export const otlpSourceConfigSchema = z
  .object({
    /** OTLP/gRPC; 4317 is OTLP's default gRPC port. */
    grpc: endpoint(4317).default({ enabled: true, host: '127.0.0.1', port: 4317 }),
    /** OTLP/HTTP (POST /v1/logs); 4318 is OTLP's default HTTP port. */
    http: endpoint(4318).default({ enabled: true, host: '127.0.0.1', port: 4318 }),
    /** Largest export request accepted, after decompression (413 / RESOURCE_EXHAUSTED above it). */
    maxRequestBytes: z
      .number()
      .int()
      .min(1024)
      .max(256 * 1024 * 1024)
      .default(16 * 1024 * 1024),
    /** Export requests waiting for their acknowledgement at once; more are refused as retryable. */
    maxInFlightRequests: z.number().int().min(1).max(10_000).default(64),
    /** The Retry-After (seconds) of a refused HTTP request. */
    retryAfterSeconds: z.number().int().min(1).max(3600).default(5),
    /** TLS on both endpoints (tls.ts); with clientCaFile, mutual TLS. */
    tls: otlpTlsSchema.optional(),
    /** Accept plaintext on a non-loopback address (without tls). */
    insecure: z.boolean().default(false),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.tls !== undefined || c.insecure) return
    const open = (['grpc', 'http'] as const).filter((k) => c[k].enabled && !isLoopback(c[k].host))
    if (open.length === 0) return
    ctx.addIssue({
      code: 'custom',
      path: ['tls'],
      message:
        `plaintext OTLP on ${open.map((k) => `${k} ${c[k].host}`).join(' and ')}: set tls.certFile and tls.keyFile ` +
        '(and tls.clientCaFile for mutual TLS), bind to 127.0.0.1, or set insecure: true to accept plaintext',
    })
  })

export type OtlpSourceConfig = z.output<typeof otlpSourceConfigSchema>

export interface OtlpSourceStats {
  requests: number
  logRecords: number
  acknowledged: number
  refusedBusy: number
  refusedInvalid: number
  failed: number
  inFlightRequests: number
  /** Log records answered as rejected in partial_success (dead-lettered, not lost). */
  rejectedLogRecords: number
}

export interface OtlpSource extends Source {
  stats(): OtlpSourceStats
  /** The bound ports, once started (0 when that endpoint is disabled). */
  ports(): { grpc: number; http: number }
}

class Refusal extends Error {
  constructor(
    readonly kind: 'busy' | 'invalid' | 'too-large' | 'failed',
    message: string,
  ) {
    super(message)
  }
}

export function createOtlpSource(config: OtlpSourceConfig): OtlpSource {
  let handler: BatchHandler | undefined
  let httpServer: Server | undefined
  let grpcServer: grpc.Server | undefined
  let grpcPort = 0
  let httpPort = 0
  let closing = false
  let sequence = 0n
  let resolveStopped!: () => void
  const stopped = new Promise<void>((r) => (resolveStopped = r))
  const stats: OtlpSourceStats = {
    requests: 0,
    logRecords: 0,
    acknowledged: 0,
    refusedBusy: 0,
    refusedInvalid: 0,
    failed: 0,
    inFlightRequests: 0,
    rejectedLogRecords: 0,
  }

  /**
   * Hands the request's records to the pipeline and resolves once all are acknowledged, with the
   * partial_success to answer when some of them were dead-lettered.
   */
  async function deliver(req: ExportLogsRequest): Promise<PartialSuccess | undefined> {
    if (handler === undefined || closing) throw new Refusal('busy', 'receiver is not running')
    if (stats.inFlightRequests >= config.maxInFlightRequests) {
      stats.refusedBusy++
      throw new Refusal('busy', `more than ${config.maxInFlightRequests} export requests waiting for acknowledgement`)
    }
    sequence++
    const records: RawRecord[] = recordsFromExport(req, { kind: 'otlp', offset: String(sequence) })
    stats.requests++
    stats.logRecords += records.length
    if (records.length === 0) return undefined
    stats.inFlightRequests++
    try {
      const ack = await handler(records)
      stats.acknowledged += records.length
      if (ack === undefined || ack.deadLettered === 0) return undefined
      const rejected = Math.min(ack.deadLettered, records.length)
      stats.rejectedLogRecords += rejected
      return { rejectedLogRecords: rejected, errorMessage: partialMessage(rejected, records.length, ack.reasons) }
    } catch (err) {
      stats.failed++
      throw new Refusal('failed', `not acknowledged: ${(err as Error)?.message ?? String(err)}`)
    } finally {
      stats.inFlightRequests--
    }
  }

  function decodeHttp(req: IncomingMessage, body: Buffer): ExportLogsRequest {
    const codec = otlpLogsCodec()
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
    try {
      if (type === 'application/json') return codec.fromJson(JSON.parse(body.toString('utf8')))
      if (type === 'application/x-protobuf' || type === 'application/protobuf') return codec.decode(body)
    } catch (err) {
      throw new Refusal('invalid', `not an OTLP ExportLogsServiceRequest: ${(err as Error).message.slice(0, 200)}`)
    }
    throw new Refusal('invalid', `unsupported content type ${JSON.stringify(type.slice(0, 80))}`)
  }

  function readBody(req: IncomingMessage): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = []
      let n = 0
      req.on('data', (c: Buffer) => {
        n += c.length
        if (n > config.maxRequestBytes) {
          reject(new Refusal('too-large', `request body over maxRequestBytes (${config.maxRequestBytes})`))
          req.destroy()
          return
        }
        chunks.push(c)
      })
      req.on('end', () => resolve(Buffer.concat(chunks)))
      req.on('error', reject)
    })
  }

  async function onHttp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = (req.url ?? '').split('?')[0]
    if (url !== '/v1/logs') return answer(res, 404, 'not found: OTLP logs are POSTed to /v1/logs')
    if (req.method !== 'POST') return answer(res, 405, 'method not allowed')
    try {
      let body = await readBody(req)
      const enc = String(req.headers['content-encoding'] ?? '').toLowerCase()
      if (enc === 'gzip') {
        try {
          body = gunzipSync(body, { maxOutputLength: config.maxRequestBytes })
        } catch (err) {
          throw new Refusal('invalid', `gzip body does not inflate within maxRequestBytes: ${(err as Error).message.slice(0, 120)}`)
        }
      } else if (enc !== '' && enc !== 'identity') throw new Refusal('invalid', `unsupported content encoding ${enc.slice(0, 40)}`)
      const request = decodeHttp(req, body)
      const partial = await deliver(request)
      const json = (req.headers['content-type'] ?? '').startsWith('application/json')
      res.writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' })
      const codec = otlpLogsCodec()
      res.end(json ? JSON.stringify(codec.responseJson(partial)) : Buffer.from(codec.encodeResponse(partial)))
    } catch (err) {
      const r = err instanceof Refusal ? err : new Refusal('failed', String(err))
      if (r.kind === 'invalid' || r.kind === 'too-large') stats.refusedInvalid++
      if (r.kind === 'busy' || r.kind === 'failed') {
        res.setHeader('retry-after', String(config.retryAfterSeconds))
        return answer(res, 503, r.message)
      }
      return answer(res, r.kind === 'too-large' ? 413 : 400, r.message)
    }
  }

  function grpcExport(call: grpc.ServerUnaryCall<ExportLogsRequest, Uint8Array>, callback: grpc.sendUnaryData<Uint8Array>): void {
    deliver(call.request).then(
      (partial) => callback(null, otlpLogsCodec().encodeResponse(partial)),
      (err: unknown) => {
        const r = err instanceof Refusal ? err : new Refusal('failed', String(err))
        const code = r.kind === 'invalid' ? grpc.status.INVALID_ARGUMENT : grpc.status.UNAVAILABLE
        callback({ code, details: r.message }, null)
      },
    )
  }

  return {
    stopped,
    stats: () => ({ ...stats }),
    ports: () => ({ grpc: grpcPort, http: httpPort }),
    async start() {
      const codec = otlpLogsCodec()
      const tls = config.tls === undefined ? undefined : loadOtlpTls(config.tls)
      if (config.http.enabled) {
        const onRequest = (req: IncomingMessage, res: ServerResponse): void => void onHttp(req, res)
        const server =
          tls === undefined
            ? createServer(onRequest)
            : createTlsServer(
                {
                  cert: tls.cert,
                  key: tls.key,
                  ...(tls.clientCa === undefined ? {} : { ca: tls.clientCa, requestCert: true, rejectUnauthorized: true }),
                },
                onRequest,
              )
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject)
          server.listen(config.http.port, config.http.host, () => resolve())
        })
        httpServer = server
        httpPort = (server.address() as AddressInfo).port
      }
      if (config.grpc.enabled) {
        const server = new grpc.Server({ 'grpc.max_receive_message_length': config.maxRequestBytes })
        const definition: grpc.ServiceDefinition = {
          Export: {
            path: codec.exportPath,
            requestStream: false,
            responseStream: false,
            requestSerialize: () => Buffer.alloc(0),
            requestDeserialize: (b: Buffer) => {
              try {
                return codec.decode(b)
              } catch (err) {
                // grpc-js answers INTERNAL for a throwing deserializer; the request is still refused, not lost.
                refusedInvalid()
                throw err
              }
            },
            responseSerialize: (v: Uint8Array) => Buffer.from(v),
            responseDeserialize: (b: Buffer) => b,
          },
        }
        server.addService(definition, { Export: grpcExport as grpc.UntypedHandleCall })
        grpcPort = await new Promise<number>((resolve, reject) =>
          server.bindAsync(`${config.grpc.host}:${config.grpc.port}`, grpcCredentials(tls), (err, port) =>
            err === null ? resolve(port) : reject(err),
          ),
        )
        grpcServer = server
      }
    },
    async run(h) {
      handler = h
    },
    async close() {
      if (closing) return
      closing = true
      // Requests still waiting keep their connection until the pipeline answers them; new ones are refused.
      await Promise.all([
        httpServer === undefined
          ? undefined
          : new Promise<void>((r) => {
              httpServer!.close(() => r())
              httpServer!.closeIdleConnections()
            }),
        grpcServer === undefined ? undefined : new Promise<void>((r) => grpcServer!.tryShutdown(() => r())),
      ])
      resolveStopped()
    },
  }

  function refusedInvalid(): void {
    stats.refusedInvalid++
  }
}

/** `2 of 5 log records dead-lettered (EA_PARSE_NOT_ACCESS_LOG: 2): kept in the dead-letter output, do not resend them`. */
function partialMessage(rejected: number, total: number, reasons: Readonly<Record<string, number>>): string {
  const why = Object.entries(reasons)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, 8)
    .map(([r, n]) => `${r}: ${n}`)
    .join(', ')
  return `${rejected} of ${total} log records dead-lettered (${why}): kept in the dead-letter output, do not resend them`
}

function grpcCredentials(tls: ReturnType<typeof loadOtlpTls> | undefined): grpc.ServerCredentials {
  if (tls === undefined) return grpc.ServerCredentials.createInsecure()
  // With a client CA, grpc-js requires and verifies the client certificate (checkClientCertificate).
  return grpc.ServerCredentials.createSsl(
    tls.clientCa ?? null,
    [{ cert_chain: tls.cert, private_key: tls.key }],
    tls.clientCa !== undefined,
  )
}

function answer(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' })
  res.end(message)
}
