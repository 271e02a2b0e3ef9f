import { describe, test, expect } from 'vitest'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { createParser } from '../../src/parse/index.js'
import type { RawRecord } from '../../src/pipeline/component.js'

// test/fixtures/envoy/mixed-real-world.log: one record per line; mixed-real-world.expected.json gives, per
// line, the source of the line and the expected envoy.format, dead-letter reason, or HELD (CRI partial).
const dir = fileURLToPath(new URL('../fixtures/envoy/', import.meta.url))
const file = `${dir}mixed-real-world.log`
const lines = readFileSync(file, 'utf8').split('\n').slice(0, -1)
const expected = JSON.parse(readFileSync(`${dir}mixed-real-world.expected.json`, 'utf8')) as Array<{
  line: number
  expect: string
  source: string
}>

describe('mixed real-world fixture', () => {
  test('every line gets its expected format, reason, or is held as a CRI partial', () => {
    expect(lines).toHaveLength(expected.length)
    let offset = 0
    const records: RawRecord[] = lines.map((value, i) => {
      const r: RawRecord = { value: Buffer.from(value, 'utf8'), coords: { kind: 'file', file, line: i + 1, offset: String(offset) } }
      offset += Buffer.byteLength(value, 'utf8') + 1
      return r
    })
    const parser = createParser()
    const r = parser.parseBatch(records)
    const got = new Map<number, string>()
    for (const e of r.events) got.set(e.audit.source!.line!, e.envoy.format)
    for (const d of r.deadLetters) got.set(d.source.line!, d.reason)
    for (const x of expected) expect({ line: x.line, got: got.get(x.line) ?? 'HELD' }).toEqual({ line: x.line, got: x.expect })
    expect(parser.flush()).toEqual([])
    const held = expected.filter((x) => x.expect === 'HELD').length
    expect(r.counts).toEqual({ in: lines.length, events: r.events.length, deadLettered: r.deadLetters.length, partialsHeld: held })
    expect(r.events.length + r.deadLetters.length + held).toBe(lines.length)
  })

  test('envelopes contribute Kubernetes metadata; the reassembled CRI line is whole', () => {
    const parser = createParser()
    const r = parser.parseBatch(lines.map((value, i) => ({ value, coords: { kind: 'file', file, line: i + 1 } })))
    const byLine = new Map(r.events.map((e) => [e.audit.source!.line!, e]))
    const fb = byLine.get(15)!
    expect(fb.kubernetes).toMatchObject({
      namespace: 'default',
      pod: 'reviews-v1-545db77b95-x2k8z',
      container: 'istio-proxy',
      node: 'gke-node-1',
    })
    expect(fb.source?.ip).toBe('2a02:cf40::4e36')
    expect(byLine.get(16)!.kubernetes?.namespace).toBe('default')
    const joined = byLine.get(13)!
    expect(joined.event.original).toMatch(/^\[2022-07-22T12:24:16\.032Z\] "GET \/reviews\/0 HTTP\/1\.1" 200 .* default$/)
    expect(joined.http?.response?.bytes).toBe(442)
  })
})
