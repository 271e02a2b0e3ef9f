import { describe, expect, test } from 'vitest'
import fc from 'fast-check'
import { parseDuration, parseTime } from '../../src/hunt/time.js'

const NOW = Date.parse('2026-11-23T12:00:00.000Z')

describe('TIME arguments', () => {
  test('relative times count back from now', () => {
    expect(parseTime('24h', '--since', NOW)).toBe('2026-11-22T12:00:00.000Z')
    expect(parseTime('7d', '--since', NOW)).toBe('2026-11-16T12:00:00.000Z')
    expect(parseTime('30m', '--since', NOW)).toBe('2026-11-23T11:30:00.000Z')
    expect(parseTime('2w', '--since', NOW)).toBe('2026-11-09T12:00:00.000Z')
  })

  test('ISO 8601 with a zone is normalised to milliseconds and Z; a date means its UTC midnight', () => {
    expect(parseTime('2026-11-20T10:00:00Z', '--since')).toBe('2026-11-20T10:00:00.000Z')
    expect(parseTime('2026-11-20T12:00:00.5+02:00', '--since')).toBe('2026-11-20T10:00:00.500Z')
    expect(parseTime('2026-11-20', '--since')).toBe('2026-11-20T00:00:00.000Z')
  })

  test('a time without a zone is UTC, whatever the host zone (this worker runs with the TZ it was given)', () => {
    expect(parseTime('2026-11-20T10:00:00', '--since')).toBe('2026-11-20T10:00:00.000Z')
    expect(parseTime('2026-11-20 10:00', '--since')).toBe('2026-11-20T10:00:00.000Z')
    expect(parseTime('2026-11-20T10:00:00.123456', '--since')).toBe('2026-11-20T10:00:00.123Z')
    expect(parseTime('2026-11-20T10:00:00+0530', '--since')).toBe('2026-11-20T04:30:00.000Z')
    expect(parseTime('2026-11-20T10:00:00-03', '--since')).toBe('2026-11-20T13:00:00.000Z')
  })

  test('words, impossible dates and bad offsets are refused naming the option', () => {
    for (const bad of [
      'yesterday',
      '24',
      '2026-13-45T00:00:00Z',
      '2026-02-29',
      '2026-04-31T00:00Z',
      '2026-11-20T24:00',
      '2026-11-20T10:00+25:00',
      'Nov 20 2026',
      '-1d',
      '',
    ]) {
      expect(() => parseTime(bad, '--until', NOW), bad).toThrow(/--until/)
    }
    expect(() => parseDuration('7 days', '--baseline')).toThrow(/--baseline/)
  })

  test('property: any instant round-trips through its ISO form', () => {
    fc.assert(
      fc.property(fc.date({ min: new Date('1990-01-01T00:00:00Z'), max: new Date('2090-01-01T00:00:00Z'), noInvalidDate: true }), (d) => {
        expect(parseTime(d.toISOString(), '--since')).toBe(d.toISOString())
      }),
    )
  })
})
