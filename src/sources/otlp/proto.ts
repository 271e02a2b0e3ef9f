/**
 * The OTLP logs messages, from the published .proto files (proto/ at the package root, see its README)
 * through protobufjs: decoding and encoding are protobufjs's, nothing is hand-written. Loaded once, on
 * first use (start of an otlp source, or the first Kafka record with an OTLP encoding).
 */
import path from 'node:path'
import protobuf from 'protobufjs'
import { packageFile, packageRoot } from '../../package-root.js'

const SERVICE_FILE = 'opentelemetry/proto/collector/logs/v1/logs_service.proto'

/** The plain-object shape of ExportLogsServiceRequest as protobufjs's toObject gives it (camelCase keys). */
export interface AnyValue {
  stringValue?: string
  boolValue?: boolean
  intValue?: string | number
  doubleValue?: number
  arrayValue?: { values?: AnyValue[] }
  kvlistValue?: { values?: KeyValue[] }
  bytesValue?: string
}
export interface KeyValue {
  key?: string
  value?: AnyValue
}
export interface LogRecord {
  timeUnixNano?: string | number
  observedTimeUnixNano?: string | number
  severityText?: string
  body?: AnyValue
  attributes?: KeyValue[]
}
export interface ExportLogsRequest {
  resourceLogs?: {
    resource?: { attributes?: KeyValue[] }
    scopeLogs?: { scope?: { name?: string }; logRecords?: LogRecord[] }[]
  }[]
}

export interface OtlpLogsCodec {
  /** OTLP/protobuf bytes -> request; throws on bytes that are not one. */
  decode(bytes: Uint8Array): ExportLogsRequest
  /** OTLP/JSON (already parsed) -> request, through the same message type so both encodings agree. */
  fromJson(value: unknown): ExportLogsRequest
  /** An ExportLogsServiceResponse, encoded: empty, or with partial_success when records were rejected. */
  encodeResponse(partial?: PartialSuccess): Uint8Array
  /** The same response in OTLP/JSON (lowerCamelCase field names, int64 as a decimal string). */
  responseJson(partial?: PartialSuccess): Record<string, unknown>
  /** The gRPC method path of LogsService.Export. */
  readonly exportPath: string
}

/** ExportLogsPartialSuccess (opentelemetry-proto, collector/logs/v1/logs_service.proto). */
export interface PartialSuccess {
  rejectedLogRecords: number
  errorMessage: string
}

let codec: OtlpLogsCodec | undefined

const TO_OBJECT: protobuf.IConversionOptions = { longs: String, enums: Number, bytes: String, defaults: false, arrays: true }

export function otlpLogsCodec(): OtlpLogsCodec {
  if (codec !== undefined) return codec
  packageFile(`proto/${SERVICE_FILE}`)
  const dir = path.join(packageRoot(), 'proto')
  const root = new protobuf.Root()
  root.resolvePath = (_origin, target) => path.join(dir, target)
  root.loadSync(SERVICE_FILE)
  root.resolveAll()
  const request = root.lookupType('opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest')
  const response = root.lookupType('opentelemetry.proto.collector.logs.v1.ExportLogsServiceResponse')
  const service = root.lookupService('opentelemetry.proto.collector.logs.v1.LogsService')
  const emptyResponse = response.encode(response.create({})).finish()
  const withPartial = (p: PartialSuccess) => response.fromObject({ partialSuccess: p })
  codec = {
    decode: (bytes) => request.toObject(request.decode(bytes), TO_OBJECT) as ExportLogsRequest,
    fromJson(value) {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('OTLP/JSON body is not an object')
      return request.toObject(request.fromObject(value as Record<string, unknown>), TO_OBJECT) as ExportLogsRequest
    },
    encodeResponse: (partial) => (partial === undefined ? emptyResponse : response.encode(withPartial(partial)).finish()),
    responseJson: (partial) =>
      partial === undefined ? {} : (response.toObject(withPartial(partial), { longs: String, json: true }) as Record<string, unknown>),
    exportPath: `/${service.fullName.slice(1)}/Export`,
  }
  return codec
}
