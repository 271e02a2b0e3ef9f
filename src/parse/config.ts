/**
 * The parser's configuration (`parser:` in the service config, the format options of `parse`/`ingest`):
 * its type, its zod schema and its validation. Apart from index.ts so record.ts can read the type
 * without importing the stage that uses it.
 */
import { z } from 'zod'
import { loadConfigSection } from '../config/validate.js'
import { CANONICAL_FIELDS } from './fields.js'
import { type FieldMap, type FieldMapPreset, isUnsafeKey } from './json.js'

/**
 * - `auto`: detect per record (JSON by its keys, text by its field layout, envelopes always unwrapped).
 * - `istio-json`: Istio's default JSON (typed 1.8+, untyped <=1.7, `;`-suffixed clusters 1.23/1.24).
 * - `istio-text`: Istio's default TEXT format, any generation (1.0, 1.1, 1.3-1.7, 1.8, 1.9+).
 * - `envoy-text`: Envoy's own default format (no Istio fields).
 * - `custom-json`: JSON through `fieldMap` (a preset name or a user map; default preset `seed-000`).
 * - `custom-text`: text through `textFormat`, the Envoy format string itself (required for this format).
 * - `ztunnel`: Istio ambient ztunnel access lines only, text or JSON (ztunnel.ts); `auto` recognises them too.
 *   In `auto` mode a configured textFormat is tried first for text lines, then the default layouts.
 * Envelopes (CRI, Docker, Fluent Bit, Vector, kubectl/stern prefixes) are unwrapped in every mode.
 */
export type FormatName = 'auto' | 'istio-json' | 'istio-text' | 'envoy-text' | 'custom-json' | 'custom-text' | 'ztunnel'

export interface ParserConfig {
  format: FormatName
  /** Records (and assembled CRI partial lines) longer than this many bytes are dead-lettered. */
  maxLineBytes: number
  fieldMap?: FieldMap | FieldMapPreset
  /** An Envoy TEXT format string (`[%START_TIME%] "%REQ(:METHOD)% ...`), for `custom-text` or `auto`. */
  textFormat?: string
  /**
   * orchestrator.cluster.name of records that name no cluster themselves (no envelope cluster, no
   * per-topic cluster from the source): the one cluster a file, stdin or single-cluster topic comes from.
   */
  cluster?: string
  /**
   * Keep the line in event.original (default, like Elastic's preserve_original_event); false writes
   * event.hash, the SHA-256 of the line, instead. Dead letters keep the line's bytes either way.
   */
  preserveOriginal: boolean
}

const jsonKey = z
  .string()
  .min(1)
  .max(256)
  .refine((k) => !isUnsafeKey(k), { message: 'must not be __proto__, constructor or prototype' })

/** A Kubernetes cluster name or Istio cluster id: what kubeconfig contexts and Istio's CLUSTER_ID allow. */
export const clusterName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,252}$/, { message: 'must be a cluster name: letters, digits and . _ : @ / -, at most 253' })

const fieldMapSchema = z.union([
  z.enum(['istio', 'seed-000']),
  z
    .object({
      name: z
        .string()
        .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/)
        .optional(),
      fields: z.partialRecord(z.enum(CANONICAL_FIELDS), jsonKey),
    })
    .strict(),
])

export const parserConfigSchema: z.ZodType<ParserConfig> = z
  .object({
    format: z.enum(['auto', 'istio-json', 'istio-text', 'envoy-text', 'custom-json', 'custom-text', 'ztunnel']).default('auto'),
    maxLineBytes: z
      .number()
      .int()
      .min(256)
      .max(16 * 1024 * 1024)
      .default(65536),
    fieldMap: fieldMapSchema.optional(),
    textFormat: z.string().min(1).max(4096).optional(),
    cluster: clusterName.optional(),
    preserveOriginal: z.boolean().default(true),
  })
  .strict()
  .refine((c) => c.format !== 'custom-text' || c.textFormat !== undefined, {
    message: 'format custom-text needs textFormat',
    path: ['textFormat'],
  }) as unknown as z.ZodType<ParserConfig>

/** Validates and freezes a parser config; throws EA_CONFIG_INVALID naming the option path. */
export function parseParserConfig(input: unknown): Readonly<ParserConfig> {
  return loadConfigSection(parserConfigSchema, input, 'parser')
}
