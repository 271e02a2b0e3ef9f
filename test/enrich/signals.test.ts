import { describe, test, expect } from 'vitest'
import fc from 'fast-check'
import { parseUpstreamCluster } from '../../src/enrich/signals.js'

// Cluster names as Istio builds them (pilot/pkg/model/service.go BuildSubsetKey / BuildInboundSubsetKey),
// the same forms documented on parseUpstreamCluster; their full semantics are covered in identity.test.ts.
describe('parseUpstreamCluster cache (each distinct cluster name parsed once)', () => {
  test('repeated names return the same frozen result', () => {
    const a = parseUpstreamCluster('outbound|9080|v1|reviews.default.svc.cluster.local')
    expect(a).toEqual({ kind: 'outbound', port: 9080, subset: 'v1', host: 'reviews.default.svc.cluster.local' })
    expect(parseUpstreamCluster('outbound|9080|v1|reviews.default.svc.cluster.local')).toBe(a)
    expect(Object.isFrozen(a)).toBe(true)
    expect(parseUpstreamCluster('inbound|9080||')).toEqual({ kind: 'inbound', port: 9080 })
    // An unrecognised name is cached as "unrecognised", not re-parsed into something else.
    expect(parseUpstreamCluster('not|a|cluster')).toBeUndefined()
    expect(parseUpstreamCluster('not|a|cluster')).toBeUndefined()
  })

  test('results do not depend on what the cache held before', () => {
    const name = fc.oneof(
      fc
        .tuple(
          fc.constantFrom('outbound', 'inbound', 'inbound-vip', 'x'),
          fc.stringMatching(/^\d{0,6}$/),
          fc.stringMatching(/^[a-z0-9-]{0,4}$/),
          fc.stringMatching(/^[a-z0-9.-]{0,20}$/),
        )
        .map((p) => p.join('|')),
      fc.constantFrom('PassthroughCluster', 'BlackHoleCluster', 'InboundPassthroughClusterIpv4', 'outbound|80||x.svc.cluster.local;'),
      fc.string({ maxLength: 40 }),
    )
    fc.assert(
      fc.property(name, (n) => {
        const first = parseUpstreamCluster(n)
        for (let i = 0; i < 4200; i++) parseUpstreamCluster(`outbound|${i}||s${i}.ns.svc.cluster.local`)
        expect(parseUpstreamCluster(n)).toEqual(first)
      }),
      { numRuns: 30 },
    )
  })
})
