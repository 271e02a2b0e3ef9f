/**
 * hunt, flows and report over the real OpenSearch node, on events the product indexed (the scenario's
 * lines through the real parser and transforms, setup's templates and the sink), read through the
 * aliases only. Compared with the same events in the embedded DuckDB store where the answers must agree
 * (hunt's reach, arrivals, probes and new edges; the report's totals, coverage and findings), and with
 * the project's test server where they must be identical (every number of `flows`; a call with both
 * sidecars' lines counts once, on the server line's bucket: docs/hunt.md). Both through the backends and
 * through the CLI (`hunt|flows|report --opensearch`), as a user runs them.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { Client } from '@opensearch-project/opensearch'
import { OpenSearchHuntBackend } from '../../src/hunt/opensearch-backend.js'
import { DuckDbHuntBackend } from '../../src/hunt/duckdb-backend.js'
import { huntPaths, type HuntResult } from '../../src/hunt/search.js'
import { resolveIdentity } from '../../src/hunt/node-id.js'
import type { HuntBackend } from '../../src/hunt/backend.js'
import { DuckDbStore, openDuckDbStore } from '../../src/store/duckdb-store.js'
import { OpenSearchStore } from '../../src/store/opensearch-store.js'
import { runSetup } from '../../src/lifecycle/setup.js'
import { loadLifecycleConfig } from '../../src/lifecycle/config.js'
import type { AuditEvent } from '../../src/schema/audit-event.js'
import { describeOpenSearch, opensearchUrl } from '../helpers/real-servers.js'
import { plantIndices, type Planted } from '../helpers/opensearch-planted.js'
import { runCli } from '../helpers/cli.js'
import { TestOpenSearch } from '../support/opensearch-server/index.js'
import { at, callLines, MESH, spiffe, toEvents } from './scenario.js'

const { gateway, frontend, cart, catalog, payments, db } = MESH
const LINES = [
  ...callLines(gateway, frontend, at(-90)),
  ...callLines(frontend, cart, at(-60)),
  ...callLines(frontend, cart, at(1)),
  ...callLines(frontend, catalog, at(2)),
  ...callLines(cart, payments, at(3), { denied: true }),
  ...callLines(catalog, payments, at(4)),
  ...callLines(payments, db, at(5), { tcp: true }),
  ...callLines(db, cart, at(0)),
  ...callLines(catalog, cart, at(6), { plaintext: true }),
  ...callLines(frontend, catalog, at(7), { method: 'POST' }),
]
const EVENTS: AuditEvent[] = toEvents(LINES)
const RANGE = { since: at(0), baselineFrom: at(-24 * 60) }

const summary = (r: HuntResult) => ({
  reached: Object.fromEntries(r.reached.map((n) => [n.node, [n.arrival, n.hops]])),
  probes: r.reached.flatMap((n) => n.probes.map((p) => [p.src, p.dst, p.count])),
  fresh: r.edges.filter((e) => e.newEdge).map((e) => [e.from, e.to]),
})

async function hunt(backend: HuntBackend, from: string): Promise<HuntResult> {
  await backend.prepare(RANGE, [])
  return huntPaths(backend, { from: resolveIdentity(from, await backend.nodes()), maxDepth: 6, ...RANGE })
}

describeOpenSearch('hunt, flows and report over OpenSearch, indexed by the product', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ea-os-hunt-'))
  const storePath = join(dir, 'audit.duckdb')
  let planted: Planted
  let duck: DuckDbStore
  const withDuck = async <T>(fn: (store: DuckDbStore) => Promise<T>): Promise<T> => {
    const store = await openDuckDbStore(storePath, { mustExist: true })
    try {
      return await fn(store)
    } finally {
      await store.close()
    }
  }
  let srv: TestOpenSearch
  let fake: Client

  beforeAll(async () => {
    planted = await plantIndices('hunt')
    await planted.write(EVENTS)
    duck = new DuckDbStore({ path: storePath })
    await duck.start()
    await duck.writeEvents(EVENTS)
    // The CLI tests open the file in child processes; the backend tests reopen it (withDuck).
    await duck.close()
    srv = await TestOpenSearch.start()
    fake = new Client({ node: srv.url, maxRetries: 0 })
    const lifecycle = loadLifecycleConfig({ eventsAlias: planted.eventsAlias, findingsAlias: planted.findingsAlias })
    await runSetup(fake, lifecycle)
    const s = new OpenSearchStore({
      client: fake,
      config: { eventsIndex: planted.eventsAlias, findingsIndex: planted.findingsAlias },
      sink: { eventsAlias: planted.eventsAlias, findingsAlias: planted.findingsAlias, flushIntervalMs: 1 },
    })
    await s.start()
    expect((await s.writeEvents(EVENTS)).rejected).toEqual([])
    await s.close()
  }, 120_000)

  afterAll(async () => {
    await fake?.close()
    await srv?.close()
    await planted?.drop()
    rmSync(dir, { recursive: true, force: true })
  })

  test('hunt: the same reach, arrivals, probes and new edges as the embedded store, with a page of 3 keys', async () => {
    const os = await hunt(new OpenSearchHuntBackend(planted.client, { index: planted.eventsAlias, pageSize: 3 }), spiffe(frontend))
    const dk = await withDuck((store) => hunt(new DuckDbHuntBackend(store), spiffe(frontend)))
    expect(summary(os)).toEqual(summary(dk))
    expect(Object.keys(summary(os).reached).sort()).toEqual(
      [spiffe(cart), spiffe(catalog), spiffe(db), spiffe(frontend), spiffe(payments)].sort(),
    )
    expect(summary(os).probes).toEqual([[spiffe(cart), spiffe(payments), 1]])
  })

  test('flows: every number identical on the real node and the test server; the edges the embedded store sees are there, first seen at the same time', async () => {
    const flows = async (client: Client) => {
      const b = new OpenSearchHuntBackend(client, { index: planted.eventsAlias, pageSize: 4 })
      await b.prepare(RANGE, [])
      return b.flows({})
    }
    const real = await flows(planted.client)
    expect(real).toEqual(await flows(fake))
    const duckFlows = await withDuck(async (store) => {
      const dk = new DuckDbHuntBackend(store)
      await dk.prepare(RANGE, [])
      return dk.flows({})
    })
    const certified = duckFlows.filter((e) => e.sourceKind === 'spiffe' && e.destinationKind === 'spiffe' && e.plaintext === 0)
    expect(certified.length).toBeGreaterThan(3)
    for (const e of certified) {
      expect(
        real.find((r) => r.source === e.source && r.destination === e.destination),
        `${e.source} -> ${e.destination}`,
      ).toMatchObject({
        // A call once, as the embedded store counts it (on its server line: countedByServerLine).
        count: e.count,
        firstSeen: e.firstSeen,
        lastSeen: e.lastSeen,
        methods: e.methods,
        denied: e.denied === 0 ? 0 : expect.any(Number),
      })
    }
    expect(real.find((e) => e.source === spiffe(frontend) && e.destination === spiffe(catalog))).toMatchObject({
      methods: ['GET', 'POST'],
      count: 2,
      mtls: 2,
    })
  })

  test('hunt --opensearch and flows --opensearch (child processes) answer as --store does, reading the alias', async () => {
    const os = ['--opensearch', opensearchUrl!, '--index', planted.eventsAlias]
    const args = ['hunt', '--from', 'shop/frontend', '--since', at(0), '--baseline', '1d', '--json']
    const [a, b] = await Promise.all([runCli([...args, ...os]), runCli([...args, '--store', storePath])])
    expect([a.code, a.stderr, b.code]).toEqual([0, '', 0])
    expect(summary(JSON.parse(a.stdout) as HuntResult)).toEqual(summary(JSON.parse(b.stdout) as HuntResult))
    const f = await runCli(['flows', '--since', at(0), '--json', ...os])
    expect([f.code, f.stderr]).toEqual([0, ''])
    const lines = f.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { source: string; destination: string; denied: number })
    expect(lines.find((e) => e.source === spiffe(cart) && e.destination === spiffe(payments))?.denied).toBeGreaterThan(0)
    expect(lines.length).toBeGreaterThan(4)
  }, 60_000)

  test('an empty window names the same store range on the real node as in the embedded store (hunt, flows, report)', async () => {
    const os = ['--opensearch', opensearchUrl!, '--index', planted.eventsAlias]
    const hunt = ['hunt', '--from', 'shop/frontend', '--since', at(600), '--json']
    const [a, b] = await Promise.all([runCli([...hunt, ...os]), runCli([...hunt, '--store', storePath])])
    const expected = `no events since ${at(600)}; the store holds ${EVENTS.length} events from ${at(-90)} to ${at(7)}`
    expect([a.code, a.stderr]).toEqual([0, `envoy-audit hunt: warning: ${expected}\n`])
    expect(b.stderr).toBe(a.stderr)
    expect((JSON.parse(a.stdout) as { window: unknown }).window).toEqual((JSON.parse(b.stdout) as { window: unknown }).window)
    const f = await runCli(['flows', '--since', at(600), ...os])
    expect([f.code, f.stderr]).toEqual([0, `envoy-audit flows: warning: ${expected}\n`])
    const r = await runCli([
      'report',
      '--format',
      'json',
      '--since',
      at(600),
      '--opensearch',
      opensearchUrl!,
      '--events-alias',
      planted.eventsAlias,
      '--findings-alias',
      planted.findingsAlias,
    ])
    expect([r.code, r.stderr]).toEqual([0, `envoy-audit report: warning: ${expected}\n`])
  }, 90_000)

  test("report --opensearch (child process) gives the embedded store's totals, coverage and findings", async () => {
    const os = ['--opensearch', opensearchUrl!, '--events-alias', planted.eventsAlias, '--findings-alias', planted.findingsAlias]
    const [a, b] = await Promise.all([
      runCli(['report', '--format', 'json', ...os]),
      runCli(['report', '--format', 'json', '--store', storePath]),
    ])
    expect([a.code, a.stderr, b.code]).toEqual([0, '', 0])
    // The example edges under each finding follow the edge rules, where the stores differ by design
    // (docs/hunt.md: a call logged by both sidecars is one edge in DuckDB, two lines in OpenSearch).
    const pick = (d: Record<string, any>) => ({
      summary: d.summary,
      mtls: d.mtls,
      au3: d.au3,
      findings: { ...d.findings, examples: Object.keys(d.findings.examples).sort() },
    })
    const fromOs = JSON.parse(a.stdout) as Record<string, any>
    expect(pick(fromOs)).toEqual(pick(JSON.parse(b.stdout) as Record<string, unknown>))
    expect(fromOs.summary.events).toBe(EVENTS.length)
  }, 60_000)
})
