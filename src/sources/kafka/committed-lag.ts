/**
 * Committed lag per partition: the log end offset minus the group's committed offset, for the
 * partitions this member owns. Unlike the lag of the last fetch (which reads 0 once everything is
 * fetched, and stops moving while partitions are paused), it grows whenever records are not
 * acknowledged and committed: during a sink outage it shows the backlog, which is what to alert on.
 *
 * Read from the brokers through the source's admin client (ListOffsets, OffsetFetch), at most every
 * `minIntervalMs` and only when asked (a scrape). A scrape waits `waitMs` at most for fresh values and
 * otherwise gets the last known ones: with a broker down, the admin's own retries take a minute.
 */
import type { Admin } from 'kafkajs'

export interface CommittedLagDeps {
  admin: () => Promise<Admin>
  groupId: string
  topics: readonly string[]
  fromBeginning: boolean
  /** The partitions this member owns, as "topic/partition". */
  assigned: () => readonly string[]
  minIntervalMs: number
  now?: () => number
}

export class CommittedLag {
  private lag: Record<string, number> = {}
  private logEnd: Record<string, number> = {}
  private refreshedAt = 0
  private refreshing: Promise<void> | undefined
  /** Reads that failed (the values are then the last known). */
  failures = 0

  constructor(private readonly deps: CommittedLagDeps) {}

  /** Lag and log end offset per "topic/partition", refreshed if older than minIntervalMs. */
  async snapshot(waitMs: number): Promise<{ lag: Record<string, number>; logEnd: Record<string, number> }> {
    const now = (this.deps.now ?? Date.now)()
    if (this.refreshing === undefined && now - this.refreshedAt >= this.deps.minIntervalMs) {
      this.refreshing = this.refresh()
        .catch(() => void this.failures++)
        .finally(() => {
          this.refreshedAt = (this.deps.now ?? Date.now)()
          this.refreshing = undefined
        })
    }
    if (this.refreshing !== undefined) {
      let timer: NodeJS.Timeout | undefined
      await Promise.race([this.refreshing, new Promise<void>((r) => (timer = setTimeout(r, waitMs)))])
      clearTimeout(timer)
    }
    return { lag: { ...this.lag }, logEnd: { ...this.logEnd } }
  }

  private async refresh(): Promise<void> {
    const assigned = new Set(this.deps.assigned())
    if (assigned.size === 0) {
      this.lag = {}
      this.logEnd = {}
      return
    }
    const admin = await this.deps.admin()
    const committed = new Map<string, number>()
    for (const t of await admin.fetchOffsets({ groupId: this.deps.groupId, topics: [...this.deps.topics] })) {
      for (const p of t.partitions) committed.set(`${t.topic}/${p.partition}`, Number(p.offset))
    }
    const lag: Record<string, number> = {}
    const logEnd: Record<string, number> = {}
    for (const topic of this.deps.topics) {
      for (const p of await admin.fetchTopicOffsets(topic)) {
        const key = `${topic}/${p.partition}`
        if (!assigned.has(key)) continue
        const high = Number(p.high)
        const c = committed.get(key) ?? -1
        // Nothing committed yet: the group starts at the log start (fromBeginning) or at its end.
        const from = c >= 0 ? c : this.deps.fromBeginning ? Number(p.low) : high
        logEnd[key] = high
        lag[key] = Math.max(0, high - from)
      }
    }
    this.lag = lag
    this.logEnd = logEnd
  }
}
