import { describe, test, expect } from 'vitest'
import fc from 'fast-check'
import { isIP } from 'node:net'
import { splitHostPort, validIp, uint, INVALID } from '../../src/parse/values.js'

describe('addresses', () => {
  test.each([
    ['10.0.0.1:80', { host: '10.0.0.1', port: 80 }],
    ['[2a02:cf40::4e36]:5000', { host: '2a02:cf40::4e36', port: 5000 }],
    ['[::1]', { host: '::1' }],
    ['2a02:cf40::4e36', { host: '2a02:cf40::4e36' }],
    ['tcp://10.0.2.1:80', { host: '10.0.2.1', port: 80 }],
    ['envoy://connect_originate/10.244.0.15:8080', { host: '10.244.0.15', port: 8080 }],
    ['reviews:9080', { host: 'reviews', port: 9080 }],
  ] as const)('splitHostPort(%s)', (input, out) => {
    expect(splitHostPort(input)).toEqual(out)
  })

  test.each([['10.0.0.1:99999'], ['[::1'], ['[::1]x'], ['10.0.0.1:'], ['']])('splitHostPort rejects %s', (input) => {
    expect(splitHostPort(input)).toBeUndefined()
  })

  test('property: validIp agrees with node:net isIP', () => {
    const candidates = fc.oneof(
      fc.ipV4(),
      fc.ipV4Extended(),
      fc.ipV6(),
      fc.string({ maxLength: 20 }),
      fc.array(fc.integer({ min: 0, max: 300 }), { minLength: 3, maxLength: 5 }).map((a) => a.join('.')),
    )
    fc.assert(
      fc.property(candidates, (s) => {
        expect(validIp(s)).toBe(s.length >= 2 && s.length <= 64 && isIP(s) !== 0)
      }),
      { numRuns: 2000 },
    )
  })

  test('uint', () => {
    expect(uint('123')).toBe(123)
    expect(uint(7)).toBe(7)
    expect(uint('-')).toBeUndefined()
    expect(uint(null)).toBeUndefined()
    expect(uint('12a')).toBe(INVALID)
    expect(uint(-1)).toBe(INVALID)
    expect(uint('9'.repeat(16))).toBe(INVALID)
  })
})
