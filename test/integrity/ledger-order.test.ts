import { afterEach, describe, expect, test } from 'vitest'
import fc from 'fast-check'
import { ENTRY_COLUMNS, cutsOf, ledgerInChainOrder } from '../../src/integrity/ledger-order.js'
import { VerifyScratch } from '../../src/store/verify-scratch.js'

const TIE = 'l.event_id, l.hash, l.chain'

type Row = [string | null, number | null, string, string, string]

let scratch: VerifyScratch | undefined
afterEach(() => {
  scratch?.close()
  scratch = undefined
})

async function ledgerOf(rows: readonly Row[]): Promise<VerifyScratch> {
  const s = await VerifyScratch.open()
  const t = await s.table('ledger', [
    ['event_id', 'VARCHAR'],
    ['stream', 'VARCHAR'],
    ['pos', 'BIGINT'],
    ['hash', 'VARCHAR'],
    ['chain', 'VARCHAR'],
  ])
  for (const [stream, pos, id, hash, chain] of rows) t.add([id, stream, pos, hash, chain])
  t.flush()
  return s
}

async function collect(gen: AsyncGenerator<Record<string, unknown>[]>): Promise<unknown[][]> {
  const out: unknown[][] = []
  for await (const rows of gen) for (const r of rows) out.push(Object.values(r))
  return out
}

/** What one sort of the whole ledger gives. */
const wholeSort = (s: VerifyScratch): Promise<unknown[][]> =>
  collect(s.stream(`SELECT ${ENTRY_COLUMNS} FROM ledger l ORDER BY l.stream NULLS LAST, l.pos NULLS LAST, ${TIE}`))

describe('ledgerInChainOrder', () => {
  test('sorted range by range, it gives the rows one whole sort gives: gaps, a far position, NULLs, repeated positions', async () => {
    const rows: Row[] = []
    for (const stream of ['b', 'a', "it's"])
      for (let p = 1; p <= 1_000; p++) if (p % 97 !== 0) rows.push([stream, p, `${stream}${p}`, 'h', 'c'])
    rows.push(['a', 9_000_000_000_000, 'far', 'h', 'c']) // a planted row far past the others
    rows.push(['a', 500, 'a500', 'h', 'c']) // the same entry twice
    rows.push(['a', 500, 'other', 'h2', 'c2']) // a different entry at a taken position
    rows.push(['a', null, 'nopos', 'h', 'c'], [null, 3, 'nostream', 'h', 'c'], [null, null, 'neither', 'h', 'c'])
    rows.reverse()
    scratch = await ledgerOf(rows)
    const got = await collect(ledgerInChainOrder(scratch, TIE, 100))
    expect(got).toHaveLength(rows.length)
    expect(got).toEqual(await wholeSort(scratch))
    expect(got.at(-1)).toEqual([null, null, 'neither', 'h', 'c'])
  })

  test('property: any ledger, any range size', async () => {
    const row = fc.tuple(
      fc.option(fc.constantFrom('s1', 's2', 's3'), { freq: 8 }),
      fc.option(fc.oneof(fc.integer({ min: -5, max: 300 }), fc.constant(2 ** 50)), { freq: 10 }),
      fc.constantFrom('e1', 'e2', 'e3'),
      fc.constantFrom('h1', 'h2'),
      fc.constantFrom('c1', 'c2'),
    )
    await fc.assert(
      fc.asyncProperty(fc.array(row, { maxLength: 400 }), fc.integer({ min: 1, max: 150 }), async (rows, window) => {
        const s = await ledgerOf(rows as Row[])
        try {
          expect(await collect(ledgerInChainOrder(s, TIE, window))).toEqual(await wholeSort(s))
        } finally {
          s.close()
        }
      }),
      { numRuns: 40 },
    )
  }, 120_000)

  test('the cuts split a large stream, stored in position order, into ranges of about equal size', async () => {
    // A ledger is stored in the order it was written; a sample of its first rows would put every cut
    // among the first positions and leave one range with nearly all of it.
    scratch = await ledgerOf([])
    await scratch.run(
      `INSERT INTO ledger SELECT 'e' || i, 's', i + 1, 'h', 'c' FROM range(300000) t(i)
       UNION ALL SELECT 'far', 's', 9000000000000, 'h', 'c'`,
    )
    const cuts = (await cutsOf(scratch, `stream = 's'`, 6)).map(Number)
    expect(cuts.length).toBeGreaterThanOrEqual(4)
    const bounds = [-Infinity, ...cuts, Infinity]
    for (let i = 0; i + 1 < bounds.length; i++) {
      const [row] = await scratch.all(
        `SELECT count(*)::INTEGER AS n FROM ledger WHERE pos >= ${bounds[i] === -Infinity ? -1 : bounds[i]} ${
          bounds[i + 1] === Infinity ? '' : `AND pos < ${bounds[i + 1]}`
        }`,
      )
      expect(row!.n).toBeLessThanOrEqual(2 * 50_000)
    }
  })
})
