import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { afterAll, describe, expect, test, vi } from 'vitest'
import { DuckDbStore, openStoreForReading } from '../../src/store/duckdb-store.js'
import { readerSocketPath } from '../../src/store/duckdb-readers.js'
import { makeEvent } from './event-fixtures.js'
import { copyStore } from './segment-files.js'
import { COMPACT_FANIN, segmentsDirOf } from '../../src/store/duckdb-segments.js'
import { runCli } from '../helpers/cli.js'

const dir = mkdtempSync(join(tmpdir(), 'ea-readers-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const events = (prefix: string, n: number) =>
  Array.from({ length: n }, (_, i) => makeEvent({ id: `${prefix}-${i}`, ts: new Date(Date.UTC(2026, 10, 20, 10, 0, i)).toISOString() }))

async function count(store: DuckDbStore): Promise<number> {
  return Number((await store.sql('SELECT count(*)::INTEGER AS n FROM events')).rows[0]!.n)
}

describe('readers of the embedded store', () => {
  test('a reader opens the file read-only when no writer holds it: DELETE and DROP fail, temp tables work', async () => {
    const path = join(dir, 'closed.duckdb')
    const writer = new DuckDbStore({ path })
    await writer.write(events('c', 5))
    await writer.close()
    const reader = await openStoreForReading(path)
    try {
      // events and findings are views over the segment files: the view refuses first; the tables refuse as read-only.
      await expect(reader.sql('DELETE FROM events')).rejects.toThrow(/base table/)
      await expect(reader.sql('DELETE FROM edge_facts')).rejects.toThrow(/read-only/)
      await expect(reader.sql('DROP TABLE store_segments')).rejects.toThrow(/read-only/)
      await expect(reader.write(events('x', 1))).rejects.toThrow(/read-only/)
      await reader.sql('CREATE TEMP TABLE scratch AS SELECT id FROM events')
      expect((await reader.sql('SELECT count(*)::INTEGER AS n FROM scratch')).rows[0]!.n).toBe(5)
      expect(await count(reader)).toBe(5)
    } finally {
      await reader.close()
    }
  })

  test('files a compaction replaced stay while a reader that connected before it is connected (verify names them at start)', async () => {
    const path = join(dir, 'held.duckdb')
    const files = () =>
      readdirSync(segmentsDirOf(path)).flatMap((h) => readdirSync(join(segmentsDirOf(path), h)).map((f) => join(segmentsDirOf(path), h, f)))
    const hour = Date.UTC(2026, 10, 20, 12)
    const batch = (b: number) =>
      [0, 1].map((i) => makeEvent({ id: `h${b}-${i}`, ts: new Date(hour + b * 60_000 + i * 1_000).toISOString() }))
    vi.useFakeTimers({ toFake: ['Date'] })
    const writer = new DuckDbStore({ path, layout: 'segments', callTables: false })
    try {
      vi.setSystemTime(Date.UTC(2026, 11, 7, 12))
      await writer.start()
      const reader = await openStoreForReading(path)
      expect(await count(reader)).toBe(0)
      for (let b = 0; b < COMPACT_FANIN; b++) await writer.write(batch(b))
      const replaced = files().filter((f) => basename(f).startsWith('l0-'))
      expect(replaced.length).toBe(2 * COMPACT_FANIN)
      vi.setSystemTime(Date.now() + 120_000)
      await writer.write(batch(COMPACT_FANIN))
      // Past the grace period, the reader from before the merge still holds the replaced files.
      expect(replaced.every((f) => existsSync(f))).toBe(true)
      expect(await count(reader)).toBe(2 * (COMPACT_FANIN + 1))
      await reader.close()
      await new Promise((resolve) => setTimeout(resolve, 200))
      vi.setSystemTime(Date.now() + 1_000)
      await writer.write(batch(COMPACT_FANIN + 1))
      expect(replaced.some((f) => existsSync(f))).toBe(false)
      expect(await count(writer)).toBe(2 * (COMPACT_FANIN + 2))
    } finally {
      await writer.close()
      vi.useRealTimers()
    }
  })

  test('a segment store moved whole (file and segments directory) is read from its new place, read-only', async () => {
    const from = join(dir, 'moved-from.duckdb')
    const writer = new DuckDbStore({ path: from, layout: 'segments', serveReaders: false })
    await writer.write(events('m', 3))
    await writer.close()
    const to = join(dir, 'moved-to.duckdb')
    copyStore(from, to)
    rmSync(from)
    rmSync(segmentsDirOf(from), { recursive: true })
    const reader = await openStoreForReading(to)
    try {
      expect(await count(reader)).toBe(3)
      expect(reader.layout).toBe('segments')
    } finally {
      await reader.close()
    }
  })

  test('while a writer holds the store, readers query through it and see every batch acknowledged before the query', async () => {
    const path = join(dir, 'open.duckdb')
    const writer = new DuckDbStore({ path })
    await writer.write(events('a', 3))
    const reader = await openStoreForReading(path)
    const other = await openStoreForReading(path)
    try {
      expect(await count(reader)).toBe(3)
      for (let batch = 1; batch <= 4; batch++) {
        await writer.write(events(`b${batch}`, 10))
        expect(await count(reader)).toBe(3 + batch * 10)
      }
      // Each reader connection has its own session: temporary tables do not leak between them.
      await reader.sql('CREATE TEMP TABLE mine AS SELECT 1 AS x')
      await expect(other.sql('SELECT * FROM mine')).rejects.toThrow(/mine/)
      await expect(reader.sql('DELETE FROM events')).rejects.toThrow(/base table/)
      await expect(reader.sql('UPDATE events SET method = NULL')).rejects.toThrow(/base table/)
      await expect(reader.sql('DELETE FROM edge_facts')).rejects.toThrow(/read-only/)
      await expect(reader.sql('UPDATE store_segments SET bytes = 0')).rejects.toThrow(/read-only/)
      // Ending the read-only transaction first, or changing the writer's settings, is refused.
      await expect(reader.sql('COMMIT; DELETE FROM events')).rejects.toThrow(/not allowed/)
      await expect(reader.sql("SET memory_limit = '1MB'")).rejects.toThrow(/not allowed/)
      await expect(reader.sql("ATTACH ':memory:' AS other")).rejects.toThrow(/not allowed/)
      expect(await count(other)).toBe(43)
      // The writer is unaffected by its readers.
      await writer.write(events('after', 2))
      expect(await count(writer)).toBe(45)
    } finally {
      await reader.close()
      await other.close()
      await writer.close()
    }
  })

  test("a reader served by the writer cannot read the writer's files outside the store, and the writer still writes", async () => {
    const path = join(dir, 'confined.duckdb')
    const key = join(dir, 'integrity.key')
    writeFileSync(key, 'not for readers', { mode: 0o600 })
    const writer = new DuckDbStore({ path, layout: 'segments' })
    await writer.write(events('k', 3))
    const reader = await openStoreForReading(path)
    try {
      for (const q of [
        `SELECT content FROM read_text('${key}')`,
        `SELECT content FROM read_text('${segmentsDirOf(path)}/../integrity.key')`,
        `SELECT * FROM read_csv('${key}')`,
        `SELECT count(*) FROM glob('${dir}/*')`,
      ])
        await expect(reader.sql(q), q).rejects.toThrow(/disabled by configuration/)
      // The store's own segments stay readable, and the writer keeps writing them.
      await writer.write(events('k2', 4))
      expect(await count(reader)).toBe(7)
      const files = await reader.sql(`SELECT count(*)::INTEGER AS n FROM glob('${segmentsDirOf(path)}/**/*.parquet')`)
      expect(Number(files.rows[0]!.n)).toBeGreaterThan(0)
    } finally {
      await reader.close()
      await writer.close()
    }
  })

  test('sql "DELETE FROM events" fails through the CLI, with and without a writer, and deletes nothing', async () => {
    const path = join(dir, 'cli.duckdb')
    const writer = new DuckDbStore({ path })
    await writer.write(events('d', 4))
    const during = await runCli(['sql', '--store', path, 'DELETE FROM events'])
    expect(during.code).not.toBe(0)
    expect(during.stderr).toMatch(/base table/)
    const counted = await runCli(['sql', '--store', path, '--json', 'SELECT count(*) AS n FROM events'])
    expect(counted.code).toBe(0)
    expect(JSON.parse(counted.stdout)).toEqual({ n: 4 })
    await writer.close()
    const after = await runCli(['sql', '--store', path, 'DELETE FROM events'])
    expect(after.code).not.toBe(0)
    expect(after.stderr).toMatch(/base table/)
    const reader = await openStoreForReading(path)
    expect(await count(reader)).toBe(4)
    await reader.close()
  }, 120_000)

  test('a writer replaces a socket left by a crashed writer, and a reader ignores a socket it cannot trust', async () => {
    const path = join(dir, 'stale.duckdb')
    const seed = new DuckDbStore({ path, serveReaders: false })
    await seed.write(events('s', 2))
    await seed.close()
    // A stale file where the socket goes (a crash leaves the socket file behind): the reader opens the file itself.
    writeFileSync(readerSocketPath(path), '')
    const reader = await openStoreForReading(path)
    expect(await count(reader)).toBe(2)
    await reader.close()
    const writer = new DuckDbStore({ path })
    await writer.write(events('t', 1))
    const through = await openStoreForReading(path)
    expect(await count(through)).toBe(3)
    await through.close()
    await writer.close()
  })
})
