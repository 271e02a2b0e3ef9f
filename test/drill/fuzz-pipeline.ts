/**
 * Structure-aware fuzzing of the whole record path the service runs: parser → redaction → identity,
 * AU-3, detection → integrity hash → schema serializer → sink and dead-letter output, through the
 * real batch handler. Inputs start from the 29 real lines of test/fixtures/envoy/mixed-real-world.log
 * (sources per line in mixed-real-world.expected.json) and are mutated, wrapped in envelopes (Fluent
 * Bit, Vector, CRI), nested deeply, blown up to huge fields, broken into invalid UTF-8, and given
 * `__proto__` / `constructor` / `prototype` keys.
 *
 * Invariants for every batch: the handler resolves (never throws); every record is exactly one
 * event or one dead letter (or a CRI partial merged into the record that completed it); every event
 * and dead letter validates against its JSON Schema after serialization; audit.hash is the hash of the
 * stored JSON; Object.prototype is untouched. Used by test/redact/pipeline-fuzz.test.ts (bounded) and
 * test/drill/fuzz.ts (long).
 */
import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import { Ajv } from 'ajv'
import addFormats from 'ajv-formats'
import type { AuditEvent, DeadLetter } from '../../src/schema/audit-event.js'
import { auditEventSchema, compileDeadLetterSerializer, compileEventSerializer, deadLetterSchema } from '../../src/schema/audit-event.js'
import type { DeadLetterSink, RawRecord, Sink, Source } from '../../src/pipeline/component.js'
import { runPipeline } from '../../src/pipeline/runner.js'
import { pipelineFromOptions } from '../../src/cli/pipeline-options.js'
import { createHashStage, hashStoredEvent } from '../../src/integrity/chain.js'

const SEEDS = readFileSync(new URL('../fixtures/envoy/mixed-real-world.log', import.meta.url), 'utf8')
  .split('\n')
  .filter((l) => l !== '')

// ajv and ajv-formats come with fast-json-stringify; used only to check outputs against the schemas.
const ajv = new Ajv({ allErrors: true, strict: false })
;(addFormats as unknown as (a: Ajv) => void)(ajv)
const validEvent = ajv.compile(auditEventSchema)
const validDeadLetter = ajv.compile(deadLetterSchema)
const serializeEvent = compileEventSerializer()
const serializeDeadLetter = compileDeadLetterSerializer()

const seedArb = fc.constantFrom(...SEEDS)
const hostileKey = fc.constantFrom('__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString')

/** Small edits at random places: insert, delete, duplicate, replace with a huge run. */
const mutated: fc.Arbitrary<string> = fc
  .tuple(
    seedArb,
    fc.array(
      fc.tuple(fc.nat(), fc.nat({ max: 40 }), fc.constantFrom('ins', 'del', 'dup', 'huge', 'quote', 'ctrl'), fc.string({ maxLength: 8 })),
      { maxLength: 4 },
    ),
  )
  .map(([seed, edits]) => {
    let s = seed
    for (const [at, len, op, text] of edits) {
      const i = s.length === 0 ? 0 : at % s.length
      if (op === 'ins') s = s.slice(0, i) + text + s.slice(i)
      else if (op === 'del') s = s.slice(0, i) + s.slice(i + len)
      else if (op === 'dup') s = s.slice(0, i + len) + s.slice(i, i + len) + s.slice(i + len)
      else if (op === 'huge') s = s.slice(0, i) + 'A'.repeat(20_000 + len * 1000) + s.slice(i)
      else if (op === 'quote') s = s.slice(0, i) + '"\\' + s.slice(i)
      else s = s.slice(0, i) + '\u0000\u001b[2J\u2028' + s.slice(i)
    }
    return s
  })

/** JSON access-log objects with hostile keys at the top level, in nested objects and in labels. */
const hostileJson: fc.Arbitrary<string> = fc
  .tuple(fc.constantFrom(...SEEDS.filter((s) => s.startsWith('{"authority"'))), hostileKey, fc.boolean(), fc.nat({ max: 3 }))
  .map(([seed, key, nested, where]) => {
    const body = seed.slice(1, -1)
    const evil = nested ? `{"prototype":{"polluted":"yes"},"${key}":{"polluted":"yes"}}` : '{"polluted":"yes"}'
    if (where === 0) return `{"${key}":${evil},${body}}`
    if (where === 1) return `{${body},"${key}":${evil}}`
    if (where === 2) return `{"log":${JSON.stringify(seed)},"kubernetes":{"labels":{"${key}":"x","app":"a"},"${key}":${evil}}}`
    return `{${body},"start_time":{"${key}":"2022-09-08T12:51:05.656Z"}}`
  })

/** Deep nesting: arrays and objects hundreds to thousands deep, around and inside the record. */
const deep: fc.Arbitrary<string> = fc
  .tuple(seedArb, fc.integer({ min: 50, max: 5000 }), fc.constantFrom('obj', 'arr', 'inside'))
  .map(([seed, depth, shape]) => {
    if (shape === 'arr') return '['.repeat(depth) + JSON.stringify(seed) + ']'.repeat(depth)
    if (shape === 'obj') return '{"log":'.repeat(depth) + JSON.stringify(seed) + '}'.repeat(depth)
    const extra = '{"a":'.repeat(depth) + '1' + '}'.repeat(depth)
    return seed.startsWith('{') ? `{"extra":${extra},${seed.slice(1)}` : seed + extra
  })

/** Envelopes the collectors put around a line (Fluent Bit docker/cri parsers, Vector, CRI text). */
const enveloped: fc.Arbitrary<string> = fc
  .tuple(fc.oneof(seedArb, mutated), fc.constantFrom('fluentbit', 'vector', 'cri', 'docker', 'double'))
  .map(([line, kind]) => {
    if (kind === 'fluentbit')
      return JSON.stringify({
        log: line,
        stream: 'stdout',
        time: '2022-09-08T12:51:05.656Z',
        kubernetes: { namespace_name: 'default', pod_name: 'p', labels: { app: 'x' } },
      })
    if (kind === 'vector')
      return JSON.stringify({ message: line, timestamp: '2022-09-08T12:51:05.656Z', kubernetes: { pod_namespace: 'default' } })
    if (kind === 'cri') return `2022-07-22T12:24:16.902897561Z stdout F ${line}`
    if (kind === 'docker') return JSON.stringify({ log: `${line}\n`, stream: 'stdout', time: '2022-07-22T12:24:16.902897561Z' })
    return JSON.stringify({ log: JSON.stringify({ log: line }) })
  })

/** Bytes that are not UTF-8: lone continuation bytes, truncated sequences, overlongs, surrogates. */
const invalidUtf8: fc.Arbitrary<Buffer> = fc
  .tuple(seedArb, fc.nat(), fc.constantFrom([0x80], [0xc3], [0xe2, 0x82], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xff, 0xfe]))
  .map(([seed, at, bytes]) => {
    const b = Buffer.from(seed)
    const i = at % (b.length + 1)
    return Buffer.concat([b.subarray(0, i), Buffer.from(bytes), b.subarray(i)])
  })

export const recordValue: fc.Arbitrary<string | Buffer> = fc.oneof(
  { arbitrary: seedArb, weight: 2 },
  { arbitrary: mutated, weight: 4 },
  { arbitrary: hostileJson, weight: 2 },
  { arbitrary: deep, weight: 1 },
  { arbitrary: enveloped, weight: 3 },
  { arbitrary: invalidUtf8, weight: 2 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 300 }), weight: 1 },
)

export const batchArb = fc.array(recordValue, { minLength: 1, maxLength: 12 })

const CRI_PARTIAL = /^\S+ (stdout|stderr) P /
const PROTO_KEYS = Object.getOwnPropertyNames(Object.prototype).sort().join(',')

/** Runs one batch through the full path (finite source, so partial lines are flushed) and checks every invariant. */
export async function checkBatch(values: (string | Buffer)[]): Promise<void> {
  const records: RawRecord[] = values.map((value, i) => ({
    value,
    coords: { kind: 'kafka', topic: 'fuzz', partition: 0, offset: String(i) },
  }))
  const events: AuditEvent[] = []
  const deadLetters: DeadLetter[] = []
  const sink: Sink = {
    name: 'memory',
    start: async () => undefined,
    close: async () => undefined,
    write: async (e) => (events.push(...e), { rejected: [] }),
  }
  const dlq: DeadLetterSink = {
    start: async () => undefined,
    close: async () => undefined,
    write: async (d) => void deadLetters.push(...d),
  }
  const source: Source = {
    start: async () => undefined,
    close: async () => undefined,
    run: async (handler) => void (await handler(records)),
  }
  const parts = pipelineFromOptions({ format: 'auto', maxLineBytes: '65536' })
  const counters = await runPipeline(source, { ...parts, stages: [...parts.stages, createHashStage()], sink, deadLetters: dlq })

  const fail = (what: string): never => {
    throw new Error(
      `${what}\ninput: ${JSON.stringify(values.map((v) => (typeof v === 'string' ? v.slice(0, 300) : `<bytes ${v.toString('base64').slice(0, 300)}>`)))}`,
    )
  }
  if (counters.recordsIn !== records.length) fail(`recordsIn ${counters.recordsIn} != ${records.length}`)
  if (events.length + deadLetters.length + counters.heldPartials !== records.length) {
    fail(
      `${events.length} events + ${deadLetters.length} dead letters + ${counters.heldPartials} merged partials != ${records.length} records`,
    )
  }
  const covered = new Set([...events.map((e) => e.audit.source?.offset), ...deadLetters.map((d) => d.source.offset)])
  if (covered.size !== events.length + deadLetters.length) fail('a record produced more than one output')
  // The books above, checked on the outputs too: a record without an output of its own must be a
  // CRI partial (P) line merged into the line that completed it.
  records.forEach((r, i) => {
    if (!covered.has(String(i)) && !CRI_PARTIAL.test(Buffer.from(r.value).toString('latin1')))
      fail(`record ${i} has no output and is not a CRI partial line`)
  })
  for (const e of events) {
    const json = serializeEvent(e)
    if (!validEvent(JSON.parse(json))) fail(`event invalid against the schema: ${ajv.errorsText(validEvent.errors)}`)
    if (e.audit.hash !== hashStoredEvent(json)) fail('audit.hash is not the hash of the stored JSON')
  }
  for (const d of deadLetters) {
    if (!validDeadLetter(JSON.parse(serializeDeadLetter(d))))
      fail(`dead letter invalid against the schema: ${ajv.errorsText(validDeadLetter.errors)}`)
    if (!d.reason.startsWith('EA_')) fail(`dead letter without a stable code: ${d.reason}`)
  }
  if (
    Object.getOwnPropertyNames(Object.prototype).sort().join(',') !== PROTO_KEYS ||
    ({} as Record<string, unknown>).polluted !== undefined
  ) {
    fail('Object.prototype was polluted')
  }
}
