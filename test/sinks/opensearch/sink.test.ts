import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import { Client } from '@opensearch-project/opensearch'
import { OpenSearchSink } from '../../../src/sinks/opensearch/sink.js'
import { loadSinkConfig, type SinkConfigInput } from '../../../src/sinks/opensearch/config.js'
import { TestOpenSearch, failByRate, failIds } from '../../support/opensearch-server/index.js'
import { deniedEvent, okEvent } from './fixtures.js'

let srv: TestOpenSearch
let client: Client
const sinks: OpenSearchSink[] = []

async function sink(overrides: SinkConfigInput = {}): Promise<OpenSearchSink> {
  const s = new OpenSearchSink({
    client,
    config: loadSinkConfig({ flushIntervalMs: 5, retry: { initialMs: 2, maxMs: 20, maxAttempts: 0 }, ...overrides }),
  })
  await s.start()
  sinks.push(s)
  return s
}

/** Bulk bodies the server received, as NDJSON line arrays (action lines only). */
function bulkActions(): string[][] {
  return srv.requests
    .filter((r) => r.path.endsWith('_bulk'))
    .map((r) =>
      r.body
        .toString('utf8')
        .split('\n')
        .filter((_, i) => i % 2 === 0 && _ !== ''),
    )
}

beforeEach(async () => {
  srv = await TestOpenSearch.start()
  client = new Client({ node: srv.url, maxRetries: 0 })
})

afterEach(async () => {
  for (const s of sinks.splice(0)) await s.close()
  await client.close()
  await srv.close()
})

describe('OpenSearchSink writes', () => {
  test('indexes every event under its event.id and one findings document per finding', async () => {
    const s = await sink()
    const events = [okEvent(1), deniedEvent(1), okEvent(2)]
    const result = await s.write(events)
    expect(result.rejected).toEqual([])
    expect(
      srv
        .docs('envoy-audit-events-*')
        .map((d) => d._id)
        .sort(),
    ).toEqual(['denied-000001', 'ok-000001', 'ok-000002'])
    const findings = srv.docs('envoy-audit-findings-*')
    expect(findings).toHaveLength(1)
    expect(findings[0]!._id).toBe('denied-000001:0')
    expect(findings[0]!._source).toMatchObject({
      event: { id: 'denied-000001', action: 'denied' },
      finding: { code: 'authz_denied', severity: 'medium', controls: ['AC-3', 'AC-6'], policy: 'ns[foo]-policy[ext-authz-server]-rule[0]' },
      namespace: 'foo',
      mesh: { source: { spiffe_id: 'spiffe://cluster.local/ns/bar/sa/sleep' }, destination: { namespace: 'foo' } },
    })
    // The document is exactly the event (the serializer keeps every schema field).
    expect(srv.docs('envoy-audit-events-*').find((d) => d._id === 'ok-000001')!._source).toEqual(JSON.parse(JSON.stringify(okEvent(1))))
    const bulk = srv.requests.find((r) => r.path === '/_bulk')!
    expect(bulk.query.filter_path).toContain('items.*.status')
    expect(bulk.headers['content-type']).toContain('application/x-ndjson')
    expect(bulkActions()[0]![0]).toBe('{"create":{"_index":"envoy-audit-events-2020.11.25","_id":"ok-000001"}}')
  })

  test('replaying the same events creates no duplicates (409 on create is success)', async () => {
    const s = await sink()
    const events = Array.from({ length: 50 }, (_, i) => (i % 5 === 0 ? deniedEvent(i) : okEvent(i)))
    await s.write(events)
    const before = srv.docs('envoy-audit-events-*').length + srv.docs('envoy-audit-findings-*').length
    const again = await s.write(events)
    expect(again.rejected).toEqual([])
    expect(srv.docs('envoy-audit-events-*')).toHaveLength(50)
    expect(srv.docs('envoy-audit-findings-*')).toHaveLength(10)
    expect(srv.docs('envoy-audit-events-*').length + srv.docs('envoy-audit-findings-*').length).toBe(before)
    expect(s.stats.duplicates).toBe(60)
  })

  test('partial failure: 429 items are retried alone until they succeed, 400 items are rejected with the error', async () => {
    const s = await sink()
    srv.faults.item = (ctx) => failIds(['ok-000003', 'ok-000007'], 429, 2)(ctx) ?? failIds(['ok-000005'], 400)(ctx)
    const events = Array.from({ length: 10 }, (_, i) => okEvent(i))
    const result = await s.write(events)
    expect(result.rejected).toHaveLength(1)
    expect(result.rejected[0]!.event.event.id).toBe('ok-000005')
    expect(result.rejected[0]!.code).toBe('EA_SINK_MAPPING')
    expect(result.rejected[0]!.message).toContain('mapper_parsing_exception')
    expect(srv.docs('envoy-audit-events-*')).toHaveLength(9)
    const rounds = bulkActions()
    expect(rounds).toHaveLength(3)
    expect(rounds[0]).toHaveLength(10)
    // Only the two throttled items are re-sent, twice.
    for (const r of rounds.slice(1)) expect(r.map((l) => JSON.parse(l).create._id)).toEqual(['ok-000003', 'ok-000007'])
    expect(s.stats.itemRetries).toBe(4)
  })

  test('a rejected finding document rejects its event (so the dead letter replays both)', async () => {
    const s = await sink()
    srv.faults.item = ({ index }) => (index.startsWith('envoy-audit-findings-') ? 400 : null)
    const result = await s.write([deniedEvent(1), okEvent(1)])
    expect(result.rejected.map((r) => r.event.event.id)).toEqual(['denied-000001'])
    expect(result.rejected[0]!.message).toContain('finding denied-000001:0')
  })

  test('retry storm: with a third of all items throttled on every attempt, everything lands exactly once', async () => {
    const s = await sink({ flushBytes: 64 * 1024, concurrency: 4 })
    srv.faults.item = failByRate(429, 0.33, 'storm')
    const events = Array.from({ length: 3000 }, (_, i) => (i % 10 === 0 ? deniedEvent(i) : okEvent(i)))
    const results = await Promise.all([s.write(events.slice(0, 1500)), s.write(events.slice(1500))])
    expect(results.flatMap((r) => r.rejected)).toEqual([])
    const ids = srv.docs('envoy-audit-events-*').map((d) => d._id)
    expect(new Set(ids).size).toBe(3000)
    expect(ids).toHaveLength(3000)
    expect(srv.docs('envoy-audit-findings-*')).toHaveLength(300)
    expect(s.stats.itemRetries).toBeGreaterThan(900)
    expect(s.stats.duplicates).toBe(0)
  })

  test('maxAttempts bounds item retries: an always-throttled item is given up as EA_SINK_ITEM_RETRYABLE', async () => {
    const s = await sink({ retry: { initialMs: 1, maxMs: 2, maxAttempts: 3 } })
    srv.faults.item = failIds(['ok-000001'], 429)
    const result = await s.write([okEvent(0), okEvent(1)])
    expect(result.rejected.map((r) => [r.event.event.id, r.code])).toEqual([['ok-000001', 'EA_SINK_ITEM_RETRYABLE']])
    expect(bulkActions()).toHaveLength(3)
  })
})

describe('OpenSearchSink batching', () => {
  test('bulk requests stay within flushBytes and concurrent writes are coalesced', async () => {
    const s = await sink({ flushBytes: 16 * 1024 })
    const events = Array.from({ length: 200 }, (_, i) => okEvent(i))
    await Promise.all([s.write(events.slice(0, 100)), s.write(events.slice(100))])
    const bulks = srv.requests.filter((r) => r.path === '/_bulk')
    expect(bulks.length).toBeGreaterThan(5)
    for (const b of bulks) expect(b.body.length).toBeLessThanOrEqual(16 * 1024)
    expect(srv.docs('envoy-audit-events-*')).toHaveLength(200)
  })

  test('at most `concurrency` bulk requests are in flight', async () => {
    const s = await sink({ flushBytes: 8 * 1024, concurrency: 3 })
    srv.faults.latencyMs = 30
    const events = Array.from({ length: 120 }, (_, i) => okEvent(i))
    await Promise.all([s.write(events.slice(0, 60)), s.write(events.slice(60))])
    expect(srv.requests.filter((r) => r.path === '/_bulk').length).toBeGreaterThan(6)
    expect(srv.maxInFlight).toBe(3)
  })

  test('small writes wait at most flushIntervalMs and close() flushes what is buffered', async () => {
    const s = await sink({ flushIntervalMs: 60_000 })
    const pending = s.write([okEvent(1)])
    await new Promise((r) => setTimeout(r, 50))
    expect(srv.requests.filter((r) => r.path === '/_bulk')).toHaveLength(0)
    await s.close()
    expect((await pending).rejected).toEqual([])
    expect(srv.docs('envoy-audit-events-*')).toHaveLength(1)
  })

  test('gzip compression sends content-encoding gzip bodies the server can read', async () => {
    const gz = new Client({ node: srv.url, maxRetries: 0, compression: 'gzip' })
    const s = new OpenSearchSink({ client: gz, config: loadSinkConfig({ flushIntervalMs: 1 }) })
    await s.start()
    await s.write([okEvent(1), okEvent(2)])
    await s.close()
    await gz.close()
    const bulk = srv.requests.find((r) => r.path === '/_bulk')!
    expect(bulk.headers['content-encoding']).toBe('gzip')
    expect(srv.docs('envoy-audit-events-*')).toHaveLength(2)
  })
})

describe('OpenSearchSink routing: the index is the period of the event time', () => {
  const DAY = 86_400_000
  const FIXTURE_DAY = Date.parse('2020-11-25T00:00:00Z')

  test('each event and its findings go to their own day, hour or month index', async () => {
    const s = await sink()
    await s.write([okEvent(1), okEvent(2, FIXTURE_DAY + DAY), deniedEvent(1)])
    expect([...srv.state.indices.keys()].sort()).toEqual([
      'envoy-audit-events-2020.11.25',
      'envoy-audit-events-2020.11.26',
      'envoy-audit-findings-2020.11.25',
    ])
    const hourly = await sink({ indexGranularity: 'hour', eventsAlias: 'h', findingsAlias: 'hf' })
    await hourly.write([okEvent(1)])
    expect(srv.docs('h-2020.11.25.21').map((d) => d._id)).toEqual(['ok-000001'])
    const monthly = await sink({ indexGranularity: 'month', eventsAlias: 'm', findingsAlias: 'mf' })
    await monthly.write([deniedEvent(1)])
    expect(srv.docs('mf-2020.11').map((d) => d._id)).toEqual(['denied-000001:0'])
  })

  test('a replay into a read-only index is acknowledged by a realtime lookup; an event never written there is dead-lettered', async () => {
    const s = await sink()
    expect((await s.write([okEvent(1), deniedEvent(1)])).rejected).toEqual([])
    for (const index of ['envoy-audit-events-2020.11.25', 'envoy-audit-findings-2020.11.25'])
      await client.indices.putSettings({ index, body: { 'index.blocks.write': true } })
    const late = okEvent(3)
    const result = await s.write([okEvent(1), deniedEvent(1), late])
    expect(result.rejected.map((r) => [r.event.event.id, r.code])).toEqual([['ok-000003', 'EA_SINK_INDEX_READ_ONLY']])
    expect(result.rejected[0]!.message).toContain('index envoy-audit-events-2020.11.25 is read-only (cluster_block_exception')
    expect(result.rejected[0]!.message).toContain('the document is not in envoy-audit-events-2020.11.25')
    expect(s.stats).toMatchObject({ duplicates: 3, lookups: 4 })
    const mget = srv.requests.filter((r) => r.path === '/_mget')
    expect(mget).toHaveLength(1)
    expect(mget[0]!.query.realtime).toBe('true')
    expect(
      srv
        .docs('envoy-audit-events-*')
        .map((d) => d._id)
        .sort(),
    ).toEqual(['denied-000001', 'ok-000001'])
  })

  test('a failed lookup is retried like a failed bulk request', async () => {
    const s = await sink()
    await s.write([okEvent(1)])
    await client.indices.putSettings({ index: 'envoy-audit-events-2020.11.25', body: { 'index.blocks.write': true } })
    srv.faults.failRequests(/_mget/, 503, 2)
    const result = await s.write([okEvent(1)])
    expect(result.rejected).toEqual([])
    expect(srv.requests.filter((r) => r.path === '/_mget')).toHaveLength(3)
  })

  test('outside the time window an event is only looked up: a replay is acknowledged, a new one dead-lettered, no index is created', async () => {
    const at = async (now: number): Promise<OpenSearchSink> => {
      const s = new OpenSearchSink({ client, config: loadSinkConfig({ flushIntervalMs: 5, maxPastDays: 30 }), now: () => now })
      await s.start()
      sinks.push(s)
      return s
    }
    const past = await at(FIXTURE_DAY + DAY)
    expect((await past.write([okEvent(1)])).rejected).toEqual([])
    // 400 days later: the replay is found; an event of a day whose index retention deleted creates nothing.
    const later = await at(FIXTURE_DAY + 400 * DAY)
    const gone = okEvent(2, FIXTURE_DAY - 5 * DAY)
    const result = await later.write([okEvent(1), gone])
    expect(result.rejected.map((r) => [r.event.event.id, r.code])).toEqual([['ok-000002', 'EA_SINK_EVENT_TIME']])
    expect(result.rejected[0]!.message).toContain('more than 30 days old')
    expect(result.rejected[0]!.message).toContain('does not exist (deleted by retention?)')
    expect(later.stats.duplicates).toBe(1)
    expect(srv.state.indices.has('envoy-audit-events-2020.11.20')).toBe(false)
    const future = await sink()
    const ahead = okEvent(1, Date.now() + 3 * DAY)
    ahead.event.id = 'ahead'
    expect((await future.write([ahead])).rejected.map((r) => r.code)).toEqual(['EA_SINK_EVENT_TIME'])
    expect([...srv.state.indices.keys()].filter((n) => n !== 'envoy-audit-events-2020.11.25')).toEqual([])
  })

  test('no usable @timestamp, or an _id over 512 bytes: refused before sending, the rest of the write is indexed', async () => {
    const s = await sink()
    const undated = okEvent(2)
    delete (undated as Partial<typeof undated>)['@timestamp']
    const ancient = okEvent(3)
    ancient['@timestamp'] = '1900-01-01T00:00:00Z'
    const long = okEvent(4)
    long.event.id = 'x'.repeat(513)
    const result = await s.write([okEvent(1), undated, ancient, long, deniedEvent(1)])
    expect(result.rejected.map((r) => [r.event.event.id.slice(0, 9), r.code])).toEqual([
      ['ok-000002', 'EA_SINK_EVENT_TIME'],
      ['ok-000003', 'EA_SINK_EVENT_TIME'],
      ['xxxxxxxxx', 'EA_SINK_ID_TOO_LONG'],
    ])
    expect(result.rejected[0]!.message).toContain('@timestamp is missing')
    expect(result.rejected[1]!.message).toContain('outside the years 1970-9999')
    expect(
      srv
        .docs('envoy-audit-events-*')
        .map((d) => d._id)
        .sort(),
    ).toEqual(['denied-000001', 'ok-000001'])
    expect(
      bulkActions()
        .flat()
        .some((a) => a.includes('xxxxxxxx')),
    ).toBe(false)
  })
})

describe('OpenSearchSink request size', () => {
  test('bodies over http.max_content_length (413, empty body) are halved until they fit; one document alone over it is EA_SINK_TOO_LARGE', async () => {
    await srv.close()
    srv = await TestOpenSearch.start({ maxContentLength: 8 * 1024 })
    await client.close()
    client = new Client({ node: srv.url, maxRetries: 0 })
    const s = await sink({ flushBytes: 64 * 1024 })
    const big = okEvent(99)
    big.user_agent = { original: 'x'.repeat(9 * 1024) }
    const events = [...Array.from({ length: 12 }, (_, i) => okEvent(i)), big]
    const result = await s.write(events)
    expect(result.rejected.map((r) => [r.event.event.id, r.code])).toEqual([['ok-000099', 'EA_SINK_TOO_LARGE']])
    expect(srv.docs('envoy-audit-events-*')).toHaveLength(12)
    for (const r of srv.requests.filter((x) => x.path === '/_bulk')) expect(r.body.length).toBeLessThanOrEqual(8 * 1024)
  })
})

describe('OpenSearchSink start', () => {
  test('warns when setup has not installed the templates (the period indices would not join the alias)', async () => {
    const warnings: string[] = []
    const logger = { warn: (_: object, msg: string) => void warnings.push(msg) }
    const bare = new OpenSearchSink({ client, config: loadSinkConfig({}), logger })
    await bare.start()
    await bare.close()
    expect(warnings).toHaveLength(2)
    expect(warnings[0]).toContain('no index template envoy-audit-events-template; run envoy-audit setup first')
    const { runSetup } = await import('../../../src/lifecycle/setup.js')
    const { loadLifecycleConfig } = await import('../../../src/lifecycle/config.js')
    await runSetup(client, loadLifecycleConfig())
    warnings.length = 0
    const ready = new OpenSearchSink({ client, config: loadSinkConfig({}), logger })
    await ready.start()
    await ready.close()
    expect(warnings).toEqual([])
  })
})
