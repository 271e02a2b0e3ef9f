import { describe, expect, test } from 'vitest'
import { newEdgeFindings } from '../../src/hunt/baseline.js'
import type { FlowEdge } from '../../src/hunt/backend.js'

const edge = (source: string, destination: string, firstSeen: string, extra: Partial<FlowEdge> = {}): FlowEdge => ({
  source,
  sourceKind: source.startsWith('spiffe://') ? 'spiffe' : source.includes('/') ? 'workload' : 'ip',
  destination,
  destinationKind: 'spiffe',
  count: 3,
  firstSeen,
  lastSeen: firstSeen,
  methods: ['GET'],
  statusClasses: { '2xx': 3 },
  mtls: 3,
  plaintext: 0,
  denied: 0,
  findings: [],
  signals: [],
  ...extra,
})
const A = 'spiffe://cluster.local/ns/shop/sa/frontend'
const B = 'spiffe://cluster.local/ns/shop/sa/cart'
const C = 'spiffe://cluster.local/ns/payments/sa/payments-db'
const opts = { since: '2026-11-20T00:00:00.000Z', baselineFrom: '2026-11-13T00:00:00.000Z' }

describe('new_edge baseline', () => {
  test('only edges absent from the learning window, medium, AC-4 and SI-4, oldest first', () => {
    const findings = newEdgeFindings(
      [
        edge(A, B, '2026-11-20T01:00:00.000Z'),
        edge(B, C, '2026-11-20T03:00:00.000Z'),
        edge(A, C, '2026-11-20T02:00:00.000Z', { denied: 3 }),
      ],
      [edge(A, B, '2026-11-15T00:00:00.000Z')],
      opts,
    )
    expect(findings.map((f) => [f.source, f.destination])).toEqual([
      [A, C],
      [B, C],
    ])
    expect(findings[0]!.finding).toMatchObject({ code: 'new_edge', severity: 'medium', controls: ['AC-4', 'SI-4'] })
    expect(findings[0]!.finding.message).toContain('every call denied')
    expect(findings[1]!.finding.message).not.toContain('denied')
  })

  test('address-only sources are skipped unless asked; an empty baseline makes every edge new', () => {
    const current = [edge('10.0.0.9', C, '2026-11-20T01:00:00.000Z'), edge('shop/frontend', C, '2026-11-20T01:00:00.000Z')]
    expect(newEdgeFindings(current, [], opts).map((f) => f.source)).toEqual(['shop/frontend'])
    expect(newEdgeFindings(current, [], { ...opts, includeAddresses: true })).toHaveLength(2)
  })

  test('baseline rows that started inside the analysis window do not count as known', () => {
    expect(newEdgeFindings([edge(A, B, '2026-11-20T01:00:00.000Z')], [edge(A, B, '2026-11-20T00:30:00.000Z')], opts)).toHaveLength(1)
  })
})

describe('the baseline learns legitimate traffic only', () => {
  const now = '2026-11-20T01:00:00.000Z'
  const before = '2026-11-15T00:00:00.000Z'
  const F = 'spiffe://partner-bank.example/ns/settlement/sa/reconciler'

  test.each([
    ['a foreign trust domain', { findings: ['foreign_trust_domain'] }, /foreign_trust_domain/],
    ['an invalid peer identity', { findings: ['invalid_peer_identity'] }, /invalid_peer_identity/],
    ['an enforcement gap', { findings: ['policy_violation'] }, /policy_violation/],
    ['every call denied', { denied: 3, findings: ['authz_denied'] }, /every call denied/],
    ['every call plaintext', { plaintext: 3, mtls: 0, findings: ['plaintext_inbound'] }, /every call plaintext/],
  ])('an edge seen in the learning window only with %s is still new, and says why', (_what, extra, why) => {
    const found = newEdgeFindings([edge(F, C, now)], [edge(F, C, before, extra)], opts)
    expect(found).toHaveLength(1)
    expect(found[0]!.finding.message).toMatch(why)
    expect(found[0]!.finding.message).toContain('which the baseline does not learn')
    expect(newEdgeFindings([edge(F, C, now)], [edge(F, C, before, extra)], { ...opts, includeFlagged: true })).toEqual([])
  })

  test('some denied or plaintext calls next to legitimate ones are still learnt', () => {
    const base = [edge(A, C, before, { denied: 1, plaintext: 1, findings: ['authz_denied', 'plaintext_inbound'] })]
    expect(newEdgeFindings([edge(A, C, now)], base, opts)).toEqual([])
  })
})
