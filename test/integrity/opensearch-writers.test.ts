/**
 * Several writers on one stream, as after a consumer-group rebalance, and writers that die between
 * writing ledger documents and advancing the head. The chain of a stream must stay one valid chain
 * (no epoch) whenever the input is the same, and split into epochs, never interleave, when it is not.
 */
import { describe, test, expect, beforeEach, afterEach } from 'vitest'
import { readFileSync } from 'node:fs'
import type { Client } from '@opensearch-project/opensearch'
import { TestOpenSearch } from '../support/opensearch-server/index.js'
import type { RawRecord } from '../../src/pipeline/component.js'
import { FIXTURE, kafkaRecords } from './harness.js'
import { client, handlerFor, ledgerEntries, verify, writer, type Writer } from './opensearch-harness.js'

/** 29 real Envoy/Istio lines; each line's source is cited in test/fixtures/envoy/mixed-real-world.expected.json. */
const LINES = readFileSync(FIXTURE, 'utf8')
  .split('\n')
  .filter((l) => l !== '')
const HEADS = 'envoy-audit-integrity-heads'
const LEDGER = 'envoy-audit-integrity-ledger'

let srv: TestOpenSearch
const clients: Client[] = []
beforeEach(async () => {
  srv = await TestOpenSearch.start()
})
afterEach(async () => {
  for (const c of clients.splice(0)) await c.close()
  await srv.close()
})

/** A pipeline member with its own client, as a separate `envoy-audit run` process would have. */
async function member(closeTimeoutMs = 5_000): Promise<Writer & { handle: (r: RawRecord[]) => Promise<void> }> {
  const c = await client(srv.url)
  clients.push(c)
  const w = writer(c, undefined, undefined, closeTimeoutMs)
  await w.sink.start()
  return { ...w, handle: handlerFor(w) }
}

async function verifyNow() {
  const c = await client(srv.url)
  clients.push(c)
  return verify(c)
}

const partition = kafkaRecords(LINES, 1)[0]!

/** Runs `hold` with each bulk body a member's client is about to send, and sends it once `hold` resolves. */
function beforeBulk(c: Client, hold: (body: string) => Promise<void>): void {
  const bulk = c.bulk.bind(c) as (...args: unknown[]) => Promise<unknown>
  c.bulk = (async (params: { body: string }, ...rest: unknown[]) => {
    await hold(String(params.body))
    return bulk(params, ...rest)
  }) as unknown as typeof c.bulk
}

describe('two writers on one stream', () => {
  test('alternating with overlapping replays (rebalances) keep one chain, no epoch', async () => {
    const a = await member()
    const b = await member()
    await a.handle(partition.slice(0, 10))
    await b.handle(partition.slice(5, 20)) // b starts from a commit that lagged a's acknowledgements
    await a.handle(partition.slice(15, 29)) // and a got the partition back
    await b.handle(partition.slice(0, 29)) // a full replay changes nothing
    await Promise.all([a.sink.close(), b.sink.close()])
    const r = await verifyNow()
    expect(r.issues).toEqual([])
    expect(r.streams).toBe(1)
    expect(r.ledgered).toBe(srv.docs('envoy-audit-events-*').length)
    expect(a.ledger.stats.epochs + b.ledger.stats.epochs).toBe(0)
    expect(b.ledger.stats.replaysSkipped).toBeGreaterThan(0)
  })

  test('both writing the same batches at the same time: the head CAS serialises them, one chain', async () => {
    const a = await member()
    const b = await member()
    for (const [from, to] of [
      [0, 12],
      [12, 20],
      [20, 29],
    ] as const) {
      await Promise.all([a.handle(partition.slice(from, to)), b.handle(partition.slice(from, to))])
    }
    await Promise.all([a.sink.close(), b.sink.close()])
    const r = await verifyNow()
    expect(r.issues).toEqual([])
    expect(r.streams).toBe(1)
    expect(a.ledger.stats.epochs + b.ledger.stats.epochs).toBe(0)
    // Every event ledgered exactly once whoever won: no position in two blocks.
    const entries = ledgerEntries(srv)
    expect(entries).toHaveLength(srv.docs('envoy-audit-events-*').length)
    expect(new Set(entries.map((e) => e.pos)).size).toBe(entries.length)
  })

  test('both writing from the same head with other batch bounds: the loser (409 on a block of other contents, or on the head) re-plans, no position twice', async () => {
    const a = await member()
    const b = await member()
    await a.handle(partition.slice(0, 5))
    // Both read the same head; a's block and b's block start at the same position but end apart.
    // Made certain, not left to timing: each writer's first block write waits until the other's has
    // arrived too, so both planned from the same head before either block exists.
    let arrived = 0
    let bothArrived: () => void = () => undefined
    const barrier = new Promise<void>((r) => (bothArrived = r))
    for (const c of clients) {
      let armed = true
      beforeBulk(c, async (body) => {
        if (armed && body.includes(`"_index":"${LEDGER}"`)) {
          armed = false
          if (++arrived === 2) bothArrived()
          await barrier
        }
      })
    }
    await Promise.all([a.handle(partition.slice(5, 12)), b.handle(partition.slice(5, 20))])
    expect(arrived).toBe(2)
    await Promise.all([a.handle(partition.slice(20, 29)), b.handle(partition.slice(12, 29))])
    await Promise.all([a.sink.close(), b.sink.close()])
    expect(a.ledger.stats.conflicts + b.ledger.stats.conflicts).toBeGreaterThan(0)
    const entries = ledgerEntries(srv)
    expect(entries).toHaveLength(srv.docs('envoy-audit-events-*').length)
    expect(new Set(entries.map((e) => e.pos)).size).toBe(entries.length)
    const r = await verifyNow()
    expect(r.issues).toEqual([])
    expect(r.warnings.join('\n')).not.toMatch(/two documents/)
    expect(a.ledger.stats.epochs + b.ledger.stats.epochs).toBe(0)
  })

  test('a stale head write is refused with 409 and the batch re-planned from the fresh head', async () => {
    const a = await member()
    const b = await member()
    await a.handle(partition.slice(0, 10))
    // b has read the head and written its ledger documents; its head update is held back until a,
    // which owns the partition now, has ledgered further (other batch boundaries) and moved the head.
    let release: () => void = () => undefined
    const gate = new Promise<void>((r) => (release = r))
    let held = 0
    beforeBulk(clients[1]!, async (body) => {
      if (body.includes(`"_index":"${HEADS}"`) && held++ === 0) await gate
    })
    const bDone = b.handle(partition.slice(10, 20))
    while (held === 0) await new Promise((r) => setTimeout(r, 5))
    await a.handle(partition.slice(10, 25))
    release()
    await bDone
    await a.handle(partition.slice(25, 29))
    await Promise.all([a.sink.close(), b.sink.close()])
    expect(b.ledger.stats.conflicts).toBe(1)
    // Its second attempt found every event of its batch already chained by a.
    expect(b.ledger.stats.ledgered).toBe(0)
    expect(b.ledger.stats.replaysSkipped).toBeGreaterThan(5)
    const r = await verifyNow()
    expect(r.issues).toEqual([])
    expect(r.streams).toBe(1)
    expect(a.ledger.stats.epochs + b.ledger.stats.epochs).toBe(0)
  })
})

describe('a writer dies between its ledger documents and the head', () => {
  async function dieBeforeHead(records: RawRecord[]): Promise<void> {
    const w = await member(200)
    // The head update never gets through; close gives up after 200 ms, so the batch is not acknowledged.
    srv.faults.item = ({ index }) => (index === HEADS ? 503 : null)
    const handled = w.handle(records)
    const outcome = handled.then(
      () => 'acknowledged',
      () => 'failed',
    )
    while (!srv.requests.some((r) => r.path.endsWith('_bulk') && r.body.includes(HEADS))) await new Promise((r) => setTimeout(r, 5))
    await w.sink.close()
    expect(await outcome).toBe('failed')
    srv.faults.clear()
  }

  test('the replay by the next writer finds the leftover entries and does not write them again: one chain, no epoch', async () => {
    const a = await member()
    await a.handle(partition.slice(0, 8))
    await dieBeforeHead(partition.slice(8, 20))
    expect(ledgerEntries(srv).length).toBeGreaterThan(8) // leftovers beyond the head
    const b = await member()
    await b.handle(partition.slice(8, 29))
    await b.sink.close()
    const r = await verifyNow()
    expect(r.issues).toEqual([])
    expect(r.streams).toBe(1)
    expect(b.ledger.stats.epochs).toBe(0)
    expect(b.ledger.stats.tailChecks).toBeGreaterThan(0)
  })

  test('the replay batches differently from the writer that died (shorter, then longer): no leftover entry written twice, one chain', async () => {
    const a = await member()
    await a.handle(partition.slice(0, 8))
    await dieBeforeHead(partition.slice(8, 20))
    const leftovers = srv.docs(LEDGER).map((d) => d._id)
    const b = await member()
    // Ends inside the dead writer's block: everything is there already, only the head moves.
    await b.handle(partition.slice(8, 13))
    expect(srv.docs(LEDGER).map((d) => d._id)).toEqual(leftovers)
    expect(b.ledger.stats.blocks).toBe(0)
    // Starts inside it and goes beyond: only the entries after it are written, in a new block.
    await b.handle(partition.slice(13, 29))
    await b.sink.close()
    expect(b.ledger.stats.blocks).toBe(1)
    const entries = ledgerEntries(srv)
    expect(entries).toHaveLength(srv.docs('envoy-audit-events-*').length)
    expect(new Set(entries.map((e) => e.pos)).size).toBe(entries.length)
    const r = await verifyNow()
    expect(r.issues).toEqual([])
    expect(r.warnings.join('\n')).not.toMatch(/two documents/)
    expect(b.ledger.stats.epochs).toBe(0)
  })

  test('reused coordinates after such a death (other data at the same positions): a new epoch, not an interleaved chain', async () => {
    const file = (lines: string[], shift: number): RawRecord[] => {
      let offset = 0
      return lines.map((value, i) => {
        const r: RawRecord = {
          value,
          coords: { kind: 'file', file: '/var/log/envoy/access.log', line: i + 1, offset: String(offset + shift) },
        }
        offset += Buffer.byteLength(value) + 1
        return r
      })
    }
    await dieBeforeHead(file(LINES.slice(0, 12), 0))
    // The file was rotated and rewritten: other lines, at byte offsets that interleave with the old ones.
    const b = await member()
    await b.handle(file(LINES.slice(12, 29), 7))
    await b.sink.close()
    const r = await verifyNow()
    expect(r.issues).toEqual([])
    expect(b.ledger.stats.epochs).toBe(1)
    expect(r.streams).toBe(2)
    const heads = srv.docs(HEADS).map((d) => (d._source as { ledger_stream: string }).ledger_stream)
    expect(heads).toEqual(['file:/var/log/envoy/access.log#2'])
  })
})
