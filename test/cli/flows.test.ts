import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { DuckDbStore } from '../../src/store/duckdb-store.js'
import type { FlowEdge } from '../../src/hunt/backend.js'
import { runCli } from '../helpers/cli.js'
import { at, callLines, MESH, spiffe, toEvents } from '../hunt/scenario.js'

const { frontend, cart, payments } = MESH

const dir = mkdtempSync(join(tmpdir(), 'ea-flows-cli-'))
const storePath = join(dir, 'audit.duckdb')
afterAll(() => rmSync(dir, { recursive: true, force: true }))

beforeAll(async () => {
  const store = new DuckDbStore({ path: storePath })
  await store.start()
  await store.writeEvents(
    toEvents([
      ...callLines(frontend, cart, at(-300)),
      ...callLines(frontend, cart, at(1), { method: 'POST' }),
      ...callLines(cart, payments, at(2), { denied: true }),
      ...callLines(cart, payments, at(3)),
    ]),
  )
  await store.close()
})

const ndjson = (s: string): (FlowEdge & { newEdge?: { code: string; severity: string; controls: string[] } })[] =>
  s.trim() === ''
    ? []
    : s
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l))

describe('envoy-audit flows (child process)', () => {
  test('--json: one edge per line with counts, first/last seen, methods, status classes, mTLS share, findings', async () => {
    const r = await runCli(['flows', '--store', storePath, '--json'])
    expect(r.code).toBe(0)
    const edges = ndjson(r.stdout)
    expect(edges.map((e) => [e.source, e.destination, e.count])).toEqual([
      [spiffe(cart), spiffe(payments), 2],
      [spiffe(frontend), spiffe(cart), 2],
    ])
    // In class order, whatever order the groups come in: the same edge prints the same line.
    for (const e of edges) expect(Object.keys(e.statusClasses as object)).toEqual(Object.keys(e.statusClasses as object).sort())
    expect(edges[0]).toMatchObject({
      firstSeen: at(2),
      lastSeen: at(3),
      denied: 1,
      mtls: 2,
      findings: ['authz_denied'],
      statusClasses: { '2xx': 1, '4xx': 1 },
    })
    expect(edges[1]!.methods).toEqual(['GET', 'POST'])
  })

  test('--new-since marks edges absent from the learning window as new_edge (medium, AC-4 and SI-4)', async () => {
    const r = await runCli(['flows', '--store', storePath, '--json', '--new-since', at(0), '--baseline', '1d'])
    const edges = ndjson(r.stdout)
    const fresh = edges.filter((e) => e.newEdge !== undefined)
    expect(fresh.map((e) => [e.source, e.destination])).toEqual([[spiffe(cart), spiffe(payments)]])
    expect(fresh[0]!.newEdge).toMatchObject({ code: 'new_edge', severity: 'medium', controls: ['AC-4', 'SI-4'] })
    expect(fresh[0]!.findings).toContain('new_edge')
    const only = ndjson((await runCli(['flows', '--store', storePath, '--json', '--new-since', at(0), '--finding', 'new_edge'])).stdout)
    expect(only.map((e) => e.destination)).toEqual([spiffe(payments)])
  })

  test('filters: identity, namespace, finding with since', async () => {
    const byId = ndjson((await runCli(['flows', '--store', storePath, '--json', '--identity', 'shop/frontend'])).stdout)
    expect(byId.map((e) => e.destination)).toEqual([spiffe(cart)])
    const byNs = ndjson((await runCli(['flows', '--store', storePath, '--json', '--namespace', 'payments'])).stdout)
    expect(byNs.map((e) => e.destination)).toEqual([spiffe(payments)])
    const recentDenied = ndjson(
      (await runCli(['flows', '--store', storePath, '--json', '--finding', 'authz_denied', '--since', at(0)])).stdout,
    )
    expect(recentDenied.map((e) => [e.source, e.count])).toEqual([[spiffe(cart), 2]])
  })

  test('an empty window says what the store holds: text on stderr, and with --json a JSON window line on stderr (stdout stays edges only)', async () => {
    const text = await runCli(['flows', '--store', storePath, '--since', at(60)])
    expect(text.code).toBe(0)
    expect(text.stderr).toBe(
      `envoy-audit flows: warning: no events since ${at(60)}; the store holds 8 events from ${at(-300)} to ${at(3)}\n`,
    )
    const json = await runCli(['flows', '--store', storePath, '--since', at(60), '--until', at(120), '--json'])
    expect(json.stdout).toBe('')
    const line = JSON.parse(json.stderr) as {
      window: { since: string; until: string; events: number; storeRange: unknown; warnings: string[] }
    }
    expect(line.window).toEqual({
      since: at(60),
      until: at(120),
      events: 0,
      storeRange: { events: 8, firstSeen: at(-300), lastSeen: at(3) },
      warnings: [`no events between ${at(60)} and ${at(120)}; the store holds 8 events from ${at(-300)} to ${at(3)}`],
    })
  })

  test('--new-since with an empty baseline says every edge is NEW because nothing was learnt', async () => {
    const r = await runCli(['flows', '--store', storePath, '--new-since', at(0), '--baseline', '1h'])
    expect(r.code).toBe(0)
    expect(r.stderr).toBe(
      `envoy-audit flows: warning: the baseline window (${at(-60)} to ${at(0)}) holds no events, so every edge is marked NEW; the store holds 8 events from ${at(-300)} to ${at(3)} (a longer --baseline learns from older data; --baseline 0 turns the baseline off)\n`,
    )
    expect((await runCli(['flows', '--store', storePath, '--new-since', at(0), '--baseline', '1d'])).stderr).toBe('')
  })

  test('a time without a zone is UTC whatever the host zone (child process in Los Angeles time)', async () => {
    const env = { TZ: 'America/Los_Angeles' }
    const zoneless = ndjson(
      (await runCli(['flows', '--store', storePath, '--json', '--since', at(0).replace('.000Z', '')], { env })).stdout,
    )
    expect(zoneless.map((e) => [e.source, e.count])).toEqual([
      [spiffe(cart), 2],
      [spiffe(frontend), 1],
    ])
    const help = await runCli(['flows', '--help'])
    expect(help.stdout.replace(/\s+/g, ' ')).toContain('--since <time> start of the window: ISO 8601, UTC unless it carries a zone')
  })

  test('table output has a header and one row per edge; --finding new_edge without --new-since is a usage error', async () => {
    const table = await runCli(['flows', '--store', storePath])
    const lines = table.stdout.trim().split('\n')
    expect(lines[0]).toMatch(
      /^SOURCE\s+DESTINATION\s+CALLS\s+FIRST\s+LAST\s+METHODS\s+STATUS\s+MTLS\s+DENIED\s+FINDINGS\s+LINK\s+CLUSTERS$/,
    )
    // No line of this store names a cluster.
    expect(lines[1]).toMatch(/\s-$/)
    expect(lines).toHaveLength(3)
    const bad = await runCli(['flows', '--store', storePath, '--finding', 'new_edge'])
    expect([bad.code, bad.stderr]).toEqual([2, expect.stringContaining('--new-since')])
  })
})

describe('a store ingested with --call-tables off', () => {
  test('has no per-call tables, and flows (matching calls at query time) gives the same edges', async () => {
    const lines = [
      ...callLines(frontend, cart, at(-300)),
      ...callLines(frontend, cart, at(1), { method: 'POST' }),
      ...callLines(cart, payments, at(2), { denied: true }),
      ...callLines(cart, payments, at(3)),
    ]
    const input = join(dir, 'calls.log')
    writeFileSync(input, `${lines.join('\n')}\n`)
    const on = join(dir, 'on.duckdb')
    const off = join(dir, 'off.duckdb')
    expect((await runCli(['ingest', input, '--store', on, '-q'])).code).toBe(0)
    expect((await runCli(['ingest', input, '--store', off, '-q', '--call-tables', 'off'])).code).toBe(0)
    const tables = await runCli([
      'sql',
      '--store',
      off,
      '--json',
      "SELECT count(*)::INTEGER AS n FROM information_schema.tables WHERE table_name = 'calls'",
    ])
    expect(JSON.parse(tables.stdout.trim().split('\n')[0]!).n).toBe(0)
    const fromOn = ndjson((await runCli(['flows', '--store', on, '--json'])).stdout)
    const fromOff = ndjson((await runCli(['flows', '--store', off, '--json'])).stdout)
    expect(fromOn.length).toBe(2)
    expect(fromOff).toEqual(fromOn)
  })
})

describe('flows and hunt --cluster (child process)', () => {
  const clustered = join(dir, 'clusters.duckdb')
  /** Every line of a call in `cluster`, as each proxy and the peer metadata would name it. */
  const inCluster = (lines: string[], src: string, dst: string) =>
    toEvents(lines).map((e) => {
      const own = e.mesh?.reporter === 'destination' ? dst : src
      return {
        ...e,
        orchestrator: { cluster: { name: own } },
        mesh: { ...e.mesh!, source: { ...e.mesh!.source, cluster: src }, destination: { ...e.mesh!.destination, cluster: dst } },
      }
    })

  beforeAll(async () => {
    const store = new DuckDbStore({ path: clustered })
    await store.start()
    const { rejected } = await store.writeEvents([
      ...inCluster(callLines(frontend, cart, at(1)), 'east', 'east'),
      ...inCluster(callLines(cart, payments, at(2)), 'east', 'west'),
    ])
    expect(rejected).toEqual([])
    await store.close()
  })

  test('--json edges carry sourceClusters/destinationClusters; --cluster west keeps the crossing call only', async () => {
    const all = ndjson((await runCli(['flows', '--store', clustered, '--json'])).stdout)
    expect(all.map((e) => [e.source, e.destination, e.sourceClusters, e.destinationClusters])).toEqual([
      [spiffe(cart), spiffe(payments), ['east'], ['west']],
      [spiffe(frontend), spiffe(cart), ['east'], ['east']],
    ])
    const west = ndjson((await runCli(['flows', '--store', clustered, '--json', '--cluster', 'west'])).stdout)
    expect(west.map((e) => [e.source, e.destination])).toEqual([[spiffe(cart), spiffe(payments)]])
    const table = (await runCli(['flows', '--store', clustered])).stdout.trim().split('\n')
    expect(table.find((l) => l.startsWith(spiffe(cart)))).toMatch(/east → west$/)
    expect(table.find((l) => l.startsWith(spiffe(frontend)))).toMatch(/\seast$/)
  })

  test('hunt --cluster west from frontend reaches nothing: its call to cart ran in east only', async () => {
    const run = async (extra: string[]) =>
      JSON.parse(
        (await runCli(['hunt', '--store', clustered, '--from', spiffe(frontend), '--since', at(0), '--json', ...extra])).stdout,
      ) as {
        reached: { node: string }[]
      }
    expect((await run([])).reached.map((n) => n.node).sort()).toEqual([spiffe(cart), spiffe(frontend), spiffe(payments)].sort())
    expect((await run(['--cluster', 'west'])).reached.map((n) => n.node)).toEqual([spiffe(frontend)])
    expect((await run(['--cluster', 'east,west'])).reached).toHaveLength(3)
  })
})

describe('a store whose call tables an older version built', () => {
  test('flows matches calls from the events, warning, until a writer opens it and rebuilds them (ingest of nothing)', async () => {
    const old = join(dir, 'old.duckdb')
    const store = new DuckDbStore({ path: old })
    await store.start()
    await store.writeEvents(toEvents([...callLines(frontend, cart, at(1))]))
    // As version 2 left it: no cluster columns in the call tables.
    for (const t of ['calls', 'call_groups']) for (const c of ['sc', 'dc']) await store.sql(`ALTER TABLE ${t} DROP COLUMN ${c}`)
    await store.sql(`UPDATE store_meta SET value = '2' WHERE key = 'call_tables_version'`)
    await store.close()
    const edges = (out: string) => ndjson(out).map((e) => [e.source, e.destination, e.count, e.sourceClusters, e.destinationClusters])
    const before = await runCli(['flows', '--store', old, '--json'])
    expect(before.code, before.stderr).toBe(0)
    expect(before.stderr).toContain('the call tables were built by an older version')
    expect((await runCli(['ingest', '--store', old, '/dev/null'])).code).toBe(0)
    const after = await runCli(['flows', '--store', old, '--json'])
    expect(after.stderr).not.toContain('older version')
    expect(edges(after.stdout)).toEqual([[spiffe(frontend), spiffe(cart), 1, [], []]])
    expect(edges(before.stdout)).toEqual(edges(after.stdout))
    const reader = new DuckDbStore({ path: old, readOnly: true })
    try {
      const { rows } = await reader.sql(
        `SELECT count(*)::INTEGER AS n FROM information_schema.columns WHERE table_name = 'call_groups' AND column_name IN ('sc', 'dc')`,
      )
      expect(rows[0]!.n).toBe(2)
    } finally {
      await reader.close()
    }
  }, 60_000)
})
