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
  /** A head exported earlier (`verify --export-heads`) rather than a head document stored with the ledger. */
  origin?: 'export'
}

const MAX_LISTED = 1000

export function emptyReport(): VerifyReport {
  return {
    ok: true,
    hasLedger: true,
    events: 0,
    ledgered: 0,
    streams: 0,
    checkpoints: 0,
    signedVerified: 0,
    unsignedTail: 0,
    warnings: [],
    issues: [],
    counts: { deleted: 0, modified: 0, inserted: 0, chain: 0 },
    heads: [],
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
 * Checks the ledger against the checkpoints, and against `heads` (OpenSearch's per-stream head
 * documents: signed like checkpoints, reported as "head document", not counted as checkpoints).
 * `ledger` and `checkpoints` must be ordered by stream, then position. Each stream's chain is
 * recomputed once: the checkpoints, the heads and every row's own chain value are checked against
 * that one pass. Head issues are listed after all the others, in the order the heads were given.
 */
export function checkChains(
  report: VerifyReport,
  ledger: readonly LedgerEntry[],
  checkpoints: readonly CheckpointEntry[],
  key: IntegrityKey | undefined,
  heads: readonly CheckpointEntry[] = [],
): void {
  report.ledgered = ledger.length
  report.checkpoints = checkpoints.length
  const cpByStream = groupByStream(checkpoints)
  const ledgerByStream = groupByStream(ledger)
  const headsByStream = groupByStream(heads.map((h, order) => ({ ...h, order })))
  const streams = new Set([...ledgerByStream.keys(), ...cpByStream.keys()])
  report.streams = streams.size
  const headIssues: VerifyIssue[][] = heads.map(() => [])
  let unsignedSeen = false
  for (const stream of new Set([...streams, ...headsByStream.keys()])) {
    const entries = ledgerByStream.get(stream) ?? []
    const cps = cpByStream.get(stream) ?? []
    // Heads are checked where the pass reaches their position; ties after the checkpoint at it.
    const hs = [...(headsByStream.get(stream) ?? [])].sort((a, b) => comparePos(a.pos, b.pos))
    let head = genesis(stream)
    let i = 0
    let broken: LedgerEntry | undefined
    const advanceTo = (pos: bigint): void => {
      while (i < entries.length && BigInt(entries[i]!.pos) <= pos) {
        const e = entries[i]!
        head = link(head, e.event_id, e.hash)
        // The ledger's own chain column: the first row where it disagrees pinpoints an edit before any checkpoint catches it.
        if (broken === undefined && head !== e.chain) broken = e
        i++
      }
    }
    let h = 0
    const headsUpTo = (pos: bigint | undefined): void => {
      for (; h < hs.length && (pos === undefined || BigInt(hs[h]!.pos) <= pos); h++) {
        const hd = hs[h]!
        advanceTo(BigInt(hd.pos))
        checkHead(headIssues[hd.order]!, stream, hd, head, i, key)
      }
    }
    let prevPos = '-1'
    for (const cp of cps) {
      const cpPos = BigInt(cp.pos)
      headsUpTo(cpPos - 1n)
      advanceTo(cpPos)
      const range = `ledger positions (${prevPos}, ${cp.pos}]`
      if (head !== cp.head || String(i) !== String(cp.count)) {
        addIssue(report, {
          kind: 'chain',
          id: stream,
          detail: `checkpoint at ${cp.pos} does not match the recomputed chain (${i} entries vs ${String(cp.count)} signed): ${range} were altered, added or removed`,
        })
      }
      if (key !== undefined) {
        if (typeof cp.mac !== 'string' || cp.mac === '')
          addIssue(report, { kind: 'chain', id: stream, detail: `checkpoint at ${cp.pos} is not signed although a key is configured` })
        else if (!macMatches(key, { stream, pos: cp.pos, count: Number(cp.count), head: cp.head }, cp.mac)) {
          addIssue(report, {
            kind: 'chain',
            id: stream,
            detail: `checkpoint at ${cp.pos} has an invalid MAC (forged, or signed with another key: key id ${String(cp.key_id)} vs ${key.id})`,
          })
        } else report.signedVerified++
      } else if (typeof cp.mac === 'string' && cp.mac !== '') unsignedSeen = true
      prevPos = cp.pos
    }
    // Counted before the heads past the last checkpoint move the pass on: a head is not a checkpoint.
    if (streams.has(stream)) report.unsignedTail += entries.length - i
    headsUpTo(undefined)
    advanceTo(BigInt(entries.at(-1)?.pos ?? '-1'))
    if (broken !== undefined)
      addIssue(report, { kind: 'chain', id: stream, detail: `ledger chain breaks at position ${broken.pos} (event ${broken.event_id})` })
    const last = cps.at(-1)
    if (last !== undefined) report.heads.push({ stream, pos: last.pos, count: Number(last.count), head: last.head })
  }
  for (const list of headIssues) for (const issue of list) addIssue(report, issue)
  if (unsignedSeen)
    report.warnings.push('checkpoints are signed but no key was given (--key-file or ENVOY_AUDIT_INTEGRITY_KEY): MACs not checked')
  if (checkpoints.length > 0 && checkpoints.every((c) => c.mac === null || c.mac === undefined)) {
    report.warnings.push('checkpoints are unsigned (no integrity key when written): an attacker with write access could rebuild the chain')
  }
}

/** A head document against the chain recomputed up to its position (`head` after `count` entries). */
function checkHead(
  issues: VerifyIssue[],
  stream: string,
  hd: CheckpointEntry,
  head: string,
  count: number,
  key: IntegrityKey | undefined,
): void {
  const what = hd.origin === 'export' ? 'exported head' : 'head document'
  if (head !== hd.head || String(count) !== String(hd.count)) {
    issues.push({
      kind: 'chain',
      id: stream,
      detail: `${what} at ${hd.pos} does not match the recomputed chain (${count} entries vs ${String(hd.count)})`,
    })
  }
  // An exported head is anchored by where it is kept; its MAC is checked when it has one.
  if (key === undefined || (hd.origin === 'export' && (hd.mac === null || hd.mac === undefined))) return
  if (typeof hd.mac !== 'string' || hd.mac === '')
    issues.push({ kind: 'chain', id: stream, detail: `${what} at ${hd.pos} is not signed although a key is configured` })
  else if (!macMatches(key, { stream, pos: hd.pos, count: Number(hd.count), head: hd.head }, hd.mac)) {
    issues.push({
      kind: 'chain',
      id: stream,
      detail: `${what} at ${hd.pos} has an invalid MAC (key id ${String(hd.key_id)} vs ${key.id})`,
    })
  }
}

function groupByStream<T extends { stream: string }>(items: readonly T[]): Map<string, T[]> {
  const out = new Map<string, T[]>()
  for (const x of items) {
    let list = out.get(x.stream)
    if (list === undefined) out.set(x.stream, (list = []))
    list.push(x)
  }
  return out
}

export interface LedgerRef {
  hash: string
  stream: string
  pos: string
  /**
   * Every hash ledgered for this id, when there are several. Ids come from the line and its workload,
   * not from where it was read, so one event can be ledgered in several streams (a file read under
   * two names, a line re-sent at a new offset) while the store keeps its first copy, whose audit.source
   * (and, for a line without a start time, @timestamp) may differ from a later copy's.
   */
  hashes?: Set<string>
}

export function ledgerIndex(ledger: readonly LedgerEntry[]): Map<string, LedgerRef> {
  const byId = new Map<string, LedgerRef>()
  for (const r of ledger) {
    const prev = byId.get(r.event_id)
    const ref: LedgerRef = { hash: r.hash, stream: r.stream, pos: r.pos }
    if (prev !== undefined && (prev.hashes !== undefined || prev.hash !== r.hash))
      ref.hashes = new Set([...(prev.hashes ?? [prev.hash]), r.hash])
    byId.set(r.event_id, ref)
  }
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
  const ledgered = (h: string | undefined): boolean => h !== undefined && (h === entry.hash || entry.hashes?.has(h) === true)
  // A store written by the first release hashed the same content in another key order.
  if (!ledgered(hash) && !ledgered(legacyHashStoredEvent(json)))
    addIssue(report, { kind: 'modified', id, detail: `stored event hash differs from the ledger (${entry.stream} @ ${entry.pos})` })
  else if (!ledgered(stored.audit?.hash) || (stored.audit?.hash !== hash && stored.audit?.hash !== legacyHashStoredEvent(json)))
    addIssue(report, { kind: 'modified', id, detail: 'audit.hash differs from the ledger' })
  else if (stored.event?.id !== id)
    addIssue(report, { kind: 'modified', id, detail: `the stored event belongs to event ${String(stored.event?.id)}` })
  else return stored
  return undefined
}
