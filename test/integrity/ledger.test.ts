import { describe, test, expect, beforeEach, afterEach } from 'vitest'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createHash } from 'node:crypto'
import { verifyDuckDbStore } from '../../src/integrity/verify-duckdb.js'
import { checkpointMac, genesis, hashEvent, hashStoredEvent, link, positionOf, streamOf } from '../../src/integrity/chain.js'
import { createParser } from '../../src/parse/index.js'
import { compileEventSerializer } from '../../src/schema/audit-event.js'
import type { IntegrityKey } from '../../src/integrity/config.js'
import { loadIntegrityKey } from '../../src/integrity/config.js'
import { FIXTURE, handlerFor, ingestFile, kafkaRecords, ledgerRows, openLedgered, stages, type Ledgered } from './harness.js'
import { DuckDbStore } from '../../src/store/duckdb-store.js'
import { DuckDbLedger, ledgeredSink } from '../../src/integrity/ledger.js'
import type { AuditEvent } from '../../src/schema/audit-event.js'

const KEY: IntegrityKey = { id: 'test', bytes: Buffer.from('0123456789abcdef0123456789abcdef') }
const LINES = readFileSync(FIXTURE, 'utf8')
  .split('\n')
  .filter((l) => l !== '')

let dir: string
const opened: Ledgered[] = []
async function open(name: string, key: IntegrityKey | undefined = KEY): Promise<Ledgered> {
  const l = await openLedgered(join(dir, `${name}.duckdb`), key)
  opened.push(l)
  return l
}
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ea-integrity-'))
})
afterEach(async () => {
  for (const l of opened.splice(0)) await l.store.close()
  rmSync(dir, { recursive: true, force: true })
})

describe('chain primitives', () => {
  test('the stored hash is independent of key order, ignores audit.hash and event.ingested, and nothing else', () => {
    const e = createParser({}).parseBatch([{ value: LINES[0]!, coords: { kind: 'file', file: 'f', line: 1, offset: '0' } }]).events[0]!
    const h = hashEvent(e)
    const json = compileEventSerializer()(e)
    expect(hashStoredEvent(json)).toBe(h)
    const reordered = JSON.stringify(Object.fromEntries(Object.entries(JSON.parse(json) as object).reverse()))
    expect(hashStoredEvent(reordered)).toBe(h)
    const withExtras = JSON.parse(json) as { event: Record<string, unknown>; audit: Record<string, unknown>; url: { path: string } }
    withExtras.event.ingested = '2030-01-01T00:00:00.000Z'
    withExtras.audit.hash = 'x'
    expect(hashStoredEvent(JSON.stringify(withExtras))).toBe(h)
    withExtras.url.path = '/reviews/1'
    expect(hashStoredEvent(JSON.stringify(withExtras))).not.toBe(h)
  })
  test('streams and positions: one chain per Kafka partition or file', () => {
    expect(streamOf({ kind: 'kafka', topic: 't', partition: 3, offset: '9' })).toBe('kafka:t/3')
    expect(streamOf({ kind: 'file', file: '/a.log', line: 2, offset: '10' })).toBe('file:/a.log')
    expect(positionOf({ kind: 'kafka', offset: '18446744073709551' })).toBe(18446744073709551n)
    expect(positionOf({ kind: 'file', line: 4 })).toBe(4n)
    expect(positionOf({ kind: 'file', offset: 'x' })).toBeUndefined()
  })
  test('key loading: env or file, too short rejected without echoing it, requireKey', () => {
    expect(loadIntegrityKey({ keyEnv: 'K', requireKey: false }, {})).toBeUndefined()
    expect(() => loadIntegrityKey({ keyEnv: 'K', requireKey: true }, {})).toThrow(/integrity.requireKey/)
    let msg = ''
    try {
      loadIntegrityKey({ keyEnv: 'K', requireKey: false }, { K: 'short-secret' })
    } catch (err) {
      msg = (err as Error).message
    }
    expect(msg).toMatch(/at least 16 bytes/)
    expect(msg).not.toContain('short-secret')
    const k = loadIntegrityKey({ keyEnv: 'K', requireKey: false }, { K: ' 0123456789abcdef0123 \n' })!
    expect(k.id).toBe(createHash('sha256').update('0123456789abcdef0123').digest('hex').slice(0, 16))
  })
})

describe('ledger', () => {
  test('every stored event is ledgered once, chained in position order, checkpoints signed', async () => {
    const l = await open('a')
    await ingestFile(l)
    const events = (await l.store.sql('SELECT count(*)::INTEGER n FROM events')).rows[0]!.n as number
    const rows = await ledgerRows(l.store)
    expect(events).toBeGreaterThan(15)
    expect(rows).toHaveLength(events)
    // Recompute the chain independently from the rows.
    let head = genesis(String(rows[0]!.stream))
    for (const r of rows) {
      head = link(head, String(r.event_id), String(r.hash))
      expect(r.chain).toBe(head)
    }
    const cps = (
      await l.store.sql(
        'SELECT stream, CAST(pos AS VARCHAR) pos, count::INTEGER count, head, mac FROM integrity_checkpoints c ORDER BY c.pos',
      )
    ).rows
    expect(cps.length).toBeGreaterThan(1)
    const last = cps.at(-1)!
    expect(last.head).toBe(head)
    expect(last.mac).toBe(checkpointMac(KEY, { stream: String(last.stream), pos: String(last.pos), count: Number(last.count), head }))
    const report = await verifyDuckDbStore(l.store, KEY)
    expect(report).toMatchObject({ ok: true, events, ledgered: events, unsignedTail: 0, signedVerified: cps.length })
    // Every event's audit.hash is the hash of what is stored.
    const stored = (await l.store.sql('SELECT id, hash, event_json FROM events')).rows
    for (const s of stored) expect(s.hash).toBe(hashStoredEvent(String(s.event_json)))
  })

  test('hostile content survives the store round trip with the same hash (lone surrogates, __proto__ labels, control characters)', async () => {
    const l = await open('edge')
    const obj = JSON.parse(LINES[2]!) as Record<string, unknown>
    obj.path = '/a\ud800b\u0000c\u2028d\u{1F600}'
    obj.user_agent = '\udfff'
    const env = JSON.stringify({
      log: JSON.stringify(obj),
      kubernetes: { labels: { ['__proto__']: 'x', constructor: 'y', app: '\ud83d' } },
    })
    await handlerFor(l)([{ value: env, coords: { kind: 'kafka', topic: 't', partition: 0, offset: '7' } }])
    const stored = (await l.store.sql('SELECT event_json FROM events')).rows
    expect(stored).toHaveLength(1)
    const report = await verifyDuckDbStore(l.store, KEY)
    expect(report.issues).toEqual([])
    expect(report.ok).toBe(true)
  })

  test('replay (same file again, other batch sizes) adds no ledger rows and verifies', async () => {
    const l = await open('replay')
    await ingestFile(l, FIXTURE, 7)
    const before = await ledgerRows(l.store)
    await ingestFile(l, FIXTURE, 3)
    expect(await ledgerRows(l.store)).toEqual(before)
    expect(l.ledger.stats.replaysSkipped).toBe(before.length)
    expect((await verifyDuckDbStore(l.store, KEY)).ok).toBe(true)
  })

  test('deterministic: two stores from the same input have identical ledgers, whatever the batching', async () => {
    const a = await open('det-a')
    const b = await open('det-b')
    await ingestFile(a, FIXTURE, 29)
    await ingestFile(b, FIXTURE, 2)
    expect(await ledgerRows(b.store)).toEqual(await ledgerRows(a.store))
  })

  test('concurrent partitions: interleaved, concurrent batches give the same per-partition chains as sequential ones', async () => {
    const parts = kafkaRecords(LINES, 3)
    const seq = await open('seq')
    const h1 = handlerFor(seq)
    for (const p of parts) await h1(p)
    const conc = await open('conc')
    const h2 = handlerFor(conc)
    // Each partition in two batches; partitions run concurrently, in reverse order of start.
    await Promise.all(
      [...parts].reverse().map(async (p) => {
        const mid = Math.ceil(p.length / 2)
        await h2(p.slice(0, mid))
        await h2(p.slice(mid))
      }),
    )
    const rows = await ledgerRows(conc.store)
    expect(rows).toEqual(await ledgerRows(seq.store))
    expect(new Set(rows.map((r) => r.stream))).toEqual(new Set(['kafka:envoy/0', 'kafka:envoy/1', 'kafka:envoy/2']))
    expect((await verifyDuckDbStore(conc.store, KEY)).ok).toBe(true)
  })

  test('reused coordinates (stdin read again with other lines) start a new epoch instead of breaking the chain', async () => {
    const l = await open('epoch')
    const h = handlerFor(l)
    const rec = (value: string, line: number) => ({ value, coords: { kind: 'stdin' as const, line, offset: String(line * 1000) } })
    await h([rec(LINES[0]!, 1), rec(LINES[1]!, 2)])
    await h([rec(LINES[0]!, 1), rec(LINES[2]!, 2), rec(LINES[3]!, 3)])
    const streams = (await ledgerRows(l.store)).map((r) => `${String(r.stream)}@${String(r.pos)}`)
    expect(streams).toEqual(['stdin@1000', 'stdin@2000', 'stdin#2@2000', 'stdin#2@3000'])
    expect((await verifyDuckDbStore(l.store, KEY)).ok).toBe(true)
  })

  for (const layout of ['table', 'segments'] as const) {
    test(`${layout} layout: a batch whose ledger rows fail leaves none of its events stored; verify stays intact`, async () => {
      const store = new DuckDbStore({ path: join(dir, `torn-${layout}.duckdb`), threads: 1, layout })
      await store.start()
      // The ledger's own table, planted first, refusing offsets from 120 on: the second batch's ledger
      // insert fails after its events were written, inside the same commit or (before) after it.
      await store.sql(`CREATE TABLE integrity_ledger (stream VARCHAR NOT NULL, pos BIGINT NOT NULL CHECK (pos < 120),
        event_id VARCHAR NOT NULL, hash VARCHAR NOT NULL, chain VARCHAR NOT NULL, PRIMARY KEY (stream, pos))`)
      const sink = ledgeredSink(store, new DuckDbLedger(store, KEY), false)
      await sink.start()
      try {
        const records = kafkaRecords(LINES, 1)[0]!
        const { parser, stages: s } = stages()
        const eventsOf = (from: number, to: number): AuditEvent[] => {
          let events = parser.parseBatch(records.slice(from, to)).events
          for (const stage of s) events = stage.process(events).events
          return events
        }
        const first = eventsOf(0, 10)
        await sink.write(first)
        await expect(sink.write(eventsOf(10, 30))).rejects.toMatchObject({ code: 'EA_SINK_UNAVAILABLE' })
        const stored = (await store.sql('SELECT count(*)::INTEGER n FROM events')).rows[0]!.n
        expect(stored).toBe(first.length)
        const report = await verifyDuckDbStore(store, KEY)
        expect(report.counts).toMatchObject({ inserted: 0, deleted: 0 })
        expect(report).toMatchObject({ ok: true, events: first.length, ledgered: first.length })
      } finally {
        await store.close()
      }
    })
  }

  test('state survives a restart: a new ledger on the same file continues the chain', async () => {
    const path = join(dir, 'restart.duckdb')
    const first = await openLedgered(path, KEY)
    await handlerFor(first)(kafkaRecords(LINES.slice(0, 10), 1)[0]!)
    await first.store.close()
    const second = await open('restart')
    const all = kafkaRecords(LINES, 1)[0]!
    await handlerFor(second)(all)
    const rows = await ledgerRows(second.store)
    expect(rows.every((r) => r.stream === 'kafka:envoy/0')).toBe(true)
    expect((await verifyDuckDbStore(second.store, KEY)).ok).toBe(true)
  })
})
