/**
 * The wrapper's ordering: batches go to the sink at once but are ledgered in the order write() was
 * called, whatever order the sink settles them in; events the sink rejected are not ledgered; a batch
 * the sink failed fails, and the others are still ledgered.
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
import { FIXTURE, kafkaRecords, stages } from './harness.js'
import { client, KEY } from './opensearch-harness.js'

/** 29 real Envoy/Istio lines; each line's source is cited in test/fixtures/envoy/mixed-real-world.expected.json. */
const LINES = readFileSync(FIXTURE, 'utf8').split('\n').filter((l) => l !== '')

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
    const ledger = new OpenSearchLedger({ client: c, key: KEY, indexPrefix: 'envoy-audit-integrity', retry: { initialMs: 5, maxMs: 20 }, closeTimeoutMs: 2000 })
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
    const ledger = new OpenSearchLedger({ client: c, key: KEY, indexPrefix: 'envoy-audit-integrity', retry: { initialMs: 5, maxMs: 20 }, closeTimeoutMs: 2000 })
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
    const ledgered = srv.docs('envoy-audit-integrity-ledger').map((d) => (d._source as { event_id: string }).event_id)
    expect(ledgered.sort()).toEqual(a!.slice(1).map((e) => e.event.id).sort())
    await wrapped.close()
  })
})

describe('ledgeredOpenSearchSink, property', () => {
  test('any batching and any order of sink completion give the chain of a sequential run', async () => {
    const records = kafkaRecords(LINES, 1)[0]!
    const all = eventsOf(records)
    // Reference: everything ledgered in one sequential write.
    const reference = await (async () => {
      const ledger = new OpenSearchLedger({ client: c, key: KEY, indexPrefix: 'ref', retry: { initialMs: 5, maxMs: 20 }, closeTimeoutMs: 2000 })
      await ledger.append(all)
      return srv.docs('ref-ledger').map((d) => JSON.stringify(d._source)).sort()
    })()
    let run = 0
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.integer({ min: 1, max: all.length - 1 }), { maxLength: 6 }),
        fc.infiniteStream(fc.nat()),
        async (cuts, draws) => {
          const prefix = `p${run++}`
          const ledger = new OpenSearchLedger({ client: c, key: KEY, indexPrefix: prefix, retry: { initialMs: 5, maxMs: 20 }, closeTimeoutMs: 2000 })
          const { sink, pending } = manualSink()
          const wrapped = ledgeredOpenSearchSink(sink, ledger)
          // Batches of the events of one parse (a fresh parser per batch would lose CRI partials held across a cut).
          const bounds = [0, ...[...cuts].sort((a, b) => a - b), all.length]
          const writes = bounds.slice(1).map((end, i) => wrapped.write(all.slice(bounds[i], end)))
          // Settle the sink's writes in a random order, letting the ledger run in between.
          const order = [...pending]
          const it = draws[Symbol.iterator]()
          while (order.length > 0) {
            order.splice(it.next().value % order.length, 1)[0]!.resolve({ rejected: [] })
            await new Promise((r) => setTimeout(r, 1))
          }
          await Promise.all(writes)
          expect(ledger.stats.epochs).toBe(0)
          expect(srv.docs(`${prefix}-ledger`).map((d) => JSON.stringify(d._source)).sort()).toEqual(reference)
        },
      ),
      { numRuns: 25 },
    )
  }, 60_000)
})
