import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { DuckDbStore } from '../../src/store/duckdb-store.js'
import type { HuntResult } from '../../src/hunt/search.js'
import { runCli } from '../helpers/cli.js'
import { at, callLines, MESH, spiffe, toEvents } from '../hunt/scenario.js'

const { frontend, cart, payments, db } = MESH
const EVENTS = 8
const LAST = at(3)

const dir = mkdtempSync(join(tmpdir(), 'ea-hunt-cli-'))
const storePath = join(dir, 'audit.duckdb')
afterAll(() => rmSync(dir, { recursive: true, force: true }))

beforeAll(async () => {
  const store = new DuckDbStore({ path: storePath })
  await store.start()
  await store.writeEvents(
    toEvents([
      ...callLines(frontend, cart, at(-600)),
      ...callLines(frontend, cart, at(1)),
      ...callLines(cart, payments, at(2), { denied: true }),
      ...callLines(cart, { ...db, plainFormat: true }, at(3), { tcp: true, plaintext: true }),
    ]),
  )
  await store.close()
})

describe('envoy-audit hunt (child process)', () => {
  test('--json: reached identities, witness paths, new edges, plaintext hop and probes', async () => {
    const r = await runCli(['hunt', '--from', 'shop/frontend', '--since', at(0), '--store', storePath, '--json', '--baseline', '1d'])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    const result = JSON.parse(r.stdout) as HuntResult
    expect(result.from).toEqual([spiffe(frontend)])
    const byNode = Object.fromEntries(result.reached.map((n) => [n.node, n]))
    expect(Object.keys(byNode).sort()).toEqual(['payments/payments-db', spiffe(cart), spiffe(frontend)].sort())
    expect(byNode[spiffe(cart)]!.path[0]!.newEdge).toBe(false)
    const dbHop = byNode['payments/payments-db']!.path[1]!
    expect([dbHop.from, dbHop.at, dbHop.plaintext, dbHop.newEdge, dbHop.dstSignal]).toEqual([
      spiffe(cart),
      at(3),
      true,
      true,
      'socket+kubernetes',
    ])
    expect(byNode[spiffe(cart)]!.probes.map((p) => [p.dst, p.count])).toEqual([[spiffe(payments), 1]])
  })

  test('table output is a tree with flags and probes', async () => {
    const table = await runCli(['hunt', '--from', spiffe(frontend), '--since', at(0), '--store', storePath, '--include-denied'])
    expect(table.code).toBe(0)
    expect(table.stdout).toContain(`${spiffe(frontend)}  [origin]`)
    expect(table.stdout).toMatch(/└─ .*payments\/payments-db .*NEW PLAINTEXT/)
    expect(table.stdout).toContain(`! denied 1× → ${spiffe(payments)}`)
  })

  test('dot and mermaid pictures name every reached node', async () => {
    const dot = await runCli([
      'hunt',
      '--from',
      'frontend',
      '--since',
      '3650d',
      '--until',
      at(60),
      '--store',
      storePath,
      '--format',
      'dot',
      '--include-denied',
    ])
    expect(dot.stdout.startsWith('digraph hunt {')).toBe(true)
    expect(dot.stdout).toContain(`"${spiffe(cart)}" -> "payments/payments-db"`)
    expect(dot.stdout).toContain('style="dotted"')
    const mermaid = await runCli(['hunt', '--from', 'frontend', '--since', at(0), '--store', storePath, '--format', 'mermaid'])
    expect(mermaid.stdout.split('\n')[0]).toBe('flowchart LR')
    expect(mermaid.stdout).toContain('["payments/payments-db"]')
  })

  test('time order: from a start after cart was reached, frontend reaches nothing (its calls are all earlier)', async () => {
    const late = await runCli(['hunt', '--from', 'frontend', '--since', at(2), '--store', storePath, '--json'])
    const result = JSON.parse(late.stdout) as HuntResult
    expect(result.reached.map((n) => n.node)).toEqual([spiffe(frontend)])
  })

  test('usage errors exit 2 and name the option', async () => {
    const bad = await runCli(['hunt', '--from', 'frontend', '--since', 'yesterday', '--store', storePath])
    expect([bad.code, bad.stderr]).toEqual([2, expect.stringContaining('--since')])
    const depth = await runCli(['hunt', '--from', 'frontend', '--since', at(0), '--max-depth', '0', '--store', storePath])
    expect([depth.code, depth.stderr]).toEqual([2, expect.stringContaining('--max-depth')])
  })

  test('an empty window says what the store holds instead of "matches no workload"; so does --json, in its window field', async () => {
    const text = await runCli(['hunt', '--from', 'shop/frontend', '--since', at(60), '--store', storePath])
    expect(text.code).toBe(0)
    expect(text.stderr).toBe(
      `envoy-audit hunt: warning: no events since ${at(60)}; the store holds ${EVENTS} events from ${at(-600)} to ${LAST}\n`,
    )
    const json = await runCli(['hunt', '--from', 'shop/frontend', '--since', at(60), '--store', storePath, '--json'])
    const result = JSON.parse(json.stdout) as HuntResult & {
      window: { events: number; storeRange: { events: number; firstSeen: string; lastSeen: string }; warnings: string[] }
    }
    expect(result.reached).toEqual([])
    expect(result.window).toMatchObject({ since: at(60), events: 0, storeRange: { events: EVENTS, firstSeen: at(-600), lastSeen: LAST } })
    expect(result.window.warnings).toEqual([text.stderr.replace('envoy-audit hunt: warning: ', '').trim()])
  })

  test('an empty baseline is said: every edge would be NEW only because nothing was learnt', async () => {
    // The store's only earlier call is ten hours before --since: a one-hour baseline holds nothing.
    const r = await runCli(['hunt', '--from', 'shop/frontend', '--since', at(0), '--store', storePath, '--json', '--baseline', '1h'])
    expect(r.code).toBe(0)
    const result = JSON.parse(r.stdout) as HuntResult & { window: { events: number; baselineEvents: number; warnings: string[] } }
    expect(result.window).toMatchObject({ baselineFrom: at(-60), baselineEvents: 0 })
    expect(result.window.events).toBeGreaterThan(0)
    expect(result.window.warnings).toEqual([
      expect.stringMatching(
        /^the baseline window \(2026-11-20T09:00:00.000Z to 2026-11-20T10:00:00.000Z\) holds no events, so every edge is marked NEW; the store holds \d+ events from /,
      ),
    ])
    expect(r.stderr).toBe(`envoy-audit hunt: warning: ${result.window.warnings[0]}\n`)
    expect(result.edges.every((e) => e.newEdge)).toBe(true)
    // A baseline that reaches the earlier call learns it, and says nothing.
    const learnt = await runCli(['hunt', '--from', 'shop/frontend', '--since', at(0), '--store', storePath, '--json', '--baseline', '1d'])
    expect([learnt.stderr, (JSON.parse(learnt.stdout) as { window: { warnings: string[] } }).window.warnings]).toEqual(['', []])
  })

  test('a time without a zone is UTC whatever the host zone (child process in Tokyo time), as --help says', async () => {
    const zoneless = at(0).replace('.000Z', '')
    const withZone = await runCli(['hunt', '--from', 'shop/frontend', '--since', at(0), '--store', storePath, '--json', '--baseline', '1d'])
    const without = await runCli(
      ['hunt', '--from', 'shop/frontend', '--since', zoneless, '--store', storePath, '--json', '--baseline', '1d'],
      { env: { TZ: 'Asia/Tokyo' } },
    )
    expect(without.code).toBe(0)
    expect(without.stdout).toBe(withZone.stdout)
    expect((JSON.parse(without.stdout) as HuntResult).since).toBe(at(0))
    const help = await runCli(['hunt', '--help'])
    expect(help.stdout.replace(/\s+/g, ' ')).toContain('--since <time> compromise time: ISO 8601, UTC unless it carries a zone')
  }, 90_000)

  test('a missing store and two stores at once are refused', async () => {
    const missing = await runCli(['hunt', '--from', 'frontend', '--since', at(0), '--store', join(dir, 'nope.duckdb')])
    expect(missing.code).toBe(1)
    const both = await runCli([
      'hunt',
      '--from',
      'frontend',
      '--since',
      at(0),
      '--store',
      storePath,
      '--opensearch',
      'https://localhost:9200',
    ])
    expect([both.code, both.stderr]).toEqual([2, expect.stringContaining('exclusive')])
  })

  test('--inventory names the identity behind a service the server side never logged', async () => {
    const inv = join(dir, 'inventory.yaml')
    writeFileSync(inv, `services:\n  - service: payments\n    namespace: payments\n    identity: cluster.local/ns/payments/sa/payments\n`)
    const only = join(dir, 'client-only.duckdb')
    const store = new DuckDbStore({ path: only })
    await store.start()
    await store.writeEvents(toEvents(callLines({ ...cart, plainFormat: true }, payments, at(1), { only: 'client' })))
    await store.close()
    const r = await runCli(['hunt', '--from', 'shop/cart', '--since', at(0), '--store', only, '--inventory', inv, '--json'])
    const result = JSON.parse(r.stdout) as HuntResult
    expect(result.reached.find((n) => n.node === spiffe(payments))?.path[0]?.dstSignal).toBe('inventory')
  })
})

describe('envoy-audit hunt --opensearch (child process against the test server)', () => {
  test('same answer from OpenSearch composite aggregations', async () => {
    const { TestOpenSearch } = await import('../support/opensearch-server/index.js')
    const { Client } = await import('@opensearch-project/opensearch')
    const { OpenSearchStore } = await import('../../src/store/opensearch-store.js')
    const { runSetup } = await import('../../src/lifecycle/setup.js')
    const { loadLifecycleConfig } = await import('../../src/lifecycle/config.js')
    const srv = await TestOpenSearch.start()
    const client = new Client({ node: srv.url, maxRetries: 0 })
    try {
      await runSetup(client, loadLifecycleConfig())
      const store = new OpenSearchStore({ client, sink: { flushIntervalMs: 1 } })
      await store.start()
      await store.writeEvents(
        toEvents([...callLines(frontend, cart, at(1)), ...callLines(cart, payments, at(2)), ...callLines(payments, cart, at(0))]),
      )
      await store.close()
      const r = await runCli(['hunt', '--from', 'frontend', '--since', at(0), '--opensearch', srv.url, '--json'], {
        env: { OPENSEARCH_URL: '', OPENSEARCH_USERNAME: '' },
      })
      // Nothing before --since: the store's range comes from OpenSearch too.
      expect(r.stderr).toBe(
        `envoy-audit hunt: warning: the baseline window (${at(-7 * 24 * 60)} to ${at(0)}) holds no events, so every edge is marked NEW; the store holds 6 events from ${at(0)} to ${at(2)} (a longer --baseline learns from older data; --baseline 0 turns the baseline off)\n`,
      )
      const result = JSON.parse(r.stdout) as HuntResult
      expect(Object.fromEntries(result.reached.map((n) => [n.node, n.arrival]))).toMatchObject({
        [spiffe(cart)]: at(1),
        [spiffe(payments)]: at(2),
      })
    } finally {
      await client.close()
      await srv.close()
    }
  })
})
