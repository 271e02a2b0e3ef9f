/**
 * The demo's promise: every planted incident comes out of the real pipeline (parse → SPIFFE → AU-3 →
 * detect → DuckDB) as a finding with the right identities. Each incident is asserted here with its own
 * store query, independently of the demo's built-in self-check, which is tested separately below.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { FLUENT_BIT_FILE_SECOND, generateMeshTraffic, linesByFile } from '../../src/demo/mesh-traffic.js'
import { CLUSTERS, EXFIL_HOST, SENSITIVE_NAMESPACE } from '../../src/demo/east-west.js'
import type { MeshTraffic } from '../../src/demo/mesh-traffic.js'
import { BLOCKED_HOST, EGRESS_HOST, EXT_AUTHZ_CLIENT, FOREIGN_PEER, WEAK_TLS_CLIENTS } from '../../src/demo/incidents.js'
import { spiffeId } from '../../src/demo/mesh-topology.js'
import { checkIncidents } from '../../src/demo/incident-check.js'
import { runDemo } from '../../src/demo/run-demo.js'
import { DuckDbStore } from '../../src/store/duckdb-store.js'
import { ingestFiles } from '../../src/compose/ingest.js'
import type { EdgeRow } from '../../src/store/store.js'

const dir = mkdtempSync(join(tmpdir(), 'ea-demo-'))
const traffic: MeshTraffic = generateMeshTraffic({ seed: 42, sessions: 300 })
const store = new DuckDbStore({ path: ':memory:' })
let files: string[] = []

/** The parser and the annotating stages only (no redaction), as these incidents were measured with. */
function processing() {
  return { parser: { format: 'auto' }, redaction: { enabled: false } }
}

async function ingest() {
  return ingestFiles({ files, store, processing: processing(), deadLetterPath: join(dir, 'dlq.ndjson') })
}

beforeAll(async () => {
  mkdirSync(join(dir, 'logs'))
  for (const [name, lines] of linesByFile(traffic.lines)) {
    const path = join(dir, 'logs', name)
    writeFileSync(path, lines.join('\n') + '\n')
    files.push(path)
  }
  files = files.sort()
  await store.start()
  await ingest()
})
afterAll(async () => {
  await store.close()
  rmSync(dir, { recursive: true, force: true })
})

const w = (name: string) => traffic.topology.get(name)
const id = (name: string) => spiffeId(w(name))
const edgesWith = (finding: string): Promise<EdgeRow[]> => store.edges({ finding, limit: 1000 })
const pair = (rows: EdgeRow[]) => rows.map((r) => `${r.source} -> ${r.destination}`)

describe('planted incidents, each found by finding code and identities', () => {
  test('legacy workload in plaintext under PERMISSIVE: plaintext_inbound from its pod address to payments', async () => {
    const rows = await edgesWith('plaintext_inbound')
    expect(pair(rows)).toEqual([`${w('legacy-billing').pods[0]!.ip} -> payments.payments`])
    expect(rows[0]!.mtls).toBe(0)
  })

  test('STRICT rejects the same workload: plaintext_rejected at the auth pod', async () => {
    const rows = await edgesWith('plaintext_rejected')
    expect(rows.map((r) => r.source)).toEqual([w('legacy-billing').pods[0]!.ip])
    expect(w('auth').pods.map((p) => `${p.ip}:${w('auth').port}`)).toContain(rows[0]!.destination)
    expect(rows[0]!.count).toBe(3)
  })

  test('RBAC DENY policy: authz_denied from catalog to cart, with the policy id kept', async () => {
    const rows = await edgesWith('authz_denied')
    expect(pair(rows)).toContain(`${id('catalog')} -> cart.shop`)
    const events = await store.events({ finding: 'authz_denied', limit: 100 })
    expect(events.map((e) => e.envoy.rbac_policy)).toContain('ns[shop]-policy[deny-catalog-writes]-rule[0]')
  })

  test('passthrough egress: unregistered_egress to the external host, from payments', async () => {
    const egress = await store.egress()
    const row = egress.find((r) => r.destination === EGRESS_HOST.host)!
    expect(row.cluster).toBe('PassthroughCluster')
    expect(row.sources).toEqual(['payments/payments'])
    expect(pair(await edgesWith('unregistered_egress')).every((p) => p.endsWith(`-> ${EGRESS_HOST.host}`))).toBe(true)
  })

  test('blocked egress: egress_blocked to the black hole, from reviews', async () => {
    expect(pair(await edgesWith('egress_blocked'))).toEqual([`catalog/reviews -> ${BLOCKED_HOST.host}`])
  })

  test('weak TLS clients at the gateway: weak_tls from both client addresses', async () => {
    const sources = (await edgesWith('weak_tls')).map((r) => r.source).sort()
    expect(sources).toEqual([WEAK_TLS_CLIENTS.chacha, WEAK_TLS_CLIENTS.tls11].sort())
  })

  test('ext_authz denial at the gateway: ext_authz_denied from the internet client', async () => {
    const rows = await edgesWith('ext_authz_denied')
    expect(rows.map((r) => [r.source, r.destination, r.denied])).toEqual([[EXT_AUTHZ_CLIENT, 'frontend.shop', 2]])
  })

  test('foreign trust domain: foreign_trust_domain from the partner identity to payments', async () => {
    expect(pair(await edgesWith('foreign_trust_domain'))).toEqual([`${FOREIGN_PEER} -> payments.payments`])
  })

  test('lateral movement: frontend is denied at auth, payments and payments-db, then checkout reaches payments-db', async () => {
    const denied = await store.edges({ sourceContains: id('frontend'), deniedOnly: true })
    const targets = denied.map((r) => r.destination)
    for (const t of ['auth.identity', 'payments.payments', 'payments-db.payments', 'cart.shop']) expect(targets).toContain(t)
    const firstDenial = denied.map((r) => r.firstSeen).sort()[0]!
    const pivot = (await store.edges({ sourceContains: id('checkout') })).find((r) => r.destination === 'payments-db.payments')
    expect(pivot).toBeDefined()
    expect(pivot!.firstSeen > firstDenial).toBe(true)
    // Only the pivot: checkout never talks to the database in normal traffic.
    expect(pivot!.count).toBe(1)
    expect(pivot!.denied).toBe(0)
  })

  test('the demo self-check agrees: all incidents found', async () => {
    const checks = await checkIncidents(store, traffic.incidents)
    expect(checks.filter((c) => !c.found).map((c) => c.incident.id)).toEqual([])
  })
})

describe('ingest', () => {
  test('is idempotent: ingesting the same files again stores nothing new', async () => {
    const before = (await store.summary()).events
    const again = await ingest()
    expect(again.inserted).toBe(0)
    expect(again.counters.eventsOut).toBe(before)
    expect((await store.summary()).events).toBe(before)
  })

  test('accounts for every line: events + dead letters = lines written', async () => {
    const summary = await store.summary()
    const dlq = readFileSync(join(dir, 'dlq.ndjson'), 'utf8').trim().split('\n')
    // The DLQ file was appended by both ingest runs.
    expect(summary.events + dlq.length / 2).toBe(traffic.lines.length)
  })
})

describe('runDemo', () => {
  test('writes logs, report.html and report.json, and finds every incident', async () => {
    const out = join(dir, 'demo-out')
    const r = await runDemo({
      storePath: join(out, 'store.duckdb'),
      outDir: out,
      traffic: { sessions: 150 },
      processing: processing(),
    })
    expect(r.incidents.every((i) => i.found)).toBe(true)
    expect(existsSync(r.reportPath) && existsSync(r.jsonPath)).toBe(true)
    const json = JSON.parse(readFileSync(r.jsonPath, 'utf8')) as { summary: { events: number } }
    expect(json.summary.events).toBe(r.ingest.counters.eventsOut)
  })
})

describe('two clusters: the lateral movement crosses the east-west gateway', () => {
  const two: MeshTraffic = generateMeshTraffic({ seed: 42, sessions: 200, eastWest: true })
  const store2 = new DuckDbStore({ path: ':memory:' })
  const dir2 = join(dir, 'two')

  beforeAll(async () => {
    mkdirSync(dir2, { recursive: true })
    const paths: string[] = []
    for (const [name, lines] of linesByFile(two.lines)) {
      writeFileSync(join(dir2, name), lines.join('\n') + '\n')
      paths.push(join(dir2, name))
    }
    await store2.start()
    // As the demo ingests: the first cluster's raw CRI files with --cluster east; envelopes name the second.
    await ingestFiles({
      files: paths.sort(),
      store: store2,
      processing: { ...processing(), parser: { format: 'auto', cluster: CLUSTERS.first } },
      deadLetterPath: join(dir2, 'dlq.ndjson'),
    })
  })
  afterAll(() => store2.close())

  test('every event names its cluster; the second cluster holds the finance namespace and the east-west gateway', async () => {
    const events = await store2.events({ limit: 100_000 })
    const byCluster = new Map<string, Set<string>>()
    for (const e of events) {
      const c = e.orchestrator?.cluster?.name ?? '(none)'
      byCluster.set(c, (byCluster.get(c) ?? new Set()).add(e.kubernetes?.namespace ?? '?'))
    }
    expect([...byCluster.keys()].sort()).toEqual([CLUSTERS.first, CLUSTERS.second])
    expect([...byCluster.get(CLUSTERS.second)!].sort()).toEqual([SENSITIVE_NAMESPACE, 'istio-system'])
    const gw = events.filter((e) => e.kubernetes?.pod?.startsWith('istio-eastwestgateway'))
    expect(gw.length).toBeGreaterThan(0)
    expect(gw.every((e) => e.mesh?.reporter === 'gateway' && e.orchestrator?.cluster?.name === CLUSTERS.second)).toBe(true)
  })

  test('the pivot identity reaches ledger in the other cluster after the probes, with both clusters on the event', async () => {
    const denied = await store2.edges({ sourceContains: spiffeId(two.topology.get('frontend')), deniedOnly: true })
    const probe = denied.find((r) => r.destination === 'ledger.finance')
    expect(probe).toBeDefined()
    const pivot = (await store2.edges({ sourceContains: spiffeId(two.topology.get('checkout')) })).find(
      (r) => r.destination === 'ledger.finance',
    )
    expect(pivot).toBeDefined()
    expect(pivot!.denied).toBe(0)
    expect(pivot!.firstSeen > probe!.firstSeen).toBe(true)
    const server = (await store2.events({ limit: 100_000 })).find(
      (e) => e.url?.path === '/v1/accounts/export' && e.mesh?.reporter === 'destination',
    )!
    expect(server.mesh?.source).toMatchObject({ spiffe_id: spiffeId(two.topology.get('checkout')), cluster: CLUSTERS.first })
    expect(server.mesh?.destination?.cluster).toBe(CLUSTERS.second)
    expect(server.orchestrator?.cluster?.name).toBe(CLUSTERS.second)
  })

  test('the exfiltration is the first egress checkout ever made', async () => {
    const egress = await store2.egress()
    expect(egress.find((r) => r.destination === EXFIL_HOST.host)?.sources).toEqual(['shop/checkout'])
  })

  test('the demo self-check finds every incident, the cross-cluster steps included', async () => {
    const checks = await checkIncidents(store2, two.incidents)
    expect(checks.filter((c) => !c.found).map((c) => c.incident.id)).toEqual([])
    const lateral = checks.find((c) => c.incident.id === 'lateral-movement')!
    expect(lateral.flows.filter((f) => f.flow.destination.includes('ledger.finance')).every((f) => f.edge !== undefined)).toBe(true)
  })

  test('the self-check checks the clusters of the cross-cluster steps: expecting them inside one cluster fails', async () => {
    const lateral = two.incidents.find((i) => i.id === 'lateral-movement')!
    expect(lateral.flows.filter((f) => f.clusters !== undefined).map((f) => f.clusters)).toEqual([
      { source: CLUSTERS.first, destination: CLUSTERS.second },
      { source: CLUSTERS.first, destination: CLUSTERS.second },
    ])
    const inside = {
      ...lateral,
      flows: lateral.flows.map((f) => (f.clusters === undefined ? f : { ...f, clusters: { source: 'west', destination: 'west' } })),
    }
    const [check] = await checkIncidents(store2, [inside])
    expect(check!.found).toBe(false)
    // The two steps into ledger, and the exfiltration that must follow the second.
    expect(check!.flows.filter((f) => f.edge === undefined)).toHaveLength(3)
  })

  test('the self-check misses the cross-cluster step when the second cluster was not ingested', async () => {
    const only = new DuckDbStore({ path: ':memory:' })
    await only.start()
    try {
      const paths = [...linesByFile(two.lines).keys()].filter((n) => n !== FLUENT_BIT_FILE_SECOND).map((n) => join(dir2, n))
      await ingestFiles({ files: paths.sort(), store: only, processing: processing(), deadLetterPath: join(dir2, 'dlq-only.ndjson') })
      const lateral = (await checkIncidents(only, two.incidents)).find((c) => c.incident.id === 'lateral-movement')!
      expect(lateral.found).toBe(false)
      // The client side of the pivot is in the first cluster, but the probe is denied only in the second.
      expect(
        lateral.flows.find((f) => f.flow.finding === 'authz_denied' && f.flow.destination.includes('ledger.finance'))?.edge,
      ).toBeUndefined()
    } finally {
      await only.close()
    }
  })
})
