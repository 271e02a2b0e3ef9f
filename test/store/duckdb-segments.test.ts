import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, test, vi } from 'vitest'
import { DuckDBInstance } from '@duckdb/node-api'
import { verifyDuckDbStore } from '../../src/integrity/verify-duckdb.js'
import type { IntegrityKey } from '../../src/integrity/config.js'
import { FIXTURE, ingestFile, memoryDlq, openLedgered } from '../integrity/harness.js'
import { runPipeline } from '../../src/pipeline/runner.js'
import { pipelineFromOptions } from '../../src/cli/pipeline-options.js'
import { createFileSource } from '../../src/sources/file-source.js'
import { createHashStage } from '../../src/integrity/chain.js'
import { DuckDbStore, type DuckDbStoreConfig } from '../../src/store/duckdb-store.js'
import { COMPACT_FANIN, SEGMENT_FORMAT, SegmentCatalog, type Segment, segmentsDirOf } from '../../src/store/duckdb-segments.js'
import type { AuditEvent } from '../../src/generated/types.js'
import { finding, makeEvent } from './event-fixtures.js'

const dir = mkdtempSync(join(tmpdir(), 'ea-segments-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

async function withStore<T>(config: DuckDbStoreConfig, fn: (s: DuckDbStore) => Promise<T>): Promise<T> {
  const store = new DuckDbStore({ callTables: false, serveReaders: false, ...config })
  try {
    await store.start()
    return await fn(store)
  } finally {
    await store.close()
  }
}

const count = async (store: DuckDbStore, sql: string): Promise<number> => Number((await store.sql(sql)).rows[0]!.n)

/** Every file under the store's segment directory, relative to it. */
function segmentFiles(path: string): string[] {
  const root = segmentsDirOf(path)
  if (!existsSync(root)) return []
  return readdirSync(root).flatMap((hour) => readdirSync(join(root, hour)).map((f) => `${hour}/${f}`))
}

const at = (ms: number): string => new Date(ms).toISOString()

describe('segment layout', () => {
  test('a segment store checkpoints its log at 64MB unless configured, a table store at 256MB', async () => {
    // DuckDB reads MB as 10^6 bytes and shows MiB.
    const setting = async (config: DuckDbStoreConfig): Promise<unknown> =>
      withStore(config, async (store) => (await store.sql(`SELECT current_setting('checkpoint_threshold') AS v`)).rows[0]!.v)
    expect(await setting({ path: join(dir, 'ckpt-seg.duckdb'), layout: 'segments' })).toBe('61.0 MiB')
    expect(await setting({ path: join(dir, 'ckpt-table.duckdb'), layout: 'table' })).toBe('244.1 MiB')
    expect(await setting({ path: join(dir, 'ckpt-set.duckdb'), layout: 'segments', checkpointThreshold: '128MB' })).toBe('122.0 MiB')
  })

  test('a merge streams: 16 segments of large documents merge under a memory limit they would not fit in whole', async () => {
    const path = join(dir, 'compact-memory.duckdb')
    const perBatch = 150
    // Incompressible 8 KB originals: 16 x 150 documents; a merge that held whole rows (DISTINCT ON, ORDER BY) ran out of 96 MB.
    const noise = (n: number): string =>
      Array.from({ length: n / 8 }, () => Math.random().toString(16).slice(2, 10).padEnd(8, '0')).join('')
    await withStore({ path, layout: 'segments', memoryLimit: '96MB', threads: 1 }, async (store) => {
      for (let b = 0; b < COMPACT_FANIN; b++) {
        const batch = Array.from({ length: perBatch }, (_, i) => {
          const e = makeEvent({ id: `m${b}-${i}`, ts: at(Date.UTC(2026, 10, 20, 11, b, i % 60)) })
          e.event.original = noise(8_192)
          return e
        })
        await store.writeEvents(batch)
      }
      const levels = (await store.sql('SELECT level, count(*)::INTEGER AS n FROM store_segments GROUP BY level ORDER BY level')).rows
      expect(levels).toEqual([{ level: 1, n: 1 }])
      expect(await count(store, 'SELECT count(DISTINCT id)::INTEGER AS n FROM events')).toBe(COMPACT_FANIN * perBatch)
    })
  })

  test('a merge keeps one row per id when segments repeat one (a planted copy)', async () => {
    const path = join(dir, 'compact-repeat.duckdb')
    const hour = Date.UTC(2026, 10, 20, 12)
    const batch = (b: number): AuditEvent[] => [0, 1].map((i) => makeEvent({ id: `r${b}-${i}`, ts: at(hour + b * 60_000 + i * 1000) }))
    await withStore({ path, layout: 'segments' }, async (store) => {
      for (let b = 0; b < COMPACT_FANIN - 1; b++) await store.writeEvents(batch(b))
      // A second copy of the first segment, listed in the catalog as a later one.
      const [first] = (await store.sql(`SELECT name FROM store_segments ORDER BY name LIMIT 1`)).rows
      const files = segmentFiles(path)
        .filter((f) => f.includes(`${String(first!.name)}.events.`))
        .map((f) => join(segmentsDirOf(path), f))
      const copy = files[0]!.replace(String(first!.name), 'l0-9000000000')
      await store.sql(`COPY (SELECT * FROM read_parquet('${files[0]!}')) TO '${copy}' (FORMAT parquet)`)
      await store.sql(
        `COPY (SELECT * FROM read_parquet('${files[0]!.replace('.events.', '.findings.')}'))
          TO '${copy.replace('.events.', '.findings.')}' (FORMAT parquet)`,
      )
      await store.sql(`INSERT INTO store_segments SELECT 'l0-9000000000', hour, level, events, findings, min_ts, max_ts, bytes, format
        FROM store_segments WHERE name = '${String(first!.name)}'`)
    })
    await withStore({ path }, async (store) => {
      expect(await count(store, 'SELECT count(*)::INTEGER AS n FROM events')).toBe(COMPACT_FANIN * 2)
      await store.writeEvents(batch(COMPACT_FANIN))
      const levels = (await store.sql('SELECT level, count(*)::INTEGER AS n FROM store_segments GROUP BY level ORDER BY level')).rows
      expect(levels).toEqual([{ level: 1, n: 1 }])
      expect(await count(store, 'SELECT count(*)::INTEGER AS n FROM events')).toBe(COMPACT_FANIN * 2)
      expect(await count(store, 'SELECT count(DISTINCT id)::INTEGER AS n FROM events')).toBe(COMPACT_FANIN * 2)
    })
  })

  test('each batch is a segment; an hour with enough of them is merged into one, and the merged files go', async () => {
    const path = join(dir, 'compact.duckdb')
    const batches = COMPACT_FANIN + 3
    const written: AuditEvent[] = []
    await withStore({ path, layout: 'segments' }, async (store) => {
      for (let b = 0; b < batches; b++) {
        const batch = [0, 1, 2].map((i) =>
          makeEvent({
            id: `c${b}-${i}`,
            ts: at(Date.UTC(2026, 10, 20, 10, b, i)),
            findings: i === 0 ? [finding('weak_tls', 'high', ['SC-8(1)'])] : [],
          }),
        )
        written.push(...batch)
        await store.writeEvents(batch)
      }
      expect(store.layout).toBe('segments')
      const levels = (await store.sql('SELECT level, count(*)::INTEGER AS n FROM store_segments GROUP BY level ORDER BY level')).rows
      expect(levels).toEqual([
        { level: 0, n: 3 },
        { level: 1, n: 1 },
      ])
      expect(await count(store, 'SELECT count(*)::INTEGER AS n FROM events')).toBe(batches * 3)
      expect(await count(store, 'SELECT count(DISTINCT id)::INTEGER AS n FROM events')).toBe(batches * 3)
      expect(await count(store, 'SELECT count(*)::INTEGER AS n FROM findings')).toBe(batches)
      const back = await store.events({ limit: 1000 })
      expect(new Map(back.map((e) => [e.event.id, e]))).toEqual(new Map(written.map((e) => [e.event.id, e])))
    })
    // Closed: only the four segments the catalog names are left (an events and a findings file each).
    expect(segmentFiles(path)).toHaveLength(8)
    const types = await withStore({ path }, async (store) => {
      expect(store.layout).toBe('segments')
      return (
        await store.sql(
          `SELECT table_name, table_type FROM information_schema.tables WHERE table_name IN ('events', 'findings') ORDER BY 1`,
        )
      ).rows
    })
    expect(types).toEqual([
      { table_name: 'events', table_type: 'VIEW' },
      { table_name: 'findings', table_type: 'VIEW' },
    ])
  })

  test('files a crashed write left (not in the catalog) are removed when a writer opens the store', async () => {
    const path = join(dir, 'crash.duckdb')
    await withStore({ path, layout: 'segments' }, (store) =>
      store.writeEvents([makeEvent({ id: 'kept', ts: at(Date.UTC(2026, 10, 20, 10)) })]),
    )
    const hour = join(segmentsDirOf(path), '2026-11-20T10')
    writeFileSync(join(hour, 'l0-0000000099.events.parquet.tmp'), 'partial')
    writeFileSync(join(hour, 'l0-0000000098.events.parquet'), 'renamed, never committed')
    mkdirSync(join(segmentsDirOf(path), '2026-11-21T00'))
    writeFileSync(join(segmentsDirOf(path), '2026-11-21T00', 'l0-0000000097.findings.parquet'), 'x')
    await withStore({ path }, async (store) => {
      expect(await count(store, 'SELECT count(*)::INTEGER AS n FROM events')).toBe(1)
    })
    expect(segmentFiles(path).sort()).toEqual([
      '2026-11-20T10/l0-0000000000.events.parquet',
      '2026-11-20T10/l0-0000000000.findings.parquet',
    ])
  })

  test('an id stored before is not stored again, whatever time it comes with and after reopening', async () => {
    const path = join(dir, 'dedupe.duckdb')
    // A line without a start time is timed when it is read: replayed a day later, same id, another hour.
    await withStore({ path, layout: 'segments' }, (store) =>
      store.writeEvents([
        makeEvent({ id: 'untimed', ts: at(Date.UTC(2026, 10, 20, 10)) }),
        makeEvent({ id: 'other', ts: at(Date.UTC(2026, 10, 20, 10)) }),
      ]),
    )
    await withStore({ path }, async (store) => {
      await store.writeEvents([
        makeEvent({ id: 'untimed', ts: at(Date.UTC(2026, 10, 21, 15)) }),
        makeEvent({ id: 'new', ts: at(Date.UTC(2026, 10, 21, 15)) }),
      ])
      expect(store.stats.inserted).toBe(1)
      expect((await store.sql('SELECT id FROM events ORDER BY id')).rows.map((r) => r.id)).toEqual(['new', 'other', 'untimed'])
    })
  })

  test('a table store is migrated into segments when opened with layout segments, rows unchanged', async () => {
    const path = join(dir, 'migrate.duckdb')
    const events = [0, 1, 2, 3].map((i) =>
      makeEvent({ id: `m${i}`, ts: at(Date.UTC(2026, 10, 20, 8 + i)), findings: [finding('authz_denied', 'medium', ['AC-3', 'AC-6'])] }),
    )
    const before = await withStore({ path, layout: 'table' }, async (store) => {
      await store.writeEvents(events)
      return [
        (await store.sql('SELECT * FROM events ORDER BY id')).rows,
        (await store.sql('SELECT * FROM findings ORDER BY event_id, idx')).rows,
      ]
    })
    await withStore({ path, layout: 'segments' }, async (store) => {
      expect(store.layout).toBe('segments')
      expect([
        (await store.sql('SELECT * FROM events ORDER BY id')).rows,
        (await store.sql('SELECT * FROM findings ORDER BY event_id, idx')).rows,
      ]).toEqual(before)
      expect(await count(store, 'SELECT count(*)::INTEGER AS n FROM store_segments')).toBe(4)
      await store.writeEvents(events)
      expect(store.stats.inserted).toBe(0)
    })
    await expect(withStore({ path, layout: 'table' }, () => Promise.resolve())).rejects.toThrow(/segment layout/)
    await withStore({ path, readOnly: true }, async (store) => {
      expect(await count(store, 'SELECT count(*)::INTEGER AS n FROM events')).toBe(4)
      expect(await count(store, `SELECT count(*)::INTEGER AS n FROM store_meta WHERE key = 'layout' AND value = 'segments'`)).toBe(1)
    })
  })

  test('retention drops whole hours past it: their events, findings, edge_facts and files', async () => {
    const path = join(dir, 'retention.duckdb')
    const now = Date.now()
    const old = makeEvent({ id: 'old', ts: at(now - 10 * 86_400_000), findings: [finding('weak_tls', 'high', ['SC-8(1)'])] })
    const recent = makeEvent({ id: 'recent', ts: at(now - 3_600_000) })
    await withStore({ path, layout: 'segments' }, (store) => store.writeEvents([old, recent]))
    expect(segmentFiles(path)).toHaveLength(4)
    await withStore({ path, retentionDays: 3 }, async (store) => {
      expect((await store.sql('SELECT id FROM events')).rows).toEqual([{ id: 'recent' }])
      expect(await count(store, 'SELECT count(*)::INTEGER AS n FROM findings')).toBe(0)
      expect(await count(store, `SELECT count(*)::INTEGER AS n FROM edge_facts`)).toBe(1)
      expect(await count(store, `SELECT count(*)::INTEGER AS n FROM store_meta WHERE key = 'retained_from'`)).toBe(1)
    })
    expect(segmentFiles(path)).toHaveLength(2)
  })

  test('segments written before the cluster columns: read from their documents, rewritten once by the next writer, verified', async () => {
    const key: IntegrityKey = { id: 'test', bytes: Buffer.from('0123456789abcdef0123456789abcdef') }
    const path = join(dir, 'formats.duckdb')
    const l = await openLedgered(path, key)
    const parts = pipelineFromOptions({ format: 'auto', cluster: 'east' })
    await runPipeline(createFileSource({ files: [FIXTURE], batchRecords: 7 }), {
      ...parts,
      stages: [...parts.stages, createHashStage()],
      sink: l.sink,
      deadLetters: memoryDlq(),
    })
    const clusters = 'SELECT id, cluster, src_cluster, dst_cluster FROM events ORDER BY id'
    const expected = (await l.store.sql(clusters)).rows
    await l.store.close()
    expect(expected.length).toBeGreaterThan(5)
    expect(expected.every((r) => r.cluster === 'east')).toBe(true)

    // What an older version wrote: events files without the three columns, a catalog without `format`.
    const duck = await DuckDBInstance.create(':memory:')
    const conn = await duck.connect()
    const eventFiles = () =>
      segmentFiles(path)
        .filter((f) => f.endsWith('.events.parquet'))
        .map((f) => join(segmentsDirOf(path), f))
    try {
      for (const file of eventFiles()) {
        await conn.run(
          `COPY (SELECT * EXCLUDE (src_cluster, dst_cluster, cluster) FROM read_parquet('${file}')) TO '${file}.old' (FORMAT parquet)`,
        )
        renameSync(`${file}.old`, file)
      }
      await conn.run(`ATTACH '${path}' AS s`)
      await conn.run('ALTER TABLE s.store_segments DROP COLUMN format')
      await conn.run('DETACH s')
      const columnsOf = async (file: string) =>
        (await conn.runAndReadAll(`SELECT name FROM parquet_schema('${file}')`)).getRows().map((r) => String(r[0]))
      expect(await columnsOf(eventFiles()[0]!)).not.toContain('cluster')

      // Read without a writer: the columns come from the documents.
      await withStore({ path, readOnly: true }, async (store) => {
        expect((await store.sql(clusters)).rows).toEqual(expected)
        expect(await count(store, `SELECT count(*)::INTEGER AS n FROM flows WHERE cluster = 'east'`)).toBeGreaterThan(0)
      })
      const before = await withStore({ path, readOnly: true }, (store) => verifyDuckDbStore(store, key))
      expect(before.issues).toEqual([])

      // The next writer rewrites every segment with the columns, once.
      await withStore({ path }, async (store) => {
        const formats = (await store.sql('SELECT DISTINCT format FROM store_segments')).rows
        expect(formats).toEqual([{ format: SEGMENT_FORMAT }])
        expect((await store.sql(clusters)).rows).toEqual(expected)
      })
      for (const file of eventFiles()) expect(await columnsOf(file)).toContain('cluster')
      const after = await withStore({ path, readOnly: true }, (store) => verifyDuckDbStore(store, key))
      expect(after.ok).toBe(true)
      expect(after.issues).toEqual([])

      // A cluster column that disagrees with its document is a modified event.
      const victim = String(expected[0]!.id)
      const holding = (
        await conn.runAndReadAll(
          `SELECT DISTINCT filename FROM read_parquet([${eventFiles()
            .map((f) => `'${f}'`)
            .join(', ')}], filename = true) WHERE id = '${victim}'`,
        )
      ).getRows()[0]![0] as string
      await conn.run(
        `COPY (SELECT * REPLACE (CASE WHEN id = '${victim}' THEN 'west' ELSE cluster END AS cluster) FROM read_parquet('${holding}'))
          TO '${holding}.new' (FORMAT parquet)`,
      )
      renameSync(`${holding}.new`, holding)
      const tampered = await withStore({ path, readOnly: true }, (store) => verifyDuckDbStore(store, key))
      expect(tampered.issues.map((i) => `${i.kind}:${i.id}`)).toEqual([`modified:${victim}`])
    } finally {
      conn.closeSync()
      duck.closeSync()
    }
  })

  test('replaced files stay past their grace while a reader connection opened before the replacement is open, up to a bound', () => {
    const catalog = new SegmentCatalog(join(dir, 'garbage.segments'), false)
    const hourMs = Date.UTC(2026, 10, 20, 12)
    const seg = (name: string): Segment => ({
      name,
      hourMs,
      level: 0,
      events: 1,
      findings: 0,
      minMs: hourMs,
      maxMs: hourMs,
      bytes: 1,
      format: 2,
    })
    const place = (s: Segment) => {
      mkdirSync(join(catalog.dir, '2026-11-20T12'), { recursive: true })
      for (const f of [catalog.eventsFile(s), catalog.findingsFile(s)]) writeFileSync(f, 'x')
    }
    const there = (s: Segment) => existsSync(catalog.eventsFile(s)) && existsSync(catalog.findingsFile(s))
    vi.useFakeTimers({ toFake: ['Date'] })
    try {
      const t0 = Date.UTC(2026, 11, 7, 12)
      vi.setSystemTime(t0)
      const [a, b] = [seg('l0-0000000001'), seg('l0-0000000002')]
      place(a)
      place(b)
      catalog.committed([], [a, b])
      catalog.collect(false)
      expect(there(a)).toBe(true)
      vi.setSystemTime(t0 + 61_000)
      // A reader that connected before the files were dropped may still read them: kept.
      catalog.collect(false, t0 - 5_000)
      expect(there(a)).toBe(true)
      // One that connected after them cannot name them.
      catalog.collect(false, t0 + 1_000)
      expect(there(a) || there(b)).toBe(false)
      const c = seg('l0-0000000003')
      place(c)
      catalog.committed([], [c])
      vi.setSystemTime(t0 + 61_000 + 6 * 3_600_000 - 1_000)
      catalog.collect(false, t0)
      expect(there(c)).toBe(true)
      vi.setSystemTime(t0 + 61_000 + 6 * 3_600_000 + 1_000)
      catalog.collect(false, t0)
      expect(there(c)).toBe(false)
    } finally {
      vi.useRealTimers()
    }
  })

  test('verify detects a deleted, a modified and an inserted event, and a segment file removed', async () => {
    const key: IntegrityKey = { id: 'test', bytes: Buffer.from('0123456789abcdef0123456789abcdef') }
    const pristine = join(dir, 'pristine.duckdb')
    const l = await openLedgered(pristine, key)
    await ingestFile(l)
    // The default layout of a new store.
    expect(l.store.layout).toBe('segments')
    const ids = (await l.store.sql('SELECT id FROM events ORDER BY id')).rows.map((r) => String(r.id))
    await l.store.close()
    expect(ids.length).toBeGreaterThan(5)
    const duck = await DuckDBInstance.create(':memory:')
    const conn = await duck.connect()
    /** Copies the pristine store, rewrites the segment file holding `id` with `select` (over `seg`), verifies. */
    const tampered = async (name: string, attack: (events: string) => Promise<void>) => {
      const path = join(dir, `${name}.duckdb`)
      cpSync(pristine, path)
      cpSync(segmentsDirOf(pristine), segmentsDirOf(path), { recursive: true })
      const files = segmentFiles(path)
        .filter((f) => f.endsWith('.events.parquet'))
        .map((f) => `'${join(segmentsDirOf(path), f)}'`)
      const holding = (
        await conn.runAndReadAll(
          `SELECT DISTINCT filename FROM read_parquet([${files.join(', ')}], filename = true) WHERE id = '${ids[2]!}'`,
        )
      ).getRows()[0]![0] as string
      await attack(holding)
      const store = new DuckDbStore({ path, serveReaders: false })
      try {
        return await verifyDuckDbStore(store, key)
      } finally {
        await store.close()
      }
    }
    const rewrite = (select: string) => async (file: string) => {
      await conn.run(`COPY (${select.replaceAll('$FILE', `'${file}'`)}) TO '${file}.new' (FORMAT parquet)`)
      renameSync(`${file}.new`, file)
    }
    const kinds = (r: Awaited<ReturnType<typeof tampered>>) => r.issues.map((i) => `${i.kind}:${i.id}`).sort()
    try {
      expect((await tampered('untouched', () => Promise.resolve())).issues).toEqual([])
      expect(kinds(await tampered('deleted', rewrite(`SELECT * FROM read_parquet($FILE) WHERE id <> '${ids[2]!}'`)))).toEqual([
        `deleted:${ids[2]}`,
      ])
      expect(
        kinds(
          await tampered(
            'modified',
            rewrite(
              `SELECT * REPLACE (CASE WHEN id = '${ids[2]!}'
                THEN replace(event_json, '"kind":"event"', '"kind":"alert"') ELSE event_json END AS event_json) FROM read_parquet($FILE)`,
            ),
          ),
        ),
      ).toEqual([`modified:${ids[2]}`])
      expect(
        kinds(
          await tampered(
            'inserted',
            rewrite(
              `SELECT * FROM read_parquet($FILE) UNION ALL
                SELECT * REPLACE ('forged-id' AS id, replace(event_json, id, 'forged-id') AS event_json) FROM read_parquet($FILE)
                WHERE id = '${ids[2]!}'`,
            ),
          ),
        ),
      ).toEqual(['inserted:forged-id'])
      const removed = await tampered('removed', (file) => {
        unlinkSync(file)
        return Promise.resolve()
      })
      expect(removed.ok).toBe(false)
      expect(kinds(removed)).toContain(`deleted:${ids[2]}`)
      expect(removed.issues.every((i) => i.kind === 'deleted')).toBe(true)
    } finally {
      conn.closeSync()
      duck.closeSync()
    }
  }, 120_000)
})
