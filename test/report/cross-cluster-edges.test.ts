/**
 * An east-west call leaves three lines: the client sidecar's in the first cluster, the east-west
 * gateway's TCP passthrough line and the server sidecar's in the second. The report's service graph
 * counts it once, as one edge naming both clusters (the server line's, which carries the client's
 * certificate and both cluster ids). Before the flows view matched lines across clusters, payments →
 * ledger appeared twice (`payments/payments` from the client line, the SPIFFE ID from the server line)
 * and the gateway's lines as a third edge from the client's address to the Istio SNI.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { generateMeshTraffic } from '../../src/demo/mesh-traffic.js'
import { CLUSTERS } from '../../src/demo/east-west.js'
import { buildReportData, type ReportData } from '../../src/report/report-data.js'
import { ingestDemoLogs } from '../helpers/demo-logs.js'
import { DuckDbStore } from '../../src/store/duckdb-store.js'

const traffic = generateMeshTraffic({ seed: 42, sessions: 200, noise: false, eastWest: true })
const PAYMENTS = 'spiffe://cluster.local/ns/payments/sa/payments'
const LEDGER = 'ledger.finance'
const dir = mkdtempSync(join(tmpdir(), 'ea-report-xc-'))
const store = new DuckDbStore({ path: ':memory:' })
let data: ReportData

beforeAll(async () => {
  await store.start()
  await ingestDemoLogs(dir, traffic.lines, store)
  data = await buildReportData(store)
}, 120_000)
afterAll(async () => {
  await store.close()
  rmSync(dir, { recursive: true, force: true })
})

async function count(sql: string): Promise<number> {
  const { rows } = await store.sql(sql)
  return Number(rows[0]!.n)
}

describe('report edges across an east-west gateway', () => {
  test('payments → ledger is one edge, counted once per call, east → west', async () => {
    const serverLines = await count(
      `SELECT count(*) AS n FROM events WHERE reporter = 'destination' AND src_spiffe_id = '${PAYMENTS}' AND dst_service = 'ledger'`,
    )
    const clientLines = await count(
      `SELECT count(*) AS n FROM events WHERE reporter = 'source' AND k8s_app = 'payments' AND dst_service = 'ledger'`,
    )
    // The premise: every call was logged by both sidecars, in different clusters.
    expect(serverLines).toBeGreaterThan(0)
    expect(clientLines).toBe(serverLines)
    const intoLedger = data.edges.filter((e) => e.destination === LEDGER && e.source.includes('payments'))
    expect(intoLedger.map((e) => [e.source, e.count, e.sourceClusters, e.destinationClusters])).toEqual([
      [PAYMENTS, serverLines, [CLUSTERS.first], [CLUSTERS.second]],
    ])
  })

  test('every call into ledger counts once, and the gateway passthrough is no edge of its own', async () => {
    const calls = await count(`SELECT count(*) AS n FROM events WHERE reporter = 'destination' AND dst_service = 'ledger'`)
    const gatewayLines = await count(
      `SELECT count(*) AS n FROM events WHERE reporter = 'gateway' AND starts_with(requested_server_name, 'outbound_.')`,
    )
    expect(gatewayLines).toBeGreaterThan(0)
    expect(data.edges.filter((e) => e.destination === LEDGER).reduce((s, e) => s + e.count, 0)).toBe(calls)
    expect(data.edges.filter((e) => e.destination.startsWith('outbound_.'))).toEqual([])
    // The crossing edges name both clusters; the local ones (statements → ledger) only the second.
    for (const e of data.edges.filter((x) => x.destination === LEDGER)) expect(e.destinationClusters).toEqual([CLUSTERS.second])
  })
})
