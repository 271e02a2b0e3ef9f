import { describe, test, expect } from 'vitest'
import fc from 'fast-check'
import { normaliseTimestamp } from '../../src/parse/timestamp.js'

describe('normaliseTimestamp', () => {
  test.each([
    ['2022-09-08T12:51:05.656Z', '2022-09-08T12:51:05.656Z'],
    ['2022-07-22T12:24:13.900328365Z', '2022-07-22T12:24:13.900Z'],
    ['2021-03-26 00:01:25.979', '2021-03-26T00:01:25.979Z'],
    ['2022-09-08T12:51:05.656+02:00', '2022-09-08T10:51:05.656Z'],
    ['2022-09-08T12:51:05.656-0130', '2022-09-08T14:21:05.656Z'],
    ['2022-09-08T12:51:05Z', '2022-09-08T12:51:05.000Z'],
    ['2024-02-29T00:00:00.000Z', '2024-02-29T00:00:00.000Z'],
    ['1662641465.656', '2022-09-08T12:51:05.656Z'],
    [1662641465.656, '2022-09-08T12:51:05.656Z'],
    [1662641465656, '2022-09-08T12:51:05.656Z'],
  ] as const)('%s -> %s', (input, out) => {
    expect(normaliseTimestamp(input)).toBe(out)
  })

  test.each([
    ['1'],
    ['yesterday'],
    ['2022-02-30T00:00:00.000Z'],
    ['2023-02-29T00:00:00.000Z'],
    ['2022-13-01T00:00:00.000Z'],
    ['2022-09-08T24:00:00.000Z'],
    ['1969-12-31T23:59:59.000Z'],
    [1],
    ['123456789'],
    [999_999_999],
    ['2022-09-08T12:51:05.65xZ'],
    ['2022-08-22T 3:08:23.188Z'],
    [''],
    [-5],
    [Number.NaN],
    [null],
    [undefined],
    [true],
  ] as const)('rejects %s', (input) => {
    expect(normaliseTimestamp(input)).toBeUndefined()
  })

  test('property: the fast path and the general path agree with Date for canonical strings', () => {
    fc.assert(
      fc.property(
        fc.date({ min: new Date('1970-01-01T00:00:00.000Z'), max: new Date('9999-12-31T23:59:59.999Z'), noInvalidDate: true }),
        (d) => {
          const iso = d.toISOString()
          expect(normaliseTimestamp(iso)).toBe(iso)
          expect(normaliseTimestamp(iso.replace('T', ' ').replace('Z', ''))).toBe(iso)
        },
      ),
    )
  })
})
