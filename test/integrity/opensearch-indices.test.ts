import { describe, test, expect } from 'vitest'
import { TestOpenSearch } from '../support/opensearch-server/index.js'
import {
  blockId,
  ensureIntegrityIndices,
  entryId,
  headId,
  integrityIndices,
  integrityMapping,
  posValue,
} from '../../src/integrity/opensearch-indices.js'
import { client } from './opensearch-harness.js'

describe('integrity ledger indices', () => {
  test('created once with strict mappings, then left alone; a document with an unknown field is refused', async () => {
    const srv = await TestOpenSearch.start()
    const c = await client(srv.url)
    try {
      const first = await ensureIntegrityIndices(c, 'acme-integrity', { shards: 1, replicas: 0 })
      expect(first.map((s) => `${s.action} ${s.resource}`)).toEqual([
        'created integrity index acme-integrity-ledger',
        'created integrity index acme-integrity-checkpoints',
        'created integrity index acme-integrity-heads',
      ])
      expect((await ensureIntegrityIndices(c, 'acme-integrity')).every((s) => s.action === 'unchanged')).toBe(true)
      const ledger = srv.state.indices.get('acme-integrity-ledger')!
      expect(ledger.mappings.dynamic).toBe('strict')
      expect(ledger.settings.number_of_replicas).toBe(0)
      const doc = { stream: 's', pos: 1, event_id: 'e', hash: 'h', chain: 'c', ts: '2024-01-01T00:00:00Z' }
      const res = await c.bulk({
        body: [
          { create: { _index: 'acme-integrity-ledger', _id: 'a' } },
          doc,
          { create: { _index: 'acme-integrity-ledger', _id: 'b' } },
          { ...doc, extra: 1 },
        ] as never,
      })
      const items = (res.body as { items: { create: { status: number; error?: { type: string } } }[] }).items
      expect(items.map((i) => i.create.status)).toEqual([201, 400])
      expect(items[1]!.create.error?.type).toBe('strict_dynamic_mapping_exception')
    } finally {
      await c.close()
      await srv.close()
    }
  })
  test('indices of the previous version (no block fields) are extended by an additive put mapping; a role that may not do that is told to run setup', async () => {
    const srv = await TestOpenSearch.start()
    const c = await client(srv.url)
    try {
      for (const kind of ['ledger', 'checkpoints', 'heads'] as const) {
        const mappings = structuredClone(integrityMapping(kind)) as { properties: Record<string, unknown> }
        delete mappings.properties.end
        delete mappings.properties.block
        await c.indices.create({ index: `old-${kind}`, body: { mappings } as never })
      }
      srv.faults.failRequests(/^(PUT|POST) \/old-ledger\/_mapping/, 403, 1)
      const denied = await ensureIntegrityIndices(c, 'old')
      expect(denied.map((s) => [s.action, s.incomplete === true])).toEqual([
        ['unchanged', true],
        ['unchanged', false],
        ['updated', false],
      ])
      expect(denied[0]!.detail).toMatch(/lacks end, block: .*envoy-audit setup/)
      const steps = await ensureIntegrityIndices(c, 'old')
      expect(steps.map((s) => `${s.action} ${s.resource} ${s.detail ?? ''}`.trim())).toEqual([
        'updated integrity index old-ledger added end, block',
        'unchanged integrity index old-checkpoints',
        'unchanged integrity index old-heads',
      ])
      expect(srv.state.indices.get('old-ledger')!.mappings).toEqual(integrityMapping('ledger'))
      expect(srv.state.indices.get('old-heads')!.mappings).toEqual(integrityMapping('heads'))
      expect((await ensureIntegrityIndices(c, 'old')).every((s) => s.action === 'unchanged' && s.detail === undefined)).toBe(true)
    } finally {
      await c.close()
      await srv.close()
    }
  })
  test('names and ids: fixed-length ids whatever the stream name, exact positions', () => {
    expect(integrityIndices('p')).toEqual({ ledger: 'p-ledger', checkpoints: 'p-checkpoints', heads: 'p-heads' })
    const long = `file:/${'x'.repeat(2000)}.log`
    expect(entryId(long, '12')).toMatch(/^[0-9a-f]{32}:12$/)
    expect(blockId(long, '12')).toMatch(/^[0-9a-f]{32}:b12$/)
    expect(blockId('kafka:t/1', '12')).not.toBe(entryId('kafka:t/1', '12'))
    expect(headId(long)).toHaveLength(32)
    expect(headId('kafka:t/1')).not.toBe(headId('kafka:t/2'))
    expect(posValue('9007199254740991')).toBe(9007199254740991)
    expect(posValue('9007199254740993')).toBe('9007199254740993')
    expect(posValue(-1n)).toBe(-1)
  })
})
