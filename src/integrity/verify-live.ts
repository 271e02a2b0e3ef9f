/**
 * `verify --store` while a writer writes the store. Each statement a reader runs through the writer
 * sees what was committed before it started, so verify's ledger scan and its later events scan see
 * two moments: events stored after the ledger was read have no ledger entry in verify's copy and
 * would be reported as inserted. A writer commits a batch's events before its ledger rows, so every
 * event acknowledged before verify started is in both scans.
 *
 * After the scans, the stored events that verify's ledger copy lacks are looked up in the ledger
 * again: those ledgered since are events written while verify ran; they leave the comparison and are
 * counted in a warning (the next verify checks them). Those still without an entry are judged as
 * before: inserted. Their ledger rows were not part of the chain walk, which is why they are not
 * taken as verified.
 */
import type { DuckDbStore } from '../store/duckdb-store.js'
import type { VerifyScratch } from '../store/verify-scratch.js'
import type { VerifyReport } from './verify-core.js'

const UNLEDGERED_SQL = `SELECT DISTINCT id FROM (
    SELECT e.id FROM ev e WHERE NOT EXISTS (SELECT 1 FROM ledger l WHERE l.event_id = e.id)
    UNION ALL
    SELECT a.event_id AS id FROM fa a WHERE NOT EXISTS (SELECT 1 FROM ledger l WHERE l.event_id = a.event_id)
  )`

/** Ids per lookup statement. */
const CHUNK = 400

export async function setAsideLateEvents(store: DuckDbStore, scratch: VerifyScratch, report: VerifyReport): Promise<void> {
  if (!report.hasLedger) return
  const unledgered: string[] = []
  // Stored events, and findings rows of events (the findings are scanned after the events), that
  // verify's copy of the ledger lacks.
  for await (const rows of scratch.stream(UNLEDGERED_SQL)) for (const r of rows) unledgered.push(String(r.id))
  if (unledgered.length === 0) return
  const late = await scratch.table('late', [['id', 'VARCHAR']])
  let n = 0
  for (let i = 0; i < unledgered.length; i += CHUNK) {
    const chunk = unledgered.slice(i, i + CHUNK)
    const { rows } = await store.sql(
      `SELECT DISTINCT event_id FROM integrity_ledger WHERE event_id IN (${chunk.map(() => '?').join(', ')})`,
      chunk,
    )
    for (const r of rows) {
      late.add([String(r.event_id)])
      n++
    }
  }
  late.flush()
  if (n === 0) return
  await scratch.run('DELETE FROM ev WHERE id IN (SELECT id FROM late)')
  await scratch.run('DELETE FROM fx WHERE event_id IN (SELECT id FROM late)')
  await scratch.run('DELETE FROM fa WHERE event_id IN (SELECT id FROM late)')
  report.warnings.push(`${n} events were written while verify ran (ledgered after it read the ledger): not checked this time`)
}
