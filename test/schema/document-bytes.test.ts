import { describe, expect, test } from 'vitest'
import fc from 'fast-check'
import { DocumentBytes } from '../../src/schema/document-bytes.js'

/** What w.str writes for `s`, from a buffer small enough that it has to be replaced on the way. */
function written(s: string): string {
  const w = new DocumentBytes(8)
  w.begin()
  w.str(s)
  return w.current().toString('utf8')
}

describe('DocumentBytes.str', () => {
  test('writes any string as JSON.stringify does, encoded as UTF-8', () => {
    const samples = [
      '',
      'plain',
      '{"start_time":"2026-01-01T00:00:00.000Z","path":"/a?b=\\"c\\""}',
      'tab\there\nnewline\r\fform\bback',
      '\u0000\u0001\u001f nul and friends',
      '\u007f del, é ü, € ☃, 日本',
      'pair 😀 and lone \ud800 half \udfff',
      '\u2028\u2029 separators',
      'x'.repeat(200) + '"' + 'y'.repeat(200),
    ]
    for (const s of samples) expect(written(s)).toBe(JSON.stringify(s))
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 300 }), fc.string({ unit: 'grapheme', maxLength: 300 })), (s) => {
        return written(s) === JSON.stringify(s)
      }),
      { numRuns: 3000 },
    )
  })

  test('long strings, escaped from their UTF-8 bytes, are the bytes of JSON.stringify, also as the scratch buffer grows', () => {
    const w = new DocumentBytes(64)
    const check = (s: string): void => {
      w.begin()
      w.byte(0x2c)
      w.str(s)
      expect(w.current().equals(Buffer.from(`,${JSON.stringify(s)}`, 'utf8'))).toBe(true)
    }
    const pad = 'p'.repeat(60)
    for (const piece of ['"', '\\', '\b\t\n\f\r', '\u0000', '\u001f', '\u007f', 'é', '€', '😀', '\ud800', '\udfff', '\u2028'])
      for (const s of [piece + pad, pad + piece, pad + piece + pad]) check(s)
    check(`${'"'.repeat(20_000)}\\`) // every byte escaped, past the scratch buffer's first size
    check(`${'é'.repeat(30_000)}"`)
    check(`${'q"'.repeat(200_000)}`) // past the scratch buffer's cap: escaped a character at a time
    check(`${pad}"short after the buffer grew`)
    const piece = fc.oneof(
      fc.constantFrom('"', '\\', '\n', '\u0001', 'é', '😀', '\ud83d', '\ude00', '\u0080'),
      fc.string({ unit: 'binary', maxLength: 40 }),
      fc.string({ maxLength: 40 }),
    )
    fc.assert(
      fc.property(fc.array(piece, { minLength: 1, maxLength: 12 }), (parts) => check(pad + parts.join(''))),
      { numRuns: 3000 },
    )
  })
})
