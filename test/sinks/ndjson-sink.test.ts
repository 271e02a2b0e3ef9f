import { describe, expect, test } from 'vitest'
import { PassThrough, Writable } from 'node:stream'
import { generateMeshTraffic } from '../../src/demo/mesh-traffic.js'
import { createParser } from '../../src/parse/index.js'
import type { RawRecord } from '../../src/pipeline/component.js'
import { applyStages } from '../../src/pipeline/transforms.js'
import { createTransformStages } from '../../src/compose/transform-stages.js'
import { loadTransformsConfig } from '../../src/config/transforms.js'
import { createHashStage } from '../../src/integrity/chain.js'
import { compileEventSerializer, type AuditEvent } from '../../src/schema/audit-event.js'
import { createNdjsonEventSink } from '../../src/sinks/ndjson-sink.js'
import { storedForm } from '../../src/schema/stored-document.js'

const serialize = compileEventSerializer()
const lines = generateMeshTraffic({ seed: 11, sessions: 60, noise: false }).lines.map((l) => l.text)

function events(hashed: boolean): AuditEvent[] {
  const records: RawRecord[] = lines.map((value, i) => ({
    value,
    coords: { kind: 'file', file: 'mesh.log', line: i + 1, offset: String(i) },
  }))
  const parsed = createParser().parseBatch(records)
  const stages = [...createTransformStages(loadTransformsConfig()), ...(hashed ? [createHashStage()] : [])]
  return applyStages(stages, parsed.events).events
}

/** A stream that keeps what it is given as given (strings stay strings), and copies Buffers at once. */
function recording(): { stream: Writable; chunks: (string | Buffer)[] } {
  const chunks: (string | Buffer)[] = []
  const stream = new Writable({
    decodeStrings: false,
    write(chunk: string | Buffer, _enc, cb) {
      chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk))
      cb()
    },
  })
  return { stream, chunks }
}

describe('NDJSON event sink', () => {
  test.each([true, false])('writes each event as the serializer does, one per line (hashed: %s)', async (hashed) => {
    const batch = events(hashed)
    const expected = batch.map((e) => `${serialize(e)}\n`).join('')
    const { stream, chunks } = recording()
    const sink = createNdjsonEventSink(stream, 'test')
    await sink.start()
    expect(await sink.write(batch)).toEqual({ rejected: [] })
    await sink.write(batch.slice(0, 3))
    expect(Buffer.concat(chunks.map((c) => (typeof c === 'string' ? Buffer.from(c) : c))).toString('utf8')).toBe(
      expected +
        batch
          .slice(0, 3)
          .map((e) => `${serialize(e)}\n`)
          .join(''),
    )
  })

  test('stored forms (what the runner hands it with sinkReads stored) are written as the serializer writes the whole events', async () => {
    const batch = events(true)
    const expected = batch.map((e) => `${serialize(e)}\n`).join('')
    const forms = batch.map((e) => storedForm(e) ?? e)
    expect(forms.filter((f) => f.event.original === undefined).length).toBeGreaterThan(batch.length / 3)
    const { stream, chunks } = recording()
    const sink = createNdjsonEventSink(stream, 'test')
    await sink.start()
    await sink.write(forms)
    // A stored form keeps its document: written twice, the same bytes twice.
    await sink.write(forms.filter((f) => f.event.original === undefined).slice(0, 2))
    const twice = forms
      .filter((f) => f.event.original === undefined)
      .slice(0, 2)
      .map((f) => `${serialize(batch[forms.indexOf(f)]!)}\n`)
      .join('')
    expect(Buffer.concat(chunks.map((c) => (typeof c === 'string' ? Buffer.from(c) : c))).toString('utf8')).toBe(expected + twice)
  })

  test('hands the stream Buffers, not a string built by concatenation', async () => {
    const { stream, chunks } = recording()
    const sink = createNdjsonEventSink(stream, 'test')
    await sink.start()
    await sink.write(events(true))
    expect(chunks.length).toBeGreaterThan(0)
    expect(chunks.every((c) => Buffer.isBuffer(c))).toBe(true)
  })

  test('a stream that keeps the Buffers it was given (a PassThrough nobody reads yet) sees each batch intact', async () => {
    const batch = events(true)
    const expected = batch.map((e) => `${serialize(e)}\n`).join('')
    const stream = new PassThrough({ highWaterMark: 1 << 30 })
    const sink = createNdjsonEventSink(stream, 'test')
    await sink.start()
    await sink.write(batch)
    await sink.write(batch.slice(0, 5))
    stream.end()
    const read: Buffer[] = []
    for await (const c of stream) read.push(c as Buffer)
    expect(Buffer.concat(read).toString('utf8')).toBe(
      expected +
        batch
          .slice(0, 5)
          .map((e) => `${serialize(e)}\n`)
          .join(''),
    )
  })
})
