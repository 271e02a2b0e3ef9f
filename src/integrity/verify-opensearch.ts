/**
 * `envoy-audit verify --opensearch`: checks the events (and findings) in OpenSearch against the
 * integrity ledger indices, with the same checks and report as the embedded store (verify-core.ts):
 *
 *  1. The ledger against the checkpoints and the per-stream head documents: each chain recomputed
 *     from genesis must reach every signed count and head, every MAC must verify with the key.
 *  2. Every stored event (read with its `_id` and `_source`) against its ledger entry: no entry =
 *     inserted, another hash = modified, a ledger entry whose event is gone = deleted. Findings
 *     documents must be exactly what the sink derives from the stored event.
 *
 * The ledger may hold blocks (one document per stream and write round), per-event documents of the
 * first releases, or both after an upgrade (opensearch-blocks.ts reads either): every document is
 * expanded into its entries and a stream's chain is all of them merged by position. Two documents with
 * the same entry (possible only when a writer died and a later one raced it) count it once; two that
 * disagree at a position are a chain issue.
 *
 * Reads everything through points in time paged with search_after (opensearch-read-all.ts; ledger
 * blocks a few per page, they are up to ~450 KB), a page at a time, in memory
 * that does not grow with the indices: the ledger entries, a digest of every event and the findings
 * documents (as stored, and as the sink derives them from the stored events) go to a scratch database
 * as narrow rows (verify-match.ts), where DuckDB sorts the ledger into chain order and matches the
 * rest by event id, spilling to disk beyond its memory
 * limit. Held in memory: the checkpoints and head documents (one per stream and acknowledged batch).
 */
import type { Client } from '@opensearch-project/opensearch'
import fastJson from 'fast-json-stringify'
import { findingDocuments, findingSchema, type FindingDocument } from '../sinks/opensearch/documents.js'
import type { IntegrityKey } from './config.js'
import { integrityIndices } from './opensearch-indices.js'
import { decodeLedgerDoc } from './opensearch-blocks.js'
import { VerifyScratch } from '../store/verify-scratch.js'
import {
  addIssue,
  ChainWalk,
  comparePos,
  emptyReport,
  storedDigest,
  type CheckpointEntry,
  type LedgerEntry,
  type VerifyProgress,
  type VerifyReport,
} from './verify-core.js'
import { evRow, matchById, matchTables, type MatchTables } from './verify-match.js'
import { chunkCollector } from './verify-gc.js'
import { ledgerInChainOrder } from './ledger-order.js'
import { readAll, type Json } from './opensearch-read-all.js'

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
  /** Where the scratch database goes (default: the system's temporary directory). */
  scratchDir?: string
  /** DuckDB's memory cap for the scratch database. */
  scratchMemoryLimit?: string
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

export async function verifyOpenSearch(
  client: Client,
  options: OpenSearchVerifyOptions,
  onProgress: (p: VerifyProgress) => void = () => undefined,
): Promise<VerifyReport> {
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
  const scratch = await VerifyScratch.open({
    ...(options.scratchDir === undefined ? {} : { parent: options.scratchDir }),
    ...(options.scratchMemoryLimit === undefined ? {} : { memoryLimit: options.scratchMemoryLimit }),
  })
  try {
    const tables = await matchTables(scratch)
    const checkpoints: CheckpointEntry[] = []
    const headEntries: CheckpointEntry[] = []
    if (!hasLedger) {
      report.hasLedger = false
      report.warnings.push(
        `no integrity ledger indices (${names.ledger}, ${names.checkpoints}): ` +
          'written with integrity disabled, by another --index-prefix, or by a version without it',
      )
    } else {
      await scratch.phase('append')
      await readLedger(client, names.ledger, pageSize, report, tables, onProgress)
      for await (const page of readAll(client, names.checkpoints, pageSize)) {
        for (const h of page.hits) {
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
        for await (const page of readAll(client, names.heads, pageSize))
          for (const { _source: h } of page.hits) {
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
    }
    checkpoints.sort(byStreamAndPos)

    // 1. Ledger against checkpoints and each stream's head document (the writers' commit point), in one pass per stream.
    const walk = new ChainWalk(report, checkpoints, options.key, [...headEntries, ...(options.anchors ?? [])])
    await scratch.phase('query')
    await walkLedger(scratch, report, walk, onProgress)
    walk.finish()

    // 2. Events against the ledger; findings against their events: matched by id in the scratch database.
    await scratch.phase('append')
    const findings = await readFindings(client, options.findingsAlias, pageSize, tables, onProgress)
    const withFindings = await readEvents(client, options.eventsAlias, pageSize, tables, findings > 0, onProgress)
    await scratch.phase('query')
    const expiry = options.expiredBefore?.getTime()
    if (expiry !== undefined) report.expired = 0
    await matchById(scratch, report, onProgress, {
      storeName: `${options.eventsAlias}*`,
      compareFindings: findings > 0,
      ...(expiry === undefined ? {} : { expiredBefore: expiry }),
    })
    if (report.expired !== undefined && report.expired > 0) {
      report.warnings.push(
        `${report.expired} ledgered events from before ${options.expiredBefore!.toISOString()} are gone: ` +
          'taken as removed by retention, not as deleted',
      )
    }
    if (findings === 0 && withFindings > 0)
      report.warnings.push(
        `${withFindings} events have findings but there are no findings documents in ${options.findingsAlias}*: ` +
          'findings not checked (sink.writeFindings off?)',
      )
  } finally {
    scratch.close()
  }
  report.ok = report.issues.length === 0
  return report
}

/** Every ledger document (blocks and the first releases' per-event documents), expanded into entries in the scratch database. */
async function readLedger(
  client: Client,
  index: string,
  pageSize: number,
  report: VerifyReport,
  tables: MatchTables,
  onProgress: (p: VerifyProgress) => void,
): Promise<void> {
  // Per-event documents (first releases) a page at a time; blocks hold up to BLOCK_ENTRIES (2,000)
  // entries each, so fewer per page: 5 blocks in the default page, where 20 (40k entries, the page's
  // response and its parsed documents alive at once) took V8's heap past 120 MB.
  const blockPage = Math.max(1, Math.floor(pageSize / 400))
  const scrolls = [
    readAll(client, index, pageSize, { bool: { must_not: [{ exists: { field: 'end' } }] } }),
    readAll(client, index, blockPage, { exists: { field: 'end' } }),
  ]
  let entries = 0
  onProgress({ phase: 'ledger', done: 0, total: undefined })
  const collect = chunkCollector()
  for (const scroll of scrolls) {
    for await (const page of scroll) {
      collect()
      for (const h of page.hits) {
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
          const ts = Date.parse(e.ts)
          tables.ledger.add([e.event_id, doc.stream, e.pos, e.hash, e.chain, Number.isFinite(ts) ? ts : null])
          entries++
        }
      }
      onProgress({ phase: 'ledger', done: entries, total: undefined })
    }
  }
  tables.ledger.flush()
}

/**
 * The ledger in (stream, position) order through the chain check. The same entry in two documents (a
 * block and a leftover of a writer that died) is one entry; two different entries at one position are
 * a chain issue, and both stay so the chain check shows the break too.
 */
async function walkLedger(
  scratch: VerifyScratch,
  report: VerifyReport,
  walk: ChainWalk,
  onProgress: (p: VerifyProgress) => void,
): Promise<void> {
  let prev: LedgerEntry | undefined
  let repeated = 0
  let done = 0
  const collect = chunkCollector()
  for await (const rows of ledgerInChainOrder(scratch, 'l.event_id, l.hash, l.chain')) {
    collect()
    for (const r of rows) {
      const e: LedgerEntry = { stream: str(r.stream), pos: str(r.pos), event_id: str(r.event_id), hash: str(r.hash), chain: str(r.chain) }
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
      prev = e
      walk.entry(e)
    }
    done += rows.length
    onProgress({ phase: 'chain', done, total: undefined })
  }
  if (repeated > 0)
    report.warnings.push(
      `${repeated} ledger entries are in two documents with the same content (a writer that died and a replay): counted once`,
    )
}

/** The findings documents, normalised, into the scratch database; returns how many there are. */
async function readFindings(
  client: Client,
  alias: string,
  pageSize: number,
  tables: MatchTables,
  onProgress: (p: VerifyProgress) => void,
): Promise<number> {
  let done = 0
  onProgress({ phase: 'findings', done: 0, total: undefined })
  const collect = chunkCollector()
  for await (const page of readAll(client, `${alias}*`, pageSize)) {
    collect()
    for (const h of page.hits) {
      // findingId: `<event id>:<n>`; a document under another _id belongs to no event's findings.
      const m = /^(.*):(\d{1,9})$/.exec(h._id)
      tables.fa.add([m === null ? h._id : m[1]!, m === null ? -1 : Number(m[2]), canonical(h._source)])
    }
    done += page.hits.length
    onProgress({ phase: 'findings', done, total: page.total })
  }
  tables.fa.flush()
  return done
}

/**
 * Every stored event reduced to its digest, and the findings documents the sink derives from it, into
 * the scratch database. Returns how many events have findings (for the warning when none are stored).
 */
async function readEvents(
  client: Client,
  alias: string,
  pageSize: number,
  tables: MatchTables,
  compareFindings: boolean,
  onProgress: (p: VerifyProgress) => void,
): Promise<number> {
  const serializeFinding = fastJson(findingSchema as object) as (f: FindingDocument) => string
  let n = 0
  let withFindings = 0
  onProgress({ phase: 'events', done: 0, total: undefined })
  const collect = chunkCollector()
  for await (const page of readAll(client, `${alias}*`, pageSize)) {
    collect()
    for (const h of page.hits) {
      const parsed = storedDigest(JSON.stringify(h._source))
      let expected: string[] = []
      if (parsed !== undefined) {
        try {
          expected = findingDocuments(parsed.event).map((f) => canonical(JSON.parse(serializeFinding(f))))
        } catch {
          // Not an event the sink could have written: judged by its hash, its findings are not compared.
          expected = []
        }
      }
      tables.ev.add(evRow(n++, h._id, parsed?.digest, undefined, expected.length))
      if (expected.length > 0) withFindings++
      if (compareFindings) for (let i = 0; i < expected.length; i++) tables.fx.add([h._id, i, expected[i]!])
    }
    onProgress({ phase: 'events', done: n, total: page.total })
  }
  tables.ev.flush()
  tables.fx.flush()
  return withFindings
}
