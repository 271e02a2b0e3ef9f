/**
 * The demo mesh (simulated traffic with planted incidents) through the full pipeline into the OpenSearch
 * test server, then the AuditStore queries on OpenSearch: every planted incident must be found, and the
 * evidence report must build from OpenSearch as it does from the embedded store.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { Client } from '@opensearch-project/opensearch'
import { generateMeshTraffic, linesByFile } from '../../src/demo/mesh-traffic.js'
import { checkIncidents } from '../../src/demo/incident-check.js'
import { buildReportData } from '../../src/report/report-data.js'
import { createBatchHandler } from '../../src/pipeline/runner.js'
import { pipelineFromOptions } from '../../src/cli/pipeline-options.js'
import type { DeadLetterSink, RawRecord } from '../../src/pipeline/component.js'
import { OpenSearchSink } from '../../src/sinks/opensearch/sink.js'
import { loadSinkConfig } from '../../src/sinks/opensearch/config.js'
import { OpenSearchStore } from '../../src/store/opensearch-store.js'
import { runSetup } from '../../src/lifecycle/setup.js'
import { loadLifecycleConfig } from '../../src/lifecycle/config.js'
import { TestOpenSearch } from '../support/opensearch-server/index.js'

let srv: TestOpenSearch
let client: Client
let store: OpenSearchStore
const traffic = generateMeshTraffic({ seed: 7, sessions: 100, eastWest: true })
const range = { since: traffic.window.start, until: new Date(Date.parse(traffic.window.end) + 120_000).toISOString() }
let sinkRejections = 0

beforeAll(async () => {
  srv = await TestOpenSearch.start()
  client = new Client({ node: srv.url, maxRetries: 0 })
  await runSetup(client, loadLifecycleConfig())
  const sink = new OpenSearchSink({ client, config: loadSinkConfig({ flushIntervalMs: 1 }) })
  await sink.start()
  const dlq: DeadLetterSink = {
    start: async () => {},
    close: async () => {},
    write: async (dls) => {
      sinkRejections += dls.filter((d) => d.stage === 'sink').length
    },
  }
  const handler = createBatchHandler({ ...pipelineFromOptions({ format: 'auto' }), sink, deadLetters: dlq })
  for (const [file, lines] of linesByFile(traffic.lines)) {
    let offset = 0
    const records: RawRecord[] = lines.map((text, i) => {
      const r: RawRecord = { value: text, coords: { kind: 'file', file, line: i + 1, offset: String(offset) } }
      offset += Buffer.byteLength(text) + 1
      return r
    })
    await handler(records)
  }
  await sink.close()
  // Search is near-real-time: what the run wrote is searchable after a refresh (or refresh_interval), as on a real node.
  await client.indices.refresh({ index: 'envoy-audit-*' })
  store = new OpenSearchStore({ client })
  await store.start()
}, 60_000)

afterAll(async () => {
  await store.close()
  await client.close()
  await srv.close()
})

describe('demo mesh on OpenSearch', () => {
  test('the pipeline indexes it without a single sink rejection', async () => {
    expect(sinkRejections).toBe(0)
    expect((await store.summary(range)).events).toBeGreaterThan(200)
  })

  test('every planted incident is found through the OpenSearch store', async () => {
    const checks = await checkIncidents(store, traffic.incidents, range)
    const missing = checks
      .filter((c) => !c.found)
      .map(
        (c) =>
          `${c.incident.title}: ${c.flows
            .filter((f) => f.edge === undefined)
            .map((f) => `${f.flow.source[0]} → ${f.flow.destination[0]} (${f.flow.finding ?? ''})`)
            .join('; ')}`,
      )
    expect(missing).toEqual([])
    expect(checks.length).toBeGreaterThan(5)
  })

  test('the evidence report builds from OpenSearch', async () => {
    const report = await buildReportData(store, { range })
    expect(report.findings.total).toBeGreaterThan(0)
    expect(report.mtls.pct).not.toBeNull()
    expect(report.egress.length).toBeGreaterThan(0)
    expect(report.deniedFlows.length).toBeGreaterThan(0)
  })

  test('the report groups by cluster from OpenSearch: records, coverage, findings and the graph, as each line named them', async () => {
    const report = await buildReportData(store, { range })
    // Lines that name their cluster themselves (the envelope, or cluster_id); the pipeline here has no --cluster.
    const named = (c: string) =>
      traffic.lines.filter((l) => l.cluster === c && (l.envelope === 'fluent-bit' || l.format === 'istio-json')).length
    const west = report.clusters.find((c) => c.key === 'west')!
    expect(west.events).toBe(named('west'))
    expect(west.findings.authz_denied).toBe(1)
    expect(west.inbound).toBe(west.inboundMtls)
    const east = report.clusters.find((c) => c.key === 'east')!
    expect(east.findings.plaintext_inbound).toBeGreaterThan(0)
    expect(east.findingsTotal).toBe(Object.values(east.findings).reduce((s, n) => s + n, 0))
    const pivot = report.edges.find((e) => e.source === 'spiffe://cluster.local/ns/shop/sa/checkout' && e.destination === 'ledger.finance')
    expect([pivot?.sourceClusters, pivot?.destinationClusters]).toEqual([['east'], ['west']])
  })
})
