/**
 * The ISM policy: hot → warm (read-only) → optional snapshot → delete, by index age. There is no
 * rollover: each index holds one period of event time (routing.ts) and is created when the first event
 * of that period arrives, so its age counts from (about) the start of its period. An index is deleted
 * `deleteAfterDays` plus one period after creation, so its newest event is kept as long as its oldest.
 * The description carries a content hash: setup compares that, because OpenSearch returns the stored
 * policy with fields of its own (policy_id, last_updated_time, default action retries) and a structural
 * comparison would see a change on every run.
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

/** The age at which an index is deleted: the retention plus one period, in the unit ISM reads. */
export function deleteAge(c: LifecycleConfig): string {
  if (c.indexGranularity === 'hour') return `${c.deleteAfterDays * 24 + 1}h`
  return `${c.deleteAfterDays + (c.indexGranularity === 'month' ? 31 : 1)}d`
}

export function ismPolicy(c: LifecycleConfig): IsmPolicy {
  const afterWarm = c.snapshotRepository !== undefined ? 'archive' : 'delete'
  const deleteAt = deleteAge(c)
  const states: Record<string, unknown>[] = [
    { name: 'hot', actions: [], transitions: [{ state_name: 'warm', conditions: { min_index_age: `${c.warmAfterDays}d` } }] },
    { name: 'warm', actions: [{ read_only: {} }], transitions: [{ state_name: afterWarm, conditions: { min_index_age: deleteAt } }] },
  ]
  if (c.snapshotRepository !== undefined) {
    states.push({
      name: 'archive',
      actions: [{ snapshot: { repository: c.snapshotRepository, snapshot: 'envoy-audit-{{ctx.index}}' } }],
      transitions: [{ state_name: 'delete', conditions: { min_index_age: deleteAt } }],
    })
  }
  states.push({ name: 'delete', actions: [{ delete: {} }], transitions: [] })
  const body = {
    default_state: 'hot',
    states,
    ism_template: [{ index_patterns: [`${c.eventsAlias}-*`, `${c.findingsAlias}-*`], priority: 100 }],
  }
  const summary =
    `envoy-audit retention (AU-11, OMB M-21-31): one index per ${c.indexGranularity}, read-only ${c.warmAfterDays}d after creation, ` +
    `${c.snapshotRepository !== undefined ? `snapshot to ${c.snapshotRepository}, ` : ''}` +
    `deleted ${deleteAt} after creation (every event kept ${c.deleteAfterDays}d or more)`
  return { policy: { description: `${summary} [envoy-audit:${contentHash(body)}]`, ...body } }
}

/** The content hash a stored policy was written with, if envoy-audit wrote it. */
export function policyHash(description: unknown): string | undefined {
  return typeof description === 'string' ? HASH_MARK.exec(description)?.[1] : undefined
}
