/**
 * `setup --with-security-analytics`: installs, in order, the custom log type, its field mappings on the
 * events indices, the Sigma rules (category = the log type), one detector per rule group, and the
 * correlation rules whose other log type has an index in the cluster. Idempotent: each resource is looked
 * up first (by name; rules by the Sigma id in their text) and written only when absent or different, so a
 * second run reports every step unchanged. A rule already used by a detector is updated with forced=true,
 * as the rule API requires. Without the plugin (no `opensearch-security-analytics` in _cat/plugins) it
 * fails with EA_PLUGIN_MISSING before writing anything. The rules of detections/baseline go in with
 * their lists learnt from the events (security-analytics-baseline.ts), in a detector of their own.
 */
import type { Client } from '@opensearch-project/opensearch'
import { EnvoyAuditError } from '../errors.js'
import { baselineRules } from './security-analytics-baseline.js'
import type { SetupStep } from './setup.js'
import {
  correlationDefinitions,
  detectorBody,
  detectorName,
  logTypeBody,
  mappingsBody,
  aliasMappings,
  ruleGroups,
  type SecurityAnalyticsConfig,
} from './security-analytics-resources.js'

const BASE = '/_plugins/_security_analytics'
export const SECURITY_ANALYTICS_PLUGIN = 'opensearch-security-analytics'

interface Hit {
  _id: string
  _source?: Record<string, unknown>
}

function statusOf(err: unknown): number | undefined {
  const s = (err as { statusCode?: number | null }).statusCode ?? (err as { meta?: { statusCode?: number | null } }).meta?.statusCode
  return typeof s === 'number' ? s : undefined
}

function fail(what: string, err: unknown): never {
  if (err instanceof EnvoyAuditError) throw err
  const status = statusOf(err)
  const body = (err as { body?: { error?: { type?: string; reason?: string } | string } }).body
  const error = body?.error
  const detail =
    typeof error === 'string'
      ? error
      : error !== undefined
        ? `${error.type ?? ''}: ${error.reason ?? ''}`
        : err instanceof Error
          ? err.message
          : String(err)
  const code = status === 401 || status === 403 ? 'EA_SINK_AUTH' : 'EA_SINK_UNAVAILABLE'
  throw new EnvoyAuditError(code, `setup: ${what} failed${status !== undefined ? ` (HTTP ${status})` : ''}: ${detail}`, { cause: err })
}

async function call(client: Client, what: string, req: Parameters<Client['transport']['request']>[0], ignore: number[] = []) {
  try {
    return await client.transport.request(req, { ignore })
  } catch (err) {
    fail(what, err)
  }
}

/** A plugin search before the plugin's config index exists answers 404 index_not_found: nothing stored yet. */
async function search(client: Client, what: string, path: string, querystring?: Record<string, string>): Promise<Hit[]> {
  const res = await call(
    client,
    what,
    { method: 'POST', path, body: { size: 10_000, query: { match_all: {} } }, ...(querystring ? { querystring } : {}) },
    [404],
  )
  if (res.statusCode === 404) return []
  return ((res.body as { hits?: { hits?: Hit[] } }).hits?.hits ?? []) as Hit[]
}

export async function securityAnalyticsInstalled(client: Client): Promise<boolean> {
  const res = await call(client, 'listing plugins', { method: 'GET', path: '/_cat/plugins', querystring: { format: 'json' } })
  return ((res.body ?? []) as { component?: string }[]).some((p) => p.component === SECURITY_ANALYTICS_PLUGIN)
}

async function ensureLogType(client: Client, c: SecurityAnalyticsConfig): Promise<SetupStep> {
  const resource = `security analytics log type ${c.logType}`
  const desired = logTypeBody(c)
  const hits = await search(client, `reading ${resource}`, `${BASE}/logtype/_search`)
  const found = hits.find((h) => h._source?.name === c.logType)
  if (found === undefined) {
    await call(client, `creating ${resource}`, { method: 'POST', path: `${BASE}/logtype`, body: desired })
    return { resource, action: 'created' }
  }
  if (found._source?.description === desired.description) return { resource, action: 'unchanged' }
  await call(client, `updating ${resource}`, { method: 'PUT', path: `${BASE}/logtype/${encodeURIComponent(found._id)}`, body: desired })
  return { resource, action: 'updated' }
}

async function ensureMappings(client: Client, c: SecurityAnalyticsConfig): Promise<SetupStep> {
  const resource = `security analytics field mappings on ${c.eventsIndexPattern}`
  const want = aliasMappings()
  const res = await call(
    client,
    `reading ${resource}`,
    { method: 'GET', path: `${BASE}/mappings`, querystring: { index_name: c.eventsIndexPattern } },
    [404],
  )
  const current =
    res.statusCode === 404 ? {} : ((res.body ?? {}) as Record<string, { mappings?: { properties?: Record<string, { path?: string }> } }>)
  const indices = Object.values(current)
  const complete =
    indices.length > 0 && indices.every((i) => Object.entries(want).every(([name, m]) => i.mappings?.properties?.[name]?.path === m.path))
  if (complete && c.reapplyMappings !== true) return { resource, action: 'unchanged' }
  await call(client, `writing ${resource}`, { method: 'POST', path: `${BASE}/mappings`, body: mappingsBody(c) })
  const some = indices.some((i) => Object.keys(want).some((name) => i.mappings?.properties?.[name] !== undefined))
  const detail = complete ? 're-applied: the events index template was replaced' : `${Object.keys(want).length} alias fields`
  return { resource, action: some ? 'updated' : 'created', detail }
}

const SIGMA_ID = /^id:\s*['"]?([0-9a-f-]{36})['"]?\s*$/im

/** Uploads every rule; returns the steps and each rule's document id in the cluster, by Sigma id. */
async function ensureRules(client: Client, c: SecurityAnalyticsConfig): Promise<{ steps: SetupStep[]; ids: Map<string, string> }> {
  const hits = await search(client, 'reading security analytics custom rules', `${BASE}/rules/_search`, { pre_packaged: 'false' })
  const existing = new Map<string, { docId: string; text: string }>()
  for (const h of hits) {
    const text = h._source?.rule
    const sigmaId = typeof text === 'string' ? SIGMA_ID.exec(text)?.[1] : undefined
    if (sigmaId !== undefined && h._source?.category === c.logType)
      existing.set(sigmaId.toLowerCase(), { docId: h._id, text: text as string })
  }
  const steps: SetupStep[] = []
  const ids = new Map<string, string>()
  for (const rule of c.rules) {
    const resource = `security analytics rule ${rule.source}`
    const have = existing.get(rule.id.toLowerCase())
    if (have === undefined) {
      // The body is the rule's YAML as it is in the file (the rule API reads the request content as text).
      const res = await call(client, `creating ${resource}`, {
        method: 'POST',
        path: `${BASE}/rules`,
        querystring: { category: c.logType },
        body: rule.text,
      })
      ids.set(rule.id, (res.body as { _id: string })._id)
      steps.push({ resource, action: 'created' })
      continue
    }
    ids.set(rule.id, have.docId)
    if (have.text.trim() === rule.text.trim()) {
      steps.push({ resource, action: 'unchanged' })
      continue
    }
    await call(client, `updating ${resource}`, {
      method: 'PUT',
      path: `${BASE}/rules/${encodeURIComponent(have.docId)}`,
      querystring: { category: c.logType, forced: 'true' },
      body: rule.text,
    })
    steps.push({ resource, action: 'updated' })
  }
  return { steps, ids }
}

function sameRules(source: Record<string, unknown> | undefined, want: Record<string, unknown>): boolean {
  const input = (d: Record<string, unknown> | undefined) =>
    ((d?.inputs as { detector_input?: Record<string, unknown> }[] | undefined)?.[0]?.detector_input ?? {}) as {
      indices?: string[]
      custom_rules?: { id: string }[]
    }
  const a = input(source)
  const b = input(want)
  const ids = (x: typeof a) =>
    (x.custom_rules ?? [])
      .map((r) => r.id)
      .sort()
      .join(',')
  const schedule = (d: Record<string, unknown> | undefined) =>
    JSON.stringify((d?.schedule as { period?: unknown } | undefined)?.period ?? null)
  return (
    ids(a) === ids(b) &&
    (a.indices ?? []).join(',') === (b.indices ?? []).join(',') &&
    schedule(source) === schedule(want) &&
    source?.enabled === true
  )
}

async function ensureDetectors(client: Client, c: SecurityAnalyticsConfig, ruleIds: Map<string, string>): Promise<SetupStep[]> {
  const hits = await search(client, 'reading security analytics detectors', `${BASE}/detectors/_search`)
  const byName = new Map<string, Hit>()
  for (const h of hits) {
    const d = (h._source?.detector as Record<string, unknown> | undefined) ?? h._source
    if (typeof d?.name === 'string') byName.set(d.name, { _id: h._id, _source: d })
  }
  const steps: SetupStep[] = []
  for (const [group, rules] of ruleGroups(c.rules)) {
    const name = detectorName(group)
    const resource = `security analytics detector ${name}`
    const body = detectorBody(
      c,
      group,
      rules.map((r) => ruleIds.get(r.id)!),
    )
    const have = byName.get(name)
    if (have === undefined) {
      await call(client, `creating ${resource}`, { method: 'POST', path: `${BASE}/detectors`, body })
      steps.push({ resource, action: 'created', detail: `${rules.length} rules` })
    } else if (sameRules(have._source, body)) {
      steps.push({ resource, action: 'unchanged' })
    } else {
      await call(client, `updating ${resource}`, { method: 'PUT', path: `${BASE}/detectors/${encodeURIComponent(have._id)}`, body })
      steps.push({ resource, action: 'updated', detail: `${rules.length} rules` })
    }
  }
  return steps
}

async function indexExists(client: Client, pattern: string): Promise<boolean> {
  try {
    const res = await client.indices.get({ index: pattern }, { ignore: [404] })
    return res.statusCode !== 404 && Object.keys(res.body ?? {}).length > 0
  } catch (err) {
    fail(`looking for ${pattern}`, err)
  }
}

async function ensureCorrelations(client: Client, c: SecurityAnalyticsConfig): Promise<SetupStep[]> {
  const hits = await search(client, 'reading security analytics correlation rules', `${BASE}/correlation/rules/_search`)
  const steps: SetupStep[] = []
  for (const def of correlationDefinitions(c)) {
    const resource = `security analytics correlation rule ${def.name}`
    if (!(await indexExists(client, def.otherIndexPattern))) {
      steps.push({ resource, action: 'skipped', detail: `no index matches ${def.otherIndexPattern}` })
      continue
    }
    const have = hits.find((h) => h._source?.name === def.name)
    if (have === undefined) {
      await call(client, `creating ${resource}`, { method: 'POST', path: `${BASE}/correlation/rules`, body: def.body })
      steps.push({ resource, action: 'created' })
    } else if (JSON.stringify(have._source?.correlate) === JSON.stringify(def.body.correlate)) {
      steps.push({ resource, action: 'unchanged' })
    } else {
      await call(client, `updating ${resource}`, {
        method: 'PUT',
        path: `${BASE}/correlation/rules/${encodeURIComponent(have._id)}`,
        body: def.body,
      })
      steps.push({ resource, action: 'updated' })
    }
  }
  return steps
}

export async function provisionSecurityAnalytics(client: Client, c: SecurityAnalyticsConfig): Promise<SetupStep[]> {
  if (!(await securityAnalyticsInstalled(client)))
    throw new EnvoyAuditError(
      'EA_PLUGIN_MISSING',
      `setup: the Security Analytics plugin (${SECURITY_ANALYTICS_PLUGIN}) is not installed on this cluster; ` +
        'install it (bin/opensearch-plugin install opensearch-security-analytics) or run setup without --with-security-analytics',
    )
  const baseline = c.baseline === undefined ? { rules: [], steps: [] } : await baselineRules(client, c.baseline)
  const all = { ...c, rules: [...c.rules, ...baseline.rules] }
  const steps: SetupStep[] = [await ensureLogType(client, c), await ensureMappings(client, c)]
  const rules = await ensureRules(client, all)
  steps.push(...baseline.steps)
  steps.push(...rules.steps, ...(await ensureDetectors(client, all, rules.ids)), ...(await ensureCorrelations(client, c)))
  return steps
}
