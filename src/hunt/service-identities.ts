/**
 * The --inventory file of `hunt` and `flows`: which identity serves which service, for hops no
 * certificate or envelope linked (plain default-format sidecars, lost server-side logs). The file is
 * the one inventory format of src/policy/workload-inventory.ts (`services: [{ namespace, name,
 * identity }]`, beside the workloads the policy commands read), or the earlier hunt-only format
 * `services: [{ service, namespace, identity }]`.
 *
 * The file is operator-written, but parsed defensively: size-capped, strict keys, no prototype keys.
 */
import { readFileSync, statSync } from 'node:fs'
import { parse as parseYaml } from 'yaml'
import { EnvoyAuditError } from '../errors.js'
import { serviceIdentities } from '../policy/workload-inventory.js'
import type { InventoryEntry } from './backend.js'

export const MAX_INVENTORY_BYTES = 4 * 1024 * 1024

/** Validates an inventory document; errors name the path, e.g. `inventory.services.3.identity`. */
export function parseInventory(doc: unknown, label = 'inventory'): InventoryEntry[] {
  return serviceIdentities(doc, label)
}

export function loadInventory(file: string): InventoryEntry[] {
  let text: string
  try {
    if (statSync(file).size > MAX_INVENTORY_BYTES)
      throw new EnvoyAuditError('EA_CONFIG_INVALID', `inventory: ${file} is larger than ${MAX_INVENTORY_BYTES} bytes`)
    text = readFileSync(file, 'utf8')
  } catch (err) {
    if (err instanceof EnvoyAuditError) throw err
    throw new EnvoyAuditError('EA_IO', `cannot read the inventory ${file}: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    })
  }
  let doc: unknown
  try {
    // YAML is a superset of JSON; unique keys so a duplicated entry is not silently dropped.
    doc = parseYaml(text, { uniqueKeys: true, maxAliasCount: 100 })
  } catch (err) {
    throw new EnvoyAuditError('EA_CONFIG_INVALID', `inventory: ${file} does not parse: ${err instanceof Error ? err.message : String(err)}`)
  }
  return parseInventory(doc)
}
