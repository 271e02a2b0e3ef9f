/**
 * Index lifecycle configuration: aliases, shards, the period one index holds, and retention. Events go
 * to one index per UTC period of their @timestamp (`<alias>-YYYY.MM.DD` by default; the sink's
 * indexGranularity must name the same period), so there is no rollover; ages count from an index's
 * creation, which is at or after the start of its period for live traffic. The retention defaults meet
 * NIST 800-53 AU-11 as FedRAMP sets it (at least 90 days online) and OMB M-21-31's 12 months of active
 * storage: indices turn read-only 30 days after creation and are deleted 365 days plus one period after
 * it (so every event is searchable for at least 365 days). M-21-31's further 18 months of cold storage
 * belong to a snapshot repository: set `snapshotRepository` to take a snapshot before delete.
 */
import { loadConfigSection } from '../config/validate.js'
import { z } from 'zod'
import { GRANULARITY_MS } from '../sinks/opensearch/routing.js'

const indexName = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[a-z0-9][a-z0-9._-]*$/, 'lowercase index name')
const DAY_MS = 86_400_000

export const lifecycleConfigSchema = z
  .object({
    eventsAlias: indexName.default('envoy-audit-events'),
    findingsAlias: indexName.default('envoy-audit-findings'),
    policyId: indexName.default('envoy-audit-retention'),
    shards: z.number().int().min(1).max(1024).default(1),
    replicas: z.number().int().min(0).max(16).default(1),
    refreshInterval: z
      .string()
      .regex(/^(-1|\d+(ms|s|m))$/)
      .default('5s'),
    /** The period one index holds (the sink's indexGranularity). Size `shards` for one period's volume (~30-50 GB per primary shard). */
    indexGranularity: z.enum(['hour', 'day', 'month']).default('day'),
    /** Days after creation an index turns read-only (warm); late events for it are then dead-lettered. */
    warmAfterDays: z.number().int().min(1).max(3650).default(30),
    /**
     * Days an event is kept at least: its index is deleted this long plus one period after creation. At least 90
     * (FedRAMP AU-11 online floor).
     */
    deleteAfterDays: z.number().int().min(90).max(36_500).default(365),
    /** Snapshot repository to copy each index to before delete (M-21-31 cold storage); none by default. */
    snapshotRepository: z.string().min(1).max(200).optional(),
  })
  .strict()
  .refine((c) => c.warmAfterDays < c.deleteAfterDays, { message: 'must be less than deleteAfterDays', path: ['warmAfterDays'] })
  // An index must not turn read-only while its period still takes live writes (plus a day of clock skew and lateness).
  .refine((c) => c.warmAfterDays * DAY_MS >= GRANULARITY_MS[c.indexGranularity] + 2 * DAY_MS, {
    message: 'must be at least the index period plus 2 days (the current period still takes writes)',
    path: ['warmAfterDays'],
  })

export type LifecycleConfigInput = z.input<typeof lifecycleConfigSchema>
export type LifecycleConfig = Readonly<z.output<typeof lifecycleConfigSchema>>

export function loadLifecycleConfig(input: unknown = {}, prefix = 'opensearch.lifecycle'): LifecycleConfig {
  return loadConfigSection(lifecycleConfigSchema, input, prefix)
}
