/**
 * Against a real OpenSearch with the Alerting plugin, when OPENSEARCH_URL is set (OPENSEARCH_USERNAME /
 * OPENSEARCH_PASSWORD, OPENSEARCH_CA for a private CA, OPENSEARCH_INSECURE=1 for a throwaway cluster),
 * and a real Dashboards when DASHBOARDS_URL is also set. The monitors are created under a random name
 * prefix, dry-run executed (which compiles and runs their Painless trigger scripts), and deleted.
 * Without OPENSEARCH_URL the suite is skipped; without the Alerting plugin on that node, the monitor test is.
 */
import { afterAll, beforeAll, expect, test } from 'vitest'
import { describeOpenSearch, opensearchPlugins, opensearchUrl as url } from '../helpers/real-servers.js'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { Client } from '@opensearch-project/opensearch'
import { createOpenSearchClient, loadConnectionConfig } from '../../src/connections/opensearch.js'
import { loadMonitorDefinitions, provisionMonitors } from '../../src/alerting/monitors.js'
import { importDashboards } from '../../src/alerting/dashboards.js'

const dashboards = process.env.DASHBOARDS_URL
// The Alerting plugin is not served by Maven Central, so the node npm run services:up starts lacks it;
// the monitors' queries and Painless triggers are run on that node by test/alerting/monitors-real.test.ts.
const hasAlerting = url !== undefined && (await opensearchPlugins(url)).has('opensearch-alerting')

describeOpenSearch('Alerting plugin', () => {
  const prefix = `envoy-audit-it-${randomBytes(4).toString('hex')}`
  const dir = mkdtempSync(path.join(tmpdir(), 'monitors-'))
  let client: Client
  const created: string[] = []

  beforeAll(async () => {
    if (!hasAlerting) return
    for (const def of loadMonitorDefinitions())
      writeFileSync(path.join(dir, def.file), JSON.stringify({ ...def.body, name: `${prefix} ${def.body.name}`, enabled: false }))
    client = await createOpenSearchClient(
      loadConnectionConfig({
        node: url,
        username: process.env.OPENSEARCH_USERNAME || undefined,
        password: process.env.OPENSEARCH_PASSWORD || undefined,
        caFile: process.env.OPENSEARCH_CA || undefined,
        insecure: process.env.OPENSEARCH_INSECURE === '1',
      }),
      { maxRetries: 3 },
    )
  })

  afterAll(async () => {
    if (client === undefined) return
    for (const id of created)
      await client.transport
        .request({ method: 'DELETE', path: `/_plugins/_alerting/monitors/${id}` }, { ignore: [404] })
        .catch(() => undefined)
    await client.close()
  })

  test.skipIf(!hasAlerting)(
    'monitors are accepted, idempotent, and their queries and triggers execute without error (needs the Alerting plugin)',
    async () => {
      const first = await provisionMonitors(client, { dir })
      expect(first.created).toHaveLength(5)
      // The alerting config index is refreshed asynchronously after a create.
      await new Promise((r) => setTimeout(r, 1500))
      const second = await provisionMonitors(client, { dir })
      expect(second.unchanged).toHaveLength(5)
      const found = await client.transport.request({
        method: 'POST',
        path: '/_plugins/_alerting/monitors/_search',
        body: { size: 20, query: { bool: { must: [{ match_phrase: { 'monitor.name': prefix } }] } } },
      })
      const hits = (found.body as { hits: { hits: Array<{ _id: string }> } }).hits.hits
      created.push(...hits.map((h) => h._id))
      expect(created).toHaveLength(5)
      for (const id of created) {
        const run = await client.transport.request({
          method: 'POST',
          path: `/_plugins/_alerting/monitors/${id}/_execute`,
          querystring: { dryrun: 'true' },
        })
        const body = run.body as { input_results: { error: unknown }; trigger_results: Record<string, { error: unknown }> }
        expect(body.input_results.error ?? null, id).toBeNull()
        for (const t of Object.values(body.trigger_results)) expect(t.error ?? null, id).toBeNull()
      }
    },
    60_000,
  )

  test.skipIf(dashboards === undefined || dashboards === '')(
    'saved objects import into a real Dashboards (DASHBOARDS_URL)',
    async () => {
      const user = process.env.OPENSEARCH_USERNAME
      const password = process.env.OPENSEARCH_PASSWORD
      const r = await importDashboards(dashboards!, {
        ...(user && password ? { auth: { username: user, password } } : {}),
        rejectUnauthorized: process.env.OPENSEARCH_INSECURE !== '1',
      })
      expect(r.imported).toContain('dashboard/envoy-audit-conmon')
    },
    60_000,
  )
})
