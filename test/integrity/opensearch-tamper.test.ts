/**
 * Tampering with what the OpenSearch sink and ledger wrote, directly in the test server's document
 * store (what an OpenSearch admin with write access could do), then `verify`.
 */
import { describe, test, expect, beforeEach, afterEach } from 'vitest'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Client } from '@opensearch-project/opensearch'
import { TestOpenSearch } from '../support/opensearch-server/index.js'
import type { StoredDoc } from '../support/opensearch-server/state.js'
import { checkpointMac, genesis, hashStoredEvent, link } from '../../src/integrity/chain.js'
import type { IntegrityKey } from '../../src/integrity/config.js'
import { runCli } from '../helpers/cli.js'
import { client, DEFAULT_NAMES, ingestFile, kinds, KEY, verify, writer } from './opensearch-harness.js'
import { verifyOpenSearch } from '../../src/integrity/verify-opensearch.js'
import { blockId } from '../../src/integrity/opensearch-indices.js'
import { anchorsFrom, headsToExport } from '../../src/integrity/heads-file.js'

type Json = Record<string, unknown>
const EVENTS = 'envoy-audit-events-*'
const LEDGER = 'envoy-audit-integrity-ledger'
const CHECKPOINTS = 'envoy-audit-integrity-checkpoints'
const HEADS = 'envoy-audit-integrity-heads'

let srv: TestOpenSearch
let c: Client
let events: StoredDoc[]
beforeEach(async () => {
  srv = await TestOpenSearch.start()
  c = await client(srv.url)
  await ingestFile(writer(c))
  events = srv.docs(EVENTS)
})
afterEach(async () => {
  await c.close()
  await srv.close()
})

/** The documents behind a name (for an alias, every period index behind it), to read, delete and plant like an attacker with index access. */
function docsOf(name: string): { values(): StoredDoc[]; delete(id: string): boolean; set(id: string, doc: StoredDoc): void } {
  const indices = srv.state.resolve(name)
  return {
    values: () => indices.flatMap((i) => [...i.docs.values()]),
    delete: (id) => indices.some((i) => i.docs.delete(id)),
    set: (id, doc) => void (indices.find((i) => i.name === doc._index) ?? indices[0]!).docs.set(id, doc),
  }
}
const source = (d: StoredDoc): Json => d._source as Json
/** The k-th stored HTTP event (one with a URL path, which findings documents do not carry). */
const httpEvent = (k: number): StoredDoc => events.filter((d) => (source(d).url as Json | undefined)?.path !== undefined)[k]!
type Block = { pos: unknown[]; event_id: string[]; hash: string[]; chain: string[]; ts: string[] }
const blockOf = (d: StoredDoc): Block => source(d).block as Block
const COLUMNS = ['pos', 'event_id', 'hash', 'chain', 'ts'] as const
/** The ledger block holding an event's entry, and the entry's index in it. */
function entryFor(eventId: string): { doc: StoredDoc; i: number } {
  for (const doc of docsOf(LEDGER).values()) {
    const i = blockOf(doc).event_id.indexOf(eventId)
    if (i >= 0) return { doc, i }
  }
  throw new Error(`no ledger entry for ${eventId}`)
}

/** Rewrites an event's URL path and, like a careful attacker, its audit.hash to match. */
function rewriteEvent(d: StoredDoc, path: string): string {
  const e = structuredClone(source(d)) as { url: { path: string }; audit: { hash: string } }
  e.url.path = path
  e.audit.hash = hashStoredEvent(JSON.stringify(e))
  d._source = e as unknown as Json
  return e.audit.hash
}

/** Recomputes every chain value (inside every block), checkpoint and head of the stream from genesis, signing with `key` (none: unsigned). */
function rebuildLedger(key: IntegrityKey | undefined): void {
  const blocks = [...docsOf(LEDGER).values()].sort((a, b) => Number(source(a).pos) - Number(source(b).pos))
  const stream = String(source(blocks[0]!).stream)
  let head = genesis(stream)
  let count = 0
  const at = new Map<number, { head: string; count: number }>()
  for (const d of blocks) {
    const b = blockOf(d)
    b.event_id.forEach((id, i) => {
      head = link(head, id, b.hash[i]!)
      b.chain[i] = head
      at.set(Number(b.pos[i]), { head, count: ++count })
    })
  }
  for (const d of [...docsOf(CHECKPOINTS).values(), ...docsOf(HEADS).values()]) {
    const s = source(d)
    const v = at.get(Number(s.pos))!
    s.head = v.head
    s.count = v.count
    s.mac = key === undefined ? null : checkpointMac(key, { stream, pos: String(s.pos), count: v.count, head: v.head })
  }
}

describe('verify --opensearch detects', () => {
  test('nothing on untouched indices', async () => {
    const r = await verify(c)
    expect(r.issues).toEqual([])
    expect(r.signedVerified).toBe(r.checkpoints)
  })
  test('a deleted event', async () => {
    docsOf(EVENTS).delete(events[4]!._id)
    expect(kinds(await verify(c))).toEqual([`deleted:${events[4]!._id}`])
  })
  test('a modified event, with or without its audit.hash recomputed', async () => {
    const e = structuredClone(source(httpEvent(0))) as { url: { path: string } }
    e.url.path = '/nothing-to-see'
    httpEvent(0)._source = e as unknown as Json
    rewriteEvent(httpEvent(1), '/innocent')
    expect(kinds(await verify(c)).sort()).toEqual([`modified:${httpEvent(0)._id}`, `modified:${httpEvent(1)._id}`].sort())
  })
  test('a missing event older than --expired-before counts as removed by retention, a newer one as deleted', async () => {
    docsOf(EVENTS).delete(events[4]!._id)
    const ts = Date.parse(String(source(events[4]!)['@timestamp']))
    const after = await verifyOpenSearch(c, { ...DEFAULT_NAMES, key: KEY, expiredBefore: new Date(ts + 1) })
    expect(after.issues).toEqual([])
    expect(after.expired).toBe(1)
    expect(after.warnings.join('\n')).toMatch(/removed by retention/)
    const before = await verifyOpenSearch(c, { ...DEFAULT_NAMES, key: KEY, expiredBefore: new Date(ts) })
    expect(kinds(before)).toEqual([`deleted:${events[4]!._id}`])
    expect(before.expired).toBe(0)
  })
  test('an inserted event (a copy under a new id)', async () => {
    docsOf(EVENTS).set('forged-1', { ...events[0]!, _id: 'forged-1' })
    expect(kinds(await verify(c))).toEqual(['inserted:forged-1'])
  })
  test('an event and its entry taken out of its ledger block together: the checkpoints no longer match', async () => {
    docsOf(EVENTS).delete(events[6]!._id)
    const { doc, i } = entryFor(events[6]!._id)
    const b = blockOf(doc)
    // Carefully: every column shortened alike, the block's first and last positions kept consistent.
    for (const col of COLUMNS) (b[col] as unknown[]).splice(i, 1)
    expect(b.pos.length).toBeGreaterThan(0)
    source(doc).end = b.pos.at(-1)
    const r = await verify(c)
    expect(r.counts.chain).toBeGreaterThan(0)
    // Its findings documents are left over: inserted (not ledgered), as with any findings of an unledgered event.
    expect(r.counts).toMatchObject({ deleted: 0, modified: 0 })
    expect(r.ok).toBe(false)
  })
  test('an entry inside a block with another hash: the event no longer matches and the chain breaks', async () => {
    const target = httpEvent(0)
    const { doc, i } = entryFor(target._id)
    const h = blockOf(doc).hash[i]!
    blockOf(doc).hash[i] = `${h.slice(0, -1)}${h.endsWith('0') ? '1' : '0'}`
    const r = await verify(c)
    expect(kinds(r)).toContain(`modified:${target._id}`)
    expect(r.issues.some((x) => x.kind === 'chain' && /ledger chain breaks at position/.test(x.detail))).toBe(true)
  })
  test('a whole ledger block deleted: its events are unledgered and the checkpoints no longer match', async () => {
    const blocks = [...docsOf(LEDGER).values()]
    expect(blocks.length).toBeGreaterThan(1)
    const victim = blocks[1]!
    docsOf(LEDGER).delete(victim._id)
    const r = await verify(c)
    expect(r.counts.inserted).toBe(blockOf(victim).event_id.length)
    expect(r.counts.chain).toBeGreaterThan(0)
  })
  test('a block whose columns no longer line up (one hash removed)', async () => {
    const { doc } = entryFor(events[2]!._id)
    blockOf(doc).hash.pop()
    const r = await verify(c)
    expect(r.issues.some((x) => x.kind === 'chain' && /columns of different lengths/.test(x.detail))).toBe(true)
  })
  test('a consistent rewrite of event, audit.hash, ledger and chain without the key: the MACs fail', async () => {
    const target = httpEvent(0)
    const { doc, i } = entryFor(target._id)
    blockOf(doc).hash[i] = rewriteEvent(target, '/innocent')
    const wrongKey: IntegrityKey = { id: 'attacker', bytes: Buffer.from('not-the-real-key-0123456789abcdef') }
    rebuildLedger(wrongKey)
    const r = await verify(c)
    expect(r.counts).toMatchObject({ deleted: 0, modified: 0, inserted: 0 })
    expect(r.counts.chain).toBeGreaterThan(0)
    expect(r.issues.every((i) => /invalid MAC/.test(i.detail))).toBe(true)
  })
  test('the same rewrite with the MACs removed is caught with the key, and (the documented limit) not without it', async () => {
    const target = httpEvent(0)
    const { doc, i } = entryFor(target._id)
    blockOf(doc).hash[i] = rewriteEvent(target, '/innocent')
    rebuildLedger(undefined)
    const keyed = await verify(c)
    expect(keyed.issues.some((i) => /not signed although a key is configured/.test(i.detail))).toBe(true)
    const keyless = await verify(c, null)
    expect(keyless.ok).toBe(true)
    expect(keyless.warnings.join('\n')).toMatch(/unsigned/)
  })
  test('a findings document edited (severity lowered)', async () => {
    const f = srv.docs('envoy-audit-findings-*')[0]!
    const s = source(f) as { finding: { severity: string }; event: { id: string } }
    s.finding.severity = s.finding.severity === 'low' ? 'info' : 'low'
    expect(kinds(await verify(c))).toEqual([`modified:${s.event.id}`])
  })
  test('a head document moved back (a writer would continue from a forged head)', async () => {
    const h = [...docsOf(HEADS).values()][0]!
    source(h).count = Number(source(h).count) - 1
    const r = await verify(c)
    expect(r.issues.map((i) => i.detail).join('\n')).toMatch(/head document/)
  })
  test('a ledger block planted under another id', async () => {
    const { doc } = entryFor(events[1]!._id)
    docsOf(LEDGER).set('planted', { ...doc, _id: 'planted' })
    const r = await verify(c)
    expect(r.issues.some((x) => x.kind === 'chain' && /planted does not belong at/.test(x.detail))).toBe(true)
  })
  test('a ledger block planted under the id of one of its own positions, with one entry changed', async () => {
    const { doc, i } = entryFor(events[1]!._id)
    const b = structuredClone(blockOf(doc))
    for (const col of COLUMNS) (b[col] as unknown[]).splice(0, i)
    b.event_id[0] = 'forged-id'
    const planted = { stream: source(doc).stream, pos: b.pos[0], end: b.pos.at(-1), ts: b.ts[0], block: b }
    const id = blockId(String(planted.stream), String(planted.pos))
    docsOf(LEDGER).set(id, { ...doc, _id: id, _source: planted as Json })
    const r = await verify(c)
    expect(r.issues.some((x) => x.kind === 'chain' && /two ledger documents disagree at position/.test(x.detail))).toBe(true)
  })
})

describe('envoy-audit verify --opensearch (CLI)', () => {
  test('exit 0 INTACT (a warning with --insecure), exit 3 TAMPERED with the id, exit 1 when the indices hold no ledger', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ea-verify-os-'))
    try {
      const keyFile = join(dir, 'key')
      writeFileSync(keyFile, KEY.bytes)
      const ok = await runCli(['verify', '--opensearch', srv.url, '--key-file', keyFile])
      expect(ok.stderr).toBe('')
      expect(ok.code).toBe(0)
      expect(ok.stdout).toMatch(/^INTACT: \d+ events, \d+ ledger entries in 1 streams, \d+ checkpoints \(\d+ signatures verified\)/)
      const insecure = await runCli(['verify', '--opensearch', srv.url, '--key-file', keyFile, '--insecure'])
      expect(insecure.code).toBe(0)
      expect(insecure.stderr).toMatch(/WARNING: --insecure: the OpenSearch server certificate is NOT verified/)
      docsOf(EVENTS).delete(events[0]!._id)
      const bad = await runCli(['verify', '--opensearch', srv.url, '--key-file', keyFile, '--json'])
      expect(bad.code).toBe(3)
      const report = JSON.parse(bad.stdout) as { ok: boolean; counts: { deleted: number }; issues: { id: string }[] }
      expect(report.ok).toBe(false)
      expect(report.counts.deleted).toBe(1)
      expect(report.issues[0]!.id).toBe(events[0]!._id)
      const none = await runCli(['verify', '--opensearch', srv.url, '--index-prefix', 'elsewhere'])
      expect(none.code).toBe(1)
      expect(none.stderr).toMatch(/no integrity ledger/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 60_000)
})

describe('verify --opensearch against exported heads', () => {
  test('heads exported from an intact store agree; a head that differs from the ledger is a chain issue', async () => {
    const intact = await verify(c)
    expect(intact.ok).toBe(true)
    const exported = headsToExport(intact, KEY, srv.url, new Date())
    expect(exported.heads.length).toBeGreaterThan(0)
    const agree = await verifyOpenSearch(c, { ...DEFAULT_NAMES, key: KEY, pageSize: 7, anchors: anchorsFrom(exported.heads) })
    expect(agree.issues).toEqual([])
    // A ledger that lost its tail looks, from the exported heads, like a chain that stops short of them.
    const ahead = exported.heads.map((h, i) => {
      if (i > 0) return h
      const later = { stream: h.stream, pos: String(BigInt(h.pos) + 1n), count: h.count + 1, head: h.head }
      return { ...h, ...later, mac: checkpointMac(KEY, later) }
    })
    const short = await verifyOpenSearch(c, { ...DEFAULT_NAMES, key: KEY, pageSize: 7, anchors: anchorsFrom(ahead) })
    expect(short.ok).toBe(false)
    expect(short.issues.map((i) => i.detail)).toEqual([expect.stringMatching(/^exported head at \d+ does not match the recomputed chain/)])
  })
})
