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
})
