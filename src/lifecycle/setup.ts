/**
 * Installs what the sink writes into, in Data Prepper's order: the ISM policy, the versioned index
 * templates, then the bootstrap write index `<alias>-000001` behind each alias. Idempotent: a second
 * run changes nothing. An installed template is replaced only by a newer schema version (or the same
 * version with different content, e.g. new shard counts); the policy is re-PUT with if_seq_no and
 * if_primary_term, as ISM requires, only when its content hash changed.
 */
import type { Client } from '@opensearch-project/opensearch'
import { EnvoyAuditError } from '../errors.js'
import type { LifecycleConfig } from './config.js'
import { bootstrapIndex, eventsTemplate, findingsTemplate, templateName, type IndexTemplate } from './index-template.js'
import { ismPolicy, policyHash } from './ism-policy.js'

export type SetupAction = 'created' | 'updated' | 'unchanged' | 'skipped'

export interface SetupStep {
  resource: string
  action: SetupAction
  detail?: string
}

function statusOf(err: unknown): number | undefined {
  const status = (err as { statusCode?: number | null }).statusCode ?? (err as { meta?: { statusCode?: number | null } }).meta?.statusCode
  return typeof status === 'number' ? status : undefined
}

function fail(what: string, err: unknown): never {
  const status = statusOf(err)
  const code = status === 401 || status === 403 ? 'EA_SINK_AUTH' : 'EA_SINK_UNAVAILABLE'
  const body = (err as { body?: { error?: { type?: string; reason?: string } } }).body
  const detail = body?.error !== undefined ? `${body.error.type ?? ''}: ${body.error.reason ?? ''}` : err instanceof Error ? err.message : String(err)
  throw new EnvoyAuditError(code, `setup: ${what} failed${status !== undefined ? ` (HTTP ${status})` : ''}: ${detail}`, { cause: err })
}

async function ensurePolicy(client: Client, c: LifecycleConfig): Promise<SetupStep> {
  const resource = `ism policy ${c.policyId}`
  const desired = ismPolicy(c)
  const path = `/_plugins/_ism/policies/${encodeURIComponent(c.policyId)}`
  let current: { _seq_no?: number; _primary_term?: number; policy?: { description?: string } } | undefined
  try {
    const res = await client.transport.request({ method: 'GET', path }, { ignore: [404] })
    if (res.statusCode !== 404) current = res.body as typeof current
  } catch (err) {
    fail(`reading ${resource}`, err)
  }
  try {
    if (current === undefined) {
      await client.transport.request({ method: 'PUT', path, body: desired })
      return { resource, action: 'created' }
    }
    if (policyHash(current.policy?.description) === policyHash(desired.policy.description)) return { resource, action: 'unchanged' }
    await client.transport.request({ method: 'PUT', path, body: desired, querystring: { if_seq_no: current._seq_no, if_primary_term: current._primary_term } })
    return { resource, action: 'updated', detail: 'applies to indices created from now on' }
  } catch (err) {
    fail(`writing ${resource}`, err)
  }
}

async function ensureTemplate(client: Client, name: string, desired: IndexTemplate): Promise<SetupStep> {
  const resource = `index template ${name}`
  let installed: { version?: number; _meta?: { content_hash?: string } } | undefined
  try {
    const res = await client.indices.getIndexTemplate({ name }, { ignore: [404] })
    if (res.statusCode !== 404) {
      const list = (res.body as { index_templates?: { name: string; index_template: typeof installed }[] }).index_templates ?? []
      installed = list.find((t) => t.name === name)?.index_template
    }
  } catch (err) {
    fail(`reading ${resource}`, err)
  }
  if (installed !== undefined) {
    const v = Number(installed.version ?? 0)
    if (v > desired.version) return { resource, action: 'skipped', detail: `installed version ${v} is newer than ${desired.version}` }
    if (v === desired.version && installed._meta?.content_hash === desired._meta.content_hash) return { resource, action: 'unchanged' }
  }
  try {
    await client.indices.putIndexTemplate({ name, body: desired as never })
  } catch (err) {
    fail(`writing ${resource}`, err)
  }
  return installed === undefined ? { resource, action: 'created' } : { resource, action: 'updated', detail: `version ${installed.version ?? 0} → ${desired.version}; applies at the next rollover` }
}

async function ensureWriteAlias(client: Client, alias: string): Promise<SetupStep> {
  const resource = `write alias ${alias}`
  try {
    const aliasExists = await client.indices.existsAlias({ name: alias })
    if (aliasExists.body === true) return { resource, action: 'unchanged' }
    const indexExists = await client.indices.exists({ index: alias })
    if (indexExists.body === true) {
      throw new EnvoyAuditError('EA_CONFIG_INVALID', `setup: ${alias} exists as a concrete index (written before setup?); reindex it and delete it, then run setup again`)
    }
    const index = bootstrapIndex(alias)
    await client.indices.create({ index, body: { aliases: { [alias]: { is_write_index: true } } } })
    return { resource, action: 'created', detail: `bootstrap index ${index}` }
  } catch (err) {
    if (err instanceof EnvoyAuditError) throw err
    fail(`creating ${resource}`, err)
  }
}

/** Runs every step; returns what each one did. Throws EnvoyAuditError on the first failure. */
export async function runSetup(client: Client, c: LifecycleConfig): Promise<SetupStep[]> {
  const steps: SetupStep[] = []
  steps.push(await ensurePolicy(client, c))
  steps.push(await ensureTemplate(client, templateName(c.eventsAlias), eventsTemplate(c)))
  steps.push(await ensureTemplate(client, templateName(c.findingsAlias), findingsTemplate(c)))
  steps.push(await ensureWriteAlias(client, c.eventsAlias))
  steps.push(await ensureWriteAlias(client, c.findingsAlias))
  return steps
}
