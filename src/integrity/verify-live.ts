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
import type { ScratchTable, VerifyScratch } from '../store/verify-scratch.js'
import type { VerifyReport } from './verify-core.js'
import { idPartCount, inPart, partsOf, removeIds } from './id-parts.js'

/** One part's (id-parts.ts) stored events and findings rows without a ledger entry in verify's copy. */
const UNLEDGERED_SQL = (parts: number, p: number): string => {
  const ledger = `(SELECT event_id FROM ledger WHERE ${inPart('event_id', parts, p)}) l`
  return `SELECT DISTINCT id FROM (
    SELECT e.id FROM (SELECT id FROM ev WHERE ${inPart('id', parts, p)}) e ANTI JOIN ${ledger} ON l.event_id = e.id
    UNION ALL
    SELECT a.event_id AS id FROM (SELECT event_id FROM fa WHERE ${inPart('event_id', parts, p)}) a
      ANTI JOIN ${ledger} ON l.event_id = a.event_id
  )`
}

/** Ids per lookup statement. */
const CHUNK = 400

/** `partRows`: ids per part (id-parts.ts); tests use small parts. */
export async function setAsideLateEvents(
  store: DuckDbStore,
  scratch: VerifyScratch,
  report: VerifyReport,
  partRows?: number,
): Promise<void> {
  if (!report.hasLedger) return
  let late: ScratchTable | undefined
  let n = 0
  // A part at a time, so that what is held here is bounded too (a store with many unledgered events).
  const parts = await idPartCount(scratch, ['ev', 'fa', 'ledger'], partRows)
  for (const p of partsOf(parts)) {
    // Stored events, and findings rows of events (the findings are scanned after the events), that
    // verify's copy of the ledger lacks.
    const unledgered: string[] = []
    for await (const rows of scratch.stream(UNLEDGERED_SQL(parts, p))) for (const r of rows) unledgered.push(String(r.id))
    for (let i = 0; i < unledgered.length; i += CHUNK) {
      const chunk = unledgered.slice(i, i + CHUNK)
      const { rows } = await store.sql(
        `SELECT DISTINCT event_id FROM integrity_ledger WHERE event_id IN (${chunk.map(() => '?').join(', ')})`,
        chunk,
      )
      for (const r of rows) {
        late ??= await scratch.table('late', [['id', 'VARCHAR']])
        late.add([String(r.event_id)])
        n++
      }
    }
  }
  if (late === undefined) return
  late.flush()
  await removeIds(scratch, 'ev', 'id', 'late', partRows)
  await removeIds(scratch, 'fx', 'event_id', 'late', partRows)
  await removeIds(scratch, 'fa', 'event_id', 'late', partRows)
  report.warnings.push(`${n} events were written while verify ran (ledgered after it read the ledger): not checked this time`)
}
