/**
 * `report --cluster NAME` over the demo's two clusters: every number of the report counts only the
 * records of the selected clusters, as `hunt` and `flows` select them (written by a proxy there, or
 * naming one as either end), on the embedded store and on OpenSearch (the project's test server, and
 * the real node when OPENSEARCH_URL is set), and through the command.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { Client } from '@opensearch-project/opensearch'
import { CLUSTERS } from '../../src/demo/east-west.js'
import { generateMeshTraffic } from '../../src/demo/mesh-traffic.js'
import { loadLifecycleConfig } from '../../src/lifecycle/config.js'
import { runSetup } from '../../src/lifecycle/setup.js'
import { buildReportData, type ReportData } from '../../src/report/report-data.js'
import type { AuditEvent } from '../../src/schema/audit-event.js'
import { DuckDbStore } from '../../src/store/duckdb-store.js'
import { OpenSearchStore } from '../../src/store/opensearch-store.js'
import { runCli } from '../helpers/cli.js'
import { ingestDemoLogs } from '../helpers/demo-logs.js'
import { plantIndices } from '../helpers/opensearch-planted.js'
import { describeOpenSearch } from '../helpers/real-servers.js'
import { TestOpenSearch } from '../support/opensearch-server/index.js'

const traffic = generateMeshTraffic({ seed: 42, sessions: 200, noise: false, eastWest: true })
const dir = mkdtempSync(join(tmpdir(), 'ea-report-clusters-'))
const path = join(dir, 'audit.duckdb')
let events: AuditEvent[] = []

const namesOf = (e: AuditEvent): (string | undefined)[] => [
  e.orchestrator?.cluster?.name,
  e.mesh?.source?.cluster,
  e.mesh?.destination?.cluster,
]
const inCluster = (e: AuditEvent, c: string): boolean => namesOf(e).includes(c)

/** What the report of cluster `c` must count, from the events themselves. */
function expected(c: string): { events: number; findings: Record<string, number> } {
  const mine = events.filter((e) => inCluster(e, c))
  const findings: Record<string, number> = {}
  for (const e of mine) for (const f of e.audit.findings ?? []) findings[f.code] = (findings[f.code] ?? 0) + 1
  return { events: mine.length, findings }
}

const byCode = (d: ReportData): Record<string, number> => Object.fromEntries(d.findings.byCode.map((l) => [l.code, l.count]))

beforeAll(async () => {
  const store = new DuckDbStore({ path })
  await store.start()
  try {
    await ingestDemoLogs(dir, traffic.lines, store)
    const { rows } = await store.sql('SELECT event_json FROM events ORDER BY ts, id')
    events = rows.map((r) => JSON.parse(String(r.event_json)) as AuditEvent)
  } finally {
    await store.close()
  }
}, 180_000)
afterAll(() => rmSync(dir, { recursive: true, force: true }))

function suite(open: () => Promise<{ store: DuckDbStore | OpenSearchStore; close(): Promise<void> }>): void {
  let target: { store: DuckDbStore | OpenSearchStore; close(): Promise<void> }
  beforeAll(async () => {
    target = await open()
  }, 120_000)
  afterAll(async () => {
    await target?.close()
  })

  for (const cluster of [CLUSTERS.first, CLUSTERS.second])
    test(`--cluster ${cluster}: the records, findings and edges of ${cluster} only`, async () => {
      const want = expected(cluster)
      // The premise: each cluster holds part of the demo, and the crossing calls are in both.
      expect(want.events).toBeGreaterThan(0)
      expect(want.events).toBeLessThan(events.length)
      const data = await buildReportData(target.store, { range: { inClusters: [cluster] } })
      expect(data.summary.events).toBe(want.events)
      expect(data.clusters.reduce((s, c) => s + c.events, 0)).toBe(want.events)
      expect(byCode(data)).toEqual(want.findings)
      expect(data.edges.length).toBeGreaterThan(0)
      // An edge names the clusters its lines' peer metadata gave (none for a line without it): then the selected one.
      for (const e of data.edges) {
        const named = [...(e.sourceClusters ?? []), ...(e.destinationClusters ?? [])]
        if (named.length > 0) expect(named, `${e.source} → ${e.destination}`).toContain(cluster)
      }
      const other = cluster === CLUSTERS.first ? CLUSTERS.second : CLUSTERS.first
      const all = await buildReportData(target.store)
      const onlyOther = all.edges.filter((e) => {
        const named = [...(e.sourceClusters ?? []), ...(e.destinationClusters ?? [])]
        return named.length > 0 && !named.includes(cluster)
      })
      expect(onlyOther.length, `edges of ${other} alone`).toBeGreaterThan(0)
      for (const e of onlyOther) expect(data.edges.find((x) => x.source === e.source && x.destination === e.destination)).toBeUndefined()
      // The whole store stays visible next to the selection.
      expect(data.storeRange.events).toBe(events.length)
    })

  test('both clusters, comma-separated or not, are the whole demo', async () => {
    const all = await buildReportData(target.store)
    const both = await buildReportData(target.store, { range: { inClusters: [CLUSTERS.first, CLUSTERS.second] } })
    expect(both.summary.events).toBe(all.summary.events)
    expect(byCode(both)).toEqual(byCode(all))
    const none = await buildReportData(target.store, { range: { inClusters: ['nowhere'] } })
    expect(none.summary.events).toBe(0)
    expect(none.warnings[0]).toContain('no events of cluster nowhere')
  })
}

describe('report --cluster on the embedded store', () =>
  suite(async () => {
    const store = new DuckDbStore({ path, readOnly: true })
    await store.start()
    return { store, close: () => store.close() }
  }))

describe('report --cluster on OpenSearch (test server)', () =>
  suite(async () => {
    const srv = await TestOpenSearch.start()
    const client = new Client({ node: srv.url, maxRetries: 0 })
    await runSetup(client, loadLifecycleConfig())
    const store = new OpenSearchStore({ client, sink: { flushIntervalMs: 1 } })
    await store.start()
    const { rejected } = await store.writeEvents(events)
    expect(rejected).toEqual([])
    return {
      store,
      close: async () => {
        await store.close()
        await client.close()
        await srv.close()
      },
    }
  }))

describeOpenSearch('report --cluster on OpenSearch, indexed by the product', () =>
  suite(async () => {
    const planted = await plantIndices('rclusters')
    await planted.write(events)
    const store = new OpenSearchStore({
      client: planted.client,
      config: { eventsIndex: planted.eventsAlias, findingsIndex: planted.findingsAlias },
    })
    await store.start()
    return { store, close: async () => store.close().finally(() => planted.drop()) }
  }),
)

describe('envoy-audit report --cluster', () => {
  test('narrows the JSON report; --help names the option', async () => {
    const r = await runCli(['report', '--store', path, '--format', 'json', '--cluster', CLUSTERS.second], { timeoutMs: 60_000 })
    expect(r.code, r.stderr).toBe(0)
    const data = JSON.parse(r.stdout) as ReportData
    expect(data.range.inClusters).toEqual([CLUSTERS.second])
    expect(data.summary.events).toBe(expected(CLUSTERS.second).events)
    const both = await runCli(['report', '--store', path, '--format', 'json', '--cluster', `${CLUSTERS.first},${CLUSTERS.second}`])
    expect((JSON.parse(both.stdout) as ReportData).summary.events).toBe(events.length)
    expect((await runCli(['report', '--help'])).stdout).toContain('--cluster <name...>')
  }, 120_000)
})
