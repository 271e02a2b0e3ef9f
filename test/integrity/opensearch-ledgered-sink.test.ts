/**
 * The wrapper's ordering: batches go to the sink at once but are ledgered, per stream, in the order
 * write() was called, whatever order the sink settles them in; one stream's batches never wait for
 * another's (in the sink or in the ledger); events the sink rejected are not ledgered; a batch the sink
 * failed fails, and the others are still ledgered.
 */
import { describe, test, expect, beforeEach, afterEach } from 'vitest'
import fc from 'fast-check'
import { readFileSync } from 'node:fs'
import type { Client } from '@opensearch-project/opensearch'
import { TestOpenSearch } from '../support/opensearch-server/index.js'
import type { AuditEvent } from '../../src/schema/audit-event.js'
import type { Sink, SinkWriteResult } from '../../src/pipeline/component.js'
import { OpenSearchLedger } from '../../src/integrity/opensearch-ledger.js'
import { ledgeredOpenSearchSink } from '../../src/integrity/opensearch-ledgered-sink.js'
import { headId } from '../../src/integrity/opensearch-indices.js'
import { FIXTURE, kafkaRecords, stages } from './harness.js'
import { client, KEY, ledgerEntries } from './opensearch-harness.js'

/** 29 real Envoy/Istio lines; each line's source is cited in test/fixtures/envoy/mixed-real-world.expected.json. */
const LINES = readFileSync(FIXTURE, 'utf8')
  .split('\n')
  .filter((l) => l !== '')

/** A sink whose writes settle only when the test says so. */
function manualSink() {
  const pending: { events: AuditEvent[]; resolve: (r: SinkWriteResult) => void; reject: (e: Error) => void }[] = []
  const sink: Sink = {
    name: 'manual',
    start: async () => undefined,
    close: async () => undefined,
    write: (events) => new Promise((resolve, reject) => pending.push({ events, resolve, reject })),
  }
  return { sink, pending }
}

function eventsOf(records: ReturnType<typeof kafkaRecords>[number]): AuditEvent[] {
  const { parser, stages: s } = stages()
  let events = parser.parseBatch(records).events
  for (const stage of s) events = stage.process(events).events
  return events
}

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

const head = () => srv.docs('envoy-audit-integrity-heads')[0]?._source as { count: number; pos: number; epoch: number } | undefined

describe('ledgeredOpenSearchSink', () => {
  test('batches the sink settles in reverse order are ledgered in call order: one chain, no epoch', async () => {
    const ledger = new OpenSearchLedger({
      client: c,
      key: KEY,
      indexPrefix: 'envoy-audit-integrity',
      retry: { initialMs: 5, maxMs: 20 },
      closeTimeoutMs: 2000,
    })
    const { sink, pending } = manualSink()
    const wrapped = ledgeredOpenSearchSink(sink, ledger)
    await wrapped.start()
    const records = kafkaRecords(LINES, 1)[0]!
    const batches = [records.slice(0, 10), records.slice(10, 20), records.slice(20)].map(eventsOf)
    const done: number[] = []
    const writes = batches.map((b, i) => wrapped.write(b).then(() => void done.push(i)))
    for (const p of [...pending].reverse()) p.resolve({ rejected: [] })
    await Promise.all(writes)
    expect(done).toEqual([0, 1, 2])
    const total = batches.reduce((n, b) => n + b.length, 0)
    expect(head()).toMatchObject({ count: total, epoch: 1 })
    expect(ledger.stats.epochs).toBe(0)
    // Settled together, ledgered together: one round, one checkpoint.
    expect(ledger.stats.checkpoints).toBe(1)
    await wrapped.close()
  })

  test('rejected events are not ledgered; a failed batch fails alone', async () => {
    const ledger = new OpenSearchLedger({
      client: c,
      key: KEY,
      indexPrefix: 'envoy-audit-integrity',
      retry: { initialMs: 5, maxMs: 20 },
      closeTimeoutMs: 2000,
    })
    const { sink, pending } = manualSink()
    const wrapped = ledgeredOpenSearchSink(sink, ledger)
    await wrapped.start()
    const records = kafkaRecords(LINES, 1)[0]!
    const [a, b] = [records.slice(0, 10), records.slice(10, 20)].map(eventsOf)
    const wa = wrapped.write(a!)
    const wb = wrapped.write(b!)
    pending[0]!.resolve({ rejected: [{ event: a![0]!, code: 'EA_SINK_MAPPING', message: 'mapper_parsing_exception' }] })
    pending[1]!.reject(new Error('sink closed before delivery'))
    await expect(wa).resolves.toMatchObject({ rejected: [{ code: 'EA_SINK_MAPPING' }] })
    await expect(wb).rejects.toThrow('sink closed before delivery')
    const ledgered = ledgerEntries(srv).map((e) => e.event_id)
    expect(ledgered.sort()).toEqual(
      a!
        .slice(1)
        .map((e) => e.event.id)
        .sort(),
    )
    await wrapped.close()
  })
})

describe('ledgeredOpenSearchSink: partitions do not wait on each other', () => {
  const newLedger = (closeTimeoutMs = 2000) =>
    new OpenSearchLedger({ client: c, key: KEY, indexPrefix: 'envoy-audit-integrity', retry: { initialMs: 5, maxMs: 20 }, closeTimeoutMs })
  const heads = () =>
    new Map(
      srv
        .docs('envoy-audit-integrity-heads')
        .map((d) => [String((d._source as { stream: string }).stream), d._source as { count: number; epoch: number }]),
    )

  test('a batch still in the sink (retrying) holds only its own partition: a later batch of another partition is ledgered and acknowledged', async () => {
    const ledger = newLedger()
    const { sink, pending } = manualSink()
    const wrapped = ledgeredOpenSearchSink(sink, ledger)
    await wrapped.start()
    const [p0, p1] = kafkaRecords(LINES, 2).map((r) => eventsOf(r.slice(0, 8)))
    const slow = wrapped.write(p0!)
    let slowDone = false
    void slow.then(() => (slowDone = true))
    const fast = wrapped.write(p1!)
    pending[1]!.resolve({ rejected: [] })
    await fast
    expect(slowDone).toBe(false)
    expect(heads().get('kafka:envoy/1')).toMatchObject({ count: p1!.length, epoch: 1 })
    expect(heads().has('kafka:envoy/0')).toBe(false)
    pending[0]!.resolve({ rejected: [] })
    await slow
    expect(heads().get('kafka:envoy/0')).toMatchObject({ count: p0!.length, epoch: 1 })
    expect(ledger.stats.epochs).toBe(0)
    await wrapped.close()
  })

  test("a ledger round retrying on one partition (its head update failing) does not hold another partition's round", async () => {
    const ledger = newLedger(5000)
    const { sink, pending } = manualSink()
    const wrapped = ledgeredOpenSearchSink(sink, ledger)
    await wrapped.start()
    const [p0, p1] = kafkaRecords(LINES, 2).map((r) => eventsOf(r.slice(0, 8)))
    // Every head update of partition 0 answers 503 (a busy shard) until the fault is cleared.
    srv.faults.item = ({ index, id }) => (index === 'envoy-audit-integrity-heads' && id === headId('kafka:envoy/0') ? 503 : null)
    const stuck = wrapped.write(p0!)
    let stuckDone = false
    void stuck.then(() => (stuckDone = true))
    pending[0]!.resolve({ rejected: [] })
    while (ledger.stats.retries < 2) await new Promise((r) => setTimeout(r, 5))
    const other = wrapped.write(p1!)
    pending[1]!.resolve({ rejected: [] })
    await other
    expect(stuckDone).toBe(false)
    expect(heads().get('kafka:envoy/1')).toMatchObject({ count: p1!.length, epoch: 1 })
    srv.faults.clear()
    await stuck
    expect(heads().get('kafka:envoy/0')).toMatchObject({ count: p0!.length, epoch: 1 })
    expect(ledger.stats.epochs).toBe(0)
    await wrapped.close()
  })

  test('within a partition the order holds across streams and batches that span two partitions', async () => {
    const ledger = newLedger()
    const { sink, pending } = manualSink()
    const wrapped = ledgeredOpenSearchSink(sink, ledger)
    await wrapped.start()
    const [r0, r1] = kafkaRecords(LINES, 2)
    const both = eventsOf([...r0!.slice(0, 3), ...r1!.slice(0, 3)])
    const later0 = eventsOf(r0!.slice(3, 9))
    const later1 = eventsOf(r1!.slice(3, 9))
    const writes = [wrapped.write(both), wrapped.write(later0), wrapped.write(later1)]
    // The later batches of each partition settle first; neither may be ledgered before the shared one.
    pending[2]!.resolve({ rejected: [] })
    pending[1]!.resolve({ rejected: [] })
    await new Promise((r) => setTimeout(r, 50))
    expect(heads().size).toBe(0)
    pending[0]!.resolve({ rejected: [] })
    await Promise.all(writes)
    const count = (p: number) => [...both, ...later0, ...later1].filter((e) => e.audit.source?.partition === p).length
    expect(heads().get('kafka:envoy/0')).toMatchObject({ count: count(0), epoch: 1 })
    expect(heads().get('kafka:envoy/1')).toMatchObject({ count: count(1), epoch: 1 })
    expect(ledger.stats.epochs).toBe(0)
    await wrapped.close()
  })
})

describe('ledgeredOpenSearchSink, property', () => {
  /**
   * A first run with any batching and any order of sink completion, optionally cut short by a writer
   * that dies after writing its blocks but before its head update, then a replay from any earlier
   * position with other batching and completion order (a restarted consumer). The ledger entries, taken
   * out of whatever blocks hold them, must be exactly the DuckDB ledger of the same events written in
   * one go: same positions, ids, hashes and chain values, each position once, no epoch.
   */
  test('any batching, completion order, death before a head update and replay give the DuckDB ledger', async () => {
    const records = kafkaRecords(LINES, 1)[0]!
    const all = eventsOf(records)
    const { openLedgered, ledgerRows } = await import('./harness.js')
    const { mkdtempSync, rmSync } = await import('node:fs')
    const { join } = await import('node:path')
    const { tmpdir } = await import('node:os')
    const dir = mkdtempSync(join(tmpdir(), 'ea-os-prop-'))
    let reference: string[]
    try {
      const l = await openLedgered(join(dir, 'ref.duckdb'), KEY)
      await l.ledger.appendThrough(all, (rows) => l.store.writeEvents([], rows))
      reference = (await ledgerRows(l.store)).map(
        (r) => `${String(r.stream)}|${String(r.pos)}|${String(r.event_id)}|${String(r.hash)}|${String(r.chain)}`,
      )
      await l.store.close()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
    expect(reference).toHaveLength(all.length)
    const cutsArb = fc.uniqueArray(fc.integer({ min: 1, max: all.length - 1 }), { maxLength: 6 })
    let run = 0
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: all.length }),
        cutsArb,
        fc.option(fc.record({ size: fc.integer({ min: 1, max: 12 }), replayFrom: fc.nat() }), { nil: undefined }),
        cutsArb,
        fc.infiniteStream(fc.nat()),
        async (firstEnd, cuts1, death, cuts2, draws) => {
          const prefix = `p${run++}`
          const it = draws[Symbol.iterator]()
          const ledgerOf = (closeTimeoutMs = 2000) =>
            new OpenSearchLedger({ client: c, key: KEY, indexPrefix: prefix, retry: { initialMs: 2, maxMs: 10 }, closeTimeoutMs })
          /** Events [from, to) through a fresh wrapped sink, cut at `cuts`, the sink settling in a random order. */
          const pass = async (from: number, to: number, cuts: number[]) => {
            const ledger = ledgerOf()
            const { sink, pending } = manualSink()
            const wrapped = ledgeredOpenSearchSink(sink, ledger)
            const bounds = [from, ...cuts.filter((x) => x > from && x < to).sort((a, b) => a - b), to]
            const writes = bounds.slice(1).map((end, i) => wrapped.write(all.slice(bounds[i], end)))
            const order = [...pending]
            while (order.length > 0) {
              order.splice(it.next().value % order.length, 1)[0]!.resolve({ rejected: [] })
              await new Promise((r) => setTimeout(r, 1))
            }
            await Promise.all(writes)
            return ledger
          }
          const first = await pass(0, firstEnd, cuts1)
          let replayFrom: number
          if (death !== undefined && firstEnd < all.length) {
            // Dies after its blocks: every head update of this prefix fails until the writer is closed.
            const dying = ledgerOf(0)
            srv.faults.item = ({ index }) => (index === `${prefix}-heads` ? 503 : null)
            const sent = srv.requests.length
            const failed = dying.append(all.slice(firstEnd, Math.min(all.length, firstEnd + death.size))).then(
              () => false,
              () => true,
            )
            while (!srv.requests.slice(sent).some((r) => r.path.endsWith('_bulk') && r.body.includes(`${prefix}-heads`)))
              await new Promise((r) => setTimeout(r, 2))
            await dying.close(0)
            srv.faults.clear()
            expect(await failed).toBe(true)
            // The consumer restarts from a committed position at or before the first unacknowledged one.
            replayFrom = death.replayFrom % (firstEnd + 1)
          } else replayFrom = death === undefined ? firstEnd : death.replayFrom % (firstEnd + 1)
          const second = await pass(replayFrom, all.length, cuts2)
          const got = ledgerEntries(srv, `${prefix}-ledger`).map((e) => `${e.stream}|${e.pos}|${e.event_id}|${e.hash}|${e.chain}`)
          expect(got).toEqual(reference)
          expect(first.stats.epochs + second.stats.epochs).toBe(0)
          const headDoc = srv.docs(`${prefix}-heads`)[0]!._source as { count: number; head: string }
          expect(headDoc.count).toBe(all.length)
          expect(headDoc.head).toBe(reference.at(-1)!.split('|')[4])
        },
      ),
      { numRuns: 30 },
    )
  }, 90_000)
})
