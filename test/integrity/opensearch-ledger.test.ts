import { describe, test, expect, beforeEach, afterEach } from 'vitest'
import { readFileSync } from 'node:fs'
import type { Client } from '@opensearch-project/opensearch'
import { TestOpenSearch } from '../support/opensearch-server/index.js'
import { FIXTURE, kafkaRecords } from './harness.js'
import { client, handlerFor, ingestFile, KEY, ledgerEntries, verify, writer } from './opensearch-harness.js'

/** 29 real Envoy/Istio access-log and agent lines; each line's source is cited in mixed-real-world.expected.json. */
const LINES = readFileSync(FIXTURE, 'utf8')
  .split('\n')
  .filter((l) => l !== '')

let srv: TestOpenSearch
let c: Client
beforeEach(async () => {
  srv = await TestOpenSearch.start()
  c = await client(srv.url)
})
afterEach(async () => {
  await c.close()
  await srv.close()
})

const docs = (index: string) => srv.docs(index).map((d) => d._source as Record<string, unknown>)

describe('OpenSearch integrity ledger', () => {
  test('every stored event is ledgered once, in one block per write round, checkpoints are signed, verify finds it intact', async () => {
    const w = writer(c)
    await ingestFile(w)
    const events = srv.docs('envoy-audit-events-*')
    expect(events.length).toBeGreaterThan(15)
    const entries = ledgerEntries(srv)
    expect(entries.map((e) => e.event_id).sort()).toEqual(events.map((e) => e._id).sort())
    // One stream, so one block per round, and one checkpoint per round: as many blocks as checkpoints.
    const ledger = docs('envoy-audit-integrity-ledger')
    expect(ledger.every((d) => d.end !== undefined && d.event_id === undefined)).toBe(true)
    expect(ledger).toHaveLength(docs('envoy-audit-integrity-checkpoints').length)
    expect(ledger.length).toBeLessThan(events.length)
    expect(w.ledger.stats.blocks).toBe(ledger.length)
    const heads = docs('envoy-audit-integrity-heads')
    expect(heads).toHaveLength(1)
    expect(heads[0]!.count).toBe(events.length)
    const r = await verify(c)
    expect(r.issues).toEqual([])
    expect(r.ok).toBe(true)
    expect(r.events).toBe(events.length)
    expect(r.ledgered).toBe(events.length)
    expect(r.streams).toBe(1)
    expect(r.checkpoints).toBeGreaterThan(1)
    expect(r.signedVerified).toBe(r.checkpoints)
    expect(w.ledger.stats.epochs).toBe(0)
  })

  test('the chain is the one the embedded store writes: same ledger rows for the same input', async () => {
    const { openLedgered, ingestFile: ingestDuck, ledgerRows } = await import('./harness.js')
    const { mkdtempSync, rmSync } = await import('node:fs')
    const { join } = await import('node:path')
    const { tmpdir } = await import('node:os')
    const dir = mkdtempSync(join(tmpdir(), 'ea-os-vs-duck-'))
    try {
      const l = await openLedgered(join(dir, 'a.duckdb'), KEY)
      await ingestDuck(l, FIXTURE, 5)
      const duck = (await ledgerRows(l.store)).map((r) => `${String(r.stream)}|${String(r.pos)}|${String(r.event_id)}|${String(r.chain)}`)
      await l.store.close()
      await ingestFile(writer(c), FIXTURE, 11)
      const os = ledgerEntries(srv).map((d) => `${d.stream}|${d.pos}|${d.event_id}|${d.chain}`)
      expect(os.sort()).toEqual(duck.sort())
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  test('a replay (same file again, other batch sizes) adds nothing and keeps one chain', async () => {
    await ingestFile(writer(c), FIXTURE, 7)
    const before = srv.docs('envoy-audit-integrity-ledger').map((d) => JSON.stringify(d))
    const entries = ledgerEntries(srv).length
    const again = writer(c)
    await ingestFile(again, FIXTURE, 3)
    expect(srv.docs('envoy-audit-integrity-ledger').map((d) => JSON.stringify(d))).toEqual(before)
    expect(again.ledger.stats.replaysSkipped).toBe(entries)
    expect(again.ledger.stats.ledgered).toBe(0)
    expect(again.ledger.stats.blocks).toBe(0)
    // Found by walking back from the head's latest block with realtime gets, not by searching.
    expect(again.ledger.stats.searches).toBe(0)
    const r = await verify(c)
    expect(r.ok).toBe(true)
    expect(r.streams).toBe(1)
  })

  test('a replay whose lookup hints are gone (head without its block position) finds the blocks by search: no epoch', async () => {
    await ingestFile(writer(c), FIXTURE, 7)
    for (const h of srv.state.indices.get('envoy-audit-integrity-heads')!.docs.values()) delete (h._source as Record<string, unknown>).block
    const again = writer(c)
    await ingestFile(again, FIXTURE, 5)
    expect(again.ledger.stats.searches).toBeGreaterThan(0)
    expect(again.ledger.stats.replaysSkipped).toBe(ledgerEntries(srv).length)
    expect(again.ledger.stats).toMatchObject({ ledgered: 0, epochs: 0 })
    expect((await verify(c)).issues).toEqual([])
  })

  test('concurrent partitions: one chain per partition, batches of one partition in flight together stay in order', async () => {
    const w = writer(c)
    await w.sink.start()
    const handle = handlerFor(w)
    const parts = kafkaRecords(LINES, 3)
    // Every batch of every partition at once, as the Kafka source dispatches them.
    await Promise.all(parts.flatMap((records) => [records.slice(0, 3), records.slice(3, 6), records.slice(6)].map((b) => handle(b))))
    await w.sink.close()
    const r = await verify(c)
    expect(r.issues).toEqual([])
    expect(r.streams).toBe(3)
    expect(w.ledger.stats.epochs).toBe(0)
  })

  test('an outage (connections refused, then 503s) holds the batch until the cluster is back; nothing is lost', async () => {
    const w = writer(c, KEY, undefined, 30_000)
    await w.sink.start()
    const handle = handlerFor(w)
    const [records] = kafkaRecords(LINES, 1)
    await handle(records!.slice(0, 10))
    await srv.stopListening()
    let done = false
    const pending = handle(records!.slice(10)).then(() => (done = true))
    await new Promise((r) => setTimeout(r, 300))
    expect(done).toBe(false)
    // Back, but busy for the ledger: its realtime reads fail three times and its documents twice each.
    srv.faults.failRequests(/_mget/, 503, 3)
    srv.faults.item = ({ index, attempt }) => (index.startsWith('envoy-audit-integrity') && attempt < 2 ? 429 : null)
    await srv.resume()
    await pending
    await w.sink.close()
    expect(srv.faults.pendingRequestFaults()).toBe(0)
    expect(w.ledger.stats.retries).toBeGreaterThanOrEqual(4)
    const r = await verify(c)
    expect(r.issues).toEqual([])
    expect(r.ledgered).toBe(srv.docs('envoy-audit-events-*').length)
    expect(ledgerEntries(srv)).toHaveLength(r.ledgered)
  })

  test('after an outage the ledger tries again within retry.probeMaxMs, not after its grown backoff', async () => {
    const { OpenSearchLedger } = await import('../../src/integrity/opensearch-ledger.js')
    const { stages } = await import('./harness.js')
    // Backoff 2 s doubling (random 1: exactly 2, 4, 8 s): without the cap the batch would wait 14 s.
    const ledger = new OpenSearchLedger({
      client: c,
      key: KEY,
      indexPrefix: 'envoy-audit-integrity',
      retry: { initialMs: 2000, maxMs: 60_000, probeMaxMs: 50 },
      closeTimeoutMs: 5000,
      random: () => 1,
    })
    const { parser, stages: s } = stages()
    let events = parser.parseBatch(kafkaRecords(LINES, 1)[0]!).events
    for (const stage of s) events = stage.process(events).events
    srv.faults.failRequests(/_mget/, 503, 3)
    const started = Date.now()
    await Promise.race([
      ledger.append(events),
      new Promise((_, reject) => setTimeout(() => reject(new Error('not ledgered within 5 s')), 5000)),
    ])
    expect(Date.now() - started).toBeLessThan(1500)
    expect(ledger.stats.retries).toBe(3)
    expect(ledgerEntries(srv)).toHaveLength(events.length)
    await ledger.close()
  })
})
