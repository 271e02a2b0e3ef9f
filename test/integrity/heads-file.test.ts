import { describe, test, expect, beforeAll, afterAll } from 'vitest'
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DuckDbStore } from '../../src/store/duckdb-store.js'
import { verifyDuckDbStore } from '../../src/integrity/verify-duckdb.js'
import { headsToExport, readHeadsFile } from '../../src/integrity/heads-file.js'
import type { IntegrityKey } from '../../src/integrity/config.js'
import type { CheckpointEntry } from '../../src/integrity/verify-core.js'
import { ingestFile, openLedgered } from './harness.js'

const KEY: IntegrityKey = { id: 'test', bytes: Buffer.from('0123456789abcdef0123456789abcdef') }
const OTHER: IntegrityKey = { id: 'other', bytes: Buffer.from('fedcba9876543210fedcba9876543210') }
let dir: string
let pristine: string

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ea-heads-'))
  pristine = join(dir, 'pristine.duckdb')
  // Tampered with by SQL on copies of the DuckDB file: the table layout (segment tampering: tamper-segments.test.ts).
  const l = await openLedgered(pristine, KEY, 'table')
  await ingestFile(l)
  await l.store.close()
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** Exports the pristine store's heads (signed with `key`) to a file and reads them back as anchors. */
async function exportedAnchors(name: string, key: IntegrityKey | undefined): Promise<CheckpointEntry[]> {
  const store = new DuckDbStore({ path: pristine, threads: 1 })
  try {
    const report = await verifyDuckDbStore(store, KEY)
    expect(report.ok).toBe(true)
    const file = join(dir, `${name}.json`)
    writeFileSync(file, JSON.stringify(headsToExport(report, key, pristine, new Date())))
    return readHeadsFile(file)
  } finally {
    await store.close()
  }
}

/**
 * The attack exported heads exist for: a writer who deletes a stream's tail with its ledger rows and
 * checkpoints leaves a chain that is consistent in itself, so the store alone verifies INTACT.
 */
async function truncatedCopy(name: string): Promise<string> {
  const path = join(dir, `${name}.duckdb`)
  copyFileSync(pristine, path)
  const s = new DuckDbStore({ path, threads: 1 })
  try {
    const cps = (
      await s.sql(
        'SELECT stream, CAST(pos AS VARCHAR) p FROM integrity_checkpoints c WHERE stream = ' +
          '(SELECT stream FROM integrity_checkpoints GROUP BY stream ORDER BY count(*) DESC LIMIT 1) ORDER BY c.pos',
      )
    ).rows
    expect(cps.length).toBeGreaterThanOrEqual(2)
    const stream = String(cps[0]!.stream)
    const cut = String(cps[cps.length - 2]!.p)
    const gone = (await s.sql('SELECT event_id FROM integrity_ledger WHERE stream = ? AND pos > CAST(? AS BIGINT)', [stream, cut])).rows
    expect(gone.length).toBeGreaterThan(0)
    for (const g of gone) {
      await s.sql('DELETE FROM events WHERE id = ?', [String(g.event_id)])
      await s.sql('DELETE FROM findings WHERE event_id = ?', [String(g.event_id)])
    }
    await s.sql('DELETE FROM integrity_ledger WHERE stream = ? AND pos > CAST(? AS BIGINT)', [stream, cut])
    await s.sql('DELETE FROM integrity_checkpoints WHERE stream = ? AND pos > CAST(? AS BIGINT)', [stream, cut])
  } finally {
    await s.close()
  }
  return path
}

async function verifyPath(path: string, key: IntegrityKey | undefined, anchors: CheckpointEntry[] = []) {
  const s = new DuckDbStore({ path, threads: 1 })
  try {
    return await verifyDuckDbStore(s, key, anchors)
  } finally {
    await s.close()
  }
}

describe('exported heads (verify --heads / --export-heads)', () => {
  test('a truncated tail passes the store alone, and fails against the heads exported before it', async () => {
    const path = await truncatedCopy('truncated')
    const alone = await verifyPath(path, KEY)
    expect(alone.issues).toEqual([])
    expect(alone.ok).toBe(true)
    const anchored = await verifyPath(path, KEY, await exportedAnchors('signed', KEY))
    expect(anchored.ok).toBe(false)
    expect(
      anchored.issues.some((i) => i.kind === 'chain' && /exported head at \d+ does not match the recomputed chain/.test(i.detail)),
    ).toBe(true)
  })

  test('an untouched store agrees with its exported heads, signed or not', async () => {
    for (const key of [KEY, undefined]) {
      const r = await verifyPath(pristine, KEY, await exportedAnchors(`agree-${key?.id ?? 'unsigned'}`, key))
      expect(r.ok).toBe(true)
      expect(r.issues).toEqual([])
    }
  })

  test('a heads file signed with another key is refused as forged', async () => {
    const r = await verifyPath(pristine, KEY, await exportedAnchors('forged', OTHER))
    expect(r.ok).toBe(false)
    expect(r.issues.every((i) => /exported head at \d+ has an invalid MAC/.test(i.detail))).toBe(true)
    expect(r.issues.length).toBeGreaterThan(0)
  })

  test('a file that is not an exported heads file is a usage error naming it', () => {
    const file = join(dir, 'not-heads.json')
    writeFileSync(file, JSON.stringify({ format: 'something-else', heads: [] }))
    expect(() => readHeadsFile(file)).toThrow(/--heads .*not-heads\.json: not an exported heads file/)
    writeFileSync(file, '{')
    expect(() => readHeadsFile(file)).toThrow(/not a readable JSON file/)
  })
})
