/**
 * The ISM policy: hot (rollover by size/age) → warm (read-only) → optional snapshot → delete, with the
 * ages counted from rollover (`min_rollover_age`), so the newest event of an index is kept as long as the
 * oldest. The description carries a content hash: setup compares that, because OpenSearch returns the
 * stored policy with fields of its own (policy_id, last_updated_time, default action retries) and a
 * structural comparison would see a change on every run.
 */
import type { LifecycleConfig } from './config.js'
import { contentHash } from './index-template.js'

export interface IsmPolicy {
  policy: {
    description: string
    default_state: string
    states: Record<string, unknown>[]
    ism_template: { index_patterns: string[]; priority: number }[]
  }
}

const HASH_MARK = /\[envoy-audit:([0-9a-f]{16})\]$/

export function ismPolicy(c: LifecycleConfig): IsmPolicy {
  const afterWarm = c.snapshotRepository !== undefined ? 'archive' : 'delete'
  const states: Record<string, unknown>[] = [
    {
      name: 'hot',
      actions: [{ rollover: { min_primary_shard_size: c.rolloverMinPrimaryShardSize, min_index_age: `${c.rolloverMinIndexAgeDays}d` } }],
      transitions: [{ state_name: 'warm', conditions: { min_rollover_age: `${c.warmAfterDays}d` } }],
    },
    {
      name: 'warm',
      actions: [{ read_only: {} }],
      transitions: [{ state_name: afterWarm, conditions: { min_rollover_age: `${c.deleteAfterDays}d` } }],
    },
  ]
  if (c.snapshotRepository !== undefined) {
    states.push({
      name: 'archive',
      actions: [{ snapshot: { repository: c.snapshotRepository, snapshot: 'envoy-audit-{{ctx.index}}' } }],
      transitions: [{ state_name: 'delete', conditions: { min_rollover_age: `${c.deleteAfterDays}d` } }],
    })
  }
  states.push({ name: 'delete', actions: [{ delete: {} }], transitions: [] })
  const body = {
    default_state: 'hot',
    states,
    ism_template: [{ index_patterns: [`${c.eventsAlias}-*`, `${c.findingsAlias}-*`], priority: 100 }],
  }
  const summary =
    `envoy-audit retention (AU-11, OMB M-21-31): rollover at ${c.rolloverMinPrimaryShardSize}/${c.rolloverMinIndexAgeDays}d, ` +
    `read-only after ${c.warmAfterDays}d, ${c.snapshotRepository !== undefined ? `snapshot to ${c.snapshotRepository}, ` : ''}deleted ${c.deleteAfterDays}d after rollover`
  return { policy: { description: `${summary} [envoy-audit:${contentHash(body)}]`, ...body } }
}

/** The content hash a stored policy was written with, if envoy-audit wrote it. */
export function policyHash(description: unknown): string | undefined {
  return typeof description === 'string' ? HASH_MARK.exec(description)?.[1] : undefined
}
