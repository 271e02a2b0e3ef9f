/**
 * `envoy-audit verify --opensearch`: checks the events (and findings) in OpenSearch against the
 * integrity ledger indices, with the same checks and report as the embedded store (verify-core.ts):
 *
 *  1. The ledger against the checkpoints and the per-stream head documents: each chain recomputed
 *     from genesis must reach every signed count and head, every MAC must verify with the key.
 *  2. Every stored event (scrolled with its `_id` and `_source`) against its ledger entry: no entry =
 *     inserted, another hash = modified, a ledger entry whose event is gone = deleted. Findings
 *     documents must be exactly what the sink derives from the stored event.
 *
 * The ledger may hold blocks (one document per stream and write round), per-event documents of the
 * first releases, or both after an upgrade (opensearch-blocks.ts reads either): every document is
 * expanded into its entries and a stream's chain is all of them merged by position. Two documents with
 * the same entry (possible only when a writer died and a later one raced it) count it once; two that
 * disagree at a position are a chain issue.
 *
 * Reads everything through scrolls (sorted by `_doc`, the cheapest order; blocks a few per page, they
 * are up to ~450 KB) and holds the ledger (about 200 bytes per event: id, hash, stream, position) and
 * the set of seen ids in memory; the events themselves stream through one page at a time.
 */
import type { Client } from '@opensearch-project/opensearch'
import fastJson from 'fast-json-stringify'
import type { AuditEvent } from '../generated/types.js'
import { findingDocuments, findingId, findingSchema, type FindingDocument } from '../sinks/opensearch/documents.js'
import type { IntegrityKey } from './config.js'
import { integrityIndices } from './opensearch-indices.js'
import { decodeLedgerDoc } from './opensearch-blocks.js'
import {
  addIssue,
  checkChains,
  checkStoredEvent,
  comparePos,
  emptyReport,
  ledgerIndex,
  type CheckpointEntry,
  type LedgerEntry,
  type VerifyReport,
} from './verify-core.js'

export interface OpenSearchVerifyOptions {
  eventsAlias: string
  findingsAlias: string
  indexPrefix: string
  key: IntegrityKey | undefined
  /** Documents per scroll page. */
  pageSize?: number
  /**
   * Events whose @timestamp (as ledgered) is before this instant may have been deleted by retention
   * (ISM): when missing they are counted as expired, not deleted. Their ledger entries still chain.
   */
  expiredBefore?: Date
  /** Heads exported earlier (`verify --heads`), checked like the stored head documents. */
  anchors?: readonly CheckpointEntry[]
}

type Json = Record<string, unknown>
type Hit = { _id: string; _source: Json }

const SCROLL_KEEPALIVE = '2m'

/** Every document of a target, page by page; the scroll is released even when the caller stops early. */
async function* scrollAll(client: Client, index: string, pageSize: number, query: Json = { match_all: {} }): AsyncGenerator<Hit[]> {
  let res = await client.search({ index, scroll: SCROLL_KEEPALIVE, body: { size: pageSize, sort: ['_doc'], query } } as never)
  let body = res.body as { _scroll_id?: string; hits?: { hits?: Hit[] } }
  const ids = new Set<string>()
  try {
    for (;;) {
      if (body._scroll_id !== undefined) ids.add(body._scroll_id)
      const hits = body.hits?.hits ?? []
      if (hits.length === 0) return
      yield hits
      if (body._scroll_id === undefined) return
      res = await client.scroll({ body: { scroll: SCROLL_KEEPALIVE, scroll_id: body._scroll_id } } as never)
      body = res.body as typeof body
    }
  } finally {
    if (ids.size > 0) await client.clearScroll({ body: { scroll_id: [...ids] } } as never).catch(() => undefined)
  }
}

async function exists(client: Client, index: string): Promise<boolean> {
  return (await client.indices.exists({ index })).body === true
}

const str = (v: unknown): string => (v === undefined || v === null ? '' : String(v))

function byStreamAndPos(a: { stream: string; pos: string }, b: { stream: string; pos: string }): number {
  return a.stream < b.stream ? -1 : a.stream > b.stream ? 1 : comparePos(a.pos, b.pos)
}

/** JSON with keys sorted at every level: two documents compare equal whatever their key order. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`
  if (v !== null && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Json)[k])}`)
      .join(',')}}`
  }
  return JSON.stringify(v) ?? 'null'
}

const validPos = (p: string): boolean => /^-?\d{1,20}$/.test(p)

/**
 * Drops repeated entries from a ledger sorted by stream and position: the same entry in two documents
 * (a block and a leftover of a writer that died) is one entry; two different entries at one position
 * are a chain issue, and both stay so the chain check shows the break too.
 */
function dedupe(report: VerifyReport, ledger: LedgerEntry[]): void {
  let w = 0
  let repeated = 0
  for (let i = 0; i < ledger.length; i++) {
    const e = ledger[i]!
    const prev = w > 0 ? ledger[w - 1]! : undefined
    if (prev !== undefined && prev.stream === e.stream && prev.pos === e.pos) {
      if (prev.event_id === e.event_id && prev.hash === e.hash && prev.chain === e.chain) {
        repeated++
        continue
      }
      addIssue(report, {
        kind: 'chain',
        id: e.stream,
        detail: `two ledger documents disagree at position ${e.pos} (events ${prev.event_id} and ${e.event_id})`,
      })
    }
    ledger[w++] = e
  }
  ledger.length = w
  if (repeated > 0)
    report.warnings.push(
      `${repeated} ledger entries are in two documents with the same content (a writer that died and a replay): counted once`,
    )
}

export async function verifyOpenSearch(client: Client, options: OpenSearchVerifyOptions): Promise<VerifyReport> {
  const report = emptyReport()
  const pageSize = options.pageSize ?? 2000
  const names = integrityIndices(options.indexPrefix)
  // Search is near-real-time: without a refresh, events written in the last second would look deleted.
  // Best effort: an auditor's read-only role may not be allowed to refresh (then run verify a little later).
  const targets = [names.ledger, names.checkpoints, names.heads, `${options.eventsAlias}*`, `${options.findingsAlias}*`]
  await client.indices
    .refresh({ index: targets.join(','), ignore_unavailable: true, allow_no_indices: true } as never)
    .catch(() => undefined)
  const hasLedger = (await exists(client, names.ledger)) && (await exists(client, names.checkpoints))
  const ledger: LedgerEntry[] = []
  const checkpoints: CheckpointEntry[] = []
  const heads: Json[] = []
  const ledgeredAt = new Map<string, number>()
  if (!hasLedger) {
    report.hasLedger = false
    report.warnings.push(
      `no integrity ledger indices (${names.ledger}, ${names.checkpoints}): written with integrity disabled, by another --index-prefix, or by a version without it`,
    )
  } else {
    // Per-event documents (first releases) a page at a time; blocks hold up to BLOCK_ENTRIES (2,000) entries each, so fewer per page.
    const blockPage = Math.max(1, Math.floor(pageSize / 100))
    const pages = [
      scrollAll(client, names.ledger, pageSize, { bool: { must_not: [{ exists: { field: 'end' } }] } }),
      scrollAll(client, names.ledger, blockPage, { exists: { field: 'end' } }),
    ]
    for (const scroll of pages) {
      for await (const page of scroll) {
        for (const h of page) {
          const doc = decodeLedgerDoc(h._id, h._source)
          if (doc === undefined) {
            addIssue(report, {
              kind: 'chain',
              id: str(h._source.stream),
              detail: `ledger document ${h._id} has no valid position (added or edited)`,
            })
            continue
          }
          if (doc.problem !== undefined) addIssue(report, { kind: 'chain', id: doc.stream, detail: doc.problem })
          for (const e of doc.entries) {
            ledger.push({ stream: doc.stream, pos: e.pos, event_id: e.event_id, hash: e.hash, chain: e.chain })
            if (options.expiredBefore !== undefined) ledgeredAt.set(e.event_id, Date.parse(e.ts))
          }
        }
      }
    }
    ledger.sort(byStreamAndPos)
    dedupe(report, ledger)
    for await (const page of scrollAll(client, names.checkpoints, pageSize)) {
      for (const h of page) {
        const s = h._source
        const c: CheckpointEntry = {
          stream: str(s.stream),
          pos: str(s.pos),
          count: str(s.count),
          head: str(s.head),
          key_id: s.key_id === null ? null : str(s.key_id),
          mac: s.mac === null || s.mac === undefined ? null : str(s.mac),
        }
        if (!validPos(c.pos))
          addIssue(report, { kind: 'chain', id: c.stream, detail: `checkpoint document ${h._id} has no valid position` })
        else checkpoints.push(c)
      }
    }
    if (await exists(client, names.heads))
      for await (const page of scrollAll(client, names.heads, pageSize)) heads.push(...page.map((h) => h._source))
  }
  checkpoints.sort(byStreamAndPos)

  // 1. Ledger against checkpoints and each stream's head document (the writers' commit point), in one pass per stream.
  const headEntries: CheckpointEntry[] = []
  for (const h of heads) {
    const entry = {
      stream: str(h.ledger_stream),
      pos: str(h.pos),
      count: str(h.count),
      head: str(h.head),
      key_id: str(h.key_id),
      mac: str(h.mac),
    }
    if (validPos(entry.pos)) headEntries.push(entry)
    else addIssue(report, { kind: 'chain', id: entry.stream, detail: 'head document has no valid position' })
  }
  checkChains(report, ledger, checkpoints, options.key, [...headEntries, ...(options.anchors ?? [])])

  // 2. Events against the ledger; findings against their events.
  const byId = ledgerIndex(ledger)
  const findings = await readFindings(client, options.findingsAlias, pageSize)
  const serializeFinding = fastJson(findingSchema as object) as (f: FindingDocument) => string
  const seen = new Set<string>()
  let withFindings = 0
  for await (const page of scrollAll(client, `${options.eventsAlias}*`, pageSize)) {
    for (const h of page) {
      report.events++
      const id = h._id
      if (seen.has(id)) {
        addIssue(report, { kind: 'inserted', id, detail: 'a second copy of this event in another index' })
        continue
      }
      seen.add(id)
      const stored = checkStoredEvent(report, id, JSON.stringify(h._source), byId.get(id))
      if (stored === undefined) {
        // Its findings share the event's fate, already reported.
        for (let n = 0; findings?.delete(findingId(id, n)) === true; n++);
        continue
      }
      const expected = findingDocuments(stored as AuditEvent).map((f) => canonical(JSON.parse(serializeFinding(f))))
      if (expected.length > 0) withFindings++
      if (findings === undefined) continue
      let bad: string | undefined
      for (let n = 0; n < expected.length; n++) {
        const fid = findingId(id, n)
        const got = findings.get(fid)
        findings.delete(fid)
        if (got === undefined) bad ??= `findings document ${fid} is missing`
        else if (canonical(got) !== expected[n]) bad ??= `findings document ${fid} differs from the stored event`
      }
      for (let n = expected.length; findings.delete(findingId(id, n)); n++)
        bad ??= `findings document ${findingId(id, n)} is not one of the stored event's findings`
      if (bad !== undefined) addIssue(report, { kind: 'modified', id, detail: bad })
    }
  }
  const expiry = options.expiredBefore?.getTime()
  if (expiry !== undefined) report.expired = 0
  for (const [id, entry] of byId) {
    if (seen.has(id)) continue
    // Not NaN-safe by accident: an entry without a valid ts is never treated as expired.
    if (expiry !== undefined && (ledgeredAt.get(id) ?? Number.NaN) < expiry) report.expired!++
    else
      addIssue(report, { kind: 'deleted', id, detail: `ledgered at ${entry.stream} @ ${entry.pos}, missing from ${options.eventsAlias}*` })
  }
  if (report.expired !== undefined && report.expired > 0) {
    report.warnings.push(
      `${report.expired} ledgered events from before ${options.expiredBefore!.toISOString()} are gone: taken as removed by retention, not as deleted`,
    )
  }
  if (findings === undefined) {
    if (withFindings > 0)
      report.warnings.push(
        `${withFindings} events have findings but there are no findings documents in ${options.findingsAlias}*: findings not checked (sink.writeFindings off?)`,
      )
  } else {
    for (const fid of findings.keys()) {
      const eventId = fid.replace(/:\d+$/, '')
      // Findings left behind by a deleted event are part of that deletion, already reported.
      if (!byId.has(eventId))
        addIssue(report, { kind: 'inserted', id: eventId, detail: `findings document ${fid} for an event that is not ledgered` })
      else if (seen.has(eventId))
        addIssue(report, { kind: 'modified', id: eventId, detail: `findings document ${fid} is not one of the stored event's findings` })
    }
  }
  report.ok = report.issues.length === 0
  return report
}

/** Findings documents by id, or undefined when there are none at all (not written, or another alias). */
async function readFindings(client: Client, alias: string, pageSize: number): Promise<Map<string, Json> | undefined> {
  const out = new Map<string, Json>()
  for await (const page of scrollAll(client, `${alias}*`, pageSize)) for (const h of page) out.set(h._id, h._source)
  return out.size === 0 ? undefined : out
}
