/**
 * The two shapes of a document in `<prefix>-ledger`, and the one reader both the writer and verify use.
 *
 * Version 1 (the first releases): one document per ledgered event, `_id` = entryId(stream, pos):
 *   { "stream": "kafka:envoy/0", "pos": 100, "event_id": "…", "hash": "<64 hex>", "chain": "<64 hex>", "ts": "2024-…Z" }
 *
 * Version 2 (blocks): one document per ledger stream and write round, `_id` = blockId(stream, first pos):
 *   { "stream": "kafka:envoy/0", "pos": 100, "end": 5099, "ts": "<first entry's ts>",
 *     "block": { "prev": 95, "pos": [100, 101, …], "event_id": […], "hash": […], "chain": […], "ts": […] } }
 * Columns rather than an array of objects: the field names are written once per block instead of once
 * per entry, and each column is one JSON array to encode and parse. `prev` is the first position of the
 * stream's block before this one (absent for the first): replays walk back along it with realtime gets.
 * A block holds the entries that round appended to the stream, in position order; the positions need
 * not be contiguous (dead-lettered records have none) and entries of one stream may be split over
 * several blocks and per-event documents: a stream's chain is all of them merged by position.
 */
import type { LedgerRow } from './ledger-core.js'
import { blockId, entryId, posValue } from './opensearch-indices.js'

type Json = Record<string, unknown>

export interface LedgerDocEntry {
  pos: string
  event_id: string
  hash: string
  chain: string
  ts: string
}

export interface DecodedLedgerDoc {
  stream: string
  kind: 'entry' | 'block'
  /** The position the `_id` is made of: the entry's, or the block's first. */
  pos: string
  entries: LedgerDocEntry[]
  /** Blocks: the first position of the previous block of the stream, when the writer knew it. */
  prev?: string
  /** Set when the document is not what a writer makes (its `_id`, its shape): added or edited by hand. */
  problem?: string
}

/** Entries per block at most: bounds a block to about 450 KB, so a bulk request and a scroll page stay small. */
export const BLOCK_ENTRIES = 2_000

const POS = /^-?\d{1,20}$/

const str = (v: unknown): string => (v === undefined || v === null ? '' : String(v))

/** The block document for rows of one ledger stream, already in position order. */
export function blockDoc(rows: readonly LedgerRow[], prev: string | undefined): Json {
  const n = rows.length
  const pos = new Array<number | string>(n)
  const ids = new Array<string>(n)
  const hashes = new Array<string>(n)
  const chains = new Array<string>(n)
  const ts = new Array<string>(n)
  for (let i = 0; i < n; i++) {
    const r = rows[i]!
    pos[i] = posValue(r.pos)
    ids[i] = r.eventId
    hashes[i] = r.hash
    chains[i] = r.chain
    ts[i] = r.ts
  }
  const block: Json = { pos, event_id: ids, hash: hashes, chain: chains, ts }
  if (prev !== undefined) block.prev = posValue(prev)
  return { stream: rows[0]!.stream, pos: posValue(rows[0]!.pos), end: posValue(rows[n - 1]!.pos), ts: rows[0]!.ts, block }
}

/** A version 1 per-event document, as the previous release wrote it (tests build legacy ledgers with it). */
export function legacyEntryDoc(r: LedgerRow): Json {
  return { stream: r.stream, pos: posValue(r.pos), event_id: r.eventId, hash: r.hash, chain: r.chain, ts: r.ts }
}

/**
 * Reads a ledger document of either version. Returns undefined when it has no usable position at all;
 * otherwise the entries it holds, with `problem` set when it could not have been written by a writer
 * (wrong `_id`, columns of different lengths, positions out of order): verify reports those as chain
 * issues, the writer treats them as not its own.
 */
export function decodeLedgerDoc(id: string, s: Json): DecodedLedgerDoc | undefined {
  const stream = str(s.stream)
  const pos = str(s.pos)
  if (!POS.test(pos)) return undefined
  const b = s.block
  if (b === undefined && s.end === undefined) {
    const entry = { pos, event_id: str(s.event_id), hash: str(s.hash), chain: str(s.chain), ts: str(s.ts) }
    const out: DecodedLedgerDoc = { stream, kind: 'entry', pos, entries: [entry] }
    if (id !== entryId(stream, pos)) out.problem = `ledger document ${id} does not belong at ${stream} @ ${pos} (added or edited)`
    return out
  }
  const out: DecodedLedgerDoc = { stream, kind: 'block', pos, entries: [] }
  const cols = (b ?? {}) as Json
  const ps = cols.pos
  const ids = cols.event_id
  const hashes = cols.hash
  const chains = cols.chain
  const ts = cols.ts
  if (!Array.isArray(ps) || !Array.isArray(ids) || !Array.isArray(hashes) || !Array.isArray(chains) || !Array.isArray(ts)) {
    out.problem = `ledger block ${id} has no entry columns (added or edited)`
    return out
  }
  const n = ps.length
  if (n === 0 || ids.length !== n || hashes.length !== n || chains.length !== n || ts.length !== n) {
    out.problem = `ledger block ${id} has columns of different lengths or none (edited)`
    return out
  }
  let last: bigint | undefined
  for (let i = 0; i < n; i++) {
    const p = str(ps[i])
    if (!POS.test(p) || (last !== undefined && BigInt(p) <= last)) {
      out.problem = `ledger block ${id} has positions out of order at entry ${i} (edited)`
      out.entries = []
      return out
    }
    last = BigInt(p)
    out.entries.push({ pos: p, event_id: str(ids[i]), hash: str(hashes[i]), chain: str(chains[i]), ts: str(ts[i]) })
  }
  if (cols.prev !== undefined && cols.prev !== null && POS.test(str(cols.prev))) out.prev = str(cols.prev)
  if (out.entries[0]!.pos !== pos || out.entries[n - 1]!.pos !== str(s.end) || id !== blockId(stream, pos)) {
    out.problem = `ledger block ${id} does not belong at ${stream} @ ${pos}..${str(s.end)} (added or edited)`
  }
  return out
}

/** Same entries (positions, ids, hashes, chain values) in the same order: what a 409 on a block is compared by. */
export function sameEntries(a: readonly LedgerDocEntry[], b: readonly LedgerDocEntry[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!
    const y = b[i]!
    if (x.pos !== y.pos || x.event_id !== y.event_id || x.hash !== y.hash || x.chain !== y.chain) return false
  }
  return true
}

export function rowEntry(r: LedgerRow): LedgerDocEntry {
  return { pos: r.pos, event_id: r.eventId, hash: r.hash, chain: r.chain, ts: r.ts }
}
