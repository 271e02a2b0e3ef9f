import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { DuckDbStore } from '../../src/store/duckdb-store.js'
import type { HuntResult } from '../../src/hunt/search.js'
import { runCli } from '../helpers/cli.js'
import { at, callLines, MESH, spiffe, toEvents } from '../hunt/scenario.js'

const { frontend, cart, payments, db } = MESH

const dir = mkdtempSync(join(tmpdir(), 'ea-hunt-cli-'))
const storePath = join(dir, 'audit.duckdb')
afterAll(() => rmSync(dir, { recursive: true, force: true }))

beforeAll(async () => {
  const store = new DuckDbStore({ path: storePath })
  await store.start()
  await store.writeEvents(toEvents([
    ...callLines(frontend, cart, at(-600)),
    ...callLines(frontend, cart, at(1)), ...callLines(cart, payments, at(2), { denied: true }),
    ...callLines(cart, { ...db, plainFormat: true }, at(3), { tcp: true, plaintext: true }),
  ]))
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
    expect([dbHop.from, dbHop.at, dbHop.plaintext, dbHop.newEdge, dbHop.dstSignal]).toEqual([spiffe(cart), at(3), true, true, 'socket+kubernetes'])
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
    const dot = await runCli(['hunt', '--from', 'frontend', '--since', '3650d', '--until', at(60), '--store', storePath, '--format', 'dot', '--include-denied'])
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

  test('a missing store and two stores at once are refused', async () => {
    const missing = await runCli(['hunt', '--from', 'frontend', '--since', at(0), '--store', join(dir, 'nope.duckdb')])
    expect(missing.code).toBe(1)
    const both = await runCli(['hunt', '--from', 'frontend', '--since', at(0), '--store', storePath, '--opensearch', 'https://localhost:9200'])
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
      await store.writeEvents(toEvents([...callLines(frontend, cart, at(1)), ...callLines(cart, payments, at(2)), ...callLines(payments, cart, at(0))]))
      await store.close()
      const r = await runCli(['hunt', '--from', 'frontend', '--since', at(0), '--opensearch', srv.url, '--json'], { env: { OPENSEARCH_URL: '', OPENSEARCH_USERNAME: '' } })
      expect(r.stderr).toBe('')
      const result = JSON.parse(r.stdout) as HuntResult
      expect(Object.fromEntries(result.reached.map((n) => [n.node, n.arrival]))).toMatchObject({ [spiffe(cart)]: at(1), [spiffe(payments)]: at(2) })
    } finally {
      await client.close()
      await srv.close()
    }
  })
})
