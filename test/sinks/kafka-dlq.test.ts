import { beforeEach, expect, test } from 'vitest'
import { cleanupAfterEach } from '../helpers/cleanups.js'
import { EnvoyAuditError } from '../../src/errors.js'
import { deadLetterFor, originalBytes } from '../../src/pipeline/dead-letter.js'
import type { RawRecord } from '../../src/pipeline/component.js'
import type { DeadLetter } from '../../src/schema/audit-event.js'
import { createKafkaDeadLetterSink, dlqConfigFromSource, loadKafkaDlqConfig } from '../../src/sinks/kafka-dlq.js'
import { loadKafkaSourceConfig } from '../../src/sources/kafka/config.js'
import { ErrorCode, startKafkaBroker, type KafkaTestBroker } from '../support/kafka-broker/index.js'

let broker: KafkaTestBroker

beforeEach(async () => {
  broker = await startKafkaBroker({ autoCreateTopics: false })
  broker.createTopic('dlq', 1)
})

const cleanups = cleanupAfterEach(async () => {
  expect(broker.protocolErrors()).toEqual([])
  await broker.close()
})

const config = (extra: Record<string, unknown> = {}) =>
  loadKafkaDlqConfig({ brokers: broker.brokers, topic: 'dlq', retry: { retries: 1, initialMs: 20, maxMs: 50 }, ...extra })

async function started(extra: Record<string, unknown> = {}) {
  const sink = createKafkaDeadLetterSink(config(extra))
  cleanups.push(() => sink.close())
  await sink.start()
  return sink
}

const record = (value: Buffer | string, offset: number, headers?: Record<string, string>): RawRecord => ({
  value,
  coords: { kind: 'kafka', topic: 'logs', partition: 2, offset: String(offset) },
  ...(headers ? { headers } : {}),
})
const at = new Date('2026-01-02T03:04:05.000Z')

test('raw format: the value is the original bytes; reason and source coordinates travel as headers', async () => {
  const sink = await started()
  const binary = Buffer.from([0xff, 0xfe, 0x00, 0x41])
  const letters: DeadLetter[] = [
    deadLetterFor(record('{"truncated":', 7, { traceparent: '00-abc' }), 'EA_PARSE_INVALID_JSON', 'unexpected end of JSON', 'parse', at),
    deadLetterFor(record(binary, 8), 'EA_PARSE_INVALID_UTF8', 'bad utf-8', 'parse', at),
  ]
  await sink.write(letters)
  expect(sink.written).toBe(2)
  const stored = await broker.messages('dlq', 0)
  expect(stored.map((m) => m.value)).toEqual([Buffer.from('{"truncated":'), binary])
  expect(stored[1]!.value).toEqual(originalBytes(letters[1]!))
  const headers = Object.fromEntries(Object.entries(stored[0]!.headers).map(([k, v]) => [k, String(v)]))
  expect(headers).toEqual({
    traceparent: '00-abc',
    'envoy-audit.reason': 'EA_PARSE_INVALID_JSON',
    'envoy-audit.stage': 'parse',
    'envoy-audit.message': 'unexpected end of JSON',
    'envoy-audit.at': at.toISOString(),
    'envoy-audit.source.kind': 'kafka',
    'envoy-audit.source.topic': 'logs',
    'envoy-audit.source.partition': '2',
    'envoy-audit.source.offset': '7',
  })
  // Keyed by the dead letter's own id, not by where it was read.
  expect(stored.map((m) => m.key?.toString())).toEqual(letters.map((d) => d.id))
  expect(stored[0]!.timestamp).toBe(at.getTime())
})

test('the same bad line dead-lettered again (a replay, or re-sent at a new offset) carries the same key', async () => {
  const sink = await started()
  const { createParser } = await import('../../src/parse/index.js')
  const bad = '2021-03-16T09:29:20.896837Z info Envoy proxy is ready'
  const first = createParser().parseBatch([record(bad, 41)]).deadLetters
  const replay = createParser().parseBatch([record(bad, 41)]).deadLetters
  const resent = createParser().parseBatch([record(bad, 9041)]).deadLetters
  const other = createParser().parseBatch([record(`${bad}!`, 42)]).deadLetters
  await sink.write([...first, ...replay, ...resent, ...other])
  const keys = (await broker.messages('dlq', 0)).map((m) => m.key?.toString())
  expect(keys).toHaveLength(4)
  expect(new Set(keys.slice(0, 3)).size).toBe(1)
  expect(keys[3]).not.toBe(keys[0])
})

test('raw format: a joined CRI line is one record per part, in order, under one key, marked i/n', async () => {
  const sink = await started()
  const { createParser } = await import('../../src/parse/index.js')
  const p1 = '2022-07-22T12:24:13.900328365Z stdout P [2022-07-22T12:24:12.945Z] "GET /a HTTP/1.1"'
  const p2 = '2022-07-22T12:24:13.900328366Z stdout P  200'
  const f = '2022-07-22T12:24:13.900328367Z stdout F  and not the rest of an access line'
  const parser = createParser()
  const [dl] = parser.parseBatch([record(p1, 1), record(p2, 2), record(f, 3)]).deadLetters
  expect(dl!.parts).toHaveLength(2)
  await sink.write([dl!])
  const stored = await broker.messages('dlq', 0)
  expect(stored.map((m) => m.value?.toString())).toEqual([p1, p2, f])
  expect(stored.map((m) => m.key?.toString())).toEqual([dl!.id, dl!.id, dl!.id])
  expect(
    stored.map((m) => [
      String(m.headers['envoy-audit.part']),
      String(m.headers['envoy-audit.source.offset']),
      String(m.headers['envoy-audit.reason']),
    ]),
  ).toEqual([
    ['1/3', '1', 'EA_PARSE_MALFORMED_TEXT'],
    ['2/3', '2', 'EA_PARSE_MALFORMED_TEXT'],
    ['3/3', '3', 'EA_PARSE_MALFORMED_TEXT'],
  ])
  expect(sink.written).toBe(3)
})

test('json format writes the dead-letter document', async () => {
  const sink = await started({ format: 'json', compression: 'none' })
  const dl = deadLetterFor(record('nope', 3), 'EA_PARSE_NOT_ACCESS_LOG', 'not an access log', 'parse', at)
  await sink.write([dl])
  const [stored] = await broker.messages('dlq', 0)
  expect(JSON.parse(stored!.value!.toString())).toEqual({ ...dl })
})

test('an unavailable dead-letter topic is an EA_DLQ_UNAVAILABLE error the caller must not ack past', async () => {
  const unstarted = createKafkaDeadLetterSink(config())
  await expect(unstarted.write([deadLetterFor(record('x', 1), 'EA_PARSE_EMPTY', 'empty', 'parse')])).rejects.toMatchObject({
    code: 'EA_DLQ_UNAVAILABLE',
  })
  const sink = await started()
  broker.faults.failNext('Produce', ErrorCode.NOT_ENOUGH_REPLICAS, 10)
  const err = await sink.write([deadLetterFor(record('x', 1), 'EA_PARSE_EMPTY', 'empty', 'parse')]).catch((e: unknown) => e)
  expect(err).toBeInstanceOf(EnvoyAuditError)
  expect(err).toMatchObject({ code: 'EA_DLQ_UNAVAILABLE', retryable: true })
  expect(broker.highWatermark('dlq', 0)).toBe(0)
  expect(sink.written).toBe(0)
})

test('a dead-letter topic that does not exist fails start() with EA_CONFIG_INVALID naming it', async () => {
  const sink = createKafkaDeadLetterSink(config({ topic: 'no-such-dlq' }))
  cleanups.push(() => sink.close())
  await expect(sink.start()).rejects.toMatchObject({ code: 'EA_CONFIG_INVALID', message: expect.stringContaining('no-such-dlq') })
})

test('config: defaults, validation, and the source-cluster shortcut keeping TLS and SASL settings', () => {
  expect(config()).toMatchObject({ clientId: 'envoy-audit-dlq', acks: -1, compression: 'gzip', format: 'raw', maxBatchBytes: 1_000_000 })
  expect(() => loadKafkaDlqConfig({ brokers: ['k:9092'], topic: 'bad topic' })).toThrow(/deadLetter\.kafka\.topic/)
  const source = loadKafkaSourceConfig({
    brokers: ['k:9093'],
    topics: ['logs'],
    tls: { enabled: true, caFile: '/ca.pem' },
    sasl: { mechanism: 'scram-sha-512', username: 'u', passwordEnv: 'KAFKA_PASSWORD' },
  })
  expect(dlqConfigFromSource(source, 'envoy-audit-dlq')).toMatchObject({
    brokers: ['k:9093'],
    topic: 'envoy-audit-dlq',
    tls: { enabled: true, caFile: '/ca.pem', rejectUnauthorized: true },
    sasl: { mechanism: 'scram-sha-512', username: 'u', passwordEnv: 'KAFKA_PASSWORD' },
  })
})

test("a write over the topic's max.message.bytes is cut into requests the broker accepts; alone too large, a dead letter is truncated", async () => {
  broker.createTopic('small', 1, { maxMessageBytes: 20_000 })
  const values = Array.from({ length: 200 }, (_, i) => `${i}:${'x'.repeat(495)}`)
  const letters = values.map((v, i) => deadLetterFor(record(v, i), 'EA_PARSE_NOT_ACCESS_LOG', 'x', 'parse', at))
  const oversized = await started({
    topic: 'small',
    compression: 'none',
    maxBatchBytes: 1_000_000,
    retry: { retries: 0, initialMs: 20, maxMs: 50 },
  })
  await expect(oversized.write(letters)).rejects.toMatchObject({
    code: 'EA_DLQ_UNAVAILABLE',
    message: expect.stringMatching(/too large \(MESSAGE_TOO_LARGE\)/),
  })
  expect(broker.highWatermark('small', 0)).toBe(0)
  const sink = await started({ topic: 'small', compression: 'none', maxBatchBytes: 20_000 })
  await sink.write(letters)
  expect((await broker.messages('small', 0)).map((m) => m.value?.toString())).toEqual(values)
  expect(broker.requestCounts().Produce).toBeGreaterThanOrEqual(6)

  const huge = 'y'.repeat(50_000)
  await sink.write([deadLetterFor(record(huge, 500), 'EA_PARSE_TOO_LONG', 'too long', 'parse', at)])
  const last = (await broker.messages('small', 0)).at(-1)!
  expect(last.value!.length).toBeLessThan(20_000)
  expect(String(last.headers['envoy-audit.original-length'])).toBe('50000')
  expect(sink.truncated).toBe(1)
})
