import { describe, expect, test } from 'vitest'
import fc from 'fast-check'
import { eventTime, idTooLong, isWriteBlocked, outsideWindow } from '../../../src/sinks/opensearch/routing.js'

describe('the index of an event is its @timestamp period (UTC)', () => {
  test('day, hour and month suffixes', () => {
    expect(eventTime('2026-03-01T23:59:59.999Z', 'day')).toEqual({ ms: Date.parse('2026-03-01T23:59:59.999Z'), suffix: '2026.03.01' })
    expect(eventTime('2026-03-01T23:59:59.999Z', 'hour')).toMatchObject({ suffix: '2026.03.01.23' })
    expect(eventTime('2026-03-01T23:59:59.999Z', 'month')).toMatchObject({ suffix: '2026.03' })
  })

  test('an offset is converted to UTC: the same instant names the same index whatever its notation', () => {
    expect(eventTime('2026-03-02T01:30:00+02:00', 'day')).toMatchObject({ suffix: '2026.03.01' })
    expect(eventTime('2026-03-01T23:30:00.000000001Z', 'day')).toMatchObject({ suffix: '2026.03.01' })
    fc.assert(
      fc.property(
        fc.integer({ min: Date.UTC(1970, 0, 1), max: Date.UTC(9999, 11, 31) }),
        fc.integer({ min: -14, max: 14 }),
        (ms, offsetH) => {
          const iso = new Date(ms).toISOString()
          const shifted = new Date(ms + offsetH * 3_600_000).toISOString().slice(0, 23)
          const sign = offsetH < 0 ? '-' : '+'
          const withOffset = `${shifted}${sign}${String(Math.abs(offsetH)).padStart(2, '0')}:00`
          expect(eventTime(withOffset, 'hour')).toEqual(eventTime(iso, 'hour'))
        },
      ),
      { numRuns: 300 },
    )
  })

  test('missing, not a date, or outside 1970-9999: no index (the event is refused, every time)', () => {
    for (const ts of [
      undefined,
      '',
      'yesterday',
      1700000000000,
      '1969-12-31T23:59:59Z',
      '+010000-01-01T00:00:00Z',
      '-000001-01-01T00:00:00Z',
    ]) {
      expect(eventTime(ts, 'day')).toHaveProperty('problem')
    }
  })

  test('the time window decides whether an index may be created, never which index', () => {
    const now = Date.parse('2026-03-01T00:00:00Z')
    const w = { maxFutureHours: 24, maxPastDays: 30 }
    expect(outsideWindow(now + 23 * 3_600_000, now, w)).toBeUndefined()
    expect(outsideWindow(now + 25 * 3_600_000, now, w)).toContain('ahead of the clock')
    expect(outsideWindow(now - 29 * 86_400_000, now, w)).toBeUndefined()
    expect(outsideWindow(now - 31 * 86_400_000, now, w)).toContain('days old')
    expect(outsideWindow(0, now, { maxFutureHours: 0, maxPastDays: 0 })).toBeUndefined()
  })
})

test('_id length is counted in UTF-8 bytes (512 at most)', () => {
  expect(idTooLong('a'.repeat(512))).toBe(false)
  expect(idTooLong('a'.repeat(513))).toBe(true)
  expect(idTooLong('é'.repeat(256))).toBe(false)
  expect(idTooLong('é'.repeat(257))).toBe(true)
  expect(idTooLong('€'.repeat(171))).toBe(true)
})

test('a write block is 403 cluster_block_exception for index write or read-only, not the flood-stage disk block', () => {
  const block = (reason: string) => ({ type: 'cluster_block_exception', reason })
  expect(isWriteBlocked(403, block('index [a] blocked by: [FORBIDDEN/8/index write (api)];'))).toBe(true)
  expect(isWriteBlocked(403, block('index [a] blocked by: [FORBIDDEN/8/index write (api), FORBIDDEN/5/index read-only (api)];'))).toBe(true)
  expect(
    isWriteBlocked(
      429,
      block(
        'index [a] blocked by: [TOO_MANY_REQUESTS/12/disk usage exceeded flood-stage watermark, index has read-only-allow-delete block];',
      ),
    ),
  ).toBe(false)
  expect(isWriteBlocked(403, block('index [a] blocked by: [FORBIDDEN/12/index read-only / allow delete (api)];'))).toBe(false)
  expect(isWriteBlocked(403, { type: 'security_exception', reason: 'no permissions for [indices:data/write/bulk[s]]' })).toBe(false)
})
