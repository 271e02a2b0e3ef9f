/**
 * The limits a real cluster enforces on reads, at the limit, on the real node and on the project's test
 * server alike: `search.max_buckets` (65,535 by default; every bucket of a response counts, sub-
 * aggregation buckets included) and `index.max_result_window` (10,000 by default: from + size of one
 * search). The data crosses the defaults instead of lowering the cluster-wide setting: 10,000 distinct
 * sources with four findings each make one composite page of 10,000 keys hold 70,000 buckets in `flows`
 * and 130,000 in the store's edges, and 10,050 events are more than one result window. The window test
 * lowers `index.max_result_window` on its own indices only.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { Client } from '@opensearch-project/opensearch'
import { OpenSearchStore } from '../../src/store/opensearch-store.js'
import { OpenSearchHuntBackend } from '../../src/hunt/opensearch-backend.js'
import { runSetup } from '../../src/lifecycle/setup.js'
import { loadLifecycleConfig } from '../../src/lifecycle/config.js'
import type { AuditEvent } from '../../src/schema/audit-event.js'
import { describeOpenSearch } from '../helpers/real-servers.js'
import { plantIndices, type Planted } from '../helpers/opensearch-planted.js'
import { TestOpenSearch } from '../support/opensearch-server/index.js'
import { okEvent } from '../sinks/opensearch/fixtures.js'

const BASE = Date.parse('2026-11-01T00:00:00.000Z')
const KEYS = 10_000
const FINDINGS = [
  { code: 'plaintext_inbound', severity: 'high', controls: ['SC-8'], message: 'inbound request without mTLS' },
  { code: 'unregistered_egress', severity: 'medium', controls: ['SC-7'], message: 'egress bypassed the registry' },
  { code: 'au3_incomplete', severity: 'low', controls: ['AU-3'], message: 'AU-3 identity missing' },
  { code: 'new_edge', severity: 'low', controls: ['CM-8'], message: 'first call on this edge' },
] as const

/** One event per source: a pod of its own at an address of its own, so every event is its own edge. */
function sourceEvent(i: number): AuditEvent {
  const e = okEvent(i, BASE)
  e.event.id = `limits-${i.toString().padStart(6, '0')}`
  e.source = { ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 40000 }
  delete e.mesh!.source
  e.kubernetes = { namespace: 'foo', pod: `sleep-${i}` }
  e.audit.findings = FINDINGS.map((f) => ({ ...f, controls: [...f.controls] }))
  e.audit.finding_codes = FINDINGS.map((f) => f.code)
  return e
}

/** More events than one result window: the 50 past KEYS repeat earlier sources a minute later. */
const EVENTS = Array.from({ length: KEYS + 50 }, (_, i) =>
  i < KEYS
    ? sourceEvent(i)
    : { ...sourceEvent(i - KEYS), '@timestamp': new Date(BASE + i * 1000 + 60_000).toISOString(), event: { ...sourceEvent(i).event } },
)
const NEWEST_FIRST = [...EVENTS]
  .sort((a, b) => (a['@timestamp'] < b['@timestamp'] ? 1 : a['@timestamp'] > b['@timestamp'] ? -1 : a.event.id < b.event.id ? -1 : 1))
  .map((e) => e.event.id)

interface Target {
  client: Client
  eventsAlias: string
  findingsAlias: string
  /** Lowers index.max_result_window on the indices behind the events alias. */
  lowerResultWindow(n: number): Promise<void>
}

function limitsSuite(target: () => Target): void {
  const store = (config: ConstructorParameters<typeof OpenSearchStore>[0]['config'] = {}) =>
    new OpenSearchStore({
      client: target().client,
      config: { eventsIndex: target().eventsAlias, findingsIndex: target().findingsAlias, ...config },
    })

  test('edges: a 10,000-key page that would hold 130,000 buckets is split, every source comes back once', async () => {
    const s = store({ pageSize: 10_000 })
    await s.start()
    const edges = await s.edges({ limit: 1_000_000 })
    expect(edges).toHaveLength(KEYS)
    expect(new Set(edges.map((e) => e.source)).size).toBe(KEYS)
    expect(edges.reduce((n, e) => n + e.count, 0)).toBe(EVENTS.length)
    expect(edges.find((e) => e.source === 'foo/sleep-7'))?.toMatchObject({
      count: 2,
      findings: FINDINGS.map((f) => f.code).sort(),
      statusClasses: { '4xx': 2 },
    })
    await s.close()
  }, 180_000)

  test('hunt flows: the same 10,000 tuples with flows sub-aggregations (70,000 buckets a page) are split too', async () => {
    const backend = new OpenSearchHuntBackend(target().client, { index: target().eventsAlias, pageSize: 10_000 })
    await backend.prepare({ since: new Date(BASE).toISOString() }, [])
    const flows = await backend.flows({ limit: 1_000_000 })
    expect(flows).toHaveLength(KEYS)
    expect(flows.reduce((n, e) => n + e.count, 0)).toBe(EVENTS.length)
    expect(flows.every((e) => e.findings.length === FINDINGS.length)).toBe(true)
    await backend.close()
  }, 180_000)

  test('events: more than index.max_result_window (10,000) are read with search_after in a point in time', async () => {
    const s = store()
    await s.start()
    const all = await s.events({ limit: 20_000 })
    expect(all.map((e) => e.event.id)).toEqual(NEWEST_FIRST)
    expect((await s.events({ limit: 10_001 })).map((e) => e.event.id)).toEqual(NEWEST_FIRST.slice(0, 10_001))
    await s.close()
  }, 120_000)

  test('events: an index whose max_result_window is lowered to 40 is paged within it', async () => {
    await target().lowerResultWindow(40)
    const s = store()
    await s.start()
    expect((await s.events({ limit: 30 })).map((e) => e.event.id)).toEqual(NEWEST_FIRST.slice(0, 30))
    expect((await s.events({ limit: 130 })).map((e) => e.event.id)).toEqual(NEWEST_FIRST.slice(0, 130))
    expect((await s.events()).map((e) => e.event.id)).toEqual(NEWEST_FIRST.slice(0, 1000))
    await s.close()
  }, 60_000)
}

describeOpenSearch('store and hunt reads at search.max_buckets and index.max_result_window', () => {
  let planted: Planted
  beforeAll(async () => {
    planted = await plantIndices('limits')
    await planted.write(EVENTS)
  }, 300_000)
  afterAll(async () => planted?.drop())

  limitsSuite(() => ({
    client: planted.client,
    eventsAlias: planted.eventsAlias,
    findingsAlias: planted.findingsAlias,
    lowerResultWindow: async (n) => {
      await planted.client.indices.putSettings({ index: planted.eventsAlias, body: { index: { max_result_window: n } } })
    },
  }))
})

describe('test server: the same limits, the same answers', () => {
  let srv: TestOpenSearch
  let client: Client
  const lifecycle = loadLifecycleConfig()
  beforeAll(async () => {
    srv = await TestOpenSearch.start()
    client = new Client({ node: srv.url, maxRetries: 0 })
    await runSetup(client, lifecycle)
    const s = new OpenSearchStore({ client, sink: { flushIntervalMs: 1 } })
    await s.start()
    expect((await s.writeEvents(EVENTS)).rejected).toEqual([])
    await s.close()
  }, 300_000)
  afterAll(async () => {
    await client?.close()
    await srv?.close()
  })

  limitsSuite(() => ({
    client,
    eventsAlias: lifecycle.eventsAlias,
    findingsAlias: lifecycle.findingsAlias,
    // The test server has no _settings endpoint: the setting is put where index creation would.
    lowerResultWindow: async (n) => {
      for (const i of srv.state.resolve(lifecycle.eventsAlias))
        i.settings = { ...i.settings, index: { ...(i.settings.index as object), max_result_window: n } }
    },
  }))
})
