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

  test('zoneless times, words and bad dates are refused naming the option', () => {
    for (const bad of ['2026-11-20T10:00:00', 'yesterday', '24', '2026-13-45T00:00:00Z', '-1d', '']) {
      expect(() => parseTime(bad, '--until', NOW), bad).toThrow(/--until/)
    }
    expect(() => parseDuration('7 days', '--baseline')).toThrow(/--baseline/)
  })

  test('property: any instant round-trips through its ISO form', () => {
    fc.assert(fc.property(fc.date({ min: new Date('1990-01-01T00:00:00Z'), max: new Date('2090-01-01T00:00:00Z'), noInvalidDate: true }), (d) => {
      expect(parseTime(d.toISOString(), '--since')).toBe(d.toISOString())
    }))
  })
})
