/**
 * Index lifecycle configuration: aliases, shards, rollover and retention. The retention defaults meet
 * NIST 800-53 AU-11 as FedRAMP sets it (at least 90 days online) and OMB M-21-31's 12 months of active
 * storage: indices roll over daily or at 30 GB per primary shard, turn read-only after 30 days, and are
 * deleted 365 days after rollover (so every event is searchable for at least 12 months). M-21-31's
 * further 18 months of cold storage belong to a snapshot repository: set `snapshotRepository` to take a
 * snapshot before delete.
 */
import { loadConfigSection } from '../config/validate.js'
import { z } from 'zod'

const indexName = z.string().min(1).max(200).regex(/^[a-z0-9][a-z0-9._-]*$/, 'lowercase index name')
const size = z.string().regex(/^\d+(b|kb|mb|gb|tb)$/, 'a size such as 30gb')

export const lifecycleConfigSchema = z
  .object({
    eventsAlias: indexName.default('envoy-audit-events'),
    findingsAlias: indexName.default('envoy-audit-findings'),
    policyId: indexName.default('envoy-audit-retention'),
    shards: z.number().int().min(1).max(1024).default(1),
    replicas: z.number().int().min(0).max(16).default(1),
    refreshInterval: z.string().regex(/^(-1|\d+(ms|s|m))$/).default('5s'),
    rolloverMinPrimaryShardSize: size.default('30gb'),
    rolloverMinIndexAgeDays: z.number().int().min(1).max(365).default(1),
    /** Days after rollover an index turns read-only (warm). */
    warmAfterDays: z.number().int().min(1).max(3650).default(30),
    /** Days after rollover an index is deleted. Must be at least 90 (FedRAMP AU-11 online floor). */
    deleteAfterDays: z.number().int().min(90).max(36_500).default(365),
    /** Snapshot repository to copy each index to before delete (M-21-31 cold storage); none by default. */
    snapshotRepository: z.string().min(1).max(200).optional(),
  })
  .strict()
  .refine((c) => c.warmAfterDays < c.deleteAfterDays, { message: 'must be less than deleteAfterDays', path: ['warmAfterDays'] })

export type LifecycleConfigInput = z.input<typeof lifecycleConfigSchema>
export type LifecycleConfig = Readonly<z.output<typeof lifecycleConfigSchema>>

export function loadLifecycleConfig(input: unknown = {}, prefix = 'opensearch.lifecycle'): LifecycleConfig {
  return loadConfigSection(lifecycleConfigSchema, input, prefix)
}
