/**
 * The few MeshConfig fields that change authorization outcomes (istio/api mesh/v1alpha1/config.proto).
 * Accepted input: a MeshConfig document itself, or the `istio` ConfigMap whose `data.mesh` holds it as a
 * YAML string (what `kubectl get cm istio -n istio-system -o yaml` prints).
 */
import { readFileSync } from 'node:fs'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'
import { EnvoyAuditError } from '../errors.js'

export const PATH_NORMALIZATIONS = ['NONE', 'BASE', 'DEFAULT', 'MERGE_SLASHES', 'DECODE_AND_MERGE_SLASHES'] as const
export type PathNormalization = (typeof PATH_NORMALIZATIONS)[number]

const meshConfigSchema = z.looseObject({
  rootNamespace: z.string().min(1).default('istio-system'),
  trustDomain: z.string().min(1).default('cluster.local'),
  trustDomainAliases: z.array(z.string().min(1)).default([]),
  pathNormalization: z.looseObject({ normalization: z.enum(PATH_NORMALIZATIONS).default('DEFAULT') }).default({ normalization: 'DEFAULT' }),
  // Istio reads this from meshConfig.defaultConfig.gatewayTopology; accepted flat here too for convenience.
  numTrustedProxies: z.number().int().min(0).max(64).default(0),
  defaultConfig: z
    .looseObject({ gatewayTopology: z.looseObject({ numTrustedProxies: z.number().int().min(0).max(64).optional() }).optional() })
    .optional(),
  enableAutoMtls: z.boolean().default(true),
  // Claims split on spaces before matching (policy_applier.go buildSpaceDelimitedClaims defaults).
  spaceDelimitedClaims: z.array(z.string()).default(['scope', 'permission']),
  // Only the names matter offline: a CUSTOM policy naming a provider that is not listed becomes deny rules.
  extensionProviders: z.array(z.looseObject({ name: z.string() })).optional(),
})

export interface MeshConfig {
  readonly rootNamespace: string
  readonly trustDomain: string
  readonly trustDomainAliases: readonly string[]
  readonly pathNormalization: PathNormalization
  readonly numTrustedProxies: number
  readonly enableAutoMtls: boolean
  readonly spaceDelimitedClaims: readonly string[]
  /** Null when the mesh config does not list providers (then provider names are not checked). */
  readonly extensionProviders: readonly string[] | null
}

/** Validates a parsed mesh config object; errors name the option path. */
export function meshConfigFrom(input: unknown, origin = 'mesh config'): MeshConfig {
  let value = input ?? {}
  if (isConfigMap(value)) {
    const mesh = (value as { data?: Record<string, unknown> }).data?.['mesh']
    value = typeof mesh === 'string' ? (parseYaml(mesh) ?? {}) : {}
  }
  const r = meshConfigSchema.safeParse(value)
  if (!r.success) {
    const i = r.error.issues[0]!
    throw new EnvoyAuditError('EA_CONFIG_INVALID', `${origin}: ${i.path.join('.') || '(root)'}: ${i.message}`)
  }
  const c = r.data
  return Object.freeze({
    rootNamespace: c.rootNamespace,
    trustDomain: c.trustDomain,
    trustDomainAliases: Object.freeze([...c.trustDomainAliases]),
    pathNormalization: c.pathNormalization.normalization,
    numTrustedProxies: c.defaultConfig?.gatewayTopology?.numTrustedProxies ?? c.numTrustedProxies,
    enableAutoMtls: c.enableAutoMtls,
    spaceDelimitedClaims: Object.freeze([...c.spaceDelimitedClaims]),
    extensionProviders: c.extensionProviders === undefined ? null : Object.freeze(c.extensionProviders.map((p) => p.name)),
  })
}

export const DEFAULT_MESH_CONFIG: MeshConfig = meshConfigFrom({})

export function loadMeshConfig(file: string): MeshConfig {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new EnvoyAuditError('EA_IO', `cannot read mesh config ${file}: ${(err as Error).message}`, { cause: err })
  }
  let doc: unknown
  try {
    doc = parseYaml(text)
  } catch (err) {
    throw new EnvoyAuditError('EA_CONFIG_INVALID', `${file}: not valid YAML/JSON: ${(err as Error).message}`)
  }
  return meshConfigFrom(doc, file)
}

function isConfigMap(v: unknown): boolean {
  return typeof v === 'object' && v !== null && (v as { kind?: unknown }).kind === 'ConfigMap'
}
