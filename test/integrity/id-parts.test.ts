import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { idPartCount, inPart, partsOf, removeIds } from '../../src/integrity/id-parts.js'
import { VerifyScratch } from '../../src/store/verify-scratch.js'

let scratch: VerifyScratch
beforeAll(async () => {
  scratch = await VerifyScratch.open({ memoryLimit: '24MB' })
})
afterAll(() => scratch.close())

let tables = 0
/** A new scratch table `rows` (id, n) and a table of ids to remove; returns their names. */
async function fill(rows: readonly (string | null)[], remove: readonly string[]): Promise<{ table: string; ids: string }> {
  const table = `rows_${++tables}`
  const ids = `gone_${tables}`
  const t = await scratch.table(table, [
    ['id', 'VARCHAR'],
    ['n', 'BIGINT'],
  ])
  rows.forEach((id, n) => t.add([id, n]))
  t.flush()
  const g = await scratch.table(ids, [['id', 'VARCHAR']])
  for (const id of remove) g.add([id])
  g.flush()
  return { table, ids }
}

const kept = async (table: string): Promise<number[]> => (await scratch.all(`SELECT n FROM ${table} ORDER BY n`)).map((r) => Number(r.n))

describe('id parts', () => {
  test('every id, NULL too, falls in exactly one part, and the part count covers the largest table', async () => {
    const { table } = await fill(['a', 'b', 'c', null, 'a', 'zz'], [])
    expect(await idPartCount(scratch, [table], 2)).toBe(3)
    expect(await idPartCount(scratch, [table], 1_000)).toBe(1)
    const parts = 4
    const hits = await scratch.all(
      `SELECT n, ${partsOf(parts)
        .map((p) => `(${inPart('id', parts, p)})::INTEGER`)
        .join(' + ')} AS k FROM ${table} ORDER BY n`,
    )
    expect(hits.map((h) => Number(h.k))).toEqual([1, 1, 1, 1, 1, 1])
  })

  test('removeIds keeps every other row, NULL ids and repeated ids included, in one part or many', async () => {
    const rows = ['a', 'b', null, 'c', 'b', 'd', null, 'e']
    for (const partRows of [undefined, 3, 1]) {
      const { table, ids } = await fill(rows, ['b', 'e', 'not-there'])
      await removeIds(scratch, table, 'id', ids, partRows)
      expect(await kept(table)).toEqual([0, 2, 3, 5, 6])
    }
  })

  test('removeIds equals filtering by the ids, for any rows and ids', async () => {
    const id = fc.oneof(fc.constantFrom('x', 'y', 'z'), fc.string({ maxLength: 4 }), fc.constant(null))
    await fc.assert(
      fc.asyncProperty(
        fc.array(id, { maxLength: 40 }),
        fc.array(fc.string({ maxLength: 4 }), { maxLength: 10 }),
        fc.integer({ min: 1, max: 50 }),
        async (rows, gone, partRows) => {
          const { table, ids } = await fill(rows, gone)
          await removeIds(scratch, table, 'id', ids, partRows)
          const want = rows.flatMap((r, n) => (r !== null && gone.includes(r) ? [] : [n]))
          expect(await kept(table)).toEqual(want)
        },
      ),
      { numRuns: 40 },
    )
  }, 60_000)
})
