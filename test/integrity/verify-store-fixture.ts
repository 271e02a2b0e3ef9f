/**
 * A large, intact embedded store for the verify memory test and the verify-store bench: N copies of
 * one realistic event (with two findings) under new ids, each with its right hash, ledgered in one
 * stream whose chain and final checkpoint are right, so `verify --store` takes every path of an intact
 * check (hash, typed columns, findings rows, chain). Built with SQL and an appender: through the
 * pipeline a million events would take minutes. `tamperVerifyStore` then deletes, modifies and inserts
 * one event each, and edits one findings row.
 */
import { DuckDBInstance } from '@duckdb/node-api'
import { DuckDbStore } from '../../src/store/duckdb-store.js'
import type { StoreLayout } from '../../src/store/duckdb-segments.js'
import { LEDGER_DDL } from '../../src/integrity/ledger.js'
import { genesis, hashStoredEvent, link } from '../../src/integrity/chain.js'
import { finding, makeEvent } from '../store/event-fixtures.js'

const ID = 'fixture-id-placeholder'
const HASH = 'fixture-hash-placeholder'

export const fixtureId = (i: number): string => `ev-${String(i).padStart(9, '0')}`

export async function buildVerifyStore(path: string, n: number, layout: StoreLayout = 'table'): Promise<void> {
  const template = makeEvent({
    id: ID,
    findings: [finding('plaintext_inbound', 'high', ['SC-8']), finding('au3_incomplete', 'low', ['AU-3'])],
  })
  template.audit = { ...template.audit, hash: HASH }
  // Rows multiplied and tampered with by SQL: the table layout.
  const seed = new DuckDbStore({ path, serveReaders: false, callTables: false, layout: 'table' })
  await seed.write([template])
  for (const ddl of LEDGER_DDL) await seed.sql(ddl)
  const json = String((await seed.sql(`SELECT event_json FROM events WHERE id = $1`, [ID])).rows[0]!.event_json)
  await seed.close()
  const instance = await DuckDBInstance.create(path)
  const conn = await instance.connect()
  try {
    await conn.run(`CREATE TABLE fixture (id VARCHAR, hash VARCHAR)`)
    const ids = await conn.createAppender('fixture')
    const ledger = await conn.createAppender('integrity_ledger')
    let head = genesis('file:a')
    for (let i = 0; i < n; i++) {
      const id = fixtureId(i)
      const hash = hashStoredEvent(json.replace(ID, id))
      head = link(head, id, hash)
      ids.appendVarchar(id)
      ids.appendVarchar(hash)
      ids.endRow()
      ledger.appendVarchar('file:a')
      ledger.appendBigInt(BigInt(i))
      ledger.appendVarchar(id)
      ledger.appendVarchar(hash)
      ledger.appendVarchar(head)
      ledger.endRow()
    }
    ids.closeSync()
    ledger.closeSync()
    await conn.run(`INSERT INTO events SELECT e.* REPLACE (x.id AS id, x.hash AS hash,
        replace(replace(e.event_json, '"${ID}"', '"' || x.id || '"'), '"${HASH}"', '"' || x.hash || '"') AS event_json)
      FROM events e, fixture x WHERE e.id = '${ID}'`)
    await conn.run(`INSERT INTO findings SELECT f.* REPLACE (x.id AS event_id) FROM findings f, fixture x WHERE f.event_id = '${ID}'`)
    await conn.run(`DELETE FROM findings WHERE event_id = '${ID}'`)
    await conn.run(`DELETE FROM events WHERE id = '${ID}'`)
    await conn.run('DROP TABLE fixture')
    await conn.run(`INSERT INTO integrity_checkpoints VALUES ('file:a', ${n - 1}, ${n}, '${head}', NULL, NULL, '2026-12-06T00:00:00Z')`)
    await conn.run('CHECKPOINT')
  } finally {
    conn.closeSync()
    instance.closeSync()
  }
  // The segment layout through the store's own migration: its writer copies the tables into Parquet
  // segments (one per hour, in row groups as the writer sizes them) and drops them.
  if (layout === 'segments') {
    const store = new DuckDbStore({ path, serveReaders: false, callTables: false, layout })
    await store.start()
    await store.close()
  }
}

/**
 * One of each: event 1 deleted (its findings left behind), event 2's JSON rewritten, a copy of event 3
 * inserted under a new id, and a findings row of event 4 edited: deleted 1, modified 2, inserted 1.
 */
export async function tamperVerifyStore(path: string): Promise<void> {
  const instance = await DuckDBInstance.create(path)
  const conn = await instance.connect()
  try {
    await conn.run(`DELETE FROM events WHERE id = '${fixtureId(1)}'`)
    await conn.run(`UPDATE events SET event_json = replace(event_json, '"success"', '"failure"') WHERE id = '${fixtureId(2)}'`)
    await conn.run(`INSERT INTO events SELECT * REPLACE ('inserted-1' AS id) FROM events WHERE id = '${fixtureId(3)}'`)
    await conn.run(`UPDATE findings SET severity = 'low' WHERE event_id = '${fixtureId(4)}' AND idx = 0`)
    await conn.run('CHECKPOINT')
  } finally {
    conn.closeSync()
    instance.closeSync()
  }
}
