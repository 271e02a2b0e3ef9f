/**
 * What happens when the offset a partition is read from no longer exists (OFFSET_OUT_OF_RANGE):
 * retention or DeleteRecords removed it before envoy-audit read it (the committed offset is below
 * the log start), or the log was truncated or recreated (the offset is above its end).
 *
 * kafkajs recovers by itself, the way Java's auto.offset.reset does: it restarts the partition at its
 * default offset, the earliest retained record when `fromBeginning` is true and the end of the log
 * otherwise. envoy-audit keeps that rule (one setting decides where a partition with no usable offset
 * starts) but never lets it pass silently: records deleted upstream before they were read, and
 * retained records a reset to the end skips, are counted per partition and logged as a warning naming
 * the partition and the offset gap. `fromBeginning: true` is what an audit deployment wants: a reset
 * then loses only what the broker had already deleted.
 *
 * kafkajs has no event for it, only its own log line (kafkajs is pinned at exactly 2.2.4).
 */
import type { Admin } from 'kafkajs'
import type { KafkaLogger } from '../../connections/kafka.js'

/** The message kafkajs 2.2.4 logs (ConsumerGroup, ERROR) when it resets a partition. */
export const KAFKAJS_OFFSET_RESET_MESSAGE = 'Offset out of range, resetting to default offset'

export interface OffsetResetStats {
  offsetResets: number
  /** Records deleted upstream (retention, DeleteRecords) before envoy-audit read them. */
  recordsLostUpstream: number
  /** Retained records a reset to the end of the log skipped (fromBeginning: false). */
  recordsSkippedByReset: number
  /** recordsLostUpstream + recordsSkippedByReset per "topic/partition". */
  lostByPartition: Record<string, number>
}

export interface OffsetResetDeps {
  groupId: string
  fromBeginning: boolean
  logger: KafkaLogger
  /** An admin client on the same cluster (created on first use). */
  admin: () => Promise<Admin>
  /** The offset the source was reading from: the next one after its last delivery, if any. */
  position: (topic: string, partition: number) => number | undefined
}

export class OffsetResetWatch {
  readonly stats: OffsetResetStats = { offsetResets: 0, recordsLostUpstream: 0, recordsSkippedByReset: 0, lostByPartition: {} }
  /** The last reset's accounting, once done (tests and shutdown wait on it). */
  pending: Promise<void> = Promise.resolve()
  /** The group's committed offsets as of the last join, fetched as it happens ("topic/partition" -> offset). */
  private atJoin: Promise<Map<string, number>> = Promise.resolve(new Map())

  constructor(private readonly deps: OffsetResetDeps) {}

  async connect(): Promise<void> {
    await this.deps.admin()
  }

  /**
   * Called on every join, with the new assignment paused until this settles: kafkajs overwrites an
   * out-of-range committed offset (it commits its default offset) right after its first fetch, so the
   * offsets it starts from are read before it fetches anything. The cost: kafkajs' fetch loop, idle
   * while everything is paused, looks again only after maxWaitTimeMs, so the first record after a
   * join comes about that much later (docs/performance.md has the measurement).
   */
  onJoin(topics: readonly string[]): Promise<Map<string, number>> {
    return (this.atJoin = (async () => {
      const admin = await this.deps.admin()
      const out = new Map<string, number>()
      for (const t of await admin.fetchOffsets({ groupId: this.deps.groupId, topics: [...topics] })) {
        for (const p of t.partitions) if (Number(p.offset) >= 0) out.set(`${t.topic}/${p.partition}`, Number(p.offset))
      }
      return out
    })().catch(() => new Map<string, number>()))
  }

  /**
   * Partitions of this assignment the group has never committed on, in topics where it has committed
   * on others: partitions added while the group ran (scale-out). They are read from their log start,
   * whatever fromBeginning says: a reset to the end would skip what was written to them before the
   * group noticed them (up to metadataMaxAgeMs). Returns the offsets to seek to.
   */
  async newPartitionStarts(
    assignment: Record<string, number[]>,
    committedAtJoin: Map<string, number>,
  ): Promise<{ topic: string; partition: number; offset: number }[]> {
    if (this.deps.fromBeginning) return []
    const out: { topic: string; partition: number; offset: number }[] = []
    for (const [topic, partitions] of Object.entries(assignment)) {
      const known = [...committedAtJoin.keys()].some((k) => k.startsWith(`${topic}/`))
      const fresh = partitions.filter((p) => !committedAtJoin.has(`${topic}/${p}`))
      if (!known || fresh.length === 0) continue
      const offsets = await (await this.deps.admin()).fetchTopicOffsets(topic)
      for (const p of fresh) {
        const low = offsets.find((o) => o.partition === p)?.low
        if (low !== undefined) out.push({ topic, partition: p, offset: Number(low) })
      }
    }
    if (out.length > 0)
      this.deps.logger.info({ partitions: out }, 'partitions new to the group (added while it ran): reading them from their start')
    return out
  }

  /**
   * The logger to give kafkajs: it passes every entry on, and sees kafkajs' reset line first, calling
   * onReset(topic, partition) and then `also` (the source drops that partition's tracker).
   */
  watchLog(also: (topic: string, partition: number) => void): KafkaLogger {
    const { logger } = this.deps
    return {
      debug: (obj, msg) => logger.debug(obj, msg),
      info: (obj, msg) => logger.info(obj, msg),
      warn: (obj, msg) => logger.warn(obj, msg),
      error: (obj, msg) => {
        if (msg === KAFKAJS_OFFSET_RESET_MESSAGE) {
          const { topic, partition } = obj as { topic?: unknown; partition?: unknown }
          if (typeof topic === 'string' && typeof partition === 'number') {
            this.onReset(topic, partition)
            also(topic, partition)
          }
        }
        logger.error(obj, msg)
      },
    }
  }

  /** Called with kafkajs' log entry; the gap is measured asynchronously (two admin requests). */
  onReset(topic: string, partition: number): void {
    this.stats.offsetResets++
    const position = this.deps.position(topic, partition)
    this.pending = this.pending
      .then(() => this.account(topic, partition, position))
      .catch((err: Error) => {
        this.deps.logger.warn({ topic, partition, error: err.message }, 'kafka offset reset: could not measure the offset gap')
      })
  }

  private async account(topic: string, partition: number, delivered: number | undefined): Promise<void> {
    const admin = await this.deps.admin()
    const offsets = (await admin.fetchTopicOffsets(topic)).find((p) => p.partition === partition)
    if (offsets === undefined) return
    const low = Number(offsets.low)
    const high = Number(offsets.high)
    // Where the failed fetch started: after our last delivery, or else the offset committed at join.
    const from = delivered ?? (await this.atJoin).get(`${topic}/${partition}`)
    const deleted = from !== undefined && from < low ? low - from : 0
    const skipped = this.deps.fromBeginning ? 0 : high - low
    this.stats.recordsLostUpstream += deleted
    this.stats.recordsSkippedByReset += skipped
    const k = `${topic}/${partition}`
    this.stats.lostByPartition[k] = (this.stats.lostByPartition[k] ?? 0) + deleted + skipped
    this.deps.logger.warn(
      {
        topic,
        partition,
        fetchOffset: from,
        logStartOffset: low,
        logEndOffset: high,
        resetTo: this.deps.fromBeginning ? low : high,
        recordsLostUpstream: deleted,
        recordsSkippedByReset: skipped,
      },
      from !== undefined && from < low
        ? `kafka offset ${from} of ${k} no longer exists: offsets ${from}..${low - 1} (${deleted} records) were deleted upstream (retention) before they were read; ` +
            (this.deps.fromBeginning
              ? `resuming at the log start, ${low}`
              : `resuming at the log end, ${high}, skipping ${skipped} retained records too (fromBeginning is false)`)
        : `kafka offset ${from ?? '(unknown)'} of ${k} is out of range (log ${low}..${high}): the log was truncated or recreated; resuming at ${this.deps.fromBeginning ? low : high}`,
    )
  }
}
