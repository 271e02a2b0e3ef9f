/**
 * Configuration of the OpenSearch sink; its connection is src/connections/opensearch.ts. Validated once
 * at startup and frozen; every bound has an explicit default. Defaults follow the peers (Data Prepper: 5 MiB bulks and exponential
 * backoff from 50 ms; Vector: retry until delivered): an outage slows the source down, it never drops.
 */
import { deepFreeze, parseConfig } from '../../config/validate.js'
import { z } from 'zod'
import { EnvoyAuditError } from '../../errors.js'

const MiB = 1024 * 1024

export const sinkConfigSchema = z
  .object({
    /** Events go to `<eventsAlias>-<period of @timestamp>`; the alias itself is for reading (setup's templates attach it). */
    eventsAlias: z
      .string()
      .min(1)
      .max(200)
      .regex(/^[a-z0-9][a-z0-9._-]*$/)
      .default('envoy-audit-events'),
    /** Findings likewise (one document per finding, in the period of its event). */
    findingsAlias: z
      .string()
      .min(1)
      .max(200)
      .regex(/^[a-z0-9][a-z0-9._-]*$/)
      .default('envoy-audit-findings'),
    writeFindings: z.boolean().default(true),
    /** The period one index holds (UTC): `<alias>-YYYY.MM.DD.HH`, `-YYYY.MM.DD` or `-YYYY.MM`. Same value as setup's --index-period. */
    indexGranularity: z.enum(['hour', 'day', 'month']).default('day'),
    /** Events dated further ahead of the clock are only looked up, never written (a clock running ahead must not create future indices); 0 = no limit. */
    maxFutureHours: z.number().int().min(0).max(87_600).default(24),
    /** Events dated further back are only looked up, never written; 0 = no limit. Set it to the retention days so a replay never re-creates an index retention deleted. */
    maxPastDays: z.number().int().min(0).max(36_500).default(0),
    /** A bulk request is sent once this many NDJSON bytes are buffered (before compression). */
    flushBytes: z
      .number()
      .int()
      .min(1024)
      .max(100 * MiB)
      .default(5 * MiB),
    /** ...or this long after the first buffered document, whichever comes first. */
    flushIntervalMs: z.number().int().min(0).max(60_000).default(100),
    /** Bulk requests in flight at once. */
    concurrency: z.number().int().min(1).max(64).default(2),
    retry: z
      .object({
        initialMs: z.number().int().min(1).max(60_000).default(50),
        maxMs: z.number().int().min(1).max(600_000).default(30_000),
        /** Attempts per item before it is given up as rejected; 0 = retry until delivered or closed. */
        maxAttempts: z.number().int().min(0).max(1_000_000).default(0),
        /** While whole requests fail (an outage), one small probe request at most this far apart; the held writes go when one gets through. */
        probeMaxMs: z.number().int().min(1).max(600_000).default(1_000),
      })
      .strict()
      .default({ initialMs: 50, maxMs: 30_000, maxAttempts: 0, probeMaxMs: 1_000 }),
    /** How long close() waits for in-flight and retrying writes before rejecting them. */
    closeTimeoutMs: z.number().int().min(0).max(600_000).default(30_000),
    /** Keeps bulk responses small: only what item classification reads. */
    filterPath: z.string().max(500).default('took,errors,items.*.status,items.*.error.type,items.*.error.reason'),
  })
  .strict()

export type SinkConfigInput = z.input<typeof sinkConfigSchema>
export type SinkConfig = Readonly<
  Omit<z.output<typeof sinkConfigSchema>, 'retry'> & { retry: Readonly<z.output<typeof sinkConfigSchema>['retry']> }
>

export function loadSinkConfig(input: unknown = {}, prefix = 'opensearch.sink'): SinkConfig {
  const c = parseConfig(sinkConfigSchema, input, prefix)
  if (c.retry.maxMs < c.retry.initialMs) {
    throw new EnvoyAuditError('EA_CONFIG_INVALID', `${prefix}.retry.maxMs: must be >= retry.initialMs`)
  }
  return deepFreeze(c)
}
