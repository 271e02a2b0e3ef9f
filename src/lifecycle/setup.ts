/**
 * Installs what the sink writes into, in Data Prepper's order: the ISM policy, the versioned index
 * templates (which attach the read alias to every period index), then the first period index behind
 * each alias, so that readers find the alias before the first event. Idempotent: a second run changes
 * nothing. An installed template is replaced only by a newer schema version (or the same version with
 * different content, e.g. new shard counts); the policy is re-PUT with if_seq_no and if_primary_term, as
 * ISM requires, only when its content hash changed. Without the Index Management plugin the policy step
 * is skipped and says that retention is not enforced; nothing ISM-specific goes into the templates.
 *
 * A deployment of the earlier layout (a rolling write alias over `<alias>-000001`, ...) is migrated in
 * place: its indices stay behind the alias for reading, the sink writes to period indices from now on,
 * and the last write index is taken out of ISM's rollover (rollover_skip, then the age-based policy),
 * because rolling it over would now fail: the template that matches its successor names the alias.
 */
import type { Client } from '@opensearch-project/opensearch'
import { EnvoyAuditError } from '../errors.js'
import type { LifecycleConfig } from './config.js'
import { eventsTemplate, findingsTemplate, templateName, type IndexTemplate } from './index-template.js'
import { eventTime } from '../sinks/opensearch/routing.js'
import { ismPolicy, policyHash } from './ism-policy.js'

export type SetupAction = 'created' | 'updated' | 'unchanged' | 'skipped'

export interface SetupStep {
  resource: string
  action: SetupAction
  detail?: string
  /** A plugin the step needs is absent (the step was skipped). */
  missing?: 'ism'
}

function statusOf(err: unknown): number | undefined {
  const status = (err as { statusCode?: number | null }).statusCode ?? (err as { meta?: { statusCode?: number | null } }).meta?.statusCode
  return typeof status === 'number' ? status : undefined
}

function fail(what: string, err: unknown): never {
  const status = statusOf(err)
  const code = status === 401 || status === 403 ? 'EA_SINK_AUTH' : 'EA_SINK_UNAVAILABLE'
  const body = (err as { body?: { error?: { type?: string; reason?: string } } }).body
  const detail =
    body?.error !== undefined ? `${body.error.type ?? ''}: ${body.error.reason ?? ''}` : err instanceof Error ? err.message : String(err)
  throw new EnvoyAuditError(code, `setup: ${what} failed${status !== undefined ? ` (HTTP ${status})` : ''}: ${detail}`, { cause: err })
}

/**
 * A node without the Index Management plugin has no `_plugins/_ism` handler: OpenSearch answers 400
 * with the plain-string error "no handler found for uri [...]" (seen on 2.19 with only job-scheduler).
 */
export function ismMissing(err: unknown): boolean {
  if (statusOf(err) !== 400) return false
  const body = (err as { body?: unknown; meta?: { body?: unknown } }).body ?? (err as { meta?: { body?: unknown } }).meta?.body
  const error = (body as { error?: unknown } | undefined)?.error
  const text =
    typeof error === 'string'
      ? error
      : typeof (error as { reason?: unknown } | undefined)?.reason === 'string'
        ? (error as { reason: string }).reason
        : ''
  return /no handler found for uri/i.test(text)
}

export const ISM_MISSING =
  'the Index Management (ISM) plugin is not installed: retention is NOT enforced (no index turns read-only or is deleted); ' +
  'install opensearch-index-management (bin/opensearch-plugin install opensearch-index-management) and run setup again'

async function ensurePolicy(client: Client, c: LifecycleConfig): Promise<SetupStep> {
  const resource = `ism policy ${c.policyId}`
  const desired = ismPolicy(c)
  const path = `/_plugins/_ism/policies/${encodeURIComponent(c.policyId)}`
  let current: { _seq_no?: number; _primary_term?: number; policy?: { description?: string } } | undefined
  try {
    const res = await client.transport.request({ method: 'GET', path }, { ignore: [404] })
    if (res.statusCode !== 404) current = res.body as typeof current
  } catch (err) {
    if (ismMissing(err)) return { resource, action: 'skipped', detail: ISM_MISSING, missing: 'ism' }
    fail(`reading ${resource}`, err)
  }
  try {
    if (current === undefined) {
      await client.transport.request({ method: 'PUT', path, body: desired })
      return { resource, action: 'created' }
    }
    if (policyHash(current.policy?.description) === policyHash(desired.policy.description)) return { resource, action: 'unchanged' }
    await client.transport.request({
      method: 'PUT',
      path,
      body: desired,
      querystring: { if_seq_no: current._seq_no, if_primary_term: current._primary_term },
    })
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
  return installed === undefined
    ? { resource, action: 'created' }
    : {
        resource,
        action: 'updated',
        detail: `version ${installed.version ?? 0} → ${desired.version}; applies to indices created from now on`,
      }
}

type AliasView = Record<string, { aliases?: Record<string, { is_write_index?: boolean }> }>

const ROLLOVER_SKIP = 'index.plugins.index_state_management.rollover_skip'

/**
 * The alias every period index joins (through the template). When it does not exist yet, the current
 * period's index is created, so that `report`, `hunt` and monitors find the alias before the first
 * event. An index of the alias that is still its write index belongs to the earlier layout: see
 * retireWriteIndex.
 */
async function ensureReadAlias(client: Client, alias: string, c: LifecycleConfig, ism: boolean, now: number): Promise<SetupStep> {
  const resource = `read alias ${alias}`
  try {
    const res = await client.indices.getAlias({ name: alias }, { ignore: [404] })
    const view = (res.statusCode === 404 ? {} : res.body) as AliasView
    const members = Object.keys(view).filter((i) => view[i]?.aliases?.[alias] !== undefined)
    if (members.length > 0) {
      const writer = members.find((i) => view[i]!.aliases![alias]!.is_write_index === true)
      if (writer === undefined) return { resource, action: 'unchanged' }
      return await retireWriteIndex(client, resource, writer, c, ism)
    }
    if ((await client.indices.exists({ index: alias })).body === true) {
      throw new EnvoyAuditError(
        'EA_CONFIG_INVALID',
        `setup: ${alias} exists as a concrete index (written before setup?); reindex it and delete it, then run setup again`,
      )
    }
    const strays = Object.keys((await client.indices.get({ index: `${alias}-*` }, { ignore: [404] })).body ?? {})
    if (strays.length > 0) {
      throw new EnvoyAuditError(
        'EA_CONFIG_INVALID',
        `setup: ${strays.slice(0, 5).join(', ')}${strays.length > 5 ? ', ...' : ''} were written before setup ` +
          "(no alias, dynamic mapping); reindex them into the alias's indices and delete them, then run setup again",
      )
    }
    const t = eventTime(new Date(now).toISOString(), c.indexGranularity)
    const index = `${alias}-${'suffix' in t ? t.suffix : ''}`
    try {
      await client.indices.create({ index })
    } catch (err) {
      if ((err as { body?: { error?: { type?: string } } }).body?.error?.type !== 'resource_already_exists_exception') throw err
    }
    return { resource, action: 'created', detail: `first period index ${index}` }
  } catch (err) {
    if (err instanceof EnvoyAuditError) throw err
    fail(`checking ${resource}`, err)
  }
}

/**
 * The earlier layout's last write index: it stays readable through the alias, and the sink no longer
 * writes to it. Under ISM it would try to roll over forever (the template that matches its successor
 * names the alias, which rollover refuses) and never reach warm or delete, whose ages counted from a
 * rollover: rollover_skip lets its rollover step complete, and change_policy moves it to the age-based
 * policy. Without ISM there is nothing to do. Idempotent: rollover_skip marks it done.
 */
async function retireWriteIndex(client: Client, resource: string, index: string, c: LifecycleConfig, ism: boolean): Promise<SetupStep> {
  const keep = `earlier write index ${index} stays readable through the alias; writes go to period indices`
  if (!ism) return { resource, action: 'unchanged', detail: keep }
  const res = await client.indices.getSettings({ index, name: ROLLOVER_SKIP, flat_settings: true })
  const current = (res.body as Record<string, { settings?: Record<string, unknown> }>)[index]?.settings?.[ROLLOVER_SKIP]
  if (String(current) === 'true') return { resource, action: 'unchanged', detail: keep }
  await client.indices.putSettings({ index, body: { [ROLLOVER_SKIP]: true } })
  const change = await client.transport.request({
    method: 'POST',
    path: `/_plugins/_ism/change_policy/${encodeURIComponent(index)}`,
    body: { policy_id: c.policyId },
  })
  if ((change.body as { updated_indices?: number }).updated_indices !== 1) {
    // Not managed by ISM (it was set up without the policy): attach the policy.
    await client.transport.request({
      method: 'POST',
      path: `/_plugins/_ism/add/${encodeURIComponent(index)}`,
      body: { policy_id: c.policyId },
    })
  }
  return { resource, action: 'updated', detail: `${keep}; its ISM rollover is skipped and it follows ${c.policyId} by age` }
}

/**
 * Runs every step; returns what each one did. Throws EnvoyAuditError on the first failure. A step with
 * `missing: 'ism'` means retention is not enforced: the caller decides whether that is acceptable.
 */
export async function runSetup(client: Client, c: LifecycleConfig, now: number = Date.now()): Promise<SetupStep[]> {
  const steps: SetupStep[] = []
  const policy = await ensurePolicy(client, c)
  steps.push(policy)
  const ism = policy.missing !== 'ism'
  steps.push(await ensureTemplate(client, templateName(c.eventsAlias), eventsTemplate(c)))
  steps.push(await ensureTemplate(client, templateName(c.findingsAlias), findingsTemplate(c)))
  steps.push(await ensureReadAlias(client, c.eventsAlias, c, ism, now))
  steps.push(await ensureReadAlias(client, c.findingsAlias, c, ism, now))
  return steps
}
