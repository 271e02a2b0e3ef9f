import { describe, expect, test } from 'vitest'
import { flowClusters, renderFlowsText, renderHuntDot, renderHuntMermaid, renderHuntText } from '../../src/hunt/render.js'
import type { HuntHop, HuntResult } from '../../src/hunt/search.js'
import type { FlowEdge } from '../../src/hunt/backend.js'

const hop = (from: string, to: string, at: string, extra: Partial<HuntHop> = {}): HuntHop => ({
  from,
  to,
  at,
  calls: 1,
  plaintextCalls: 0,
  plaintext: false,
  srcSignal: 'downstream_peer_uri_san',
  dstSignal: 'downstream_local_uri_san',
  newEdge: false,
  ...extra,
})
const A = 'spiffe://cluster.local/ns/shop/sa/frontend'
const B = 'spiffe://cluster.local/ns/shop/sa/checkout'
/** Log-controlled names can carry quotes and brackets: a crafted service name must not break the picture. */
const EVIL = 'evil"];\ninjected["x'
const ab = hop(A, B, '2026-11-20T10:01:00.000Z', { service: 'checkout.shop', newEdge: true })
const bc = hop(B, EVIL, '2026-11-20T10:02:00.000Z', { plaintext: true, plaintextCalls: 1 })
const result: HuntResult = {
  from: [A],
  since: '2026-11-20T10:00:00.000Z',
  maxDepth: 6,
  rounds: 3,
  truncated: false,
  probedOnly: ['spiffe://cluster.local/ns/payments/sa/payments-db'],
  edges: [ab, bc],
  reached: [
    {
      node: A,
      kind: 'spiffe',
      arrival: '2026-11-20T10:00:00.000Z',
      hops: 0,
      path: [],
      probes: [
        {
          src: A,
          dst: 'spiffe://cluster.local/ns/payments/sa/payments-db',
          count: 2,
          first: '2026-11-20T10:00:30.000Z',
          last: '2026-11-20T10:00:40.000Z',
          reasons: ['rbac:none'],
        },
      ],
    },
    { node: B, kind: 'spiffe', arrival: ab.at, hops: 1, path: [ab], probes: [] },
    { node: EVIL, kind: 'service', arrival: bc.at, hops: 2, path: [ab, bc], probes: [] },
  ],
}

describe('hunt renderings', () => {
  test('tree: origin, children under the hop that reached them, flags, probes, summary', () => {
    const text = renderHuntText(result, { includeDenied: true })
    const lines = text.split('\n')
    expect(lines[1]).toBe(`${A}  [origin]`)
    expect(lines[2]).toContain('! denied 2× → spiffe://cluster.local/ns/payments/sa/payments-db')
    expect(lines[3]).toBe(`└─ 2026-11-20T10:01:00.000Z  ${B}  via checkout.shop [downstream_local_uri_san]  NEW`)
    expect(lines[4]).toBe('   └─ 2026-11-20T10:02:00.000Z  evil"];\\x0ainjected["x  via ? [downstream_local_uri_san]  PLAINTEXT')
    expect(text).toContain('2 reached, 1 via new edges, 1 plaintext hops, 2 denied calls')
    expect(text).toContain('probed but never reached: spiffe://cluster.local/ns/payments/sa/payments-db')
  })

  test('dot: every label is a quoted, escaped string', () => {
    const dot = renderHuntDot(result, { includeDenied: true })
    expect(dot).toContain('"evil\\"]; injected[\\"x"')
    expect(dot).not.toContain('\ninjected')
    expect(dot).toContain(`"${A}" -> "${B}" [label="2026-11-20T10:01:00.000Z NEW", color="red", penwidth=2];`)
    expect(dot).toContain('style="dotted"')
  })

  test('mermaid: ids are generated, labels escaped', () => {
    const m = renderHuntMermaid(result, { includeDenied: false })
    expect(m).toContain('n2["evil#quot;]; injected[#quot;x"]')
    expect(m).toContain('n0 ==>|"2026-11-20T10:01:00.000Z NEW"| n1')
    expect(m).toContain('n1 -.->|"2026-11-20T10:02:00.000Z plaintext"| n2')
    expect(m).not.toContain('payments-db')
  })

  test('flows table: mTLS share and new_edge marks', () => {
    const e: FlowEdge = {
      source: A,
      sourceKind: 'spiffe',
      destination: B,
      destinationKind: 'spiffe',
      service: 'checkout.shop',
      count: 4,
      firstSeen: 'f',
      lastSeen: 'l',
      methods: ['GET', 'POST'],
      statusClasses: { '2xx': 3, '4xx': 1 },
      mtls: 3,
      plaintext: 1,
      denied: 1,
      findings: ['authz_denied'],
      signals: ['downstream_local_uri_san'],
      sourceClusters: ['east'],
      destinationClusters: ['west'],
    }
    const text = renderFlowsText(
      [e],
      [
        {
          source: A,
          destination: B,
          firstSeen: 'f',
          count: 4,
          finding: { code: 'new_edge', severity: 'medium', controls: ['AC-4', 'SI-4'], message: 'm' },
        },
      ],
    )
    const row = text.split('\n')[1]!.split(/\s{2,}/)
    expect(row).toEqual([
      A,
      `${B} (checkout.shop)`,
      '4',
      'f',
      'l',
      'GET,POST',
      '2xx:3 4xx:1',
      '75%',
      '1',
      'new_edge,authz_denied',
      'downstream_local_uri_san',
      'east → west',
    ])
  })

  test('flows clusters column: one cluster, a crossing, an end no line named, none', () => {
    expect(flowClusters({ sourceClusters: ['west'], destinationClusters: ['west'] })).toBe('west')
    expect(flowClusters({ sourceClusters: ['east'], destinationClusters: ['west'] })).toBe('east → west')
    expect(flowClusters({ sourceClusters: [], destinationClusters: ['east'] })).toBe('? → east')
    expect(flowClusters({ sourceClusters: ['east', 'west'], destinationClusters: ['west'] })).toBe('east,west → west')
    expect(flowClusters({})).toBe('-')
  })
})
