/**
 * What every `verify` shares, whatever the store: the report, and the check of the ledger against
 * its checkpoints (each stream's chain recomputed from genesis must reach every checkpoint's count
 * and head, every checkpoint's MAC must verify with the key, every ledger row's own chain value must
 * be right), and of one stored event against its ledger entry. verify-duckdb.ts and
 * verify-opensearch.ts read their store and feed it through here, so they report alike.
 */
import type { AuditEvent } from '../generated/types.js'
import type { IntegrityKey } from './config.js'
import { genesis, hashStoredEvent, legacyHashStoredEvent, link, macMatches } from './chain.js'

export interface VerifyIssue {
  kind: 'deleted' | 'modified' | 'inserted' | 'chain'
  /** Event id, or the stream for chain issues. */
  id: string
  detail: string
}

export interface VerifyReport {
  ok: boolean
  /** False when the store has no integrity ledger at all (written by `ingest`, or with integrity off). */
  hasLedger: boolean
  events: number
  ledgered: number
  streams: number
  checkpoints: number
  /** Checkpoints whose MAC was verified with the key. */
  signedVerified: number
  /** Ledger entries after the last checkpoint of their stream: not yet covered by a signed head. */
  unsignedTail: number
  warnings: string[]
  issues: VerifyIssue[]
  counts: { deleted: number; modified: number; inserted: number; chain: number }
  /** The latest head per stream: record them outside the store to detect tail truncation later. */
  heads: { stream: string; pos: string; count: number; head: string }[]
  /** OpenSearch with an expiry date: ledgered events older than it that are gone (retention), not counted as deleted. */
  expired?: number
}

/** One ledger row as every store reads it back (positions as decimal strings: 64-bit). */
export interface LedgerEntry {
  stream: string
  pos: string
  event_id: string
  hash: string
  chain: string
}

export interface CheckpointEntry {
  stream: string
  pos: string
  count: string | number
  head: string
  key_id?: string | null
  mac?: string | null
}

const MAX_LISTED = 1000

export function emptyReport(): VerifyReport {
  return {
    ok: true, hasLedger: true, events: 0, ledgered: 0, streams: 0, checkpoints: 0, signedVerified: 0, unsignedTail: 0,
    warnings: [], issues: [], counts: { deleted: 0, modified: 0, inserted: 0, chain: 0 }, heads: [],
  }
}

/** Counts every issue, lists the first MAX_LISTED (the rest are in the counts). */
export function addIssue(report: VerifyReport, i: VerifyIssue): void {
  report.counts[i.kind]++
  if (report.issues.length < MAX_LISTED) report.issues.push(i)
}

export function comparePos(a: string, b: string): number {
  const x = BigInt(a)
  const y = BigInt(b)
  return x < y ? -1 : x > y ? 1 : 0
}

/**
 * Checks the ledger against the checkpoints. `ledger` and `checkpoints` must be ordered by stream,
 * then position. Returns the ledger rows grouped by stream for callers that check more per stream.
 */
export function checkChains(report: VerifyReport, ledger: readonly LedgerEntry[], checkpoints: readonly CheckpointEntry[], key: IntegrityKey | undefined): Map<string, LedgerEntry[]> {
  report.ledgered = ledger.length
  report.checkpoints = checkpoints.length
  const cpByStream = new Map<string, CheckpointEntry[]>()
  for (const c of checkpoints) {
    let list = cpByStream.get(c.stream)
    if (list === undefined) cpByStream.set(c.stream, (list = []))
    list.push(c)
  }
  const ledgerByStream = new Map<string, LedgerEntry[]>()
  for (const r of ledger) {
    let list = ledgerByStream.get(r.stream)
    if (list === undefined) ledgerByStream.set(r.stream, (list = []))
    list.push(r)
  }
  const streams = new Set([...ledgerByStream.keys(), ...cpByStream.keys()])
  report.streams = streams.size
  let unsignedSeen = false
  for (const stream of streams) {
    const entries = ledgerByStream.get(stream) ?? []
    const cps = cpByStream.get(stream) ?? []
    let head = genesis(stream)
    let i = 0
    let prevPos = '-1'
    for (const cp of cps) {
      const cpPos = BigInt(cp.pos)
      while (i < entries.length && BigInt(entries[i]!.pos) <= cpPos) {
        const e = entries[i]!
        head = link(head, e.event_id, e.hash)
        i++
      }
      const range = `ledger positions (${prevPos}, ${cp.pos}]`
      if (head !== cp.head || String(i) !== String(cp.count)) {
        addIssue(report, { kind: 'chain', id: stream, detail: `checkpoint at ${cp.pos} does not match the recomputed chain (${i} entries vs ${String(cp.count)} signed): ${range} were altered, added or removed` })
      }
      if (key !== undefined) {
        if (typeof cp.mac !== 'string' || cp.mac === '') addIssue(report, { kind: 'chain', id: stream, detail: `checkpoint at ${cp.pos} is not signed although a key is configured` })
        else if (!macMatches(key, { stream, pos: cp.pos, count: Number(cp.count), head: cp.head }, cp.mac)) {
          addIssue(report, { kind: 'chain', id: stream, detail: `checkpoint at ${cp.pos} has an invalid MAC (forged, or signed with another key: key id ${String(cp.key_id)} vs ${key.id})` })
        } else report.signedVerified++
      } else if (typeof cp.mac === 'string' && cp.mac !== '') unsignedSeen = true
      prevPos = cp.pos
    }
    report.unsignedTail += entries.length - i
    // The ledger's own chain column: the first row where it disagrees pinpoints an edit before any checkpoint catches it.
    let h = genesis(stream)
    for (const e of entries) {
      h = link(h, e.event_id, e.hash)
      if (h !== e.chain) {
        addIssue(report, { kind: 'chain', id: stream, detail: `ledger chain breaks at position ${e.pos} (event ${e.event_id})` })
        break
      }
    }
    const last = cps.at(-1)
    if (last !== undefined) report.heads.push({ stream, pos: last.pos, count: Number(last.count), head: last.head })
  }
  if (unsignedSeen) report.warnings.push('checkpoints are signed but no key was given (--key-file or ENVOY_AUDIT_INTEGRITY_KEY): MACs not checked')
  if (checkpoints.length > 0 && checkpoints.every((c) => c.mac === null || c.mac === undefined)) {
    report.warnings.push('checkpoints are unsigned (no integrity key when written): an attacker with write access could rebuild the chain')
  }
  return ledgerByStream
}

export interface LedgerRef {
  hash: string
  stream: string
  pos: string
}

export function ledgerIndex(ledger: readonly LedgerEntry[]): Map<string, LedgerRef> {
  const byId = new Map<string, LedgerRef>()
  for (const r of ledger) byId.set(r.event_id, { hash: r.hash, stream: r.stream, pos: r.pos })
  return byId
}

/**
 * Checks one stored event (its id in the store, its stored JSON) against the ledger. Reports and
 * returns undefined when it is inserted or modified; returns the parsed event when its JSON is intact,
 * for the store-specific checks that follow (typed columns, findings).
 */
export function checkStoredEvent(report: VerifyReport, id: string, json: string, entry: LedgerRef | undefined): AuditEvent | undefined {
  let stored: AuditEvent
  let hash: string
  try {
    stored = JSON.parse(json) as AuditEvent
    hash = hashStoredEvent(json)
  } catch {
    addIssue(report, { kind: entry === undefined ? 'inserted' : 'modified', id, detail: 'the stored event is not valid JSON' })
    return undefined
  }
  if (entry === undefined) {
    addIssue(report, { kind: 'inserted', id, detail: 'stored event has no ledger entry' })
    return undefined
  }
  // A store written by the first release hashed the same content in another key order.
  if (hash !== entry.hash && legacyHashStoredEvent(json) !== entry.hash) addIssue(report, { kind: 'modified', id, detail: `stored event hash differs from the ledger (${entry.stream} @ ${entry.pos})` })
  else if (stored.audit?.hash !== entry.hash) addIssue(report, { kind: 'modified', id, detail: 'audit.hash differs from the ledger' })
  else if (stored.event?.id !== id) addIssue(report, { kind: 'modified', id, detail: `the stored event belongs to event ${String(stored.event?.id)}` })
  else return stored
  return undefined
}
