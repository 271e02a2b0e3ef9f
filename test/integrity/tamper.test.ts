import { describe, test, expect, beforeAll, afterAll } from 'vitest'
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DuckDbStore } from '../../src/store/duckdb-store.js'
import { verifyDuckDbStore, type VerifyReport } from '../../src/integrity/verify-duckdb.js'
import { checkpointMac, genesis, hashStoredEvent, link } from '../../src/integrity/chain.js'
import type { IntegrityKey } from '../../src/integrity/config.js'
import { ingestFile, openLedgered } from './harness.js'

const KEY: IntegrityKey = { id: 'test', bytes: Buffer.from('0123456789abcdef0123456789abcdef') }
let dir: string
let pristine: string
let ids: string[]
let findingEvent: string

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ea-tamper-'))
  pristine = join(dir, 'pristine.duckdb')
  // Tampered with by SQL on copies of the DuckDB file: the table layout (segment tampering: tamper-segments.test.ts).
  const l = await openLedgered(pristine, KEY, 'table')
  await ingestFile(l)
  ids = (await l.store.sql('SELECT id FROM events e ORDER BY e.id')).rows.map((r) => String(r.id))
  findingEvent = String((await l.store.sql('SELECT event_id FROM findings LIMIT 1')).rows[0]!.event_id)
  await l.store.close()
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** Copies the pristine store, applies the attacker's SQL, verifies. */
async function tampered(name: string, attack: (s: DuckDbStore) => Promise<unknown>, key: IntegrityKey | null = KEY): Promise<VerifyReport> {
  const path = join(dir, `${name}.duckdb`)
  copyFileSync(pristine, path)
  const store = new DuckDbStore({ path, threads: 1 })
  try {
    await attack(store)
    return await verifyDuckDbStore(store, key ?? undefined)
  } finally {
    await store.close()
  }
}

const kinds = (r: VerifyReport) => r.issues.map((i) => `${i.kind}:${i.id}`)

describe('verify detects', () => {
  test('nothing on an untouched store', async () => {
    const r = await tampered('untouched', async () => undefined)
    expect(r.ok).toBe(true)
    expect(r.issues).toEqual([])
    expect(r.signedVerified).toBe(r.checkpoints)
  })
  test('a deleted event', async () => {
    const r = await tampered('deleted', (s) => s.sql('DELETE FROM events WHERE id = ?', [ids[3]!]))
    expect(kinds(r)).toEqual([`deleted:${ids[3]}`])
  })
  test('a modified event JSON (outcome rewritten)', async () => {
    const r = await tampered('json', (s) =>
      s.sql(`UPDATE events SET event_json = replace(event_json, '"outcome":"failure"', '"outcome":"success"') WHERE id = ?`, [failureId]),
    )
    expect(kinds(r)).toEqual([`modified:${failureId}`])
  })
  test('a modified typed column the JSON does not show (status code)', async () => {
    const r = await tampered('column', (s) => s.sql('UPDATE events SET status_code = 299 WHERE id = ?', [ids[0]!]))
    expect(r.issues).toHaveLength(1)
    expect(r.issues[0]!).toMatchObject({ kind: 'modified', id: ids[0], detail: expect.stringMatching(/status_code/) })
  })
  test('a deleted finding row', async () => {
    const r = await tampered('finding', (s) => s.sql('DELETE FROM findings WHERE event_id = ?', [findingEvent]))
    expect(kinds(r)).toEqual([`modified:${findingEvent}`])
  })
  test('an inserted event (a copy under a new id)', async () => {
    const r = await tampered('inserted', (s) =>
      s.sql(
        `INSERT INTO events SELECT * REPLACE ('forged-id' AS id, replace(event_json, ?, 'forged-id') AS event_json) FROM events WHERE id = ?`,
        [ids[1]!, ids[1]!],
      ),
    )
    expect(kinds(r)).toEqual(['inserted:forged-id'])
  })
  test('an attacker who rewrites the event, its hash and the ledger consistently is caught by the signed checkpoint', async () => {
    const r = await tampered('rewrite', async (s) => {
      const row = (await s.sql('SELECT event_json FROM events WHERE id = ?', [failureId])).rows[0]!
      const doc = JSON.parse(String(row.event_json)) as { event: { outcome: string }; audit: { hash?: string } }
      doc.event.outcome = 'success'
      const hash = hashStoredEvent(JSON.stringify(doc))
      doc.audit.hash = hash
      await s.sql('UPDATE events SET event_json = ?, outcome = ?, hash = ? WHERE id = ?', [JSON.stringify(doc), 'success', hash, failureId])
      await s.sql('UPDATE integrity_ledger SET hash = ? WHERE event_id = ?', [hash, failureId])
      // Recompute the chain column too: only the checkpoint MAC (keyed) can catch this.
      const rows = (await s.sql('SELECT stream, pos, event_id, hash FROM integrity_ledger l ORDER BY l.stream, l.pos')).rows
      let head = genesis(String(rows[0]!.stream))
      for (const r of rows) {
        head = link(head, String(r.event_id), String(r.hash))
        await s.sql('UPDATE integrity_ledger SET chain = ? WHERE stream = ? AND pos = ?', [head, String(r.stream), String(r.pos)])
      }
      // And the checkpoint heads, without the key (an unkeyed MAC).
      await s.sql('UPDATE integrity_checkpoints SET head = ? WHERE head <> ?', [head, head])
    })
    expect(r.ok).toBe(false)
    expect(r.counts.chain).toBeGreaterThan(0)
    expect(r.counts.modified + r.counts.deleted + r.counts.inserted).toBe(0)
  })
  test('a forged checkpoint MAC (signed with another key)', async () => {
    const other: IntegrityKey = { id: 'other', bytes: Buffer.from('ffffffffffffffffffffffffffffffff') }
    const r = await tampered('forged', async (s) => {
      const cp = (await s.sql('SELECT stream, CAST(pos AS VARCHAR) AS p, count::INTEGER AS n, head FROM integrity_checkpoints LIMIT 1'))
        .rows[0]!
      const mac = checkpointMac(other, { stream: String(cp.stream), pos: String(cp.p), count: Number(cp.n), head: String(cp.head) })
      await s.sql('UPDATE integrity_checkpoints SET mac = ? WHERE stream = ? AND pos = CAST(? AS BIGINT)', [
        mac,
        String(cp.stream),
        String(cp.p),
      ])
    })
    expect(r.counts.chain).toBe(1)
    expect(r.issues[0]!.detail).toMatch(/invalid MAC/)
  })
  test('a deleted event together with its ledger row (a gap the checkpoint count exposes)', async () => {
    const r = await tampered('gap', async (s) => {
      await s.sql('DELETE FROM events WHERE id = ?', [ids[5]!])
      await s.sql('DELETE FROM integrity_ledger WHERE event_id = ?', [ids[5]!])
    })
    expect(r.ok).toBe(false)
    expect(r.counts.chain).toBeGreaterThanOrEqual(1)
  })
  test('without the key the chain is still checked, the MACs are not, and the report says so', async () => {
    const r = await tampered('nokey', async () => undefined, null)
    expect(r.ok).toBe(true)
    expect(r.warnings.join(' ')).toMatch(/MACs not checked/)
  })
})

let failureId = ''
beforeAll(async () => {
  const store = new DuckDbStore({ path: pristine, threads: 1 })
  failureId = String((await store.sql(`SELECT id FROM events WHERE outcome = 'failure' LIMIT 1`)).rows[0]!.id)
  await store.close()
})
