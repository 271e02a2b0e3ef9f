/**
 * `envoy-audit alerting provision`: creates or updates the OpenSearch Alerting monitors
 * (dashboards/monitors/*.json) and imports the Dashboards saved objects (dashboards/envoy-audit.ndjson).
 * Idempotent, like `setup`, and usable on its own after editing a monitor file. It takes the same
 * connection options as `setup` (opensearch-options.ts); Dashboards is reached with the same user and CA
 * unless told otherwise.
 */
import { readFileSync } from 'node:fs'
import type { Command } from 'commander'
import { EnvoyAuditError } from '../errors.js'
import { createOpenSearchClient } from '../connections/opensearch.js'
import { provisionMonitors } from '../alerting/monitors.js'
import { importDashboards } from '../alerting/dashboards.js'
import { addOpenSearchOptions, connectionFromOptions, type OpenSearchCliOptions } from './opensearch-options.js'

export interface ProvisionOptions extends OpenSearchCliOptions {
  dashboards?: string
  dashboardsCa?: string
  tenant?: string
  channelId?: string
  eventsIndex: string
  disabled?: boolean
  monitors: boolean
  savedObjects: boolean
  json?: boolean
}

export function registerAlerting(program: Command): void {
  const alerting = program.command('alerting').description('OpenSearch Alerting monitors and Dashboards saved objects for ConMon')
  const cmd = alerting
    .command('provision')
    .description('create or update the monitors in dashboards/monitors and import dashboards/envoy-audit.ndjson (idempotent)')
    .option(
      '--dashboards <url>',
      'OpenSearch Dashboards URL, e.g. http://dashboards:5601 (or DASHBOARDS_URL); without it, saved objects are skipped',
    )
    .option('--dashboards-ca <file>', 'PEM CA for Dashboards when it serves HTTPS (default: --ca)')
    .option('--tenant <name>', 'security-plugin tenant to import the saved objects into, e.g. global')
    .option('--channel-id <id>', 'Notifications channel id: every monitor trigger notifies it')
    .option('--events-index <pattern>', 'index pattern the monitors search', 'envoy-audit-events*')
    .option('--disabled', 'create the monitors disabled (enable them after review)')
    .option('--no-monitors', 'skip the monitors')
    .option('--no-saved-objects', 'skip the Dashboards import')
    .option('--json', 'print the result as JSON')
  addOpenSearchOptions(cmd).action((opts: ProvisionOptions) => provisionAlerting(opts))
}

/** Monitors and saved objects, printed as a report; shared by `alerting provision` and `setup --with-alerting`. */
export async function provisionAlerting(opts: ProvisionOptions): Promise<void> {
  const out: Record<string, unknown> = {}
  const connection = connectionFromOptions(opts)
  if (opts.monitors) {
    const client = await createOpenSearchClient(connection, { maxRetries: 3 })
    try {
      out.monitors = await provisionMonitors(client, {
        eventsIndex: opts.eventsIndex,
        ...(opts.channelId !== undefined ? { channelId: opts.channelId } : {}),
        ...(opts.disabled === true ? { disabled: true } : {}),
      })
    } finally {
      await client.close()
    }
  }
  const dashboardsUrl = opts.dashboards ?? process.env.DASHBOARDS_URL
  if (opts.savedObjects && dashboardsUrl !== undefined) {
    const caFile = opts.dashboardsCa ?? opts.ca
    let ca: Buffer | undefined
    if (caFile !== undefined) {
      try {
        ca = readFileSync(caFile)
      } catch (err) {
        throw new EnvoyAuditError('EA_IO', `--dashboards-ca: cannot read ${caFile}: ${(err as Error).message}`)
      }
    }
    // The compose stack reaches Dashboards over http:// inside its own network, so this is said, not refused.
    if (connection.password !== undefined && /^http:/i.test(dashboardsUrl))
      process.stderr.write(
        `envoy-audit: WARNING: ${dashboardsUrl} is http://: the OpenSearch password travels to Dashboards in plaintext\n`,
      )
    out.savedObjects = await importDashboards(dashboardsUrl, {
      ...(connection.username !== undefined && connection.password !== undefined
        ? { auth: { username: connection.username, password: connection.password } }
        : {}),
      ...(ca !== undefined ? { ca } : {}),
      rejectUnauthorized: !connection.insecure,
      ...(opts.tenant !== undefined ? { tenant: opts.tenant } : {}),
    })
  }
  if (opts.json === true) {
    process.stdout.write(JSON.stringify(out) + '\n')
    return
  }
  const m = out.monitors as { created: string[]; updated: string[]; unchanged: string[] } | undefined
  if (m !== undefined) {
    for (const n of m.created) process.stdout.write(`created   monitor ${n}\n`)
    for (const n of m.updated) process.stdout.write(`updated   monitor ${n}\n`)
    for (const n of m.unchanged) process.stdout.write(`unchanged monitor ${n}\n`)
  }
  const s = out.savedObjects as { successCount: number } | undefined
  if (s !== undefined) process.stdout.write(`imported  ${s.successCount} saved objects into Dashboards\n`)
  else if (opts.savedObjects) process.stdout.write('skipped   saved objects (no --dashboards URL)\n')
}
