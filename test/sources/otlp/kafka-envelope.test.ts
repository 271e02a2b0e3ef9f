/**
 * Kafka records holding OTLP logs export requests, as the OpenTelemetry Collector's Kafka exporter writes
 * them (otlp_proto, otlp_json: one request per record, many log records). The requests are built by the
 * OpenTelemetry JS SDK's own serializers (@opentelemetry/otlp-transformer), not by this project.
 */
import { describe, expect, test } from 'vitest'
import { JsonLogsSerializer, ProtobufLogsSerializer } from '@opentelemetry/otlp-transformer'
import { LoggerProvider, SimpleLogRecordProcessor, InMemoryLogRecordExporter } from '@opentelemetry/sdk-logs'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { expandOtlpRecords } from '../../../src/sources/otlp/index.js'
import type { RawRecord } from '../../../src/pipeline/component.js'
import { createParser } from '../../../src/parse/index.js'
import { originalBytes } from '../../../src/pipeline/dead-letter.js'
import { sources } from '../../../src/compose/sources.js'
import { describeKafka } from '../../helpers/real-servers.js'
import { cleanupAfterEach } from '../../helpers/cleanups.js'
import { ControlledPipeline, waitFor } from '../kafka/helpers.js'
import { realAdmin, realKafka, realSourceConfig, tempTopic } from '../kafka/real-kafka.js'

// istio/istio#38213, the outbound line of the 2022-04-01 comment (Istio's default TEXT format).
const LINE =
  '[2022-04-01T03:23:12.736Z] "GET /headers HTTP/1.1" 200 - via_upstream - "-" 0 175 2 1 "-" "curl/7.82.0-DEV" ' +
  '"0d0f0e5c-5a5e-9e2f-a4b7-bdc52d1d1f2c" "httpbin:8000" "10.244.0.26:80" outbound|8000||httpbin.default.svc.cluster.local ' +
  '10.244.0.25:43522 10.96.104.206:8000 10.244.0.25:58426 - default'

function request(bodies: string[], pod = 'sleep-5c9d7f9b6-xk2lp'): ReturnType<InMemoryLogRecordExporter['getFinishedLogRecords']> {
  const memory = new InMemoryLogRecordExporter()
  const provider = new LoggerProvider({
    resource: resourceFromAttributes({ 'k8s.pod.name': pod, 'k8s.namespace.name': 'default', 'k8s.cluster.name': 'east' }),
    processors: [new SimpleLogRecordProcessor({ exporter: memory })],
  })
  const logger = provider.getLogger('envoy-access')
  for (const body of bodies) logger.emit({ body })
  return memory.getFinishedLogRecords()
}

const kafkaRec = (value: Buffer, offset: number): RawRecord => ({
  value,
  coords: { kind: 'kafka', topic: 't', partition: 0, offset: String(offset) },
})

describe('OTLP envelopes on Kafka', () => {
  test('otlp_proto and otlp_json: every log record of a message becomes one record with the message coordinates', () => {
    const proto = Buffer.from(ProtobufLogsSerializer.serializeRequest(request([LINE, LINE.replace('/headers', '/ip'), 'junk']))!)
    const json = Buffer.from(JsonLogsSerializer.serializeRequest(request([LINE], 'other-pod'))!)
    for (const [encoding, bytes, n] of [
      ['otlp_proto', proto, 3],
      ['otlp_json', json, 1],
    ] as const) {
      const out = expandOtlpRecords([kafkaRec(bytes, 7)], encoding)
      expect(out).toHaveLength(n)
      expect(out.map((r) => r.coords)).toEqual(out.map((_, i) => ({ kind: 'kafka', topic: 't', partition: 0, offset: '7', line: i + 1 })))
    }
    const parsed = createParser().parseBatch(expandOtlpRecords([kafkaRec(proto, 7)], 'otlp_proto'))
    expect(parsed.events.map((e) => e.url?.path)).toEqual(['/headers', '/ip'])
    expect(parsed.events[0]!.kubernetes).toMatchObject({ pod: 'sleep-5c9d7f9b6-xk2lp', namespace: 'default' })
    expect(parsed.deadLetters.map((d) => [d.reason, d.source?.line])).toEqual([['EA_PARSE_NOT_ACCESS_LOG', 3]])
  })

  test('a message that is not an export request is one dead letter with its bytes', () => {
    const bad = Buffer.from('{"log":"plain line, not OTLP"')
    const out = expandOtlpRecords([kafkaRec(bad, 3)], 'otlp_json')
    expect(out).toHaveLength(1)
    const parsed = createParser().parseBatch(out)
    expect(parsed.deadLetters.map((d) => d.reason)).toEqual(['EA_PARSE_ENVELOPE'])
    expect(originalBytes(parsed.deadLetters[0]!)).toEqual(bad)
  })
})

const cleanups = cleanupAfterEach()

describeKafka('OTLP envelopes on the real broker', () => {
  test('source.kafka.encoding otlp_proto: the offset is committed only after all log records of the message are acknowledged', async () => {
    const admin = await realAdmin(cleanups)
    const topic = await tempTopic(admin, cleanups, 'otlp')
    const producer = realKafka().producer()
    await producer.connect()
    cleanups.push(() => producer.disconnect())
    const message = Buffer.from(ProtobufLogsSerializer.serializeRequest(request([LINE, LINE, LINE]))!)
    await producer.send({ topic, messages: [{ value: message }, { value: Buffer.from('not protobuf at all \u00ff') }] })
    const groupId = `${topic}-group`
    const config = { ...realSourceConfig([topic], groupId), encoding: 'otlp_proto' }
    const source = sources.build('kafka', config, { env: {}, warn: () => undefined })
    cleanups.push(() => source.close())
    const pipeline = new ControlledPipeline()
    pipeline.policy = () => 'hold'
    await source.start()
    await source.run(pipeline.handler)
    await waitFor(() => pipeline.calls.reduce((n, c) => n + c.records.length, 0) === 4, 60_000, 'all log records delivered')
    const delivered = pipeline.calls.flatMap((c) => c.records)
    expect(delivered.map((r) => [r.coords.offset, r.coords.line])).toEqual([
      ['0', 1],
      ['0', 2],
      ['0', 3],
      ['1', undefined],
    ])
    await new Promise((r) => setTimeout(r, 500))
    const [held] = await admin.fetchOffsets({ groupId, topics: [topic] })
    expect(held!.partitions[0]!.offset).toBe('-1')
    for (const c of pipeline.calls) c.ack()
    await waitFor(
      async () => (await admin.fetchOffsets({ groupId, topics: [topic] }))[0]!.partitions[0]!.offset === '2',
      30_000,
      'commit after the acknowledgement',
    )
    const parsed = createParser().parseBatch(delivered)
    expect([parsed.events.length, parsed.deadLetters.map((d) => d.reason)]).toEqual([3, ['EA_PARSE_ENVELOPE']])
  }, 90_000)
})

describe('where the workload comes from', () => {
  const one = (resource: Record<string, string>, attributes: Record<string, string>): RawRecord => {
    const kv = (o: Record<string, string>) => Object.entries(o).map(([key, v]) => ({ key, value: { stringValue: v } }))
    const req = {
      resourceLogs: [
        {
          resource: { attributes: kv(resource) },
          scopeLogs: [{ logRecords: [{ body: { stringValue: LINE }, attributes: kv(attributes) }] }],
        },
      ],
    }
    return expandOtlpRecords([kafkaRec(Buffer.from(JSON.stringify(req)), 1)], 'otlp_json')[0]!
  }
  test('resource k8s.* first, then Istio loki-sample labels, then the Envoy node_name', () => {
    const kube = (r: RawRecord) => (JSON.parse(String(r.value)) as { kubernetes?: Record<string, string> }).kubernetes
    expect(kube(one({ 'k8s.pod.name': 'a', 'k8s.namespace.name': 'ns' }, { pod: 'b', namespace: 'other' }))).toEqual({
      pod_name: 'a',
      namespace_name: 'ns',
    })
    expect(kube(one({}, { pod: 'b', namespace: 'other', cluster: 'east' }))).toEqual({
      pod_name: 'b',
      namespace_name: 'other',
      cluster_name: 'east',
    })
    expect(kube(one({ node_name: 'sidecar~10.244.0.25~sleep-5c9d7f9b6-xk2lp.default~default.svc.cluster.local' }, {}))).toEqual({
      pod_name: 'sleep-5c9d7f9b6-xk2lp',
      namespace_name: 'default',
    })
    expect(kube(one({}, {}))).toBeUndefined()
  })
})
