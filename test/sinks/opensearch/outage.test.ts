/**
 * Request-level failures (an outage) and item-level retries: a whole request that fails holds every
 * write and a small probe finds out when OpenSearch is back (outage.ts); nothing that waits to be
 * retried holds a concurrency slot, so one write's retries never hold up another's.
 */
import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import { Client } from '@opensearch-project/opensearch'
import { OpenSearchSink } from '../../../src/sinks/opensearch/sink.js'
import { OutageGate } from '../../../src/sinks/opensearch/outage.js'
import { loadSinkConfig, type SinkConfigInput } from '../../../src/sinks/opensearch/config.js'
import { EnvoyAuditError } from '../../../src/errors.js'
import { TestOpenSearch, failIds } from '../../support/opensearch-server/index.js'
import { deniedEvent, okEvent } from './fixtures.js'

let srv: TestOpenSearch
let client: Client
const sinks: OpenSearchSink[] = []

async function sink(overrides: SinkConfigInput = {}, random?: () => number): Promise<OpenSearchSink> {
  const s = new OpenSearchSink({
    client,
    config: loadSinkConfig({ flushIntervalMs: 5, retry: { initialMs: 2, maxMs: 20, maxAttempts: 0 }, ...overrides }),
    ...(random ? { random } : {}),
  })
  await s.start()
  sinks.push(s)
  return s
}

/** Bulk bodies the server received, as arrays of action lines. */
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

/** Rejects when `p` has not settled within `ms`: a hang fails the test with its reason, not a timeout. */
function within<T>(ms: number, p: Promise<T>, what: string): Promise<T> {
  return Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms))])
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

describe('OpenSearchSink request-level failures', () => {
  test.each<[number | 'destroy', string]>([
    [429, 'HTTP 429'],
    [502, 'HTTP 502'],
    [503, 'HTTP 503'],
    [504, 'HTTP 504'],
    [500, 'HTTP 500'],
    [401, 'HTTP 401 (a wrong password stalls loudly instead of dead-lettering everything)'],
    ['destroy' as const, 'socket'],
  ])('%s on the whole request is backed off and retried', async (fault) => {
    const s = await sink()
    srv.faults.failRequests(/_bulk/, fault, 3)
    const result = await s.write([okEvent(1), okEvent(2)])
    expect(result.rejected).toEqual([])
    expect(srv.docs('envoy-audit-events-*')).toHaveLength(2)
    expect(s.stats.requestRetries).toBe(3)
    expect(srv.faults.pendingRequestFaults()).toBe(0)
  })

  test('a long run of retries leaves no abort listeners behind (no MaxListenersExceededWarning)', async () => {
    const warnings: string[] = []
    const onWarning = (w: Error): void => void warnings.push(w.name)
    process.on('warning', onWarning)
    try {
      const s = await sink()
      // More backoff sleeps than the default limit of 10 listeners on one signal.
      srv.faults.failRequests(/_bulk/, 503, 25)
      const result = await s.write([okEvent(1)])
      expect(result.rejected).toEqual([])
      expect(s.stats.requestRetries).toBe(25)
      await new Promise((r) => setImmediate(r))
      expect(warnings.filter((n) => n === 'MaxListenersExceededWarning')).toEqual([])
    } finally {
      process.off('warning', onWarning)
    }
  })

  test('outage: connection refused holds the write pending (backpressure) until the cluster is back', async () => {
    const s = await sink()
    await srv.stopListening()
    let settled = false
    const pending = s.write([okEvent(1), deniedEvent(1)]).finally(() => (settled = true))
    await new Promise((r) => setTimeout(r, 300))
    expect(settled).toBe(false)
    expect(s.stats.requestRetries).toBeGreaterThan(2)
    await srv.resume()
    const result = await pending
    expect(result.rejected).toEqual([])
    expect(srv.docs('envoy-audit-events-*')).toHaveLength(2)
    expect(srv.docs('envoy-audit-findings-*')).toHaveLength(1)
  })

  test('close() during an outage rejects the pending write after closeTimeoutMs (the source commits nothing)', async () => {
    const s = await sink({ closeTimeoutMs: 200 })
    await srv.stopListening()
    const pending = s.write([okEvent(1)])
    await new Promise((r) => setTimeout(r, 50))
    await s.close()
    const err = await pending.catch((e: unknown) => e)
    expect(err).toBeInstanceOf(EnvoyAuditError)
    expect((err as EnvoyAuditError).code).toBe('EA_SINK_UNAVAILABLE')
    await expect(s.write([okEvent(2)])).rejects.toThrow(/closed/)
  })

  test('413 splits the request; a single document that is still too large is rejected', async () => {
    const s = await sink()
    srv.faults.failRequests(/_bulk/, 413, 1)
    const result = await s.write([okEvent(1), okEvent(2), okEvent(3)])
    expect(result.rejected).toEqual([])
    expect(bulkActions().map((r) => r.length)).toEqual([3, 2, 1])
    srv.faults.failRequests(/_bulk/, 413, 1)
    const one = await s.write([okEvent(4)])
    expect(one.rejected.map((r) => [r.code, r.message.includes('larger than the cluster accepts')])).toEqual([['EA_SINK_TOO_LARGE', true]])
  })

  for (const status of [400, 404, 405, 408, 422]) {
    test(`a request-level ${status} says nothing about the documents: retried with backoff, never dead-lettered`, async () => {
      const s = await sink()
      srv.faults.failRequests(/_bulk/, status, 3)
      const result = await s.write([okEvent(1), okEvent(2)])
      expect(result.rejected).toEqual([])
      expect(s.stats.requestClientErrors).toBe(3)
      expect(s.stats.requestRetries).toBe(3)
      expect(
        srv
          .docs('envoy-audit-events-*')
          .map((d) => d._id)
          .sort(),
      ).toEqual(['ok-000001', 'ok-000002'])
    })
  }
})

describe('OpenSearchSink outage: probes, not backoff, decide when the held writes go', () => {
  test('once OpenSearch answers again the writes go at the next probe (retry.probeMaxMs), not after the bulk backoff', async () => {
    // Backoff 2 s doubling (random 1: exactly 2, 4, 8 s): retried on its own, the request would go 14 s later.
    const s = await sink({ retry: { initialMs: 2000, maxMs: 60_000, probeMaxMs: 50 } }, () => 1)
    srv.faults.failRequests(/_bulk/, 503, 3)
    const started = Date.now()
    const result = await within(5000, s.write([okEvent(1), okEvent(2)]), 'write after a 3-request outage')
    expect(result.rejected).toEqual([])
    expect(Date.now() - started).toBeLessThan(1500)
    // The full request, two one-document probes that fail, one that gets through, then the rest.
    expect(bulkActions().map((a) => a.length)).toEqual([2, 1, 1, 1, 1])
    expect(s.stats).toMatchObject({ requestRetries: 3, probes: 3, outages: 1 })
    expect(
      srv
        .docs('envoy-audit-events-*')
        .map((d) => d._id)
        .sort(),
    ).toEqual(['ok-000001', 'ok-000002'])
  })

  test('while whole requests fail, only the requests already in flight are full: after them, one-document probes', async () => {
    const s = await sink({ flushBytes: 8 * 1024, concurrency: 4, retry: { initialMs: 1, maxMs: 5, probeMaxMs: 5 } })
    srv.faults.failRequests(/_bulk/, 503, 12)
    const events = Array.from({ length: 120 }, (_, i) => okEvent(i))
    const results = await within(
      10_000,
      Promise.all([s.write(events.slice(0, 60)), s.write(events.slice(60))]),
      'writes through 12 failed requests',
    )
    expect(results.flatMap((r) => r.rejected)).toEqual([])
    // The 12 failed requests: the (at most 4) full ones already in flight when the first failed, the rest probes.
    const failed = bulkActions().slice(0, 12)
    expect(failed.filter((a) => a.length > 1).length).toBeLessThanOrEqual(4)
    expect(failed.filter((a) => a.length === 1).length).toBeGreaterThanOrEqual(8)
    expect(s.stats.probes).toBeGreaterThanOrEqual(8)
    const ids = srv.docs('envoy-audit-events-*').map((d) => d._id)
    expect(ids).toHaveLength(120)
    expect(new Set(ids).size).toBe(120)
  })
})

describe('OpenSearchSink item retries hold no slot', () => {
  test('with concurrency 1, a write whose item is retrying does not hold up the next write', async () => {
    const s = await sink({ concurrency: 1, retry: { initialMs: 300, maxMs: 300 } }, () => 1)
    srv.faults.item = failIds(['ok-000001'], 429, 2)
    const order: string[] = []
    const a = s.write([okEvent(1)]).then(() => void order.push('retrying'))
    while (bulkActions().length === 0) await new Promise((r) => setTimeout(r, 2))
    const b = s.write([okEvent(2)]).then(() => void order.push('next'))
    await within(5000, Promise.all([a, b]), 'both writes')
    expect(order).toEqual(['next', 'retrying'])
    expect(s.stats.itemRetries).toBe(2)
  })

  test('items retried from different writes travel together once due, and a retry storm still lands everything once', async () => {
    const s = await sink({ flushBytes: 64 * 1024, concurrency: 2, retry: { initialMs: 1, maxMs: 10 } })
    srv.faults.item = failIds(['ok-000003', 'ok-000007'], 429, 1)
    const results = await Promise.all([s.write([okEvent(3), okEvent(4)]), s.write([okEvent(7), okEvent(8)])])
    expect(results.flatMap((r) => r.rejected)).toEqual([])
    expect(
      srv
        .docs('envoy-audit-events-*')
        .map((d) => d._id)
        .sort(),
    ).toEqual(['ok-000003', 'ok-000004', 'ok-000007', 'ok-000008'])
    expect(s.stats.itemRetries).toBe(2)
  })
})

describe('OpenSearchSink item retry waits', () => {
  test('while nothing gets through, a refused item waits longer at every attempt (no storm of re-sends)', async () => {
    const s = await sink({ retry: { initialMs: 10, maxMs: 1000 } }, () => 1)
    const until = Date.now() + 700
    srv.faults.item = () => (Date.now() < until ? 429 : null)
    await within(5000, s.write([okEvent(1), okEvent(2)]), 'write after 700 ms of refusals')
    // Waits of 10, 20, 40, 80, 160, 320 ms cover the 700 ms in 7 requests; a fixed 10 ms beat would take ~60.
    expect(bulkActions().length).toBeLessThanOrEqual(9)
    expect(srv.docs('envoy-audit-events-*')).toHaveLength(2)
  })

  test('while other writes get through, a throttled item is retried after one short beat each time, not a doubling backoff', async () => {
    const s = await sink({ concurrency: 2, retry: { initialMs: 200, maxMs: 10_000 } }, () => 1)
    srv.faults.item = failIds(['ok-000001'], 429, 4)
    const started = Date.now()
    const throttled = s.write([okEvent(1)])
    let other = 100
    const traffic = setInterval(() => void s.write([okEvent(other++)]), 20)
    try {
      await within(5000, throttled, 'the throttled write')
    } finally {
      clearInterval(traffic)
    }
    // Four retries: 4 x 200 ms with the cluster taking other documents; doubling would be 200+400+800+1600.
    expect(Date.now() - started).toBeLessThan(2000)
    expect(s.stats.itemRetries).toBe(4)
  })
})

describe('OutageGate', () => {
  const timing = { initialMs: 10, maxMs: 1000, probeMaxMs: 40 }

  test('first probe after initialMs, then doubling up to probeMaxMs; a probe that gets through closes it', () => {
    const g = new OutageGate(timing, () => 1)
    expect(g.open).toBe(false)
    expect(g.requestFailed()).toBe(10)
    expect(g.open).toBe(true)
    expect(g.requestFailed()).toBeUndefined()
    expect([g.probeFailed(), g.probeFailed(), g.probeFailed(), g.probeFailed()]).toEqual([20, 40, 40, 40])
    g.probeSucceeded()
    expect(g.open).toBe(false)
    g.requestSucceeded()
    expect(g.requestFailed()).toBe(10)
  })

  test('probes that pass while full requests fail again (overload) wait the doubling backoff up to retry.maxMs until a full request succeeds', () => {
    const g = new OutageGate(timing, () => 1)
    const waits: number[] = []
    for (let i = 0; i < 9; i++) {
      waits.push(g.requestFailed()!)
      g.probeSucceeded()
    }
    expect(waits).toEqual([10, 20, 40, 80, 160, 320, 640, 1000, 1000])
    g.requestSucceeded()
    expect(g.requestFailed()).toBe(10)
  })
})
