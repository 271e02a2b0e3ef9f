import { cpSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, test } from 'vitest'
import { DuckDBInstance } from '@duckdb/node-api'
import { hashEvent } from '../../src/integrity/chain.js'
import type { IntegrityKey } from '../../src/integrity/config.js'
import { DuckDbLedger, ledgeredSink } from '../../src/integrity/ledger.js'
import { recordCut } from '../../src/integrity/retention-cuts.js'
import { verifyDuckDbStore } from '../../src/integrity/verify-duckdb.js'
import { DuckDbStore, type DuckDbStoreConfig } from '../../src/store/duckdb-store.js'
import { segmentsDirOf } from '../../src/store/duckdb-segments.js'
import type { AuditEvent } from '../../src/generated/types.js'
import { finding, makeEvent } from './event-fixtures.js'

const dir = mkdtempSync(join(tmpdir(), 'ea-retention-ledger-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const key: IntegrityKey = { id: 'test', bytes: Buffer.from('0123456789abcdef0123456789abcdef') }
const DAY = 86_400_000

/** An event as the pipeline hands it to the ledgered sink: read from line `line` of one file, hashed. */
function ledgerable(id: string, ms: number, line: number): AuditEvent {
  const e = makeEvent({ id, ts: new Date(ms).toISOString(), findings: line % 2 === 0 ? [finding('weak_tls', 'high', ['SC-8(1)'])] : [] })
  e.audit.source = { kind: 'file', file: 'access.log', line }
  e.audit.hash = hashEvent(e)
  return e
}

/** Opens the store with its ledger (as `ingest` and `run` do), writes `events`, closes. */
async function ingest(config: DuckDbStoreConfig, events: AuditEvent[] = []): Promise<void> {
  const store = new DuckDbStore({ callTables: false, serveReaders: false, threads: 1, ...config })
  const sink = ledgeredSink(store, new DuckDbLedger(store, key))
  await sink.start()
  try {
    if (events.length > 0) await sink.write(events)
  } finally {
    await sink.close()
  }
}

async function verify(path: string) {
  const store = new DuckDbStore({ path, serveReaders: false })
  try {
    return await verifyDuckDbStore(store, key)
  } finally {
    await store.close()
  }
}

/** A copy of the store: its file and its segments. */
function copyStore(from: string, name: string): string {
  const to = join(dir, `${name}.duckdb`)
  cpSync(from, to)
  cpSync(segmentsDirOf(from), segmentsDirOf(to), { recursive: true })
  return to
}

async function onFile<T>(path: string, fn: (run: (sql: string) => Promise<Record<string, unknown>[]>) => Promise<T>): Promise<T> {
  const duck = await DuckDBInstance.create(path)
  const conn = await duck.connect()
  try {
    return await fn(async (sql) => (await conn.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[])
  } finally {
    conn.closeSync()
    duck.closeSync()
  }
}

/** Rewrites the segment file holding `id` without its row. */
async function dropRow(path: string, id: string): Promise<void> {
  const root = segmentsDirOf(path)
  const files = readdirSync(root).flatMap((h) =>
    readdirSync(join(root, h))
      .filter((f) => f.endsWith('.events.parquet'))
      .map((f) => `'${join(root, h, f)}'`),
  )
  const duck = await DuckDBInstance.create(':memory:')
  const conn = await duck.connect()
  try {
    const [[file]] = (
      await conn.runAndReadAll(`SELECT DISTINCT filename FROM read_parquet([${files.join(', ')}], filename = true) WHERE id = '${id}'`)
    ).getRows() as [[string]]
    await conn.run(`COPY (SELECT * FROM read_parquet('${file}') WHERE id <> '${id}') TO '${file}.new' (FORMAT parquet)`)
    renameSync(`${file}.new`, file)
  } finally {
    conn.closeSync()
    duck.closeSync()
  }
}

const kinds = (r: { issues: { kind: string; id: string }[] }) => r.issues.map((i) => `${i.kind}:${i.id}`).sort()

describe('retention and the integrity ledger', () => {
  const now = Date.now()
  const old = [0, 1, 2, 3].map((i) => ledgerable(`old-${i}`, now - 10 * DAY + i * 3_600_000, i))
  const kept = [0, 1, 2].map((i) => ledgerable(`kept-${i}`, now - 3_600_000 + i * 1000, 10 + i))
  const path = join(dir, 'store.duckdb')

  test('hours dropped by retention are a signed cut: verify passes and counts them retained, not deleted', async () => {
    await ingest({ path, layout: 'segments' }, [...old, ...kept])
    expect((await verify(path)).issues).toEqual([])
    await ingest({ path, retentionDays: 3 })
    const cuts = await onFile(path, (run) => run('SELECT cut, events, key_id, mac IS NOT NULL AS signed FROM integrity_cuts'))
    expect(cuts).toEqual([{ cut: 1, events: '4', key_id: 'test', signed: true }])
    const report = await verify(path)
    expect(report.issues).toEqual([])
    expect(report.ok).toBe(true)
    expect(report.expired).toBe(old.length)
    expect(report.events).toBe(kept.length)
    expect(report.warnings.join('\n')).toMatch(/4 ledgered events were removed by retention/)
  })

  test('a kept event deleted from its segment is still reported deleted', async () => {
    const copy = copyStore(path, 'deleted')
    await dropRow(copy, 'kept-1')
    const report = await verify(copy)
    expect(report.ok).toBe(false)
    expect(kinds(report)).toEqual(['deleted:kept-1'])
  })

  test('a deletion passed off as retention (its id added to a cut) breaks the cut', async () => {
    const copy = copyStore(path, 'hidden')
    await dropRow(copy, 'kept-2')
    await onFile(copy, (run) => run(`INSERT INTO integrity_retained VALUES ('kept-2', 1)`))
    const report = await verify(copy)
    expect(report.ok).toBe(false)
    // A cut that does not verify excuses nothing: its events are reported deleted too.
    expect(kinds(report)).toEqual(['chain:retention cut 1', 'deleted:kept-2', ...old.map((e) => `deleted:${e.event.id}`)].sort())
  })

  test('a cut removed leaves its events deleted; a cut not signed fails with a key', async () => {
    const removed = copyStore(path, 'cut-removed')
    await onFile(removed, (run) => run('DELETE FROM integrity_cuts'))
    const report = await verify(removed)
    expect(report.ok).toBe(false)
    expect(report.counts.deleted).toBe(old.length)
    const unsigned = copyStore(path, 'cut-unsigned')
    await onFile(unsigned, (run) => run('UPDATE integrity_cuts SET mac = NULL'))
    const second = await verify(unsigned)
    expect(kinds(second)).toEqual([...old.map((e) => `deleted:${e.event.id}`), 'chain:retention cut 1'].sort())
  })
})

describe('a cut forged while no writer runs', () => {
  test('is not signed when the writer opens again: the deletion it hides is reported', async () => {
    const now = Date.now()
    const events = [0, 1, 2].map((i) => ledgerable(`f-${i}`, now - 3_600_000 + i * 1000, 20 + i))
    const path = join(dir, 'forged.duckdb')
    await ingest({ path, layout: 'segments' }, events)
    await dropRow(path, 'f-1')
    // A consistent cut (chain and digest right, no MAC) naming the deleted event, as recordCut writes it.
    const ids = join(dir, 'forged-ids.parquet')
    await onFile(path, async (run) => {
      await run(`COPY (SELECT 'f-1' AS id) TO '${ids}' (FORMAT parquet)`)
      return run('SELECT 1')
    })
    const duck = await DuckDBInstance.create(path)
    const conn = await duck.connect()
    try {
      await conn.run('BEGIN TRANSACTION')
      await recordCut(conn, new Date(now).toISOString(), [ids], undefined)
      await conn.run('COMMIT')
    } finally {
      conn.closeSync()
      duck.closeSync()
    }
    await ingest({ path })
    const cuts = await onFile(path, (run) => run('SELECT cut, mac IS NOT NULL AS signed FROM integrity_cuts'))
    expect(cuts).toEqual([{ cut: 1, signed: false }])
    const report = await verify(path)
    expect(report.ok).toBe(false)
    expect(kinds(report)).toEqual(['chain:retention cut 1', 'deleted:f-1'])
  })
})
