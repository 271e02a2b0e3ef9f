import { describe, test, expect } from 'vitest'
import { createParser } from '../../src/parse/index.js'
import { splitCri } from '../../src/parse/cri.js'
import type { RawRecord } from '../../src/pipeline/component.js'
import { originalRecords } from '../../src/pipeline/dead-letter.js'
import { eventOf, rec } from './helpers.js'

// elastic/integrations packages/istio/data_stream/access_logs/_dev/test/pipeline/test-access_container_logs.log, line 2
const CRI =
  '2022-07-22T12:24:13.900328365Z stdout F [2022-07-22T12:24:12.945Z] "GET /ratings/0 HTTP/1.1" 200 - via_upstream - "-" 0 48 62 61 "-" "curl/7.79.1" "d0caf832-6a17-916f-83b4-71a33dc038db" "ratings:9080" "10.24.1.5:9080" outbound|9080||ratings.default.svc.cluster.local 10.24.0.10:33168 10.12.29.240:9080 10.24.0.10:40768 - default'
const LINE = CRI.slice(CRI.indexOf(' F ') + 3)

describe('splitCri', () => {
  test('the kubelet examples (kubernetes/kubernetes pkg/kubelet/kuberuntime/logs/logs.go)', () => {
    expect(splitCri('2016-10-06T00:17:09.669794202Z stdout P log content 1')).toEqual({
      time: '2016-10-06T00:17:09.669794202Z',
      stream: 'stdout',
      partial: true,
      content: 'log content 1',
    })
    expect(splitCri('2016-10-06T00:17:09.669794203Z stderr F log content 2')).toEqual({
      time: '2016-10-06T00:17:09.669794203Z',
      stream: 'stderr',
      partial: false,
      content: 'log content 2',
    })
  })

  test('not CRI', () => {
    expect(splitCri('2021-03-16T09:29:20.896837Z info Envoy proxy is ready')).toBeUndefined()
    expect(splitCri('2016-10-06T00:17:09.669794202Z stdout X content')).toBeUndefined()
    expect(splitCri('2016-10-06T00:17:09.669794202Z stdout Fcontent')).toBeUndefined()
    expect(splitCri(LINE)).toBeUndefined()
    // A space inside the time (found by the drill's fuzzer, seed 610398): the parser held it as a P line.
    expect(splitCri('2022-07-22T 12:24:16.902967234Z stdout P content')).toBeUndefined()
    expect(splitCri('2022-07-22T12:24:16 .902967234Z stdout F content')).toBeUndefined()
  })
})

describe('CRI lines', () => {
  test('F line: the CRI framing is removed and its time ignored (START_TIME is the event time)', () => {
    const e = eventOf(CRI)
    expect(e['@timestamp']).toBe('2022-07-22T12:24:12.945Z')
    expect(e.event.original).toBe(LINE)
  })

  test('P lines are held per stream until their F line, then parsed as one line', () => {
    const p = createParser()
    const cut1 = 60
    const cut2 = 150
    const a = p.parseBatch([
      rec(`2022-07-22T12:24:13.900328365Z stdout P ${LINE.slice(0, cut1)}`, 1),
      rec(`2022-07-22T12:24:13.900328366Z stdout P ${LINE.slice(cut1, cut2)}`, 2),
    ])
    expect(a.counts).toEqual({ in: 2, events: 0, deadLettered: 0, partialsHeld: 2 })
    // an interleaved line of another file is unaffected
    const b = p.parseBatch([rec(CRI, 1, 'other.log'), rec(`2022-07-22T12:24:13.900328367Z stdout F ${LINE.slice(cut2)}`, 3)])
    expect(b.counts).toEqual({ in: 2, events: 2, deadLettered: 0, partialsHeld: 0 })
    expect(b.events[1]!.event.original).toBe(LINE)
    expect(b.events[1]!.audit.source?.line).toBe(3)
    expect(p.flush()).toEqual([])
  })

  test('flush dead-letters partials whose F line never came; over-long partials are released', () => {
    const p = createParser({ maxLineBytes: 256 })
    p.parseBatch([rec(`2022-07-22T12:24:13.9Z stdout P ${LINE.slice(0, 40)}`, 1)])
    const dl = p.flush()
    expect(dl.map((d) => d.reason)).toEqual(['EA_PARSE_PARTIAL'])
    expect(dl[0]!.raw).toContain('stdout P')
    const r = p.parseBatch([
      rec(`2022-07-22T12:24:13.9Z stdout P ${'x'.repeat(200)}`, 1),
      rec(`2022-07-22T12:24:13.9Z stdout P ${'y'.repeat(200)}`, 2),
    ])
    expect(r.deadLetters.map((d) => [d.reason, d.source.line])).toEqual([
      ['EA_PARSE_PARTIAL', 1],
      ['EA_PARSE_PARTIAL', 2],
    ])
    expect(p.flush()).toEqual([])
  })
})

/** A Kafka record of one partition, with an optional message key (a forwarder keying by pod). */
function kafka(value: string | Buffer, offset: number, key?: string, partition = 0): RawRecord {
  const r: RawRecord = { value, coords: { kind: 'kafka', topic: 'envoy', partition, offset: String(offset) } }
  if (key !== undefined) r.key = Buffer.from(key)
  return r
}

const cri = (tag: 'P' | 'F', body: string, n = 1): string => `2022-07-22T12:24:13.90032836${n}Z stdout ${tag} ${body}`

describe('CRI partial lines keep every byte', () => {
  test('a joined P+F line that does not parse is one dead letter holding every part, each with its bytes and source', () => {
    const p = createParser()
    const parts = [
      rec(cri('P', '[2022-07-22T12:24:12.945Z] "GET /ratings/0 HTTP/1.1" 200 -', 1), 1),
      rec(cri('P', ' via_upstream - "-" 0 48', 2), 2),
    ]
    expect(p.parseBatch(parts).counts.partialsHeld).toBe(2)
    const final = rec(cri('F', ' this is not the rest of an access line', 3), 3)
    const r = p.parseBatch([final])
    expect(r.events).toEqual([])
    expect(r.deadLetters).toHaveLength(1)
    const dl = r.deadLetters[0]!
    expect(dl.reason).toBe('EA_PARSE_MALFORMED_TEXT')
    expect(dl.raw).toBe(final.value)
    expect(dl.source.line).toBe(3)
    expect(dl.parts?.map((x) => [x.raw, x.source.line])).toEqual([
      [parts[0]!.value, 1],
      [parts[1]!.value, 2],
    ])
    expect(originalRecords(dl).map((b) => b.toString())).toEqual([parts[0]!.value, parts[1]!.value, final.value])
    // The books still balance: 3 records = 0 events + 1 dead letter + 2 partials joined into it.
    expect(r.counts).toEqual({ in: 1, events: 0, deadLettered: 1, partialsHeld: 0 })
  })

  test('a joined line whose content is empty keeps its parts too', () => {
    const p = createParser()
    p.parseBatch([rec(cri('P', '  ', 1), 1)])
    const dl = p.parseBatch([rec(cri('F', ' ', 2), 2)]).deadLetters[0]!
    expect(dl.reason).toBe('EA_PARSE_EMPTY')
    expect(dl.parts?.map((x) => x.raw)).toEqual([cri('P', '  ', 1)])
  })

  test('a partial whose final line never comes is dead-lettered with its exact bytes (EA_PARSE_PARTIAL), also when they are not UTF-8', () => {
    const p = createParser()
    const latin1 = Buffer.concat([
      Buffer.from(cri('P', '[2022-07-22T12:24:12.945Z] "GET /caf')),
      Buffer.from([0xe9]),
      Buffer.from(' HTTP/1.1"'),
    ])
    const utf8 = cri('P', '"GET /a HTTP/1.1"', 2)
    const r = p.parseBatch([kafka(latin1, 7, 'pod-a'), kafka(utf8, 8, 'pod-b')])
    // The P line that is not UTF-8 fails the UTF-8 check before CRI framing is read: its own dead letter, bytes kept.
    expect(r.deadLetters.map((d) => [d.reason, Buffer.from(d.raw_base64 ?? '', 'base64').equals(latin1)])).toEqual([
      ['EA_PARSE_INVALID_UTF8', true],
    ])
    const left = p.flush()
    expect(left.map((d) => [d.reason, d.raw, d.source.offset])).toEqual([['EA_PARSE_PARTIAL', utf8, '8']])
    expect(left[0]!.parts).toBeUndefined()
  })
})

describe('CRI partial lines are joined per container stream', () => {
  // Two pods' P lines reach one partition interleaved: each may only be completed by its own F line.
  const A = LINE
  const B = LINE.replace('/ratings/0', '/ratings/1').replace('d0caf832-6a17-916f-83b4-71a33dc038db', 'a8c34c8e-1a9b-9b6b-8f4e-3d8f60d3a9a1')

  test("raw CRI lines from Kafka: by message key, so pod A's P is never spliced with pod B's F", () => {
    const p = createParser()
    const r = p.parseBatch([
      kafka(cri('P', A.slice(0, 70), 1), 1, 'default/productpage-a/istio-proxy'),
      kafka(cri('F', B, 2), 2, 'default/productpage-b/istio-proxy'),
      kafka(cri('F', A.slice(70), 3), 3, 'default/productpage-a/istio-proxy'),
    ])
    expect(r.deadLetters).toEqual([])
    expect(r.events.map((e) => [e.event.original, e.audit.source?.offset])).toEqual([
      [B, '2'],
      [A, '3'],
    ])
  })

  test('without a key, a raw CRI line has nothing but its partition to go by (last resort)', () => {
    const p = createParser()
    p.parseBatch([kafka(cri('P', A.slice(0, 70), 1), 1, undefined, 0)])
    // Another partition does not complete it.
    expect(p.parseBatch([kafka(cri('F', B, 2), 2, undefined, 1)]).events.map((e) => e.event.original)).toEqual([B])
    expect(p.parseBatch([kafka(cri('F', A.slice(70), 3), 3, undefined, 0)]).events.map((e) => e.event.original)).toEqual([A])
  })

  const fluentBit = (pod: string, tag: 'P' | 'F', log: string, extra: Record<string, unknown> = {}): string =>
    JSON.stringify({
      '@timestamp': 1658492653.9,
      time: '2022-07-22T12:24:13.900328365Z',
      stream: 'stdout',
      _p: tag,
      log,
      kubernetes: { namespace_name: 'default', pod_name: pod, container_name: 'istio-proxy' },
      ...extra,
    })

  test('Fluent Bit records tagged _p: P are joined by the pod and container the envelope names, whatever the key or partition', () => {
    const p = createParser()
    const r = p.parseBatch([
      kafka(fluentBit('productpage-a', 'P', A.slice(0, 90)), 10),
      kafka(fluentBit('productpage-b', 'P', B.slice(0, 40)), 11),
      kafka(fluentBit('productpage-a', 'F', A.slice(90)), 12),
      kafka(fluentBit('productpage-b', 'F', B.slice(40)), 13),
    ])
    expect(r.deadLetters).toEqual([])
    expect(r.events.map((e) => [e.event.original, e.kubernetes?.pod, e.audit.source?.offset])).toEqual([
      [A, 'productpage-a', '12'],
      [B, 'productpage-b', '13'],
    ])
    expect(r.counts).toEqual({ in: 4, events: 2, deadLettered: 0, partialsHeld: 2 })
  })

  test('the legacy cri parser (logtag, message) and CRI framing kept inside log are joined the same way', () => {
    const p = createParser()
    const legacy = (pod: string, tag: string, message: string) =>
      JSON.stringify({
        time: '2022-07-22T12:24:13.9Z',
        stream: 'stdout',
        logtag: tag,
        message,
        kubernetes: { namespace_name: 'default', pod_name: pod, container_name: 'istio-proxy' },
      })
    const framed = (pod: string, line: string) =>
      JSON.stringify({ log: line, kubernetes: { namespace_name: 'default', pod_name: pod, container_name: 'istio-proxy' } })
    const r = p.parseBatch([
      kafka(legacy('a', 'P', A.slice(0, 50)), 1),
      kafka(framed('b', cri('P', B.slice(0, 60))), 2),
      kafka(framed('b', cri('F', B.slice(60))), 3),
      kafka(legacy('a', 'F', A.slice(50)), 4),
    ])
    expect(r.deadLetters).toEqual([])
    expect(r.events.map((e) => e.event.original)).toEqual([B, A])
  })

  test('an envelope partial that then fails keeps every envelope it was joined from', () => {
    const p = createParser()
    const first = kafka(fluentBit('productpage-a', 'P', '{"start_time":"2022-07-22T12:24:12.945Z","method":'), 20)
    const last = kafka(fluentBit('productpage-a', 'F', '"GET", truncated'), 21)
    const r = p.parseBatch([first, last])
    expect(r.deadLetters.map((d) => [d.reason, d.raw, d.parts?.map((x) => [x.raw, x.source.offset])])).toEqual([
      ['EA_PARSE_INVALID_JSON', last.value, [[first.value, '20']]],
    ])
  })

  test('a sink that refuses a joined event dead-letters every part it was made of', async () => {
    const { sinkRejectionDeadLetters } = await import('../../src/pipeline/dead-letter.js')
    const p = createParser()
    const records = [kafka(cri('P', A.slice(0, 70), 1), 1, 'k'), kafka(cri('F', A.slice(70), 2), 2, 'k')]
    const [event] = p.parseBatch(records).events
    const [dl] = sinkRejectionDeadLetters(records, [{ event: event!, code: 'EA_SINK_MAPPING', message: 'refused' }])
    expect(dl!.event_id).toBe(event!.event.id)
    expect(originalRecords(dl!).map((b) => b.toString())).toEqual(records.map((r) => r.value))
  })
})
