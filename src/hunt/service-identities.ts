/**
 * The --inventory file: which identity serves which service, for hops no certificate or envelope
 * linked (plain default-format sidecars, lost server-side logs). YAML or JSON:
 *
 *   services:
 *     - service: payments-db        # Service name, or name.namespace, or an external host
 *       namespace: payments         # optional; joins with the name
 *       identity: spiffe://cluster.local/ns/payments/sa/payments-db   # or td/ns/NS/sa/SA or ns/sa
 *
 * The file is operator-written, but parsed defensively: size-capped, strict keys, no prototype keys.
 */
import { readFileSync, statSync } from 'node:fs'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'
import { EnvoyAuditError } from '../errors.js'
import { parseIdentity } from '../enrich/spiffe-id.js'
import type { InventoryEntry } from './backend.js'

export const MAX_INVENTORY_BYTES = 4 * 1024 * 1024
const NAME = z.string().min(1).max(253).regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'must be a DNS-style name')

const inventorySchema = z
  .object({
    services: z
      .array(z.object({ service: NAME, namespace: NAME.optional(), identity: z.string().min(1).max(2048) }).strict())
      .max(100_000)
      .default([]),
  })
  .strict()

/** Validates an inventory document; errors name the path, e.g. `inventory.services.3.identity`. */
export function parseInventory(doc: unknown, label = 'inventory'): InventoryEntry[] {
  const r = inventorySchema.safeParse(doc ?? {})
  if (!r.success) {
    const issue = r.error.issues[0]
    throw new EnvoyAuditError('EA_CONFIG_INVALID', `${[label, ...(issue?.path ?? [])].join('.')}: ${issue?.message ?? 'invalid'}`)
  }
  return r.data.services.map((s, i) => {
    const entry: InventoryEntry = { service: s.service, identity: normaliseIdentity(s.identity, `${label}.services.${i}.identity`) }
    if (s.namespace !== undefined) entry.namespace = s.namespace
    return entry
  })
}

/** SPIFFE URIs and Istio principals become the canonical URI; `ns/name` stays a workload node id. */
function normaliseIdentity(text: string, path: string): string {
  if (/^[^/]+\/[^/]+$/.test(text)) return text
  const r = parseIdentity(text)
  if (!r.ok) throw new EnvoyAuditError('EA_CONFIG_INVALID', `${path}: "${text.slice(0, 80)}" is not a SPIFFE ID, td/ns/NS/sa/SA or namespace/name (${r.error})`)
  return r.id.uri
}

export function loadInventory(file: string): InventoryEntry[] {
  let text: string
  try {
    if (statSync(file).size > MAX_INVENTORY_BYTES) throw new EnvoyAuditError('EA_CONFIG_INVALID', `inventory: ${file} is larger than ${MAX_INVENTORY_BYTES} bytes`)
    text = readFileSync(file, 'utf8')
  } catch (err) {
    if (err instanceof EnvoyAuditError) throw err
    throw new EnvoyAuditError('EA_IO', `cannot read the inventory ${file}: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
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
