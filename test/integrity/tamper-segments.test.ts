/**
 * `verify` on the segment layout (events and findings in Parquet files listed by the store's catalog):
 * an attacker with write access to the files and the DuckDB file rewrites a segment without an event,
 * removes a segment's files, rewrites an event or a typed column or a findings row inside a segment,
 * or adds a segment (a new file and its catalog row, with a new event or a second copy of a stored
 * one). Each is found, exactly; re-ingesting the same input stores nothing twice and stays intact.
 * The store is tampered while closed, then opened for reading as the CLI's verify opens it.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { cpSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api'
import { DuckDbStore, openStoreForReading } from '../../src/store/duckdb-store.js'
import { segmentsDirOf } from '../../src/store/duckdb-segments.js'
import { verifyDuckDbStore, type VerifyReport } from '../../src/integrity/verify-duckdb.js'
import type { IntegrityKey } from '../../src/integrity/config.js'
import { ingestFile, openLedgered } from './harness.js'

const KEY: IntegrityKey = { id: 'test', bytes: Buffer.from('0123456789abcdef0123456789abcdef') }
let dir: string
let pristine: string
let stored: number

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ea-tamper-seg-'))
  pristine = join(dir, 'pristine.duckdb')
  const l = await openLedgered(pristine, KEY, 'segments')
  await ingestFile(l)
  expect(l.store.layout).toBe('segments')
  stored = Number((await l.store.sql('SELECT count(*) AS n FROM events')).rows[0]!.n)
  await l.store.close()
}, 120_000)
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const kinds = (r: VerifyReport): string[] => r.issues.map((i) => `${i.kind}:${i.id}`).sort()
const q = (s: string): string => `'${s.replaceAll("'", "''")}'`

interface Seg {
  name: string
  events: string
  findings: string
}

/** A copy of the pristine store (the DuckDB file and its segments), tampered while closed, then verified as the CLI does. */
async function tampered(
  name: string,
  attack: (conn: DuckDBConnection, path: string, segs: Seg[]) => Promise<unknown>,
): Promise<VerifyReport> {
  const path = join(dir, `${name}.duckdb`)
  await copyStore(path)
  const instance = await DuckDBInstance.create(path)
  const conn = await instance.connect()
  try {
    await attack(conn, path, segmentsOf(path))
    await conn.run('CHECKPOINT')
  } finally {
    conn.closeSync()
    instance.closeSync()
  }
  const store = await openStoreForReading(path)
  try {
    return await verifyDuckDbStore(store, KEY)
  } finally {
    await store.close()
  }
}

/** The pristine store under another name; a writer opens it once, so that its views name its own files. */
async function copyStore(path: string): Promise<void> {
  cpSync(pristine, path)
  cpSync(segmentsDirOf(pristine), segmentsDirOf(path), { recursive: true })
  const writer = new DuckDbStore({ path, threads: 1 })
  await writer.start()
  await writer.close()
}

function segmentsOf(path: string): Seg[] {
  const root = segmentsDirOf(path)
  const out: Seg[] = []
  for (const hour of readdirSync(root).sort()) {
    if (!statSync(join(root, hour)).isDirectory()) continue
    for (const f of readdirSync(join(root, hour)).sort()) {
      const m = /^(.*)\.events\.parquet$/.exec(f)
      if (m !== null) out.push({ name: m[1]!, events: join(root, hour, f), findings: join(root, hour, `${m[1]!}.findings.parquet`) })
    }
  }
  return out
}

/** Rewrites a Parquet file with a query's rows, as a tamperer with the files would (same name, zstd). */
async function rewrite(conn: DuckDBConnection, file: string, select: string): Promise<void> {
  await conn.run(`COPY (${select}) TO ${q(`${file}.tmp`)} (FORMAT parquet, COMPRESSION zstd)`)
  renameSync(`${file}.tmp`, file)
}

async function ids(conn: DuckDBConnection, file: string): Promise<string[]> {
  return (await conn.runAndReadAll(`SELECT id FROM read_parquet(${q(file)}) ORDER BY id`)).getRows().map((r) => String(r[0]))
}

/** The first segment that holds an event with findings, and that event's id. */
async function withFindings(conn: DuckDBConnection, segs: Seg[]): Promise<{ seg: Seg; id: string }> {
  for (const seg of segs) {
    const rows = (await conn.runAndReadAll(`SELECT event_id FROM read_parquet(${q(seg.findings)}) LIMIT 1`)).getRows()
    if (rows.length > 0) return { seg, id: String(rows[0]![0]) }
  }
  throw new Error('no segment with findings')
}

/** The segment with the most events. */
async function largest(conn: DuckDBConnection, segs: Seg[]): Promise<Seg> {
  let best = segs[0]!
  let most = -1
  for (const seg of segs) {
    const n = (await ids(conn, seg.events)).length
    if (n > most) [best, most] = [seg, n]
  }
  return best
}

/** Adds a segment file holding `select`'s events (and no findings) and its catalog row. */
async function plant(conn: DuckDBConnection, like: Seg, select: string): Promise<void> {
  const name = 'l0-9999999999'
  const events = join(like.events, '..', `${name}.events.parquet`)
  const findings = join(like.events, '..', `${name}.findings.parquet`)
  await conn.run(`COPY (${select}) TO ${q(events)} (FORMAT parquet, COMPRESSION zstd)`)
  await conn.run(`COPY (SELECT * FROM read_parquet(${q(like.findings)}) LIMIT 0) TO ${q(findings)} (FORMAT parquet, COMPRESSION zstd)`)
  await conn.run(
    `INSERT INTO store_segments SELECT ${q(name)}, hour, 0, 2, 0, min_ts, max_ts, bytes, format
      FROM store_segments WHERE name = ${q(like.name)}`,
  )
}

describe('verify on the segment layout', () => {
  test('an untouched segment store is intact', async () => {
    const r = await tampered('untouched', async () => undefined)
    expect(r.issues).toEqual([])
    expect(r.events).toBe(stored)
    expect(r.ledgered).toBe(stored)
    expect(r.signedVerified).toBe(r.checkpoints)
  })

  test('a segment rewritten without one of its events: deleted', async () => {
    let victim = ''
    const r = await tampered('rewritten', async (conn, _path, segs) => {
      const seg = segs[0]!
      victim = (await ids(conn, seg.events))[0]!
      await rewrite(conn, seg.events, `SELECT * FROM read_parquet(${q(seg.events)}) WHERE id <> ${q(victim)}`)
      await rewrite(conn, seg.findings, `SELECT * FROM read_parquet(${q(seg.findings)}) WHERE event_id <> ${q(victim)}`)
    })
    expect(kinds(r)).toEqual([`deleted:${victim}`])
  })

  test("a segment's files removed: every event in it is deleted", async () => {
    let gone: string[] = []
    const r = await tampered('removed', async (conn, _path, segs) => {
      const seg = segs[1] ?? segs[0]!
      gone = await ids(conn, seg.events)
      rmSync(seg.events)
      rmSync(seg.findings)
    })
    expect(gone.length).toBeGreaterThan(0)
    expect(kinds(r)).toEqual(gone.map((id) => `deleted:${id}`).sort())
  })

  test('an event rewritten inside its segment (outcome), and a typed column changed behind its JSON: modified', async () => {
    let a = ''
    let b = ''
    const r = await tampered('modified', async (conn, _path, segs) => {
      const seg = await largest(conn, segs)
      const held = await ids(conn, seg.events)
      a = held[0]!
      b = held[1]!
      await rewrite(
        conn,
        seg.events,
        `SELECT * REPLACE (
           CASE WHEN id = ${q(a!)} THEN replace(CAST(event_json AS VARCHAR), '"envoy"', '"envoy-forged"') ELSE event_json END AS event_json,
           CASE WHEN id = ${q(b!)} THEN 299 ELSE status_code END AS status_code)
         FROM read_parquet(${q(seg.events)})`,
      )
    })
    expect([a, b].every((x) => x !== undefined && x !== '')).toBe(true)
    expect(kinds(r)).toEqual([`modified:${a}`, `modified:${b}`].sort())
  })

  test('a findings row edited inside its segment: its event is modified', async () => {
    let id = ''
    const r = await tampered('finding', async (conn, _path, segs) => {
      const f = await withFindings(conn, segs)
      id = f.id
      await rewrite(
        conn,
        f.seg.findings,
        `SELECT * REPLACE (CASE WHEN event_id = ${q(id)} AND idx = 0 THEN 'forged' ELSE severity END AS severity)
         FROM read_parquet(${q(f.seg.findings)})`,
      )
    })
    expect(kinds(r)).toEqual([`modified:${id}`])
  })

  test('a segment added with its catalog row: a new event is inserted, a second copy of a stored one too', async () => {
    let copied = ''
    const r = await tampered('planted', async (conn, _path, segs) => {
      const seg = segs[0]!
      copied = (await ids(conn, seg.events))[0]!
      await plant(
        conn,
        seg,
        `SELECT * FROM read_parquet(${q(seg.events)}) WHERE id = ${q(copied!)}
         UNION ALL SELECT * REPLACE ('forged-1' AS id) FROM read_parquet(${q(seg.events)}) WHERE id = ${q(copied!)}`,
      )
    })
    expect(kinds(r)).toEqual(['inserted:forged-1', `inserted:${copied}`].sort())
    expect(r.issues.find((i) => i.id === copied)?.detail).toMatch(/second stored copy/)
  })

  test('the same input ingested again stores nothing twice and stays intact', async () => {
    const path = join(dir, 'again.duckdb')
    await copyStore(path)
    const l = await openLedgered(path, KEY, 'segments')
    await ingestFile(l, undefined, 5)
    await l.store.close()
    const store = await openStoreForReading(path)
    try {
      const r = await verifyDuckDbStore(store, KEY)
      expect(r.issues).toEqual([])
      expect([r.events, r.ledgered]).toEqual([stored, stored])
    } finally {
      await store.close()
    }
  })
})
