/**
 * Whether the consumer is a working member of its group, from kafkajs' instrumentation events, for
 * /readyz. A join and every answered heartbeat say so; a rebalance, a crash (kafkajs restarts it and
 * rejoins) or no answered heartbeat for `staleAfterMs` say it is not, since when and why. A broker
 * that is down shows as heartbeats that stop: kafkajs retries the fetch for about a minute before it
 * reports anything, and a fetch that returns nothing (all partitions paused) does not talk to a broker.
 */
import type { Consumer } from 'kafkajs'

export type MembershipHealth = { ok: true; detail: string } | { ok: false; since?: number; reason: string }

export class GroupMembership {
  private joinedAt: number | undefined
  private lastAlive: number | undefined
  private down: { since: number; reason: string } | undefined
  private lastTimeout: string | undefined

  constructor(
    private readonly groupId: string,
    private readonly staleAfterMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  watch(c: Consumer): void {
    const e = c.events
    c.on(e.GROUP_JOIN, () => {
      this.joinedAt = this.lastAlive = this.now()
      this.down = undefined
    })
    c.on(e.HEARTBEAT, () => {
      this.lastAlive = this.now()
    })
    c.on(e.COMMIT_OFFSETS, () => {
      this.lastAlive = this.now()
    })
    c.on(e.REBALANCING, () => {
      this.down ??= { since: this.now(), reason: `rebalancing group ${this.groupId}` }
    })
    c.on(e.CRASH, ({ payload }) => {
      this.down = {
        since: this.down?.since ?? this.now(),
        reason: `consumer stopped (${payload.error.message})${payload.restart ? ', rejoining' : ''}`,
      }
    })
    c.on(e.REQUEST_TIMEOUT, ({ payload }) => {
      this.lastTimeout = `request ${payload.apiName} to ${payload.broker} timed out`
    })
  }

  /** The source restarts the consumer itself (kafka-source.ts): down, since the crash, until it joins again. */
  restarting(error: string, attempt: number, inMs: number): void {
    this.down = {
      since: this.down?.since ?? this.now(),
      reason: `consumer stopped (${error}), restart ${attempt} in ${(inMs / 1000).toFixed(1)} s`,
    }
  }

  health(): MembershipHealth {
    const now = this.now()
    if (this.joinedAt === undefined)
      return {
        ok: false,
        ...(this.down !== undefined
          ? { reason: `kafka: ${this.down.reason}` }
          : { reason: `kafka: not yet a member of group ${this.groupId}` }),
      }
    if (this.down !== undefined) return { ok: false, since: this.down.since, reason: `kafka: ${this.down.reason}` }
    const quiet = now - (this.lastAlive ?? this.joinedAt)
    if (quiet > this.staleAfterMs) {
      return {
        ok: false,
        since: this.lastAlive ?? this.joinedAt,
        reason: `kafka: no heartbeat answered for ${Math.round(quiet / 1000)} s${this.lastTimeout !== undefined ? ` (${this.lastTimeout})` : ''}`,
      }
    }
    return { ok: true, detail: `member of group ${this.groupId}` }
  }
}
