/**
 * Reads Istio security manifests the way they are usually kept: multi-document YAML files, `kind: List`
 * output of `kubectl get ... -o yaml`, JSON, or a directory of such files. Non-security kinds (Service,
 * Gateway, VirtualService, ...) are counted and skipped. An object that fails its schema is reported as a
 * LoadIssue naming file, object and field, and is left out: the API server would not have accepted it.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { parseAllDocuments } from 'yaml'
import type { z } from 'zod'
import { EnvoyAuditError } from '../errors.js'
import {
  authorizationPolicySpecSchema,
  destinationRuleSpecSchema,
  metadataSchema,
  peerAuthenticationSpecSchema,
  requestAuthenticationSpecSchema,
  safeRecord,
  type LoadIssue,
  type ObjectMeta,
  type PolicySet,
} from './model.js'

const SECURITY_GROUP = 'security.istio.io/'
const NETWORKING_GROUP = 'networking.istio.io/'
const UNSAFE_KEYS = new Set(['__proto__', 'constructor', 'prototype'])
const MANIFEST_EXT = /\.(ya?ml|json)$/i

export function emptyPolicySet(): PolicySet {
  return { authorizationPolicies: [], peerAuthentications: [], requestAuthentications: [], destinationRules: [], issues: [], skipped: 0 }
}

/** Loads every manifest under the given files/directories into one set. I/O errors throw EA_IO. */
export function loadPolicies(paths: readonly string[]): PolicySet {
  const set = emptyPolicySet()
  for (const file of expand(paths)) {
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch (err) {
      throw new EnvoyAuditError('EA_IO', `cannot read ${file}: ${(err as Error).message}`, { cause: err })
    }
    addManifestText(set, text, file)
  }
  return set
}

/** Parses one file's text into the set (exported for tests and for YAML produced in memory). */
export function addManifestText(set: PolicySet, text: string, file: string): PolicySet {
  const docs = parseAllDocuments(text)
  let index = 0
  for (const doc of docs) {
    if (doc.errors.length > 0) {
      set.issues.push({ file, index, kind: '?', object: '?', field: '(document)', message: `YAML error: ${doc.errors[0]!.message}` })
      index++
      continue
    }
    const value: unknown = doc.toJS({ maxAliasCount: 100 })
    if (value === null || value === undefined) continue
    const items = isList(value) ? ((value as { items?: unknown[] }).items ?? []) : [value]
    for (const item of items) addObject(set, item, file, index++)
  }
  return set
}

function addObject(set: PolicySet, item: unknown, file: string, index: number): void {
  if (typeof item !== 'object' || item === null || Array.isArray(item)) {
    set.issues.push({ file, index, kind: '?', object: '?', field: '(document)', message: 'not a Kubernetes object' })
    return
  }
  const obj = item as Record<string, unknown>
  const apiVersion = typeof obj['apiVersion'] === 'string' ? obj['apiVersion'] : ''
  const kind = typeof obj['kind'] === 'string' ? obj['kind'] : ''
  const isSecurity = apiVersion.startsWith(SECURITY_GROUP)
  const isDr = apiVersion.startsWith(NETWORKING_GROUP) && kind === 'DestinationRule'
  if (!isSecurity && !isDr) {
    set.skipped++
    return
  }
  const name = (obj['metadata'] as { name?: unknown } | undefined)?.name
  const label = `${kind} ${typeof name === 'string' ? name : '?'}`
  const unsafe = findUnsafeKey(obj, '')
  if (unsafe !== null) {
    set.issues.push({ file, index, kind, object: label, field: unsafe, message: 'prototype-polluting key rejected' })
    return
  }
  const meta = metadataSchema.safeParse(obj['metadata'])
  if (!meta.success) {
    pushZodIssues(set.issues, meta.error, { file, index, kind, object: label }, 'metadata')
    return
  }
  const m = meta.data
  const header: ObjectMeta = {
    name: m.name,
    namespace: m.namespace ?? 'default',
    namespaceDefaulted: m.namespace === undefined,
    annotations: safeRecord(m.annotations ?? undefined),
    createdAt: parseTime(m.creationTimestamp),
    file,
    index,
    apiVersion,
  }
  const where = { file, index, kind, object: `${kind} ${header.namespace}/${header.name}` }
  const rawSpec = obj['spec'] ?? {}
  switch (kind) {
    case 'AuthorizationPolicy': {
      const spec = parseSpec(authorizationPolicySpecSchema, rawSpec, set.issues, where)
      if (spec !== null) set.authorizationPolicies.push({ ...header, kind, spec, raw: rawSpec })
      return
    }
    case 'PeerAuthentication': {
      const spec = parseSpec(peerAuthenticationSpecSchema, rawSpec, set.issues, where)
      if (spec !== null) set.peerAuthentications.push({ ...header, kind, spec, raw: rawSpec })
      return
    }
    case 'RequestAuthentication': {
      const spec = parseSpec(requestAuthenticationSpecSchema, rawSpec, set.issues, where)
      if (spec !== null) set.requestAuthentications.push({ ...header, kind, spec, raw: rawSpec })
      return
    }
    case 'DestinationRule': {
      const spec = parseSpec(destinationRuleSpecSchema, rawSpec, set.issues, where)
      if (spec !== null) set.destinationRules.push({ ...header, kind, spec, raw: rawSpec })
      return
    }
    default:
      set.skipped++
  }
}

function parseSpec<S extends z.ZodType>(
  schema: S,
  raw: unknown,
  issues: LoadIssue[],
  where: Omit<LoadIssue, 'field' | 'message'>,
): z.infer<S> | null {
  const r = schema.safeParse(raw)
  if (r.success) return r.data
  pushZodIssues(issues, r.error, where, 'spec')
  return null
}

function pushZodIssues(issues: LoadIssue[], error: z.ZodError, where: Omit<LoadIssue, 'field' | 'message'>, root: string): void {
  for (const i of error.issues) {
    const keys = i.code === 'unrecognized_keys' ? ((i as { keys?: string[] }).keys ?? []) : []
    const base = fieldPath(root, i.path)
    if (keys.length > 0) {
      for (const k of keys) issues.push({ ...where, field: `${base}.${k}`, message: `unknown field "${k}"` })
    } else {
      issues.push({ ...where, field: base, message: i.message })
    }
  }
}

export function fieldPath(root: string, path: readonly PropertyKey[]): string {
  let out = root
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `.${String(p)}`
  return out
}

/** Path of the first prototype-polluting key in an untrusted value, or null. */
export function findUnsafeKey(v: unknown, path: string): string | null {
  if (typeof v !== 'object' || v === null) return null
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const r = findUnsafeKey(v[i], `${path}[${i}]`)
      if (r !== null) return r
    }
    return null
  }
  for (const k of Object.keys(v)) {
    if (UNSAFE_KEYS.has(k)) return `${path}.${k}`.replace(/^\./, '')
    const r = findUnsafeKey((v as Record<string, unknown>)[k], `${path}.${k}`)
    if (r !== null) return r
  }
  return null
}

function parseTime(v: string | Date | null | undefined): number | null {
  if (v === null || v === undefined) return null
  const t = v instanceof Date ? v.getTime() : Date.parse(v)
  return Number.isNaN(t) ? null : t
}

function isList(v: unknown): boolean {
  return typeof v === 'object' && v !== null && (v as { kind?: unknown }).kind === 'List' && Array.isArray((v as { items?: unknown }).items)
}

function expand(paths: readonly string[]): string[] {
  const out: string[] = []
  for (const p of paths) {
    let st
    try {
      st = statSync(p)
    } catch (err) {
      throw new EnvoyAuditError('EA_IO', `cannot read ${p}: ${(err as Error).message}`, { cause: err })
    }
    if (!st.isDirectory()) {
      out.push(p)
      continue
    }
    const entries = readdirSync(p, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))
    for (const e of entries) {
      const child = join(p, e.name)
      if (e.isDirectory()) out.push(...expand([child]))
      else if (MANIFEST_EXT.test(e.name)) out.push(child)
    }
  }
  return out
}

/** Throws EA_CONFIG_INVALID listing every load issue (for commands that must not evaluate a partial set). */
export function assertNoIssues(set: PolicySet): void {
  if (set.issues.length === 0) return
  const lines = set.issues.slice(0, 20).map((i) => `${i.file}: ${i.object}: ${i.field}: ${i.message}`)
  const more = set.issues.length > 20 ? `\n... and ${set.issues.length - 20} more` : ''
  throw new EnvoyAuditError('EA_CONFIG_INVALID', `invalid policy manifests:\n${lines.join('\n')}${more}`)
}
