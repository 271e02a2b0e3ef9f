/**
 * Kafka records written by the OpenTelemetry Collector's Kafka exporter with the `otlp_proto` or
 * `otlp_json` encoding hold one ExportLogsServiceRequest each, with many log records
 * (opentelemetry-collector-contrib exporter/kafkaexporter). Each Kafka record becomes one raw record
 * per log record, in place and in order: the batch handler acknowledges them together, so the message's
 * offset is committed only after every one of its log records was indexed or dead-lettered. A message
 * that does not decode stays one record, marked invalid: a dead letter (EA_PARSE_ENVELOPE) with its bytes.
 */
import type { RawRecord } from '../../pipeline/component.js'
import { otlpLogsCodec } from './proto.js'
import { recordsFromExport } from './records.js'

export type OtlpEncoding = 'otlp_proto' | 'otlp_json'

export function expandOtlpRecords(records: readonly RawRecord[], encoding: OtlpEncoding): RawRecord[] {
  const codec = otlpLogsCodec()
  const out: RawRecord[] = []
  for (const record of records) {
    const bytes = typeof record.value === 'string' ? Buffer.from(record.value, 'utf8') : record.value
    let expanded: RawRecord[]
    try {
      const req = encoding === 'otlp_proto' ? codec.decode(bytes) : codec.fromJson(JSON.parse(bytes.toString('utf8')))
      expanded = recordsFromExport(req, record.coords)
    } catch (err) {
      out.push({
        ...record,
        invalid: {
          code: 'EA_PARSE_ENVELOPE',
          message: `not an OTLP ${encoding} logs export request: ${(err as Error).message.slice(0, 160)}`,
        },
      })
      continue
    }
    if (expanded.length === 0) {
      out.push({ ...record, invalid: { code: 'EA_PARSE_ENVELOPE', message: `OTLP ${encoding} export request without log records` } })
      continue
    }
    for (const r of expanded) {
      if (record.headers !== undefined) r.headers = record.headers
      if (record.key !== undefined) r.key = record.key
      if (record.cluster !== undefined) r.cluster = record.cluster
      out.push(r)
    }
  }
  return out
}
