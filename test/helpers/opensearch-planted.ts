/**
 * Events planted in the real OpenSearch node the way the product puts them there: `setup` installs the
 * templates and aliases, the OpenSearch store's sink writes the events, and everything is read back
 * through the aliases only (the sink decides which concrete indices sit behind them). Each call uses a
 * unique prefix, and drop() deletes everything under it.
 */
import { randomBytes } from 'node:crypto'
import type { Client } from '@opensearch-project/opensearch'
import { createOpenSearchClient, loadConnectionConfig } from '../../src/connections/opensearch.js'
import { loadLifecycleConfig, type LifecycleConfig } from '../../src/lifecycle/config.js'
import { runSetup } from '../../src/lifecycle/setup.js'
import { templateName } from '../../src/lifecycle/index-template.js'
import { OpenSearchStore } from '../../src/store/opensearch-store.js'
import type { AuditEvent } from '../../src/schema/audit-event.js'
import { opensearchUrl } from './real-servers.js'

export interface Planted {
  client: Client
  prefix: string
  lifecycle: LifecycleConfig
  eventsAlias: string
  findingsAlias: string
  /** Writes events through the product's sink and makes them searchable (the store's close refreshes). */
  write(events: AuditEvent[]): Promise<void>
  /** Deletes every index, template and policy under the prefix, and closes the client. */
  drop(): Promise<void>
}

/** A client for OPENSEARCH_URL with the connection options the integration suites take from the environment. */
export async function realClient(): Promise<Client> {
  if (opensearchUrl === undefined) throw new Error('OPENSEARCH_URL is not set')
  return createOpenSearchClient(
    loadConnectionConfig({
      node: opensearchUrl,
      username: process.env.OPENSEARCH_USERNAME || undefined,
      password: process.env.OPENSEARCH_PASSWORD || undefined,
      caFile: process.env.OPENSEARCH_CA || undefined,
      insecure: process.env.OPENSEARCH_INSECURE === '1',
    }),
    { maxRetries: 3 },
  )
}

export async function plantIndices(tag: string): Promise<Planted> {
  const client = await realClient()
  const prefix = `envoy-audit-${tag}-${randomBytes(4).toString('hex')}`
  const lifecycle = loadLifecycleConfig({
    eventsAlias: `${prefix}-events`,
    findingsAlias: `${prefix}-findings`,
    policyId: `${prefix}-retention`,
    replicas: 0,
  })
  await runSetup(client, lifecycle)
  return {
    client,
    prefix,
    lifecycle,
    eventsAlias: lifecycle.eventsAlias,
    findingsAlias: lifecycle.findingsAlias,
    async write(events) {
      const store = new OpenSearchStore({
        client,
        config: { eventsIndex: lifecycle.eventsAlias, findingsIndex: lifecycle.findingsAlias },
        sink: { eventsAlias: lifecycle.eventsAlias, findingsAlias: lifecycle.findingsAlias, flushIntervalMs: 1 },
      })
      await store.start()
      try {
        const { rejected } = await store.writeEvents(events)
        if (rejected.length > 0) throw new Error(`sink rejected ${rejected.length} events: ${rejected[0]!.message}`)
      } finally {
        await store.close()
      }
    },
    async drop() {
      await client.indices.delete({ index: `${prefix}-*` }, { ignore: [404] }).catch(() => undefined)
      for (const alias of [lifecycle.eventsAlias, lifecycle.findingsAlias]) {
        await client.indices.deleteIndexTemplate({ name: templateName(alias) }, { ignore: [404] }).catch(() => undefined)
      }
      await client.transport
        .request({ method: 'DELETE', path: `/_plugins/_ism/policies/${lifecycle.policyId}` }, { ignore: [400, 404] })
        .catch(() => undefined)
      await client.close()
    },
  }
}
