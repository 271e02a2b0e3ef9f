/**
 * Ledgers the previous release wrote (one document per event, the version 1 mapping without the block
 * fields) and ledgers that mix those with blocks after an upgrade: they must verify INTACT, tampering in
 * them must still be caught, and a writer of this version must continue their chains (replays across
 * the switch resolved from the per-event documents, no epoch, no search).
 */
import { describe, test, expect, beforeEach, afterEach } from 'vitest'
import { readFileSync } from 'node:fs'
import type { Client } from '@opensearch-project/opensearch'
import { TestOpenSearch } from '../support/opensearch-server/index.js'
import type { AuditEvent } from '../../src/schema/audit-event.js'
import { OpenSearchSink } from '../../src/sinks/opensearch/sink.js'
import { loadSinkConfig } from '../../src/sinks/opensearch/config.js'
import { initialState, planAppend, signCheckpoint, type StreamState } from '../../src/integrity/ledger-core.js'
import { entryId, headId, integrityMapping, posValue } from '../../src/integrity/opensearch-indices.js'
import { decodeLedgerDoc, legacyEntryDoc } from '../../src/integrity/opensearch-blocks.js'
import { FIXTURE, kafkaRecords, stages } from './harness.js'
import { client, handlerFor, kinds, KEY, ledgerEntries, verify, writer } from './opensearch-harness.js'

/** 29 real Envoy/Istio lines; each line's source is cited in test/fixtures/envoy/mixed-real-world.expected.json. */
const LINES = readFileSync(FIXTURE, 'utf8')
  .split('\n')
  .filter((l) => l !== '')
const PREFIX = 'envoy-audit-integrity'
const LEDGER = `${PREFIX}-ledger`
const HEADS = `${PREFIX}-heads`
type Json = Record<string, unknown>

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

const partition = kafkaRecords(LINES, 1)[0]!

function eventsOf(records: typeof partition): AuditEvent[] {
  const { parser, stages: s } = stages()
  let events = parser.parseBatch(records).events
  for (const stage of s) events = stage.process(events).events
  return events
}

/** The indices as the previous release created them: today's mappings without the fields blocks added. */
async function createVersion1Indices(): Promise<void> {
  for (const kind of ['ledger', 'checkpoints', 'heads'] as const) {
    const mappings = structuredClone(integrityMapping(kind)) as { properties: Json }
    delete mappings.properties.end
    delete mappings.properties.block
    await c.indices.create({ index: `${PREFIX}-${kind}`, body: { mappings } as never })
  }
}

/**
 * The previous release's writer, reduced to one process: the same plan (ledger-core.ts), written as it
 * wrote it: one `create` per entry under entryId, the checkpoints, and the head without a block hint.
 */
async function legacyAppend(events: AuditEvent[]): Promise<void> {
  const sink = new OpenSearchSink({ client: c, config: loadSinkConfig({ flushIntervalMs: 2 }) })
  await sink.start()
  await sink.write(events)
  await sink.close()
  const heads = (await c.mget({ index: HEADS, body: { ids: [headId('kafka:envoy/0')] } })).body as {
    docs: { found?: boolean; _source?: Json }[]
  }
  const h = heads.docs[0]?.found === true ? heads.docs[0]._source! : undefined
  const state: StreamState | undefined =
    h === undefined
      ? undefined
      : {
          stream: String(h.ledger_stream),
          epoch: Number(h.epoch),
          lastPos: BigInt(String(h.pos)),
          count: Number(h.count),
          head: String(h.head),
        }
  const plan = await planAppend(
    events,
    () => state,
    async (stream, positions) => {
      const res = (await c.mget({ index: LEDGER, body: { ids: positions.map((p) => entryId(stream, p)) } })).body as {
        docs: { found?: boolean; _source?: Json }[]
      }
      return new Map(res.docs.filter((d) => d.found === true).map((d) => [String(d._source!.pos), String(d._source!.event_id)]))
    },
    KEY,
  )
  const body: Json[] = []
  for (const r of plan.rows) body.push({ create: { _index: LEDGER, _id: entryId(r.stream, r.pos) } }, legacyEntryDoc(r))
  for (const cp of plan.checkpoints) {
    body.push(
      { create: { _index: `${PREFIX}-checkpoints`, _id: entryId(cp.stream, cp.pos) } },
      { stream: cp.stream, pos: posValue(cp.pos), count: cp.count, head: cp.head, key_id: cp.keyId, mac: cp.mac, signed_at: cp.signedAt },
    )
  }
  for (const [logical, st] of plan.next) {
    const signed = signCheckpoint(KEY, st ?? initialState(logical), new Date().toISOString())
    body.push(
      { index: { _index: HEADS, _id: headId(logical) } },
      {
        stream: logical,
        ledger_stream: st.stream,
        epoch: st.epoch,
        pos: posValue(st.lastPos),
        count: st.count,
        head: st.head,
        key_id: signed.keyId,
        mac: signed.mac,
        updated_at: signed.signedAt,
      },
    )
  }
  const res = (await c.bulk({ body: body as never })).body as { errors: boolean }
  expect(res.errors).toBe(false)
}

const kindsOfDocs = (): string[] => [...new Set(srv.docs(LEDGER).map((d) => decodeLedgerDoc(d._id, d._source as Json)!.kind))].sort()

describe('ledgers of the previous release (one document per event)', () => {
  test('verify INTACT; an entry deleted with its event, or edited, is still caught', async () => {
    await createVersion1Indices()
    const events = eventsOf(partition)
    const third = Math.floor(events.length / 3)
    for (const [from, to] of [
      [0, third],
      [third, 2 * third],
      [2 * third, events.length],
    ] as const)
      await legacyAppend(events.slice(from, to))
    expect(kindsOfDocs()).toEqual(['entry'])
    const r = await verify(c)
    expect(r.issues).toEqual([])
    expect(r.ledgered).toBe(events.length)
    expect(r.signedVerified).toBe(3)

    const docs = srv.state.indices.get(LEDGER)!.docs
    const victim = [...docs.values()].find((d) => (d._source as Json).event_id === events[4]!.event.id)!
    ;(victim._source as Json).hash = '0'.repeat(64)
    const edited = await verify(c)
    expect(kinds(edited)).toContain(`modified:${events[4]!.event.id}`)
    expect(edited.counts.chain).toBeGreaterThan(0)
    docs.delete(victim._id)
    for (const index of srv.state.resolve('envoy-audit-events-*')) index.docs.delete(events[4]!.event.id)
    const deleted = await verify(c)
    expect(deleted.counts.chain).toBeGreaterThan(0)
  })
})

describe('mixed ledgers (per-event documents, then blocks after an upgrade)', () => {
  test('the upgraded writer adds the block fields to the mapping, continues the chain across a replay, and verify finds it INTACT', async () => {
    await createVersion1Indices()
    const first = eventsOf(partition.slice(0, 15))
    await legacyAppend(first.slice(0, 8))
    await legacyAppend(first.slice(8))
    const w = writer(c)
    await w.sink.start()
    // Restarted from a commit that lagged: records 10..14 are replays of per-event entries.
    await handlerFor(w)(partition.slice(10, 22))
    await handlerFor(w)(partition.slice(22))
    await w.sink.close()
    expect(srv.state.indices.get(LEDGER)!.mappings.properties).toHaveProperty('end')
    expect(srv.state.indices.get(HEADS)!.mappings.properties).toHaveProperty('block')
    expect(kindsOfDocs()).toEqual(['block', 'entry'])
    expect(w.ledger.stats).toMatchObject({ epochs: 0, searches: 0 })
    const replayed = first.filter((e) => Number(e.audit.source?.offset) >= Number(partition[10]!.coords.offset)).length
    expect(replayed).toBeGreaterThan(0)
    expect(w.ledger.stats.replaysSkipped).toBe(replayed)
    const events = srv.docs('envoy-audit-events-*').length
    const entries = ledgerEntries(srv)
    expect(entries).toHaveLength(events)
    expect(new Set(entries.map((e) => e.pos)).size).toBe(events)
    const r = await verify(c)
    expect(r.issues).toEqual([])
    expect(r.streams).toBe(1)
    expect(r.ledgered).toBe(events)

    // A full replay by another process walks back through the blocks, then gets the per-event documents.
    const again = writer(c)
    await again.sink.start()
    await handlerFor(again)(partition)
    await again.sink.close()
    expect(again.ledger.stats).toMatchObject({ ledgered: 0, blocks: 0, epochs: 0, searches: 0 })
    expect(again.ledger.stats.replaysSkipped).toBe(events)
    expect((await verify(c)).issues).toEqual([])
  })

  test('a role that may not extend the old mapping: the batch is refused, saying to run setup; once the fields are there the replay goes through', async () => {
    await createVersion1Indices()
    srv.faults.failRequests(new RegExp(`^(PUT|POST) /${LEDGER}/_mapping`), 403, 1)
    const w = writer(c)
    await w.sink.start()
    await expect(handlerFor(w)(partition.slice(0, 10))).rejects.toThrow(/strict_dynamic_mapping_exception.*envoy-audit setup/)
    // Re-delivered: this time the mapping can be extended (as after an administrator ran setup).
    await handlerFor(w)(partition.slice(0, 10))
    await handlerFor(w)(partition.slice(10))
    await w.sink.close()
    expect(srv.state.indices.get(LEDGER)!.mappings.properties).toHaveProperty('block')
    const r = await verify(c)
    expect(r.issues).toEqual([])
    expect(r.ledgered).toBe(srv.docs('envoy-audit-events-*').length)
    expect(w.ledger.stats.epochs).toBe(0)
  })

  test('tampering on either side of the switch is caught: a per-event entry edited, a block entry edited', async () => {
    await createVersion1Indices()
    const events = eventsOf(partition.slice(0, 12))
    await legacyAppend(events)
    const w = writer(c)
    await w.sink.start()
    await handlerFor(w)(partition.slice(12))
    await w.sink.close()
    expect((await verify(c)).issues).toEqual([])
    const docs = [...srv.state.indices.get(LEDGER)!.docs.values()]
    const legacy = docs.find((d) => (d._source as Json).event_id === events[3]!.event.id)!
    ;(legacy._source as Json).event_id = 'someone-else'
    const block = docs.find((d) => (d._source as Json).block !== undefined)!
    const b = (block._source as { block: { event_id: string[] } }).block
    const blockVictim = b.event_id[0]!
    b.event_id[0] = 'someone-else-too'
    const r = await verify(c)
    expect(kinds(r)).toEqual(expect.arrayContaining([`inserted:${events[3]!.event.id}`, `inserted:${blockVictim}`]))
    expect(r.counts.chain).toBeGreaterThan(0)
    expect(r.ok).toBe(false)
  })
})
