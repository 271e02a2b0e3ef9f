import { describe, expect, test } from 'vitest'
import { BoundedCache } from '../../src/enrich/bounded-cache.js'

describe('BoundedCache', () => {
  test('never holds more than maxEntries, and keeps what is still used', () => {
    const c = new BoundedCache<number>(10)
    for (let i = 0; i < 1000; i++) {
      // 'hot' is read between every insert, so it survives every rotation.
      if (c.get('hot') === undefined) c.set('hot', -1)
      c.set(`k${i}`, i)
      expect(c.size).toBeLessThanOrEqual(10)
    }
    expect(c.get('hot')).toBe(-1)
    expect(c.get('k999')).toBe(999)
    expect(c.get('k0')).toBeUndefined()
    expect(c.hits).toBeGreaterThan(990)
  })

  test('0 caches nothing; 1 holds one entry', () => {
    const off = new BoundedCache<string>(0)
    off.set('a', 'x')
    expect(off.get('a')).toBeUndefined()
    expect(off.size).toBe(0)
    const one = new BoundedCache<string>(1)
    one.set('a', 'x')
    one.set('b', 'y')
    expect(one.size).toBe(1)
    expect(one.get('b')).toBe('y')
    expect(() => new BoundedCache(-1)).toThrow(RangeError)
  })
})
