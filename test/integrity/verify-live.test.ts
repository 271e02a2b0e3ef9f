/**
 * verify while a writer writes: stored events that verify's copy of the ledger lacks but the store's
 * ledger has now were written while verify ran, and leave the comparison; those the ledger still
 * lacks stay, to be judged (inserted). A real store with its ledger; the scratch as verify fills it.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, test } from 'vitest'
import { hashEvent } from '../../src/integrity/chain.js'
import type { IntegrityKey } from '../../src/integrity/config.js'
import { DuckDbLedger, ledgeredSink } from '../../src/integrity/ledger.js'
import { emptyReport } from '../../src/integrity/verify-core.js'
import { setAsideLateEvents } from '../../src/integrity/verify-live.js'
import { evRow, matchTables } from '../../src/integrity/verify-match.js'
import { DuckDbStore } from '../../src/store/duckdb-store.js'
import { VerifyScratch } from '../../src/store/verify-scratch.js'
import { makeEvent } from '../store/event-fixtures.js'

const dir = mkdtempSync(join(tmpdir(), 'ea-verify-live-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const key: IntegrityKey = { id: 'test', bytes: Buffer.from('0123456789abcdef0123456789abcdef') }

describe('setAsideLateEvents', () => {
  test('events ledgered after verify read the ledger leave with their findings rows; unledgered ones stay; one part or many', async () => {
    const path = join(dir, 'live.duckdb')
    const ids = Array.from({ length: 30 }, (_, i) => `ev-${i}`)
    const writer = new DuckDbStore({ path, callTables: false, serveReaders: false, threads: 1 })
    const sink = ledgeredSink(writer, new DuckDbLedger(writer, key))
    await sink.start()
    await sink.write(
      ids.map((id, line) => {
        const e = makeEvent({ id, ts: new Date(1_700_000_000_000 + line).toISOString() })
        e.audit.source = { kind: 'file', file: 'access.log', line }
        e.audit.hash = hashEvent(e)
        return e
      }),
    )
    await sink.close()

    // verify read the ledger when only the first 10 were ledgered; then it scanned all 30 and two never ledgered.
    const stored = [...ids, 'forged-1', 'forged-2']
    const store = new DuckDbStore({ path, serveReaders: false })
    try {
      for (const partRows of [undefined, 7, 1]) {
        const scratch = await VerifyScratch.open({ memoryLimit: '24MB' })
        try {
          const t = await matchTables(scratch)
          ids.slice(0, 10).forEach((id, i) => t.ledger.add([id, 'stream-a', i, 'h', 'c', null]))
          stored.forEach((id, n) => {
            t.ev.add(evRow(n, id, { hash: 'h', legacy: undefined, auditHash: 'h', eventId: id }, undefined, 1))
            t.fx.add([id, 0, 'row'])
            t.fa.add([id, 0, 'row'])
          })
          for (const table of Object.values(t)) table.flush()
          const report = { ...emptyReport(), hasLedger: true }
          await setAsideLateEvents(store, scratch, report, partRows)
          const left = async (sql: string) => (await scratch.all(sql)).map((r) => String(r.id)).sort()
          const want = [...ids.slice(0, 10), 'forged-1', 'forged-2'].sort()
          expect(await left('SELECT id FROM ev')).toEqual(want)
          expect(await left('SELECT event_id AS id FROM fx')).toEqual(want)
          expect(await left('SELECT event_id AS id FROM fa')).toEqual(want)
          expect(report.warnings).toEqual([
            '20 events were written while verify ran (ledgered after it read the ledger): not checked this time',
          ])
        } finally {
          scratch.close()
        }
      }
    } finally {
      await store.close()
    }
  }, 60_000)
})
