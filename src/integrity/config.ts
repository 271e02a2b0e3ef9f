/**
 * Configuration of tamper evidence (`integrity:` in the service config). On by default: every event
 * gets audit.hash, and the embedded store or the OpenSearch sink keeps the per-stream ledger and checkpoints. Checkpoints
 * are signed (HMAC-SHA256) only when a key is configured; without one they still detect accidental
 * damage and naive edits, not an attacker who recomputes the chain (docs/integrity.md).
 */
import { readFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { z } from 'zod'
import { EnvoyAuditError } from '../errors.js'
import { loadConfigSection } from '../config/validate.js'

export const DEFAULT_KEY_ENV = 'ENVOY_AUDIT_INTEGRITY_KEY'
/** 128 bits as hex or base64 at the least; HMAC keys shorter than the hash output weaken it (RFC 2104 §3). */
const MIN_KEY_BYTES = 16

export const integrityConfigSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** File holding the checkpoint HMAC key (the whole file, surrounding whitespace trimmed). */
    keyFile: z.string().min(1).optional(),
    /** Environment variable holding the key when no keyFile is given. */
    keyEnv: z
      .string()
      .min(1)
      .max(128)
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name')
      .default(DEFAULT_KEY_ENV),
    /** Refuse to start without a key (recommended in production: unsigned checkpoints are forgeable). */
    requireKey: z.boolean().default(false),
    /** With the OpenSearch sink: the ledger indices are `<indexPrefix>-ledger`, `-checkpoints` and `-heads`. */
    indexPrefix: z
      .string()
      .min(1)
      .max(200)
      .regex(/^[a-z0-9][a-z0-9._-]*$/, 'a lowercase OpenSearch index name prefix')
      .default('envoy-audit-integrity'),
  })
  .strict()

export type IntegrityConfig = Readonly<z.output<typeof integrityConfigSchema>>

export function loadIntegrityConfig(input: unknown = {}, prefix = 'integrity'): IntegrityConfig {
  return loadConfigSection(integrityConfigSchema, input, prefix)
}

/** A loaded key. `id` names it in checkpoints without revealing it (first 16 hex of its SHA-256). */
export interface IntegrityKey {
  readonly id: string
  readonly bytes: Buffer
}

/**
 * Reads the key from the file or the environment. The key itself never appears in an error message
 * or a log line; only its id does.
 */
export function loadIntegrityKey(
  config: Pick<IntegrityConfig, 'keyFile' | 'keyEnv' | 'requireKey'>,
  env: NodeJS.ProcessEnv = process.env,
): IntegrityKey | undefined {
  let text: string | undefined
  let where: string
  if (config.keyFile !== undefined) {
    where = `integrity.keyFile ${config.keyFile}`
    try {
      text = readFileSync(config.keyFile, 'utf8').trim()
    } catch (err) {
      throw new EnvoyAuditError(
        'EA_CONFIG_INVALID',
        `${where}: cannot read the key file (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      )
    }
  } else {
    where = `environment variable ${config.keyEnv}`
    text = env[config.keyEnv]?.trim()
  }
  if (text === undefined || text === '') {
    if (config.requireKey) throw new EnvoyAuditError('EA_CONFIG_INVALID', `integrity.requireKey: no checkpoint key in ${where}`)
    return undefined
  }
  const bytes = Buffer.from(text, 'utf8')
  if (bytes.length < MIN_KEY_BYTES)
    throw new EnvoyAuditError('EA_CONFIG_INVALID', `${where}: the checkpoint key must be at least ${MIN_KEY_BYTES} bytes`)
  return Object.freeze({ id: createHash('sha256').update(bytes).digest('hex').slice(0, 16), bytes })
}
