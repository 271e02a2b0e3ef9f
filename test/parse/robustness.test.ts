import { describe, test, expect } from 'vitest'
import fc from 'fast-check'
import { Ajv } from 'ajv'
import addFormats from 'ajv-formats'
import { createParser } from '../../src/parse/index.js'
import { auditEventSchema, compileEventSerializer } from '../../src/schema/audit-event.js'
import type { AuditEvent } from '../../src/schema/audit-event.js'
import type { RawRecord } from '../../src/pipeline/component.js'
import { originalBytes } from '../../src/pipeline/dead-letter.js'
import { ERROR_CODES } from '../../src/errors.js'
import { deadLetterOf } from './helpers.js'
import { splitCri } from '../../src/parse/cri.js'

// ajv and ajv-formats come with fast-json-stringify; used here only to check events against the schema.
const ajv = new Ajv({ allErrors: true, strict: false })
;(addFormats as unknown as (a: Ajv) => void)(ajv)
const validate = ajv.compile(auditEventSchema)
const serialize = compileEventSerializer()

/** Real lines the mutations start from (sources: see text.test.ts / json.test.ts, same lines). */
const SEEDS = [
  // elastic/integrations .../test-access-logs.log line 4
  '[2022-08-22T13:08:23.188Z] "GET /reviews/0 HTTP/1.1" 200 - via_upstream - "-" 0 442 12 12 "-" "curl/7.79.1" "00bcf1d7-12c4-93b9-b36a-bc0faac8e428" "reviews:9080" "10.124.1.5:9080" outbound|9080||reviews.default.svc.cluster.local 10.124.2.6:50960 10.0.18.132:9080 10.124.2.6:52930 - default',
  // envoyproxy/ratelimit#296
  '[2021-09-28T14:55:12.134Z] "- - -" 0 NR filter_chain_not_found - "-" 0 0 0 - "-" "-" "-" "-" "-" - - 172.17.0.8:8081 172.17.0.1:38748 - -',
  // elastic/integrations .../test-access-json-logs.log line 2 (IPv6)
  '{"authority":"reviews:9080","bytes_received":0,"bytes_sent":358,"connection_termination_details":null,"downstream_local_address":"10.124.1.5:9080","downstream_remote_address":"[2a02:cf40::4e36]:5000","duration":15,"method":"GET","path":"/reviews/0","protocol":"HTTP/1.1","request_id":"9fcc7101-13bd-9753-98d6-820806088d9d","requested_server_name":"outbound_.9080_._.reviews.default.svc.cluster.local","response_code":200,"response_code_details":"via_upstream","response_flags":"-","route_name":"default","start_time":"2022-09-08T12:51:05.656Z","upstream_cluster":"inbound|9080||","upstream_host":"10.124.1.5:9080","upstream_local_address":"127.0.0.6:37685","upstream_service_time":"14","upstream_transport_failure_reason":null,"user_agent":"curl/7.79.1","x_forwarded_for":null}',
  // elastic/integrations .../test-access_container_logs.log line 1
  '2022-07-22T12:24:12.325744791Z stdout F [2022-07-22T12:24:09.217Z] "GET /reviews/0 HTTP/1.1" 0 DC downstream_remote_disconnect - "-" 0 0 3106 - "-" "curl/7.79.1" "d0caf832-6a17-916f-83b4-71a33dc038db" "reviews:9080" "10.24.0.10:9080" inbound|9080|| 127.0.0.6:57403 10.24.0.10:9080 10.24.0.11:49888 outbound_.9080_._.reviews.default.svc.cluster.local default',
  // nitishm/engarde PR #8
  '[2020-05-19T19:53:38.151Z] "- - -" 0 - "-" "-" 2279 3059 63 - "-" "-" "-" "-" "1.2.3.4:443" PassthroughCluster 10.0.0.93:37018 1.2.3.4:443 10.0.0.93:39849 - -',
]

function records(values: Array<string | Buffer>): RawRecord[] {
  return values.map((value, i) => ({ value, coords: { kind: 'kafka', topic: 'envoy', partition: 0, offset: String(i) } }))
}

/** Parses a batch and checks every invariant the stage promises; returns the events for more checks. */
function checkBatch(values: Array<string | Buffer>, maxLineBytes = 65536): AuditEvent[] {
  const parser = createParser({ maxLineBytes })
  const batch = records(values)
  const r = parser.parseBatch(batch)
  const flushed = parser.flush()
  expect(r.counts.in).toBe(values.length)
  expect(r.counts.events).toBe(r.events.length)
  expect(r.counts.deadLettered).toBe(r.deadLetters.length)
  // every record is accounted for exactly once: its own event or dead letter, or a CRI partial (P) line
  // merged into the line that completed it (event and dead letter then carry the completing record)
  const covered = [
    ...r.events.map((e) => e.audit.source?.offset),
    ...r.deadLetters.map((d) => d.source.offset),
    ...flushed.map((d) => d.source.offset),
  ]
  expect(new Set(covered).size).toBe(covered.length)
  const coveredSet = new Set(covered)
  values.forEach((v, i) => {
    if (coveredSet.has(String(i))) return
    const text = typeof v === 'string' ? v : v.toString('utf8')
    expect(splitCri(text)?.partial, `record ${i} has no outcome: ${JSON.stringify(text.slice(0, 80))}`).toBe(true)
  })
  for (const d of [...r.deadLetters, ...flushed]) {
    expect(ERROR_CODES[d.reason as keyof typeof ERROR_CODES]?.stage).toBe('parse')
    // dead letters keep the original bytes losslessly
    const offset = Number(d.source.offset)
    const v = values[offset]!
    expect(originalBytes(d).equals(typeof v === 'string' ? Buffer.from(v, 'utf8') : v)).toBe(true)
  }
  for (const e of r.events) {
    if (!validate(e)) throw new Error(`schema violation: ${ajv.errorsText(validate.errors)} in ${JSON.stringify(e)}`)
    // the compiled serializer drops nothing: only schema fields were produced
    expect(JSON.parse(serialize(e))).toEqual(JSON.parse(JSON.stringify(e)))
  }
  return r.events
}

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 20 }) }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    text: fc.oneof(
      fc.string({ maxLength: 8 }),
      fc.constantFrom('"', ' ', '\\', '[', ']', '{', '}', ':', '-', '\u0000', '\uFFFD', '__proto__'),
    ),
  }),
  fc.record({ kind: fc.constant('replaceChar' as const), at: fc.nat(), ch: fc.string({ minLength: 1, maxLength: 1 }) }),
)

interface Mutation {
  kind: string
  at: number
  len?: number
  text?: string
  ch?: string
}

function mutate(line: string, ms: Mutation[]): string {
  let s = line
  for (const m of ms) {
    const at = s.length === 0 ? 0 : m.at % s.length
    if (m.kind === 'truncate') s = s.slice(0, at)
    else if (m.kind === 'delete') s = s.slice(0, at) + s.slice(at + (m.len ?? 1))
    else if (m.kind === 'insert') s = s.slice(0, at) + (m.text ?? '') + s.slice(at)
    else s = s.slice(0, at) + (m.ch ?? '') + s.slice(at + 1)
  }
  return s
}

describe('property: any input yields exactly one event or one dead letter per record, never a throw', () => {
  test('arbitrary strings', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'grapheme', maxLength: 300 }), { maxLength: 20 }), (xs) => void checkBatch(xs)),
      { numRuns: 300 },
    )
  })

  test('arbitrary bytes, including invalid UTF-8, and a small size cap', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 600 }), { maxLength: 20 }),
        (xs) =>
          void checkBatch(
            xs.map((x) => Buffer.from(x)),
            512,
          ),
      ),
      { numRuns: 300 },
    )
  })

  test('arbitrary JSON values, with hostile keys mixed into access-log objects', () => {
    const hostileKey = fc.constantFrom(
      '__proto__',
      'constructor',
      'prototype',
      'start_time',
      'response_code',
      'log',
      'message',
      'kubernetes',
      'labels',
      'toString',
      'hasOwnProperty',
    )
    const value = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }),
      fc.constantFrom('2022-09-08T12:51:05.656Z', '-', null, 200, '10.0.0.1:80', '[::1]:80', 'inbound|80||'),
    )
    const obj = fc.dictionary(fc.oneof(hostileKey, fc.string({ maxLength: 10 })), value, { maxKeys: 12 })
    const asLine = fc.oneof(
      fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v) ?? 'null'),
      obj.map((o) => JSON.stringify(o)),
      // hand-built so that "__proto__" really is a JSON key (dictionary() may turn it into a prototype)
      fc
        .tuple(hostileKey, value)
        .map(
          ([k, v]) => `{"start_time":"2022-09-08T12:51:05.656Z","response_code":200,${JSON.stringify(k)}:${JSON.stringify(v) ?? 'null'}}`,
        ),
      obj.map((o) => JSON.stringify({ log: JSON.stringify(o), kubernetes: { labels: o, pod_name: 'p' } })),
    )
    fc.assert(
      fc.property(fc.array(asLine, { maxLength: 15 }), (xs) => void checkBatch(xs)),
      { numRuns: 300 },
    )
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(Object.getOwnPropertyNames(Object.getPrototypeOf({})).sort())
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined()
  })

  test('mutated real lines (truncation, deletions, insertions, replaced characters)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom(...SEEDS), fc.array(mutation, { maxLength: 4 })), { maxLength: 15 }), (xs) => {
        checkBatch(xs.map(([line, ms]) => mutate(line, ms)))
      }),
      { numRuns: 400 },
    )
  })

  test('unmutated seeds all become events (the property above is not vacuous)', () => {
    expect(checkBatch(SEEDS)).toHaveLength(SEEDS.length)
  })

  test('CRI partial sequences of arbitrary shape are all accounted for after flush', () => {
    const cri = fc
      .tuple(fc.constantFrom('P', 'F'), fc.constantFrom('stdout', 'stderr'), fc.string({ maxLength: 40 }))
      .map(([t, s, c]) => `2022-07-22T12:24:13.900328365Z ${s} ${t} ${c}`)
    fc.assert(
      fc.property(fc.array(cri, { maxLength: 30 }), (xs) => void checkBatch(xs, 256)),
      { numRuns: 300 },
    )
  })
})

describe('fixed edge cases', () => {
  test('empty, whitespace, over-long, invalid UTF-8', () => {
    expect(deadLetterOf('').reason).toBe('EA_PARSE_EMPTY')
    expect(deadLetterOf(' \t\r\n').reason).toBe('EA_PARSE_EMPTY')
    expect(deadLetterOf('x'.repeat(70_000)).reason).toBe('EA_PARSE_TOO_LONG')
    expect(deadLetterOf(Buffer.alloc(300, 0x41), { maxLineBytes: 256 }).reason).toBe('EA_PARSE_TOO_LONG')
    const bad = deadLetterOf(Buffer.from([0x5b, 0x32, 0xff, 0xfe, 0x5d]))
    expect(bad.reason).toBe('EA_PARSE_INVALID_UTF8')
    expect(bad.raw_base64).toBe(Buffer.from([0x5b, 0x32, 0xff, 0xfe, 0x5d]).toString('base64'))
  })

  test('deeply nested and very wide JSON stay single dead letters', () => {
    const deep = '{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000)
    expect(['EA_PARSE_INVALID_JSON', 'EA_PARSE_NOT_ACCESS_LOG']).toContain(deadLetterOf(deep).reason)
    expect(deadLetterOf('['.repeat(60_000)).reason).toBe('EA_PARSE_NOT_ACCESS_LOG')
    const wide = JSON.stringify(Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`k${i}`, { start_time: 1 }])))
    expect(deadLetterOf(wide, { maxLineBytes: 1 << 20 }).reason).toBe('EA_PARSE_NOT_ACCESS_LOG')
    // a time key alone is not an access log
    expect(deadLetterOf('{"start_time":"2022-09-08T12:51:05.656Z"}').reason).toBe('EA_PARSE_NOT_ACCESS_LOG')
  })

  test('multi-byte UTF-8 counts bytes, not characters, against the cap', () => {
    expect(deadLetterOf('é'.repeat(200), { maxLineBytes: 256 }).reason).toBe('EA_PARSE_TOO_LONG')
  })
})
