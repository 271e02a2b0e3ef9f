/**
 * Configuration of the transform stages (identity enrichment, AU-3 check, detections). Validated
 * once at startup and frozen; every bound has an explicit default so an empty object is a working
 * configuration for a stock Istio mesh.
 */
import { parseConfig } from './validate.js'
import { z } from 'zod'
import { ecsTlsVersion, tlsVersionRank, type EcsTlsVersion } from '../schema/tls-version.js'
import { availableParallelism, loadavg } from 'node:os'

/** SPIFFE ID spec §2.1: lowercase letters, digits, dots, dashes, underscores; at most 255 bytes. */
const trustDomain = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[a-z0-9._-]+$/, 'trust domain must match [a-z0-9._-]+ (SPIFFE ID spec §2.1)')

/**
 * A TLS version as ECS writes tls.version ("1.2"; YAML may read an unquoted 1.2 as a number), or as
 * Envoy logs it (TLSv1.2, TLSv1, SSLv3: the spelling this option took before, still accepted).
 */
const tlsVersion = z
  .union([
    z.string().max(16),
    z.number().min(0).max(99),
    // An already loaded config validated again (a run config assembled from loaded sections).
    z.object({ version: z.string().max(16), protocol: z.string().max(8) }).strict(),
  ])
  .transform((v, ctx): EcsTlsVersion => {
    const parsed = typeof v === 'object' ? ecsTlsVersion(v.version, v.protocol) : ecsTlsVersion(typeof v === 'number' ? v.toFixed(1) : v)
    if (parsed === undefined || tlsVersionRank(parsed) === -1) {
      ctx.addIssue({
        code: 'custom',
        message: `${JSON.stringify(v)}: not a TLS version (1.0, 1.1, 1.2, 1.3, or as Envoy logs it: TLSv1.2, SSLv3)`,
      })
      return z.NEVER
    }
    return Object.freeze(parsed)
  })

/**
 * Envoy's default cipher list in builds using BoringSSL FIPS (envoyproxy.io docs,
 * extensions.transport_sockets.tls.v3.TlsParameters `cipher_suites`, v1.16 to v1.21), plus the two
 * TLS 1.3 AES-GCM suites. CHACHA20-POLY1305 is absent on purpose: it is not a FIPS 140 approved
 * algorithm, which is exactly why the FIPS build leaves it out.
 */
export const DEFAULT_FIPS_CIPHERS: readonly string[] = Object.freeze([
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES128-SHA',
  'ECDHE-RSA-AES128-SHA',
  'AES128-GCM-SHA256',
  'AES128-SHA',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-AES256-SHA',
  'ECDHE-RSA-AES256-SHA',
  'AES256-GCM-SHA384',
  'AES256-SHA',
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
])

/** The most worker threads `transforms.workers` takes. */
export const MAX_WORKERS = 32
/** The most `auto` picks: past about this many, the main thread (Kafka, sinks, ledger) is what limits. */
export const AUTO_WORKERS_CAP = 4

/**
 * The worker threads `auto` stands for: the cores free when the pipeline starts, less the main thread's,
 * capped. Free cores are the available parallelism (CPU affinity) less the one-minute load average,
 * rounded: a two-core machine at rest gets one worker, a one-core or busy machine none.
 */
export function resolveWorkers(setting: 'auto' | number, cores: number = availableParallelism(), load: number = loadavg()[0] ?? 0): number {
  if (setting !== 'auto') return setting
  const free = Math.round(cores - load)
  return Math.max(0, Math.min(AUTO_WORKERS_CAP, free - 1))
}

export const transformsConfigSchema = z
  .object({
    /** meshConfig.trustDomain. */
    trustDomain: trustDomain.default('cluster.local'),
    /** meshConfig.trustDomainAliases: identities in these trust domains are not foreign. */
    trustDomainAliases: z.array(trustDomain).max(64).default([]),
    /** Cipher names (OpenSSL/BoringSSL spelling, as %DOWNSTREAM_TLS_CIPHER% prints them) considered FIPS 140 approved. */
    fipsCiphers: z
      .array(z.string().min(1).max(128))
      .min(1)
      .max(256)
      .default([...DEFAULT_FIPS_CIPHERS]),
    /** Lowest acceptable negotiated TLS version; below it is weak_tls. */
    minTlsVersion: tlsVersion.default({ version: '1.2', protocol: 'tls' }),
    /** Emit au3_incomplete findings (the au3 fields are always filled). */
    au3Findings: z.boolean().default(true),
    /** Longest field value the enrichment will look at; longer values are treated as absent (bounds regex work). */
    maxFieldLength: z.number().int().min(256).max(65_536).default(8192),
    /**
     * Records parsed and transformed together: a source batch goes through the stages in slices of this
     * size, so each slice's objects die young and its stored documents share one Buffer (docs/performance.md).
     */
    microBatch: z.number().int().min(1).max(100_000).default(250),
    /**
     * Entries each memo of the identity, AU-3 and detect stages keeps (their results per identity tuple,
     * docs/performance.md); 0 turns memoisation off. Output is the same either way.
     */
    memoEntries: z.number().int().min(0).max(1_000_000).default(4096),
    /**
     * Worker threads that parse and transform micro-batches (docs/performance.md): `auto` takes the cores
     * left free when the pipeline starts (none on a one-core or busy machine), a number takes that many,
     * 0 keeps everything on the main thread. The main thread keeps the source, the sinks and the ledger.
     */
    workers: z.union([z.literal('auto'), z.number().int().min(0).max(MAX_WORKERS)]).default(0),
  })
  .strict()

export type TransformsConfigInput = z.input<typeof transformsConfigSchema>

export interface TransformsConfig {
  readonly trustDomain: string
  readonly trustDomainAliases: readonly string[]
  readonly fipsCiphers: readonly string[]
  /** Normalised to the ECS spelling: `{ version: '1.2', protocol: 'tls' }`. */
  readonly minTlsVersion: EcsTlsVersion
  readonly au3Findings: boolean
  readonly maxFieldLength: number
  readonly microBatch: number
  readonly memoEntries: number
  readonly workers: 'auto' | number
  /** trustDomain plus aliases, for O(1) membership tests. */
  readonly trustedDomains: ReadonlySet<string>
  readonly fipsCipherSet: ReadonlySet<string>
}

/**
 * Validates and freezes the transforms configuration. Throws EA_CONFIG_INVALID naming the option path
 * (prefixed by `prefix`, e.g. `transforms`), so a bad config fails at startup, never per record.
 */
export function loadTransformsConfig(input: unknown = {}, prefix = 'transforms'): TransformsConfig {
  const c = parseConfig(transformsConfigSchema, input, prefix)
  const aliases = Object.freeze([...new Set(c.trustDomainAliases)])
  const ciphers = Object.freeze([...new Set(c.fipsCiphers)])
  return Object.freeze({
    trustDomain: c.trustDomain,
    trustDomainAliases: aliases,
    fipsCiphers: ciphers,
    minTlsVersion: c.minTlsVersion,
    au3Findings: c.au3Findings,
    maxFieldLength: c.maxFieldLength,
    microBatch: c.microBatch,
    memoEntries: c.memoEntries,
    workers: c.workers,
    trustedDomains: new Set([c.trustDomain, ...aliases]),
    fipsCipherSet: new Set(ciphers),
  })
}
