/**
 * Tampering on the real node, through the same REST API an OpenSearch user with write access has (index,
 * delete, update), after setup and the ledgered sink wrote the fixture; then `verify --opensearch`, as a
 * function and as the CLI. The tamperer never refreshes: verify must see the writes anyway. The same
 * attacks on the test server's state are in opensearch-tamper.test.ts.
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, expect, test } from 'vitest'
import type { Client } from '@opensearch-project/opensearch'
import { hashStoredEvent } from '../../src/integrity/chain.js'
import { ensureIntegrityIndices } from '../../src/integrity/opensearch-indices.js'
import { loadLifecycleConfig } from '../../src/lifecycle/config.js'
import { templateName } from '../../src/lifecycle/index-template.js'
import { runSetup } from '../../src/lifecycle/setup.js'
import { runCli } from '../helpers/cli.js'
import { describeOpenSearch, opensearchUrl } from '../helpers/real-servers.js'
import { client, ingestFile, KEY, kinds, verify, writer, type Names } from './opensearch-harness.js'

type Json = Record<string, unknown>
interface Hit {
  _index: string
  _id: string
  _source: Json
}

// Three shards as well: verify then reads each events index a shard at a time (src/integrity/opensearch-read-all.ts).
for (const shards of [1, 3])
  describeOpenSearch(`integrity: tampering through the REST API, found by verify (${shards}-shard indices)`, () => {
    let c: Client
    let names: Names
    let prefix: string

    beforeEach(async () => {
      prefix = `ea-tamper-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`
      names = { eventsAlias: `${prefix}-events`, findingsAlias: `${prefix}-findings`, indexPrefix: `${prefix}-integrity` }
      c = await client(opensearchUrl!)
      const lifecycle = loadLifecycleConfig({
        eventsAlias: names.eventsAlias,
        findingsAlias: names.findingsAlias,
        policyId: `${prefix}-retention`,
        replicas: 0,
        shards,
      })
      await runSetup(c, lifecycle)
      await ensureIntegrityIndices(c, names.indexPrefix, { replicas: 0 })
      await ingestFile(writer(c, KEY, names))
    }, 90_000)
    afterEach(async () => {
      const indices = Object.keys((await c.indices.get({ index: `${prefix}-*` }).catch(() => ({ body: {} }))).body as object)
      if (indices.length > 0) await c.indices.delete({ index: indices.join(',') }).catch(() => undefined)
      for (const alias of [names.eventsAlias, names.findingsAlias])
        await c.indices.deleteIndexTemplate({ name: templateName(alias) }).catch(() => undefined)
      await c.close()
    }, 60_000)

    async function all(index: string): Promise<Hit[]> {
      await c.indices.refresh({ index })
      const r = await c.search({ index, body: { size: 1000, query: { match_all: {} }, sort: [{ _id: 'asc' }] } as never })
      return (r.body as { hits: { hits: Hit[] } }).hits.hits
    }
    const httpEvents = async (): Promise<Hit[]> =>
      (await all(`${names.eventsAlias}*`)).filter((h) => (h._source.url as Json | undefined)?.path !== undefined)
    const put = (h: Hit, source: Json, id = h._id) => c.index({ index: h._index, id, body: source } as never)

    test('untouched: intact, every event ledgered, every checkpoint signature verified', async () => {
      const r = await verify(c, KEY, names)
      expect(r.issues).toEqual([])
      expect(r.events).toBeGreaterThan(15)
      expect(r.ledgered).toBe(r.events)
      expect(r.signedVerified).toBe(r.checkpoints)
    }, 60_000)

    test('an event rewritten in place (once as is, once with its audit.hash recomputed) is modified', async () => {
      const [a, b] = await httpEvents()
      await put(a!, { ...a!._source, url: { ...(a!._source.url as Json), path: '/nothing-to-see' } })
      // Like a careful attacker: audit.hash recomputed to match the new content.
      const forged = {
        ...b!._source,
        url: { ...(b!._source.url as Json), path: '/innocent' },
        audit: { ...(b!._source.audit as Json) },
      } as Json & { audit: Json }
      forged.audit.hash = hashStoredEvent(JSON.stringify(forged))
      await put(b!, forged)
      expect(kinds(await verify(c, KEY, names)).sort()).toEqual([`modified:${a!._id}`, `modified:${b!._id}`].sort())
    }, 60_000)

    test('a copy under a new id is inserted; a deleted one is deleted', async () => {
      const [a, b] = await httpEvents()
      await put(a!, a!._source, 'forged-1')
      await c.delete({ index: b!._index, id: b!._id } as never)
      expect(kinds(await verify(c, KEY, names)).sort()).toEqual(['inserted:forged-1', `deleted:${b!._id}`].sort())
    }, 60_000)

    test('one hash changed inside a ledger block: the event no longer matches and the chain breaks', async () => {
      const [a] = await httpEvents()
      const block = (await all(`${names.indexPrefix}-ledger`)).find((d) =>
        (d._source.block as { event_id: string[] }).event_id.includes(a!._id),
      )!
      const cols = structuredClone(block._source.block) as { event_id: string[]; hash: string[] }
      const i = cols.event_id.indexOf(a!._id)
      cols.hash[i] = `${cols.hash[i]!.slice(0, -1)}${cols.hash[i]!.endsWith('0') ? '1' : '0'}`
      await c.update({ index: block._index, id: block._id, body: { doc: { block: cols } } } as never)
      const r = await verify(c, KEY, names)
      expect(kinds(r)).toContain(`modified:${a!._id}`)
      expect(r.issues.some((x) => x.kind === 'chain' && /ledger chain breaks at position/.test(x.detail))).toBe(true)
    }, 60_000)

    test('a findings document with its severity lowered is a modified event', async () => {
      const [f] = await all(`${names.findingsAlias}*`)
      const s = f!._source as { finding: { severity: string }; event: { id: string } }
      await put(f!, { ...f!._source, finding: { ...s.finding, severity: s.finding.severity === 'low' ? 'info' : 'low' } })
      expect(kinds(await verify(c, KEY, names))).toEqual([`modified:${s.event.id}`])
    }, 60_000)

    test('the CLI: exit 0 INTACT, then exit 3 TAMPERED naming the deleted event', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'ea-verify-real-'))
      const keyFile = join(dir, 'key')
      writeFileSync(keyFile, KEY.bytes)
      const args = [
        'verify',
        '--opensearch',
        opensearchUrl!,
        '--key-file',
        keyFile,
        '--events-alias',
        names.eventsAlias,
        '--findings-alias',
        names.findingsAlias,
        '--index-prefix',
        names.indexPrefix,
      ]
      const ok = await runCli(args)
      expect(ok.code, ok.stderr).toBe(0)
      expect(ok.stdout).toMatch(/^INTACT: \d+ events/)
      const [victim] = await httpEvents()
      await c.delete({ index: victim!._index, id: victim!._id } as never)
      const bad = await runCli([...args, '--json'])
      expect(bad.code).toBe(3)
      const report = JSON.parse(bad.stdout) as { ok: boolean; issues: { kind: string; id: string }[] }
      expect(report.ok).toBe(false)
      expect(report.issues.map((i) => `${i.kind}:${i.id}`)).toEqual([`deleted:${victim!._id}`])
    }, 90_000)
  })
