/**
 * What every `verify` shares, whatever the store: the report, and the check of the ledger against
 * its checkpoints (each stream's chain recomputed from genesis must reach every checkpoint's count
 * and head, every checkpoint's MAC must verify with the key, every ledger row's own chain value must
 * be right), and of one stored event against its ledger entry. verify-duckdb.ts and
 * verify-opensearch.ts read their store and feed it through here, so they report alike.
 */
import type { AuditEvent } from '../generated/types.js'
import type { IntegrityKey } from './config.js'
import { genesis, hashParsedStored, link, macMatches } from './chain.js'

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

/** Where a verify stands, for progress lines; `total` is undefined when the store cannot tell it cheaply. */
export interface VerifyProgress {
  /** Reading the ledger, walking its chains, reading the events and the findings rows, matching them by event id. */
  phase: 'ledger' | 'chain' | 'events' | 'findings' | 'matching'
  /** Rows of the phase read so far. */
  done: number
  total: number | undefined
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
 * documents, or heads exported earlier: signed like checkpoints, reported as such, not counted as
 * checkpoints). `ledger` and `checkpoints` must be ordered by stream, then position. The whole ledger
 * in memory; ChainWalk takes it a row at a time.
 */
export function checkChains(
  report: VerifyReport,
  ledger: readonly LedgerEntry[],
  checkpoints: readonly CheckpointEntry[],
  key: IntegrityKey | undefined,
  heads: readonly CheckpointEntry[] = [],
): void {
  const walk = new ChainWalk(report, checkpoints, key, heads)
  for (const e of ledger) walk.entry(e)
  walk.finish()
}

/**
 * The ledger against its checkpoints and heads, fed one row at a time in (stream, position) order, so
 * a ledger of any size is checked in memory proportional to its checkpoints and heads. Each stream's
 * chain is recomputed once from its genesis: the checkpoints, the heads and every row's own chain
 * value are checked against that one pass. Issues are added as each stream ends; head issues after
 * all the others, in the order the heads were given.
 */
export class ChainWalk {
  private readonly cpByStream: Map<string, CheckpointEntry[]>
  private readonly headsByStream: Map<string, (CheckpointEntry & { order: number })[]>
  private readonly headIssues: VerifyIssue[][]
  private readonly streams = new Set<string>()
  private current: StreamPass | undefined
  private unsignedSeen = false

  constructor(
    private readonly report: VerifyReport,
    private readonly checkpoints: readonly CheckpointEntry[],
    private readonly key: IntegrityKey | undefined,
    heads: readonly CheckpointEntry[] = [],
  ) {
    report.ledgered = 0
    report.checkpoints = checkpoints.length
    this.cpByStream = groupByStream(checkpoints)
    this.headsByStream = groupByStream(heads.map((h, order) => ({ ...h, order })))
    this.headIssues = heads.map(() => [])
  }

  /** The next ledger row: after every row of an earlier stream, and of this stream at a lower position. */
  entry(e: LedgerEntry): void {
    this.report.ledgered++
    if (this.current?.stream !== e.stream) {
      if (this.current !== undefined) this.end(this.current)
      this.current = this.begin(e.stream, true)
    }
    this.current.entry(e)
  }

  /** After the last row: ends the last stream, then the streams with checkpoints or heads and no rows. */
  finish(): void {
    if (this.current !== undefined) this.end(this.current)
    this.current = undefined
    for (const stream of [...this.cpByStream.keys()]) this.end(this.begin(stream, true))
    for (const stream of [...this.headsByStream.keys()]) this.end(this.begin(stream, false))
    this.report.streams = this.streams.size
    for (const list of this.headIssues) for (const issue of list) addIssue(this.report, issue)
    if (this.unsignedSeen)
      this.report.warnings.push('checkpoints are signed but no key was given (--key-file or ENVOY_AUDIT_INTEGRITY_KEY): MACs not checked')
    if (this.checkpoints.length > 0 && this.checkpoints.every((c) => c.mac === null || c.mac === undefined)) {
      this.report.warnings.push(
        'checkpoints are unsigned (no integrity key when written): an attacker with write access could rebuild the chain',
      )
    }
  }

  /** `counted`: a stream of the ledger or the checkpoints (one with only heads is not counted). */
  private begin(stream: string, counted: boolean): StreamPass {
    if (counted) this.streams.add(stream)
    const cps = this.cpByStream.get(stream) ?? []
    const hs = [...(this.headsByStream.get(stream) ?? [])].sort((a, b) => comparePos(a.pos, b.pos))
    this.cpByStream.delete(stream)
    this.headsByStream.delete(stream)
    return new StreamPass(stream, cps, hs, counted, this.report, this.key, this.headIssues)
  }

  private end(pass: StreamPass): void {
    if (pass.finish()) this.unsignedSeen = true
  }
}

/** One stream's chain, fed its ledger rows in position order. */
class StreamPass {
  private head: string
  private count = 0
  private c = 0
  private h = 0
  private prevPos = '-1'
  private countAtLastCheckpoint = 0
  private broken: LedgerEntry | undefined
  private unsignedSeen = false

  constructor(
    readonly stream: string,
    private readonly cps: readonly CheckpointEntry[],
    private readonly hs: readonly (CheckpointEntry & { order: number })[],
    private readonly counted: boolean,
    private readonly report: VerifyReport,
    private readonly key: IntegrityKey | undefined,
    private readonly headIssues: VerifyIssue[][],
  ) {
    this.head = genesis(stream)
  }

  entry(e: LedgerEntry): void {
    // Checkpoints and heads before this row are checked against the chain as it stood.
    this.upTo(BigInt(e.pos))
    this.head = link(this.head, e.event_id, e.hash)
    this.count++
    // The ledger's own chain column: the first row where it disagrees pinpoints an edit before any checkpoint catches it.
    if (this.broken === undefined && this.head !== e.chain) this.broken = e
  }

  /** Checks each checkpoint and head below `pos` (undefined: all) in position order; a head after a checkpoint at its position. */
  private upTo(pos: bigint | undefined): void {
    for (;;) {
      const cp = this.cps[this.c]
      const hd = this.hs[this.h]
      const cpPos = cp === undefined ? undefined : BigInt(cp.pos)
      const hdPos = hd === undefined ? undefined : BigInt(hd.pos)
      const cpDue = cpPos !== undefined && (pos === undefined || cpPos < pos)
      const hdDue = hdPos !== undefined && (pos === undefined || hdPos < pos)
      if (cpDue && (!hdDue || cpPos <= hdPos!)) this.checkpoint(this.cps[this.c++]!)
      else if (hdDue) {
        const h = this.hs[this.h++]!
        checkHead(this.headIssues[h.order]!, this.stream, h, this.head, this.count, this.key)
      } else return
    }
  }

  private checkpoint(cp: CheckpointEntry): void {
    const { report, key, stream } = this
    const range = `ledger positions (${this.prevPos}, ${cp.pos}]`
    if (this.head !== cp.head || String(this.count) !== String(cp.count)) {
      addIssue(report, {
        kind: 'chain',
        id: stream,
        detail:
          `checkpoint at ${cp.pos} does not match the recomputed chain (${this.count} entries vs ${String(cp.count)} signed): ` +
          `${range} were altered, added or removed`,
      })
    }
    if (key !== undefined) {
      if (typeof cp.mac !== 'string' || cp.mac === '')
        addIssue(report, { kind: 'chain', id: stream, detail: `checkpoint at ${cp.pos} is not signed although a key is configured` })
      else if (!macMatches(key, { stream, pos: cp.pos, count: Number(cp.count), head: cp.head }, cp.mac)) {
        addIssue(report, {
          kind: 'chain',
          id: stream,
          detail:
            `checkpoint at ${cp.pos} has an invalid MAC ` +
            `(forged, or signed with another key: key id ${String(cp.key_id)} vs ${key.id})`,
        })
      } else report.signedVerified++
    } else if (typeof cp.mac === 'string' && cp.mac !== '') this.unsignedSeen = true
    this.prevPos = cp.pos
    this.countAtLastCheckpoint = this.count
  }

  /** Checks what is left past the last row; returns whether a signed checkpoint went unchecked (no key). */
  finish(): boolean {
    // The checkpoints first: the tail after the last one is counted before the heads past it (a head is not a checkpoint).
    while (this.c < this.cps.length) this.checkpoint(this.cps[this.c++]!)
    if (this.counted) this.report.unsignedTail += this.count - this.countAtLastCheckpoint
    this.upTo(undefined)
    if (this.broken !== undefined)
      addIssue(this.report, {
        kind: 'chain',
        id: this.stream,
        detail: `ledger chain breaks at position ${this.broken.pos} (event ${this.broken.event_id})`,
      })
    const last = this.cps.at(-1)
    if (last !== undefined) this.report.heads.push({ stream: this.stream, pos: last.pos, count: Number(last.count), head: last.head })
    return this.unsignedSeen
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
 * What the ledger check needs of a stored event, computed from its stored JSON alone (so a store can
 * compute it while scanning, before it looks the ledger entry up). undefined: not valid JSON.
 */
export interface StoredDigest {
  /** hashStoredEvent of the stored JSON. */
  hash: string
  /** The first release's hash of it; computed only when audit.hash is not `hash` (see storedDigest). */
  legacy: string | undefined
  auditHash: string | undefined
  /** event.id inside the JSON. */
  eventId: string | undefined
}

export function storedDigest(json: string): { event: AuditEvent; digest: StoredDigest } | undefined {
  try {
    const event = JSON.parse(json) as AuditEvent
    const hash = hashParsedStored(event)
    const auditHash = typeof event.audit?.hash === 'string' ? event.audit.hash : undefined
    // A store written by the first release hashed the same content in another key order: its audit.hash is the legacy hash.
    const legacy = auditHash === hash ? undefined : hashParsedStored(event, true)
    const raw: unknown = event.event?.id
    // Not a string (the schema says it is): shown with its type, and never equal to the store's id column.
    const eventId = typeof raw === 'string' || raw === undefined ? raw : `(${typeof raw}) ${String(raw)}`
    return { event, digest: { hash, legacy, auditHash, eventId } }
  } catch {
    return undefined
  }
}

/**
 * Judges one stored event (its id in the store, its digest) against its ledger entry. Reports and
 * returns false when it is inserted or modified; true when intact, for the store-specific checks that
 * follow (typed columns, findings).
 */
export function judgeStored(report: VerifyReport, id: string, d: StoredDigest | undefined, entry: LedgerRef | undefined): boolean {
  if (d === undefined) {
    addIssue(report, { kind: entry === undefined ? 'inserted' : 'modified', id, detail: 'the stored event is not valid JSON' })
    return false
  }
  if (entry === undefined) {
    addIssue(report, { kind: 'inserted', id, detail: 'stored event has no ledger entry' })
    return false
  }
  const ledgered = (h: string | undefined): boolean => h !== undefined && (h === entry.hash || entry.hashes?.has(h) === true)
  if (!ledgered(d.hash) && !ledgered(d.legacy))
    addIssue(report, { kind: 'modified', id, detail: `stored event hash differs from the ledger (${entry.stream} @ ${entry.pos})` })
  else if (!ledgered(d.auditHash) || (d.auditHash !== d.hash && d.auditHash !== d.legacy))
    addIssue(report, { kind: 'modified', id, detail: 'audit.hash differs from the ledger' })
  else if (d.eventId !== id) addIssue(report, { kind: 'modified', id, detail: `the stored event belongs to event ${String(d.eventId)}` })
  else return true
  return false
}

/**
 * Checks one stored event (its id in the store, its stored JSON) against the ledger. Reports and
 * returns undefined when it is inserted or modified; returns the parsed event when its JSON is intact,
 * for the store-specific checks that follow (typed columns, findings).
 */
export function checkStoredEvent(report: VerifyReport, id: string, json: string, entry: LedgerRef | undefined): AuditEvent | undefined {
  const parsed = storedDigest(json)
  return judgeStored(report, id, parsed?.digest, entry) ? parsed!.event : undefined
}
