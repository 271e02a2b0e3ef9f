/**
 * Configuration of the alert outputs (the `alerting:` section of the run config). Validated once at
 * startup and frozen; every bound has an explicit default, so `{}` is a valid, disabled configuration.
 * Alerts are a notification path beside the findings index, which stays the durable record: every
 * bound here (queue, attempts, state size) prefers dropping an alert (counted) over stalling ingestion.
 */
import { loadConfigSection } from '../config/validate.js'
import { markRenamed } from '../config/renamed-options.js'
import { z } from 'zod'
import { kafkaAccessShape, kafkaTlsSchema, TLS_DISABLED, topicName } from '../connections/kafka-config.js'

export const ALERT_SEVERITIES = ['info', 'low', 'medium', 'high', 'critical'] as const
export type AlertSeverity = (typeof ALERT_SEVERITIES)[number]

const backoffSchema = z
  .object({
    initialMs: z.number().int().min(1).max(60_000).default(250),
    maxMs: z.number().int().min(1).max(300_000).default(15_000),
  })
  .strict()
  .refine((b) => b.maxMs >= b.initialMs, { message: 'maxMs must be >= initialMs', path: ['maxMs'] })

const webhookSchema = z
  .object({
    /** http(s) URL the alert JSON is POSTed to, one alert per request. */
    url: z
      .string()
      .url()
      .refine((u) => /^https?:\/\//i.test(u), { message: 'url must be http:// or https://' }),
    /**
     * Name of an environment variable holding a bearer token. The token itself never appears in the
     * config file, so the file can be committed and logged.
     */
    bearerTokenEnv: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/)
      .optional(),
    /** Extra non-secret headers (e.g. a routing key). */
    headers: z.record(z.string().regex(/^[A-Za-z0-9-]+$/), z.string().max(1024)).default({}),
    timeoutMs: z.number().int().min(100).max(120_000).default(5_000),
    /** Attempts per alert including the first; then the alert is dropped and counted. */
    maxAttempts: z.number().int().min(1).max(20).default(5),
    backoff: backoffSchema.default({ initialMs: 250, maxMs: 15_000 }),
    /** Alerts in flight at once. */
    concurrency: z.number().int().min(1).max(64).default(4),
    tls: z
      .object({
        /** PEM CA bundle for a private CA. Verification is never turned off by omission. */
        caFile: z.string().min(1).optional(),
        rejectUnauthorized: z.boolean().default(true),
      })
      .strict()
      .default({ rejectUnauthorized: true }),
  })
  .strict()

/**
 * The alert topic's producer: the shared Kafka access options (brokers, tls, sasl:
 * src/connections/kafka-config.ts) with its own timing. `ssl` is the former name of `tls`, still read.
 */
const kafkaSchema = z
  .object({
    brokers: kafkaAccessShape.brokers,
    topic: topicName,
    clientId: z.string().min(1).max(255).default('envoy-audit-alerts'),
    /** -1 = all in-sync replicas: an alert acknowledged by Kafka survives a broker loss. */
    acks: z.union([z.literal(-1), z.literal(1)]).default(-1),
    timeoutMs: z.number().int().min(100).max(120_000).default(10_000),
    maxAttempts: z.number().int().min(1).max(20).default(5),
    /** Verified by default; `enabled: true` to use TLS at all. */
    tls: kafkaTlsSchema.optional(),
    /** Deprecated name of `tls` (validated the same; `run` and `config validate` warn). */
    ssl: kafkaTlsSchema.optional(),
    sasl: kafkaAccessShape.sasl,
  })
  .strict()
  .refine((k) => k.tls === undefined || k.ssl === undefined, { message: 'ssl is the deprecated name of tls: give only tls', path: ['ssl'] })
  .transform(({ ssl, tls, ...rest }) => {
    const out = { ...rest, tls: tls ?? ssl ?? { ...TLS_DISABLED } }
    return ssl === undefined ? out : markRenamed(out, 'ssl', 'tls')
  })

export const alertingConfigSchema = z
  .object({
    enabled: z.boolean().default(false),
    /** Findings below this severity are not alerted (they stay in the findings index). */
    minSeverity: z.enum(ALERT_SEVERITIES).default('medium'),
    /** Only these finding codes alert; empty means every code at or above minSeverity. */
    codes: z
      .array(z.string().regex(/^[a-z0-9_]+$/))
      .max(256)
      .default([]),
    /**
     * Width of the dedupe time bucket, over the event's @timestamp. The same finding for the same
     * (source, destination) inside one bucket has the same dedupe key, whichever replica or replay
     * produced it, so a receiver can drop duplicates.
     */
    dedupeWindowSeconds: z.number().int().min(1).max(86_400).default(300),
    rateLimit: z
      .object({
        /** Token bucket per (finding code, source identity, destination): sustained alerts per minute. */
        perMinute: z.number().min(0.01).max(6_000).default(2),
        /** Bucket capacity: alerts allowed at once before the sustained rate applies. */
        burst: z.number().int().min(1).max(1_000).default(3),
        /** Most (finding, source, destination) keys remembered; the oldest are forgotten first. */
        maxKeys: z.number().int().min(100).max(1_000_000).default(50_000),
      })
      .strict()
      .default({ perMinute: 2, burst: 3, maxKeys: 50_000 }),
    /** Alerts waiting for an output; beyond it the oldest are dropped and counted. */
    maxQueued: z.number().int().min(1).max(1_000_000).default(10_000),
    /** How long close() waits for queued alerts to be delivered. */
    drainTimeoutMs: z.number().int().min(0).max(300_000).default(10_000),
    webhook: webhookSchema.optional(),
    kafka: kafkaSchema.optional(),
  })
  .strict()
  .refine((c) => !c.enabled || c.webhook !== undefined || c.kafka !== undefined, {
    message: 'enabled alerting needs at least one output (webhook or kafka)',
    path: ['enabled'],
  })

export type AlertingConfigInput = z.input<typeof alertingConfigSchema>
export type AlertingConfig = Readonly<z.output<typeof alertingConfigSchema>>
export type WebhookConfig = Readonly<z.output<typeof webhookSchema>>
export type KafkaAlertConfig = Readonly<z.output<typeof kafkaSchema>>

/** Validates and freezes; throws EA_CONFIG_INVALID naming the option path (e.g. `alerting.webhook.url`). */
export function loadAlertingConfig(input: unknown = {}, prefix = 'alerting'): AlertingConfig {
  return loadConfigSection(alertingConfigSchema, input, prefix)
}
