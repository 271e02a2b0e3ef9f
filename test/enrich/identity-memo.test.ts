import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest'
import fc from 'fast-check'
import { buildProcessing } from '../../src/compose/stages.js'
import { createTransformMemo, createTransformStages } from '../../src/compose/transform-stages.js'
import { loadTransformsConfig } from '../../src/config/transforms.js'
import { generateMeshTraffic } from '../../src/demo/mesh-traffic.js'
import { identityKey } from '../../src/enrich/identity-memo.js'
import { createParser } from '../../src/parse/index.js'
import { applyStages } from '../../src/pipeline/transforms.js'
import { compileEventSerializer, type AuditEvent } from '../../src/schema/audit-event.js'
import { storedJson } from '../../src/schema/stored-document.js'
import type { RawRecord } from '../../src/pipeline/component.js'

const serialize = compileEventSerializer()

const fixture = (p: string): string[] =>
  readFileSync(new URL(`../fixtures/${p}`, import.meta.url), 'utf8')
    .split('\n')
    .filter((l) => l !== '')

const LINES = [
  ...fixture('envoy/mixed-real-world.log'),
  ...fixture('envoy/istio-text-without-start-time.log'),
  ...fixture('ztunnel/ztunnel.log'),
  ...generateMeshTraffic({ seed: 7, sessions: 120, noise: true }).lines.map((l) => l.text),
]

const records = (lines: readonly string[]): RawRecord[] =>
  lines.map((value, i) => ({ value, coords: { kind: 'file', file: 'memo.log', line: i + 1 } }))

/** Every stored document and the event's own member order, through the whole processing `run` builds. */
function processed(lines: readonly string[], memoEntries: number, passes = 1): string[] {
  const { parser, stages } = buildProcessing({ transforms: { memoEntries } })
  let out: string[] = []
  for (let p = 0; p < passes; p++) {
    const events = applyStages(stages, parser.parseBatch(records(lines)).events).events
    out = events.map((e) => `${storedJson(e, serialize)}\n${JSON.stringify(e)}`)
  }
  return out
}

describe('identity, AU-3 and findings memos', () => {
  // Lines without a start time take the time they are read: one clock for every pass.
  beforeAll(() => {
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(new Date('2026-06-01T00:00:00Z'))
  })
  afterAll(() => {
    vi.useRealTimers()
  })

  test('a cache hit writes the same document, member for member, as the cold computation', () => {
    const cold = processed(LINES, 0)
    expect(cold.length).toBeGreaterThan(1000)
    // Second pass: every tuple is cached, so every event is a hit.
    expect(processed(LINES, 4096, 2)).toEqual(cold)
  })

  test('the caches are hit, and stay within memoEntries whatever the number of distinct tuples', () => {
    const parser = createParser()
    const memo = createTransformMemo(8)
    const stages = createTransformStages(loadTransformsConfig({ memoEntries: 8 }), memo)
    const coldStages = createTransformStages(loadTransformsConfig({ memoEntries: 0 }))
    const events = parser.parseBatch(records(LINES)).events
    const copies = structuredClone(events)
    let maxSize = 0
    for (let i = 0; i < events.length; i++) {
      applyStages(stages, [events[i]!])
      maxSize = Math.max(maxSize, memo.identity.size, memo.findings.size)
    }
    applyStages(coldStages, copies)
    expect(events.map((e) => JSON.stringify(e))).toEqual(copies.map((e) => JSON.stringify(e)))
    expect(maxSize).toBeLessThanOrEqual(8)
    expect(memo.identity.hits).toBeGreaterThan(0)
    expect(memo.identity.misses).toBeGreaterThan(8)
    expect(memo.findings.hits).toBeGreaterThan(0)
  })

  test('property: an event changed in any field the stages read gets what the cold computation gives it', () => {
    const parser = createParser()
    const base = parser.parseBatch(records(LINES)).events
    const warmMemo = createTransformMemo(1 << 16)
    const warm = createTransformStages(loadTransformsConfig(), warmMemo)
    applyStages(warm, structuredClone(base))
    const cold = createTransformStages(loadTransformsConfig({ memoEntries: 0 }))
    const values = fc.oneof(
      fc.constantFrom(
        undefined,
        '',
        '-',
        'inbound',
        'outbound',
        'ingress',
        'gateway',
        'waypoint',
        'ztunnel',
        'destination',
        'source',
        'NR',
        'UAEX',
        'filter_chain_not_found',
        'connection failed',
        'denied',
        'PassthroughCluster',
        'BlackHoleCluster',
        'outbound|9080||reviews.default.svc.cluster.local',
        'inbound|9080||',
        'spiffe://cluster.local/ns/default/sa/reviews',
        'spiffe://evil.example/ns/default/sa/reviews',
        'outbound_.9080_._.reviews.default.svc.cluster.local',
        'reviews:9080',
        '10.0.0.1:15008',
        'TLSv1.1',
        'RC4-MD5',
        'rbac_access_denied_matched_policy[none]',
        'TLS error: 268435581:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED',
        '1:a2:bc',
        '~',
      ),
      fc.boolean(),
      fc.constantFrom(0, 403, 443, 15008),
      fc.constantFrom(['NR'], ['UAEX'], ['-']),
      fc.string({ maxLength: 12 }),
    )
    const paths = [
      'mesh.reporter',
      'mesh.upstream_cluster',
      'mesh.mtls',
      'mesh.source',
      'mesh.source.cluster',
      'mesh.destination.cluster',
      'mesh.destination.service',
      'network.direction',
      'envoy.peer.downstream_uri_san',
      'envoy.peer.upstream_uri_san',
      'envoy.peer.downstream_local_uri_san',
      'envoy.peer.upstream_tls_version',
      'envoy.peer.upstream_tls_cipher',
      'envoy.requested_server_name',
      'envoy.authority',
      'envoy.response_flags',
      'envoy.response_code_details',
      'envoy.connection_termination_details',
      'envoy.rbac_policy',
      'envoy.upstream_host',
      'envoy.downstream_local_address',
      'envoy.upstream_transport_failure_reason',
      'kubernetes.namespace',
      'kubernetes.pod',
      'kubernetes.labels.app',
      'tls.established',
      'tls.version',
      'tls.cipher',
      'destination.port',
      'event.action',
      'http.response.status_code',
      'http.request.method',
      'source.ip',
      'ztunnel.src_identity',
      'ztunnel.dst_identity',
      'ztunnel.dst_service',
      'ztunnel.dst_hbone_addr',
      'ztunnel.dst_addr',
      'ztunnel.message',
      'ztunnel.policy',
      'ztunnel.src_workload',
    ]
    const edit = fc.record({ path: fc.constantFrom(...paths), value: values })
    fc.assert(
      fc.property(fc.nat(base.length - 1), fc.array(edit, { minLength: 1, maxLength: 4 }), (i, edits) => {
        const a = structuredClone(base[i]!) as unknown as Record<string, unknown>
        for (const { path, value } of edits) setPath(a, path, value)
        const b = structuredClone(a)
        const x = applyStages(warm, [a as unknown as AuditEvent])
        const y = applyStages(cold, [b as unknown as AuditEvent])
        return JSON.stringify(x) === JSON.stringify(y)
      }),
      { numRuns: 4000 },
    )
    expect(warmMemo.identity.hits).toBeGreaterThan(0)
  })

  test('inputs that only concatenate alike get different keys, and oversized ones none', () => {
    const [e] = createParser().parseBatch(records(fixture('envoy/mixed-real-world.log').slice(0, 1))).events
    const a = structuredClone(e!)
    const b = structuredClone(e!)
    a.envoy.authority = 'ab'
    a.kubernetes = { namespace: 'c' }
    b.envoy.authority = 'a'
    b.kubernetes = { namespace: 'bc' }
    const ka: unknown[] = []
    const kb: unknown[] = []
    const n = identityKey(a, 8192, ka)
    expect(n).toBeGreaterThan(0)
    expect(identityKey(b, 8192, kb)).toBe(n)
    expect(ka.slice(0, n)).not.toEqual(kb.slice(0, n))
    // A key too long to keep is not cached: the event is computed cold.
    a.envoy.authority = 'x'.repeat(4000)
    expect(identityKey(a, 8192, ka)).toBe(0)
  })
})

function setPath(o: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.')
  let cur = o
  for (const k of keys.slice(0, -1)) {
    if (typeof cur[k] !== 'object' || cur[k] === null || Array.isArray(cur[k])) cur[k] = {}
    cur = cur[k] as Record<string, unknown>
  }
  const last = keys[keys.length - 1]!
  if (value === undefined) delete cur[last]
  else cur[last] = value
}
