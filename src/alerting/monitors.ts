/**
 * Provisions the OpenSearch Alerting monitors whose definitions live in dashboards/monitors/*.json
 * (reviewable files, one monitor each). Create-or-update by name, idempotently: each provisioned
 * monitor carries a hash of its definition in `ui_metadata.envoy_audit`, because the server rewrites
 * the stored query (range gte/lte become from/to, adds enabled_time, schema_version...), so comparing
 * bodies would report a change on every run.
 */
import { packageFile } from '../package-root.js'
import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { EnvoyAuditError } from '../errors.js'

/** The slice of @opensearch-project/opensearch's Client this needs (a Client satisfies it). */
export interface TransportClient {
  transport: {
    request(
      params: { method: string; path: string; body?: Record<string, unknown>; querystring?: Record<string, unknown> },
      options?: { ignore?: number[] },
    ): Promise<{ statusCode: number | null; body: unknown }>
  }
}

export interface MonitorDefinition {
  /** File the definition came from, for messages. */
  file: string
  body: Record<string, unknown> & { name: string }
}

export interface ProvisionMonitorsOptions {
  /** Directory of monitor JSON files; default: dashboards/monitors of this package. */
  dir?: string
  /** Notifications channel id: when set, every trigger gets an action sending to it. */
  channelId?: string
  /** Minutes between repeated notifications of one active alert (action throttle); default 60. */
  throttleMinutes?: number
  /** Index pattern replacing `envoy-audit-events*` (for a renamed events alias). */
  eventsIndex?: string
  /** Provision disabled monitors (review first, enable in Dashboards). Default false. */
  disabled?: boolean
}

export interface ProvisionMonitorsResult {
  created: string[]
  updated: string[]
  unchanged: string[]
}

const DEFAULT_EVENTS_INDEX = 'envoy-audit-events*'
const MONITORS_PATH = '/_plugins/_alerting/monitors'

/** Finds dashboards/monitors next to the package: src/alerting under tsx, dist/src/alerting when built. */
export function defaultMonitorsDir(): string {
  return packageFile('dashboards/monitors')
}

/** Reads and checks every *.json monitor definition in the directory, sorted by file name. */
export function loadMonitorDefinitions(dir: string = defaultMonitorsDir()): MonitorDefinition[] {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
  const names = new Set<string>()
  return files.map((file) => {
    let body: unknown
    try {
      body = JSON.parse(readFileSync(path.join(dir, file), 'utf8'))
    } catch (err) {
      throw new EnvoyAuditError('EA_CONFIG_INVALID', `monitor ${file}: not valid JSON: ${(err as Error).message}`)
    }
    const b = body as Record<string, unknown>
    if (b === null || typeof b !== 'object' || b.type !== 'monitor' || typeof b.name !== 'string' || !Array.isArray(b.triggers)) {
      throw new EnvoyAuditError('EA_CONFIG_INVALID', `monitor ${file}: needs type "monitor", a name and triggers`)
    }
    if (names.has(b.name)) throw new EnvoyAuditError('EA_CONFIG_INVALID', `monitor ${file}: duplicate name ${b.name}`)
    names.add(b.name)
    return { file, body: b as MonitorDefinition['body'] }
  })
}

/** Applies the options to a definition: channel actions, index pattern, enabled flag, and the hash. */
export function renderMonitor(def: MonitorDefinition, opts: ProvisionMonitorsOptions = {}): Record<string, unknown> {
  const body = structuredClone(def.body) as Record<string, unknown>
  if (opts.disabled === true) body.enabled = false
  if (opts.eventsIndex !== undefined && opts.eventsIndex !== DEFAULT_EVENTS_INDEX) {
    for (const input of (body.inputs as Array<{ search?: { indices?: string[] } }> | undefined) ?? []) {
      if (input.search?.indices !== undefined) {
        input.search.indices = input.search.indices.map((i) => (i === DEFAULT_EVENTS_INDEX ? opts.eventsIndex! : i))
      }
    }
  }
  if (opts.channelId !== undefined) {
    for (const t of body.triggers as Array<Record<string, { name: string; actions?: unknown[] }>>) {
      const trig = t.query_level_trigger ?? t.bucket_level_trigger ?? t.document_level_trigger
      if (trig === undefined) continue
      trig.actions = [
        {
          name: `notify: ${trig.name}`.slice(0, 100),
          destination_id: opts.channelId,
          message_template: {
            source:
              'Monitor {{ctx.monitor.name}} fired: {{ctx.trigger.name}} (severity {{ctx.trigger.severity}}).\n' +
              'Period {{ctx.periodStart}} to {{ctx.periodEnd}}. Matching events: {{ctx.results.0.hits.total.value}}.',
          },
          subject_template: { source: 'envoy-audit: {{ctx.monitor.name}}' },
          throttle_enabled: true,
          throttle: { value: opts.throttleMinutes ?? 60, unit: 'MINUTES' },
        },
      ]
    }
  }
  // Hash of everything above, so an option change (new channel, new index) is an update too.
  const hash = createHash('sha256').update(JSON.stringify(body)).digest('hex').slice(0, 16)
  body.ui_metadata = { envoy_audit: { definition_hash: hash, file: def.file } }
  return body
}

interface FoundMonitor {
  id: string
  hash: string | undefined
}

async function findByName(client: TransportClient, name: string): Promise<FoundMonitor | undefined> {
  const res = await client.transport.request(
    {
      method: 'POST',
      path: `${MONITORS_PATH}/_search`,
      body: { size: 100, query: { bool: { must: [{ match_phrase: { 'monitor.name': name } }] } } },
    },
    // 404: the alerting config index does not exist before the first monitor is created.
    { ignore: [404] },
  )
  if (res.statusCode === 404) return undefined
  const hits = (res.body as { hits?: { hits?: Array<{ _id: string; _source?: Record<string, unknown> }> } }).hits?.hits ?? []
  for (const h of hits) {
    // Depending on version the source is the monitor itself or wraps it under `monitor`.
    const src = (h._source?.monitor ?? h._source) as
      { name?: string; ui_metadata?: { envoy_audit?: { definition_hash?: string } } } | undefined
    if (src?.name === name) return { id: h._id, hash: src.ui_metadata?.envoy_audit?.definition_hash }
  }
  return undefined
}

/**
 * Creates missing monitors, updates those whose definition (or options) changed, leaves the rest.
 * Running it twice in a row changes nothing. Errors name the monitor file.
 */
export async function provisionMonitors(client: TransportClient, opts: ProvisionMonitorsOptions = {}): Promise<ProvisionMonitorsResult> {
  const defs = loadMonitorDefinitions(opts.dir)
  const result: ProvisionMonitorsResult = { created: [], updated: [], unchanged: [] }
  for (const def of defs) {
    const body = renderMonitor(def, opts)
    const hash = (body.ui_metadata as { envoy_audit: { definition_hash: string } }).envoy_audit.definition_hash
    try {
      const found = await findByName(client, def.body.name)
      if (found === undefined) {
        await client.transport.request({ method: 'POST', path: MONITORS_PATH, body })
        result.created.push(def.body.name)
      } else if (found.hash !== hash) {
        await client.transport.request({ method: 'PUT', path: `${MONITORS_PATH}/${encodeURIComponent(found.id)}`, body })
        result.updated.push(def.body.name)
      } else {
        result.unchanged.push(def.body.name)
      }
    } catch (err) {
      if (err instanceof EnvoyAuditError) throw err
      const status = (err as { meta?: { statusCode?: number } }).meta?.statusCode
      const code =
        status === 401 || status === 403
          ? 'EA_SINK_AUTH'
          : status !== undefined && status < 500 && status !== 429
            ? 'EA_SINK_MAPPING'
            : 'EA_SINK_UNAVAILABLE'
      throw new EnvoyAuditError(code, `monitor ${def.file} (${def.body.name}): ${(err as Error).message}`, { cause: err })
    }
  }
  return result
}
