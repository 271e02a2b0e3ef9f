/**
 * Retention cuts: how the integrity ledger of the embedded store records that AU-11 retention dropped
 * whole hours of events (docs/integrity.md, "Retention"), so that `verify` takes those events as
 * retained out, not deleted, and still reports every other missing event.
 *
 * The store drops expired segments in one transaction that also writes, when the store has a ledger,
 * the ids of the events the dropped segments held (`integrity_retained`) and one cut row
 * (`integrity_cuts`): its number, the cutoff, how many ids and a digest of them (the sum of their
 * SHA-256 values modulo 2^256, so it is computed streaming, in any order), chained to the previous cut
 * like ledger rows are. The cut is signed (HMAC over the chain value) in that same transaction, by the
 * signer the ledger gives the store: a cut found unsigned later is never signed after the fact, since
 * anyone who can write the store file could have recorded it to pass a deletion off as retention. The
 * ledger rows of retained events stay: the chains still verify from genesis.
 *
 * `verify` recomputes the cuts' chain and MACs, recomputes each cut's count and digest from
 * `integrity_retained`, and only then excuses the missing events whose ids a valid cut names. Adding
 * an id to `integrity_retained` (to hide a deletion) changes its cut's digest; removing a cut row
 * breaks the chain or, for the last one, leaves its ids unexcused: either way `verify` fails.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import type { DuckDBConnection } from '@duckdb/node-api'
import type { VerifyScratch } from '../store/verify-scratch.js'
import { idPartCount, inPart, partsOf, removeIds } from './id-parts.js'
import type { IntegrityKey } from './config.js'
import { addIssue, type VerifyReport } from './verify-core.js'

/**
 * The statements the cuts need from the embedded store, named here rather than importing DuckDbStore:
 * the store imports recordCut, and a type import back would close a circle of files.
 */
export interface CutStore {
  sql(text: string, values?: (string | number)[]): Promise<{ rows: Record<string, unknown>[] }>
  stream(text: string, values?: (string | number)[]): AsyncIterable<Record<string, unknown>[]>
}

/** Signs a cut's chain value; the ledger builds it from its key and hands it to the store. */
export type CutSigner = (chain: string) => { keyId: string; mac: string }

export function cutSigner(key: IntegrityKey): CutSigner {
  return (chain) => ({ keyId: key.id, mac: cutMac(key, chain) })
}

export const CUTS_DDL: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS integrity_cuts (cut INTEGER PRIMARY KEY, cutoff VARCHAR NOT NULL, events BIGINT NOT NULL,
     digest VARCHAR NOT NULL, chain VARCHAR NOT NULL, key_id VARCHAR, mac VARCHAR, cut_at VARCHAR NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS integrity_retained (event_id VARCHAR NOT NULL, cut INTEGER NOT NULL)`,
]

const MOD = 1n << 256n
const GENESIS = createHash('sha256').update('envoy-audit-retention-v1').digest('hex')

interface CutFields {
  cut: number
  cutoff: string
  events: number
  digest: string
}

/** Order-independent digest of a set of ids, added to one id at a time. */
export class IdDigest {
  count = 0
  private sum = 0n

  add(id: string): void {
    this.count++
    this.sum = (this.sum + BigInt(`0x${createHash('sha256').update(id).digest('hex')}`)) % MOD
  }

  get hex(): string {
    return this.sum.toString(16).padStart(64, '0')
  }
}

function cutChain(prev: string, c: CutFields): string {
  return createHash('sha256').update(`${prev}\n${c.cut}\n${c.cutoff}\n${c.events}\n${c.digest}`).digest('hex')
}

function cutMac(key: IntegrityKey, chain: string): string {
  return createHmac('sha256', key.bytes).update(`envoy-audit-retention-cut-v1\n${chain}`).digest('hex')
}

const quote = (s: string): string => `'${s.replaceAll("'", "''")}'`

/**
 * Records a cut in the caller's open transaction: the ids held by `eventFiles` (the dropped segments'
 * events files) and the chained cut row, signed when the writer's ledger has a key. Only for a store
 * that has a ledger.
 */
export async function recordCut(
  conn: DuckDBConnection,
  cutoff: string,
  eventFiles: readonly string[],
  sign: CutSigner | undefined,
): Promise<void> {
  for (const ddl of CUTS_DDL) await conn.run(ddl)
  const last = (await conn.runAndReadAll('SELECT cut, chain FROM integrity_cuts ORDER BY cut DESC LIMIT 1')).getRowObjects()[0]
  const cut = last === undefined ? 1 : Number(last.cut) + 1
  if (eventFiles.length > 0)
    await conn.run(`INSERT INTO integrity_retained SELECT DISTINCT id, ${cut} FROM read_parquet([${eventFiles.map(quote).join(', ')}])`)
  const digest = new IdDigest()
  const result = await conn.stream(`SELECT event_id FROM integrity_retained WHERE cut = ${cut}`)
  for (let chunk = await result.fetchChunk(); chunk !== null && chunk.rowCount > 0; chunk = await result.fetchChunk())
    for (const id of chunk.getColumnValues(0)) digest.add(String(id))
  const fields: CutFields = { cut, cutoff, events: digest.count, digest: digest.hex }
  const chain = cutChain(last === undefined ? GENESIS : String(last.chain), fields)
  const signed = sign?.(chain)
  await conn.run(`INSERT INTO integrity_cuts VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, [
    cut,
    cutoff,
    digest.count,
    digest.hex,
    chain,
    signed?.keyId ?? null,
    signed?.mac ?? null,
    new Date().toISOString(),
  ])
}

/**
 * `verify --store`: checks the cuts and takes the ledgered events that valid cuts retained out (and
 * that are not stored) off the scratch database's `ledger` table, so the match does not call them
 * deleted; counted in `report.expired`. Runs after the events were scanned into `ev`.
 */
export async function excuseRetained(
  store: CutStore,
  scratch: VerifyScratch,
  report: VerifyReport,
  key: IntegrityKey | undefined,
): Promise<void> {
  const tables = await store.sql(
    `SELECT table_name FROM information_schema.tables
      WHERE table_schema = 'main' AND table_name IN ('integrity_cuts', 'integrity_retained')`,
  )
  if (tables.rows.length < 2) return
  const cuts = (
    await store.sql(
      'SELECT cut, cutoff, CAST(events AS VARCHAR) AS events, digest, chain, key_id, mac FROM integrity_cuts c ORDER BY c.cut',
    )
  ).rows
  const valid = new Set<number>()
  const byCut = new Map<number, { fields: CutFields; ok: boolean }>()
  let prev = GENESIS
  let expected = 1
  for (const c of cuts) {
    const fields: CutFields = { cut: Number(c.cut), cutoff: String(c.cutoff), events: Number(c.events), digest: String(c.digest) }
    const id = `retention cut ${fields.cut}`
    let ok = true
    if (fields.cut !== expected) {
      addIssue(report, { kind: 'chain', id, detail: `retention cut ${expected} is missing` })
      ok = false
    }
    expected = fields.cut + 1
    const chain = cutChain(prev, fields)
    if (chain !== String(c.chain)) {
      addIssue(report, { kind: 'chain', id, detail: 'the cut does not chain to the cut before it (altered, added or removed)' })
      ok = false
    }
    prev = String(c.chain)
    if (key !== undefined) {
      if (c.mac === null) {
        addIssue(report, { kind: 'chain', id, detail: 'the cut is not signed although a key is configured' })
        ok = false
      } else if (!macEquals(cutMac(key, String(c.chain)), String(c.mac))) {
        addIssue(report, { kind: 'chain', id, detail: `the cut's MAC does not verify with key ${key.id}` })
        ok = false
      }
    }
    byCut.set(fields.cut, { fields, ok })
  }
  const retained = await scratch.table('retained', [
    ['event_id', 'VARCHAR'],
    ['cut', 'INTEGER'],
  ])
  const digests = new Map<number, IdDigest>()
  for await (const rows of store.stream('SELECT event_id, cut FROM integrity_retained')) {
    for (const r of rows) {
      const cut = Number(r.cut)
      let d = digests.get(cut)
      if (d === undefined) digests.set(cut, (d = new IdDigest()))
      d.add(String(r.event_id))
      retained.add([String(r.event_id), cut])
    }
  }
  retained.flush()
  for (const [cut, { fields, ok }] of byCut) {
    const d = digests.get(cut) ?? new IdDigest()
    if (d.count !== fields.events || d.hex !== fields.digest)
      addIssue(report, {
        kind: 'chain',
        id: `retention cut ${cut}`,
        detail: `the retained ids (${d.count}) differ from the ${fields.events} the cut recorded`,
      })
    else if (ok) valid.add(cut)
  }
  for (const cut of digests.keys())
    if (!byCut.has(cut))
      addIssue(report, { kind: 'chain', id: `retention cut ${cut}`, detail: 'retained ids of a cut that is not recorded' })
  if (valid.size === 0) return
  // A part of the ids at a time (id-parts.ts): a cut may retain millions of ids.
  const parts = await idPartCount(scratch, ['retained', 'ev', 'ledger'])
  await scratch.run('CREATE TABLE excused (id VARCHAR)')
  for (const p of partsOf(parts))
    await scratch.run(`INSERT INTO excused SELECT DISTINCT r.event_id FROM retained r
      WHERE r.cut IN (${[...valid].join(', ')}) AND ${inPart('r.event_id', parts, p)}
        AND NOT EXISTS (SELECT 1 FROM ev WHERE ${inPart('ev.id', parts, p)} AND ev.id = r.event_id)
        AND EXISTS (SELECT 1 FROM ledger l WHERE ${inPart('l.event_id', parts, p)} AND l.event_id = r.event_id)`)
  const n = Number((await scratch.all('SELECT count(*) AS n FROM excused'))[0]?.n ?? 0)
  if (n > 0) await removeIds(scratch, 'ledger', 'event_id', 'excused')
  report.expired = (report.expired ?? 0) + n
  if (n > 0) {
    const last = byCut.get(Math.max(...valid))!.fields
    report.warnings.push(
      `${n} ledgered events were removed by retention (${valid.size} cut(s), the last before ${last.cutoff}): ` + 'not counted as deleted',
    )
  }
}

function macEquals(want: string, got: string): boolean {
  const a = Buffer.from(want, 'hex')
  const b = Buffer.from(got, 'hex')
  return a.length === b.length && timingSafeEqual(a, b)
}
