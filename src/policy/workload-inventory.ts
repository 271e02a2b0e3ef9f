/**
 * Optional workload inventory (`--workloads FILE`, YAML or JSON). It tells the linter which namespaces,
 * workloads, service accounts and Service ports exist, and tells `policy check` which labels a destination
 * workload carries when the access-log envelope did not record them:
 *
 *   workloads:
 *     - { namespace: shop, name: payments, labels: { app: payments }, serviceAccount: payments, ips: [10.1.2.3] }
 *   services:
 *     - { namespace: shop, name: payments, ports: [{ port: 80, targetPort: 8080 }] }
 *   namespaces: [shop, istio-system]      # optional: namespaces without workloads
 */
import { readFileSync } from 'node:fs'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'
import { EnvoyAuditError } from '../errors.js'
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
        namespace: z.string().min(1),
        name: z.string().min(1),
        ports: z.array(z.strictObject({ port: z.number().int(), targetPort: z.number().int().optional(), name: z.string().optional() })).default([]),
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

export interface Inventory {
  workloads: Workload[]
  services: Array<{ namespace: string; name: string; ports: Array<{ port: number; targetPort: number }> }>
  namespaces: Set<string>
}

export function inventoryFrom(input: unknown, origin = 'workloads'): Inventory {
  const unsafe = findUnsafeKey(input, '')
  if (unsafe !== null) throw new EnvoyAuditError('EA_CONFIG_INVALID', `${origin}: ${unsafe}: prototype-polluting key rejected`)
  const r = inventorySchema.safeParse(input ?? {})
  if (!r.success) {
    const i = r.error.issues[0]!
    throw new EnvoyAuditError('EA_CONFIG_INVALID', `${origin}: ${fieldPath('', i.path).replace(/^\./, '') || '(root)'}: ${i.message}`)
  }
  const workloads: Workload[] = r.data.workloads.map((w) => ({ ...w, serviceAccount: w.serviceAccount, labels: safeRecord(w.labels) }))
  const namespaces = new Set([...r.data.namespaces, ...workloads.map((w) => w.namespace), ...r.data.services.map((s) => s.namespace)])
  const services = r.data.services.map((s) => ({ ...s, ports: s.ports.map((p) => ({ port: p.port, targetPort: p.targetPort ?? p.port })) }))
  return { workloads, services, namespaces }
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
