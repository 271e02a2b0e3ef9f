/**
 * The two judgements of a real-server drill.
 *
 * checkCommits(): no committed offset passes a record that is not acknowledged. The group's committed
 * offsets are read FIRST; then the drill's readers catch up with both topics, OpenSearch is refreshed,
 * and every source record below each committed offset must be found: its event.id in `<alias>*`, or
 * its offset in the dead-letter topic. Acknowledgements only grow, so reading them after the commits
 * can hide a violation from this round (the next one sees it), never invent one. A partition whose
 * prefix was found complete is not searched again below that offset.
 *
 * finalBooks(): after the drill, every record of the source topic is indexed exactly once by
 * event.id or dead-lettered, nothing else is indexed, and the dead letters are exactly the junk lines.
 */
import type { Admin } from 'kafkajs'
import { committedOffsets, highWatermarks, IndexBooks, TopicReader, type DeadLetterRecord, type SourceRecord } from './real-books.js'
import { sleep } from './real-traffic.js'

export interface CommitCheckStats {
  /** Check rounds that completed (a round while a server is down is skipped). */
  rounds: number
  skipped: number
  /** Distinct (partition, committed offset) pairs whose whole prefix was found acknowledged. */
  commitsChecked: number
  /** Records found below a committed offset while neither indexed nor dead-lettered. */
  earlyCommits: number
  /** The first few of them, for the report. */
  examples: string[]
}

export class Books {
  readonly commits: CommitCheckStats = { rounds: 0, skipped: 0, commitsChecked: 0, earlyCommits: 0, examples: [] }
  /** Per partition, the offset below which every record is known acknowledged. */
  private readonly ackedUpTo = new Map<number, number>()
  private readonly early = new Set<string>()
  private readonly checkedCommit = new Map<number, number>()
  private checking: Promise<void> | undefined
  private lastSkip: string | undefined

  constructor(
    readonly admin: Admin,
    readonly topic: string,
    readonly dlqTopic: string,
    readonly groupId: string,
    readonly source: TopicReader<SourceRecord>,
    readonly dlq: TopicReader<DeadLetterRecord>,
    readonly index: IndexBooks,
    private readonly log: (l: string) => void,
  ) {}

  /** Whether the source record at partition/offset is in the dead-letter topic. */
  private dead(partition: number, offset: number): boolean {
    return this.deadKeys().has(`${partition}/${offset}`)
  }

  private deadKeyCache: { size: number; keys: Set<string> } | undefined
  private deadKeys(): Set<string> {
    const size = this.dlq.messagesRead
    if (this.deadKeyCache?.size !== size) {
      const keys = new Set<string>()
      for (const p of this.dlq.records.values()) for (const d of p.values()) keys.add(d.key)
      this.deadKeyCache = { size, keys }
    }
    return this.deadKeyCache.keys
  }

  /**
   * Moves each partition's acknowledged prefix forward, up to `limits`; returns, per partition, the
   * first record below its limit that is not acknowledged (absent when the whole prefix is).
   */
  private async advance(limits: Map<number, number>): Promise<Map<number, number>> {
    await this.source.caughtUp(limits, 60_000)
    await this.dlq.caughtUp(await highWatermarks(this.admin, this.dlqTopic), 60_000)
    await this.index.refresh()
    const gaps = new Map<number, number>()
    for (const [p, limit] of limits) {
      const from = this.ackedUpTo.get(p) ?? 0
      if (limit <= from) continue
      const records = this.source.records.get(p)!
      const ids: string[] = []
      for (let o = from; o < limit; o++) {
        const r = records.get(o)
        if (r === undefined) throw new Error(`${this.topic}/${p}: offset ${o} was never read`)
        if (r.expect !== 'dead') ids.push(r.expect)
      }
      const found = await this.index.present(ids)
      let o = from
      for (; o < limit; o++) {
        const r = records.get(o)!
        // A junk line indexed, or a good line dead-lettered, is acknowledged too: finalBooks() judges those.
        if (!(found.has(r.expect) || this.dead(p, o))) break
      }
      this.ackedUpTo.set(p, o)
      if (o < limit) gaps.set(p, o)
    }
    return gaps
  }

  /** One commit check; a round that cannot reach a server is skipped, not failed. */
  checkCommits(label: string): Promise<void> {
    this.checking ??= (async () => {
      try {
        const committed = await committedOffsets(this.admin, this.groupId, this.topic)
        const gaps = await this.advance(committed)
        this.commits.rounds++
        this.lastSkip = undefined
        for (const [p, c] of committed) {
          const gap = gaps.get(p)
          if (gap === undefined) {
            // Each committed offset counts once, however many rounds see it unchanged.
            if (c > (this.checkedCommit.get(p) ?? 0)) this.commits.commitsChecked++
            this.checkedCommit.set(p, c)
            continue
          }
          const k = `${p}/${gap}`
          if (this.early.has(k)) continue
          this.early.add(k)
          this.commits.earlyCommits++
          const msg =
            `${label}: partition ${p} committed at ${c}, but offset ${gap} ` +
            `(${this.source.records.get(p)!.get(gap)!.expect}) is neither indexed nor ` +
            `dead-lettered`
          if (this.commits.examples.length < 5) this.commits.examples.push(msg)
          this.log(`EARLY COMMIT ${msg}`)
        }
      } catch (err) {
        this.commits.skipped++
        // One line per outage, not one per round.
        const why = (err as Error).message.split('\n')[0] ?? ''
        if (why !== this.lastSkip) this.log(`commit check (${label}) skipped until a server answers again: ${why}`)
        this.lastSkip = why
      } finally {
        this.checking = undefined
      }
    })()
    return this.checking
  }

  /**
   * Waits until every record in the topic is acknowledged (indexed or dead-lettered). Gives up early
   * when the acknowledged prefix has not moved for `stallMs`: a record skipped by a commit is never
   * re-delivered, and waiting the whole timeout for it proves nothing more.
   */
  async drained(timeoutMs: number, stallMs = 60_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs
    let lastLog = 0
    let lastMove = Date.now()
    let lastPrefix = -1
    while (Date.now() < deadline && Date.now() - lastMove < stallMs) {
      try {
        const high = await highWatermarks(this.admin, this.topic)
        const gaps = await this.advance(high)
        if (gaps.size === 0) return true
        const prefix = [...this.ackedUpTo.values()].reduce((a, b) => a + b, 0)
        if (prefix !== lastPrefix) {
          lastPrefix = prefix
          lastMove = Date.now()
        }
        if (Date.now() - lastLog > 10_000) {
          lastLog = Date.now()
          const left = [...high].reduce((n, [p, h]) => n + h - (this.ackedUpTo.get(p) ?? 0), 0)
          this.log(`draining: ${left} records not yet acknowledged (or behind one that is not)`)
        }
      } catch (err) {
        this.log(`draining: ${(err as Error).message.split('\n')[0]}`)
      }
      await sleep(1000)
    }
    return false
  }

  /** Committed offsets equal the high watermarks on every partition. */
  async fullyCommitted(): Promise<boolean> {
    const high = await highWatermarks(this.admin, this.topic)
    const committed = await committedOffsets(this.admin, this.groupId, this.topic)
    return [...high].every(([p, h]) => h === 0 || committed.get(p) === h)
  }
}

export interface FinalCounts {
  /** Records in the source topic (the drill's producer may have sent a line twice when a send failed). */
  recordsInTopic: number
  validRecords: number
  junkRecords: number
  eventsIndexed: number
  eventsIndexedViaAliasName: number | null
  distinctEventIds: number
  /** Documents beyond the first for an event.id (composite aggregation), and ids with 2+ documents (terms, min_doc_count 2). */
  duplicates: number
  duplicatedIdsByTerms: number
  /** Good records not indexed plus junk records not dead-lettered. */
  lost: number
  /** Indexed ids no source record stands for, and documents without an event.id. */
  unexpectedInIndex: number
  deadLetters: number
  deadLetterCopies: number
  /** Good lines that were dead-lettered instead of indexed. */
  goodLinesDeadLettered: number
  deadLetterReasons: Record<string, number>
  lostExamples: string[]
}

export async function finalBooks(b: Books): Promise<FinalCounts> {
  await b.source.caughtUp(await highWatermarks(b.admin, b.topic), 120_000)
  await b.dlq.caughtUp(await highWatermarks(b.admin, b.dlqTopic), 120_000)
  await b.index.refresh()
  const { counts, withoutId } = await b.index.idCounts()
  // One dead-letter message per copy; the same source record dead-lettered again after a kill is one dead letter.
  const dead = new Map<string, DeadLetterRecord>()
  let copies = 0
  for (const p of b.dlq.records.values()) {
    for (const d of p.values()) {
      copies++
      dead.set(d.key, d)
    }
  }
  const expectedIds = new Set<string>()
  let recordsInTopic = 0
  let junkRecords = 0
  let lost = 0
  let goodLinesDeadLettered = 0
  const lostExamples: string[] = []
  for (const [p, records] of b.source.records) {
    for (const [o, r] of records) {
      recordsInTopic++
      const isDead = dead.has(`${p}/${o}`)
      if (r.expect === 'dead') {
        junkRecords++
        if (!isDead) {
          lost++
          if (lostExamples.length < 5) lostExamples.push(`${p}/${o} junk, not dead-lettered`)
        }
        continue
      }
      expectedIds.add(r.expect)
      if (isDead) goodLinesDeadLettered++
      if (!counts.has(r.expect) && !isDead) {
        lost++
        if (lostExamples.length < 5) lostExamples.push(`${p}/${o} ${r.expect} neither indexed nor dead-lettered`)
      }
    }
  }
  let docs = withoutId
  let duplicates = 0
  let unexpected = withoutId
  for (const [id, n] of counts) {
    docs += n
    duplicates += n - 1
    if (!expectedIds.has(id)) unexpected++
  }
  const eventsIndexed = await b.index.count()
  // The aggregation must have seen every document _count sees.
  if (docs !== eventsIndexed)
    throw new Error(`${b.index.pattern}: _count says ${eventsIndexed} documents, the event.id aggregation saw ${docs}`)
  const reasons: Record<string, number> = {}
  for (const d of dead.values()) reasons[d.reason] = (reasons[d.reason] ?? 0) + 1
  return {
    recordsInTopic,
    validRecords: recordsInTopic - junkRecords,
    junkRecords,
    eventsIndexed,
    eventsIndexedViaAliasName: (await b.index.countAlias()) ?? null,
    distinctEventIds: counts.size,
    duplicates,
    duplicatedIdsByTerms: await b.index.duplicatedIdsByTerms(),
    lost,
    unexpectedInIndex: unexpected,
    deadLetters: dead.size,
    deadLetterCopies: copies,
    goodLinesDeadLettered,
    deadLetterReasons: reasons,
    lostExamples,
  }
}
