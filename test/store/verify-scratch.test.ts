import { describe, expect, test } from 'vitest'
import { APPEND_MEMORY_LIMIT, VerifyScratch } from '../../src/store/verify-scratch.js'

async function limitOf(scratch: VerifyScratch): Promise<string> {
  const rows = await scratch.all(`SELECT current_setting('memory_limit') AS l`)
  return String(rows[0]!.l)
}

/** Runs `fn` on a scratch database with this query limit, closed whatever happens. */
async function withScratch(memoryLimit: string, fn: (scratch: VerifyScratch) => Promise<void>): Promise<void> {
  const scratch = await VerifyScratch.open({ memoryLimit })
  try {
    await fn(scratch)
  } finally {
    scratch.close()
  }
}

describe('VerifyScratch', () => {
  test('appends under the lower append limit and sorts under the query limit', async () => {
    await withScratch('64MB', async (scratch) => {
      const query = await limitOf(scratch)
      await scratch.phase('append')
      const append = await limitOf(scratch)
      expect(append).not.toBe(query)
      // DuckDB reports the limit in its own units: compare it with what the constant sets.
      await scratch.run(`SET memory_limit = '${APPEND_MEMORY_LIMIT}'`)
      expect(await limitOf(scratch)).toBe(append)
      await scratch.phase('query')
      expect(await limitOf(scratch)).toBe(query)
    })
  })

  test('a query limit below the append limit is kept while appending', async () => {
    await withScratch('8MB', async (scratch) => {
      const query = await limitOf(scratch)
      await scratch.phase('append')
      expect(await limitOf(scratch)).toBe(query)
    })
  })

  test('two tables of 2 KB rows, filled at once, fit in the append limit', async () => {
    // 10,000 rows of 2 KB between two flushes: 20 MB per table, more than the limit; DuckDB writes row groups out before.
    await withScratch('64MB', async (scratch) => {
      const a = await scratch.table('a', [
        ['id', 'VARCHAR'],
        ['doc', 'VARCHAR'],
      ])
      const b = await scratch.table('b', [
        ['id', 'VARCHAR'],
        ['n', 'BIGINT'],
        ['doc', 'VARCHAR'],
      ])
      await scratch.phase('append')
      for (let i = 0; i < 30_000; i++) {
        const doc = `${String(i).padStart(8, '0')}${'x'.repeat(2040)}`
        a.add([`id-${i}`, doc])
        b.add([`id-${i}`, i, doc])
      }
      a.flush()
      b.flush()
      await scratch.phase('query')
      const [row] = await scratch.all(
        `SELECT (SELECT count(DISTINCT md5(doc)) FROM a)::INTEGER AS a, (SELECT count(DISTINCT md5(doc)) FROM b)::INTEGER AS b,
        (SELECT sum(n) FROM b)::BIGINT AS n`,
      )
      expect(row).toEqual({ a: 30_000, b: 30_000, n: String((30_000 * 29_999) / 2) })
    })
  })
})
