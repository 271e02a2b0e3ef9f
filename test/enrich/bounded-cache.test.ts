import { describe, expect, test } from 'vitest'
import { BoundedCache } from '../../src/enrich/bounded-cache.js'

describe('BoundedCache', () => {
  test('never holds more than maxEntries, and keeps what is still used', () => {
    const c = new BoundedCache<number>(10)
    for (let i = 0; i < 1000; i++) {
      // ['hot'] is read between every insert, so it survives every rotation.
      if (c.get(['hot'], 1) === undefined) c.set(['hot'], 1, -1)
      c.set(['k', i], 2, i)
      expect(c.size).toBeLessThanOrEqual(10)
    }
    expect(c.get(['hot'], 1)).toBe(-1)
    expect(c.get(['k', 999], 2)).toBe(999)
    expect(c.get(['k', 0], 2)).toBeUndefined()
    expect(c.hits).toBeGreaterThan(990)
  })

  test('tuples are compared value by value: no two meet, whatever their strings hold', () => {
    const c = new BoundedCache<string>(100)
    c.set(['ab', 'c'], 2, 'first')
    c.set(['a', 'bc'], 2, 'second')
    c.set([undefined, 'x'], 2, 'absent')
    c.set(['', 'x'], 2, 'empty')
    c.set([403, 'x'], 2, 'number')
    c.set(['403', 'x'], 2, 'string')
    expect(c.get(['ab', 'c'], 2)).toBe('first')
    expect(c.get(['a', 'bc'], 2)).toBe('second')
    expect(c.get([undefined, 'x'], 2)).toBe('absent')
    expect(c.get(['', 'x'], 2)).toBe('empty')
    expect(c.get([403, 'x'], 2)).toBe('number')
    expect(c.get(['403', 'x'], 2)).toBe('string')
    expect(c.get(['abc'], 1)).toBeUndefined()
  })

  test('0 caches nothing; 1 holds one entry', () => {
    const off = new BoundedCache<string>(0)
    off.set(['a'], 1, 'x')
    expect(off.get(['a'], 1)).toBeUndefined()
    expect(off.size).toBe(0)
    const one = new BoundedCache<string>(1)
    one.set(['a'], 1, 'x')
    one.set(['b'], 1, 'y')
    expect(one.size).toBe(1)
    expect(one.get(['b'], 1)).toBe('y')
    expect(() => new BoundedCache(-1)).toThrow(RangeError)
  })
})
