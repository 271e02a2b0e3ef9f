/**
 * The live policy check: `policy.policies` in the service config (or `--policies` on `parse`/`ingest`)
 * names the declared AuthorizationPolicy/PeerAuthentication manifests, and every inbound event the
 * pipeline sees is evaluated against them as it passes (the same check as `envoy-audit policy check`
 * runs over a store afterwards). Off when no policy path is given.
 */
import { z } from 'zod'
import { EnvoyAuditError } from '../errors.js'
import type { TransformStage } from '../pipeline/component.js'
import { policyCheckStageFromFiles } from './check.js'
import { loadInventory } from './workload-inventory.js'
import { loadMeshConfig } from './mesh-config.js'

export const policyConfigSchema = z
  .object({
    /** Policy YAML/JSON files or directories (kubectl -o yaml output, multi-document files); empty = no live check. */
    policies: z.array(z.string().min(1)).max(256).default([]),
    /** Mesh config (MeshConfig YAML or the istio ConfigMap): root namespace, trust domain, path normalization. */
    mesh: z.string().min(1).optional(),
    /** Workload inventory (labels, IPs) for events whose envelope carries no pod labels. */
    workloads: z.string().min(1).optional(),
  })
  .strict()

export type PolicyConfig = z.output<typeof policyConfigSchema>

/**
 * The stage, built at startup: manifests are read, validated and compiled once, and a broken file
 * stops the process before any record is read. Errors name the option (`policy.mesh: ...`) so the
 * operator knows which setting points at the bad file (`option` spells it: a config path, or a CLI flag). No stage when no policy path is configured.
 */
export function policyStages(
  config: Readonly<PolicyConfig>,
  option: (key: keyof PolicyConfig) => string = (key) => `policy.${key}`,
): TransformStage[] {
  if (config.policies.length === 0) {
    if (config.mesh !== undefined || config.workloads !== undefined) {
      throw new EnvoyAuditError(
        'EA_CONFIG_INVALID',
        `${option('policies')}: ${config.mesh !== undefined ? option('mesh') : option('workloads')} is set but no policy path is given`,
      )
    }
    return []
  }
  const mesh = config.mesh === undefined ? undefined : named(option('mesh'), () => loadMeshConfig(config.mesh!))
  const inventory = config.workloads === undefined ? undefined : named(option('workloads'), () => loadInventory(config.workloads!))
  const stage = named(option('policies'), () =>
    policyCheckStageFromFiles(config.policies, {
      ...(mesh === undefined ? {} : { mesh }),
      ...(inventory === undefined ? {} : { inventory }),
    }),
  )
  return [stage]
}

function named<T>(option: string, load: () => T): T {
  try {
    return load()
  } catch (err) {
    const code = err instanceof EnvoyAuditError ? err.code : 'EA_CONFIG_INVALID'
    throw new EnvoyAuditError(code, `${option}: ${(err as Error).message}`, { cause: err })
  }
}
