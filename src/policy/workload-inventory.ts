/**
 * The inventory file: what runs in the cluster, for the facts the access logs do not carry. One format,
 * YAML or JSON, read by `policy check|lint|recommend --workloads`, `parse`/`ingest --workloads` and
 * `hunt`/`flows --inventory`:
 *
 *   workloads:
 *     - { namespace: shop, name: payments, labels: { app: payments }, serviceAccount: payments, ips: [10.1.2.3] }
 *   services:
 *     - { namespace: shop, name: payments, ports: [{ port: 80, targetPort: 8080 }],
 *         identity: spiffe://cluster.local/ns/shop/sa/payments }   # optional: who serves it, for hunt
 *     - { name: api.stripe.com, identity: egress/stripe-proxy }     # an external host has no namespace
 *   namespaces: [shop, istio-system]      # optional: namespaces without workloads
 *
 * The linter reads which namespaces, workloads, service accounts and Service ports exist; `policy check`
 * the labels of a destination workload the envelope did not record; hunt which identity serves a
 * service no certificate or envelope linked. The earlier hunt-only format, `services: [{ service,
 * namespace, identity }]`, is still read by every command (legacyServiceEntries).
 */
import { readFileSync } from 'node:fs'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'
import { EnvoyAuditError } from '../errors.js'
import { parseIdentity } from '../enrich/spiffe-id.js'
import { fieldPath, findUnsafeKey } from './loader.js'
import { safeRecord } from './model.js'

const inventorySchema = z.strictObject({
  workloads: z
    .array(
      z.strictObject({
        namespace: z.string().min(1),
        name: z.string().min(1),
        labels: z.record(z.string(), z.string()).default({}),
        serviceAccount: z.string().optional(),
        ips: z.array(z.string()).default([]),
      }),
    )
    .default([]),
  services: z
    .array(
      z.strictObject({
        namespace: z.string().min(1).optional(),
        name: z.string().min(1),
        ports: z
          .array(z.strictObject({ port: z.number().int(), targetPort: z.number().int().optional(), name: z.string().optional() }))
          .default([]),
        identity: z.string().min(1).max(2048).optional(),
      }),
    )
    .default([]),
  namespaces: z.array(z.string()).default([]),
})

export interface Workload {
  namespace: string
  name: string
  labels: Record<string, string>
  serviceAccount: string | undefined
  ips: string[]
}

export interface InventoryService {
  /** Absent for a host outside the cluster. */
  namespace?: string
  name: string
  ports: Array<{ port: number; targetPort: number }>
  /** The identity that serves it, as written (see serviceIdentities). */
  identity?: string
}

export interface Inventory {
  workloads: Workload[]
  services: InventoryService[]
  namespaces: Set<string>
}

/** Which identity serves a service: what `hunt` and `flows` read from the inventory. */
export interface ServiceIdentity {
  service: string
  namespace?: string
  /** A SPIFFE URI, or `namespace/name` for a workload node. */
  identity: string
}

export function inventoryFrom(input: unknown, origin = 'workloads'): Inventory {
  if (isLegacyServiceInventory(input)) {
    const services = legacyServiceEntries(input, origin).map((e) => {
      const s: InventoryService = { name: e.service, ports: [], identity: e.identity }
      if (e.namespace !== undefined) s.namespace = e.namespace
      return s
    })
    return { workloads: [], services, namespaces: new Set(services.flatMap((s) => (s.namespace === undefined ? [] : [s.namespace]))) }
  }
  const unsafe = findUnsafeKey(input, '')
  if (unsafe !== null) throw new EnvoyAuditError('EA_CONFIG_INVALID', `${origin}: ${unsafe}: prototype-polluting key rejected`)
  const r = inventorySchema.safeParse(input ?? {})
  if (!r.success) {
    const i = r.error.issues[0]!
    throw new EnvoyAuditError('EA_CONFIG_INVALID', `${origin}: ${fieldPath('', i.path).replace(/^\./, '') || '(root)'}: ${i.message}`)
  }
  const workloads: Workload[] = r.data.workloads.map((w) => ({ ...w, serviceAccount: w.serviceAccount, labels: safeRecord(w.labels) }))
  const serviceNamespaces = r.data.services.flatMap((s) => (s.namespace === undefined ? [] : [s.namespace]))
  const namespaces = new Set([...r.data.namespaces, ...workloads.map((w) => w.namespace), ...serviceNamespaces])
  const services = r.data.services.map((s) => ({ ...s, ports: s.ports.map((p) => ({ port: p.port, targetPort: p.targetPort ?? p.port })) }))
  return { workloads, services, namespaces }
}

/**
 * The service → identity entries of an inventory document, in either format; identities normalised to
 * the SPIFFE URI (`namespace/name` stays a workload node id). Errors name the path under `label`.
 */
export function serviceIdentities(input: unknown, label = 'inventory'): ServiceIdentity[] {
  if (isLegacyServiceInventory(input)) return legacyServiceEntries(input, label)
  const out: ServiceIdentity[] = []
  inventoryFrom(input, label).services.forEach((s, i) => {
    if (s.identity === undefined) return
    const entry: ServiceIdentity = { service: s.name, identity: normaliseIdentity(s.identity, `${label}: services[${i}].identity`) }
    if (s.namespace !== undefined) entry.namespace = s.namespace
    out.push(entry)
  })
  return out
}

const DNS_NAME = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'must be a DNS-style name')

/** The earlier hunt-only format: `services: [{ service, namespace?, identity }]` and nothing else. */
const legacySchema = z
  .object({
    services: z
      .array(z.object({ service: DNS_NAME, namespace: DNS_NAME.optional(), identity: z.string().min(1).max(2048) }).strict())
      .max(100_000)
      .default([]),
  })
  .strict()

/** A document whose services are written `service:` (the earlier format) rather than `name:`. */
function isLegacyServiceInventory(input: unknown): boolean {
  if (typeof input !== 'object' || input === null || !Object.hasOwn(input, 'services')) return false
  const services = (input as { services: unknown }).services
  return Array.isArray(services) && services.some((s) => typeof s === 'object' && s !== null && Object.hasOwn(s, 'service'))
}

/** Reads the earlier format; errors name the path, e.g. `inventory.services.3.identity`. */
export function legacyServiceEntries(doc: unknown, label: string): ServiceIdentity[] {
  const r = legacySchema.safeParse(doc ?? {})
  if (!r.success) {
    const issue = r.error.issues[0]
    throw new EnvoyAuditError('EA_CONFIG_INVALID', `${[label, ...(issue?.path ?? [])].join('.')}: ${issue?.message ?? 'invalid'}`)
  }
  return r.data.services.map((s, i) => {
    const entry: ServiceIdentity = { service: s.service, identity: normaliseIdentity(s.identity, `${label}.services.${i}.identity`) }
    if (s.namespace !== undefined) entry.namespace = s.namespace
    return entry
  })
}

/** SPIFFE URIs and Istio principals become the canonical URI; `ns/name` stays a workload node id. */
function normaliseIdentity(text: string, path: string): string {
  if (/^[^/]+\/[^/]+$/.test(text)) return text
  const r = parseIdentity(text)
  if (!r.ok) {
    const what = 'is not a SPIFFE ID, td/ns/NS/sa/SA or namespace/name'
    throw new EnvoyAuditError('EA_CONFIG_INVALID', `${path}: "${text.slice(0, 80)}" ${what} (${r.error})`)
  }
  return r.id.uri
}

export function loadInventory(file: string): Inventory {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new EnvoyAuditError('EA_IO', `cannot read ${file}: ${(err as Error).message}`, { cause: err })
  }
  try {
    return inventoryFrom(parseYaml(text), file)
  } catch (err) {
    if (err instanceof EnvoyAuditError) throw err
    throw new EnvoyAuditError('EA_CONFIG_INVALID', `${file}: not valid YAML/JSON: ${(err as Error).message}`)
  }
}
