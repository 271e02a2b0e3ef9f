import { describe, expect, test } from 'vitest'
import fc from 'fast-check'
import { NdjsonChunks } from '../../src/sinks/ndjson-chunks.js'

const text = (chunks: Buffer[]): string => Buffer.concat(chunks).toString('utf8')

describe('NdjsonChunks', () => {
  test('any lines, any chunk size: the chunks hold the lines, each ended by a newline, byte for byte', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'grapheme', maxLength: 40 })), fc.integer({ min: 1, max: 64 }), (lines, size) => {
        const encoded = new NdjsonChunks(true, size).encode(lines, (json) => ({ json }))
        expect(text(encoded.chunks)).toBe(lines.map((l) => `${l}\n`).join(''))
        for (const c of encoded.chunks) expect(c.length <= size || c.toString('utf8').split('\n').length === 2).toBe(true)
      }),
    )
  })

  test('lines given as UTF-8 bytes, mixed with text, any chunk size: copied as they are, each ended by a newline', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.string({ unit: 'grapheme', maxLength: 40 }), fc.boolean())),
        fc.integer({ min: 1, max: 64 }),
        (lines, size) => {
          const encoded = new NdjsonChunks(true, size).encode(lines, ([json, asBytes]) => (asBytes ? { doc: Buffer.from(json) } : { json }))
          expect(text(encoded.chunks)).toBe(lines.map(([l]) => `${l}\n`).join(''))
          for (const c of encoded.chunks) expect(c.length <= size || c.toString('utf8').split('\n').length === 2).toBe(true)
        },
      ),
    )
  })

  test('a multi-byte character is never split between two chunks', () => {
    const lines = ['aé', '€€€', '😀x', 'ü']
    const encoded = new NdjsonChunks(true, 8).encode(lines, (json) => ({ json }))
    for (const c of encoded.chunks) expect(Buffer.from(c.toString('utf8')).equals(c)).toBe(true)
    expect(text(encoded.chunks)).toBe('aé\n€€€\n😀x\nü\n')
  })

  test('a length that does not match the string is refused instead of writing a cut line', () => {
    expect(() => new NdjsonChunks(true).encode(['héllo'], (json) => ({ json, bytes: json.length }))).toThrow(
      'a line of 5 bytes encoded as 6',
    )
  })

  test('released chunks are reused; a batch encoded before the release gets memory of its own', () => {
    const chunks = new NdjsonChunks(true, 16)
    const first = chunks.encode(['aaaa', 'bbbb'], (json) => ({ json }))
    const second = chunks.encode(['cccc'], (json) => ({ json }))
    expect(second.chunks[0]!.buffer).not.toBe(first.chunks[0]!.buffer)
    expect(text(first.chunks)).toBe('aaaa\nbbbb\n')
    second.release()
    // The pool is still the first batch's: a release of another batch does not free it.
    const third = chunks.encode(['dddd'], (json) => ({ json }))
    expect(third.chunks[0]!.buffer).not.toBe(first.chunks[0]!.buffer)
    expect(text(first.chunks)).toBe('aaaa\nbbbb\n')
    first.release()
    const fourth = chunks.encode(['eeee'], (json) => ({ json }))
    expect(fourth.chunks[0]!.buffer).toBe(first.chunks[0]!.buffer)
  })

  test('without reuse every batch gets fresh memory', () => {
    const chunks = new NdjsonChunks(false, 16)
    const first = chunks.encode(['aaaa'], (json) => ({ json }))
    first.release()
    const second = chunks.encode(['bbbb'], (json) => ({ json }))
    expect(second.chunks[0]!.buffer).not.toBe(first.chunks[0]!.buffer)
    expect(text(first.chunks)).toBe('aaaa\n')
  })
})
