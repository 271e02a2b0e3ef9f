import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { DuckDbStore } from '../../src/store/duckdb-store.js'
import { buildReportData } from '../../src/report/report-data.js'
import { renderHtmlReport } from '../../src/report/html-report.js'
import { renderReport } from '../../src/report/write-report.js'
import { buildGraph, nodeFor } from '../../src/report/service-graph.js'
import { escapeHtml } from '../../src/report/html-escape.js'
import { finding, makeEvent } from '../store/event-fixtures.js'

const FRONTEND = 'spiffe://cluster.local/ns/shop/sa/frontend'
const EVIL = '<script>alert(1)</script>'
const store = new DuckDbStore({ path: ':memory:' })

beforeAll(async () => {
  await store.start()
  await store.writeEvents([
    makeEvent({
      id: 'in-1',
      reporter: 'destination',
      srcSpiffe: FRONTEND,
      k8sNs: 'shop',
      app: 'cart',
      dstService: 'cart.shop.svc.cluster.local',
      dstNs: 'shop',
    }),
    makeEvent({
      id: 'in-2',
      reporter: 'destination',
      srcSpiffe: FRONTEND,
      k8sNs: 'shop',
      app: 'cart',
      dstService: 'cart.shop.svc.cluster.local',
      dstNs: 'shop',
    }),
    makeEvent({
      id: 'in-3',
      reporter: 'destination',
      mtls: false,
      sourceIp: '10.9.9.9',
      k8sNs: 'payments',
      dstService: 'payments.payments.svc.cluster.local',
      dstNs: 'payments',
      au3Missing: ['identity'],
      findings: [finding('plaintext_inbound', 'high', ['SC-8']), finding('au3_incomplete', 'low', ['AU-3'])],
    }),
    makeEvent({
      id: 'in-4',
      reporter: 'destination',
      status: 403,
      action: 'denied',
      srcSpiffe: FRONTEND,
      k8sNs: 'payments',
      dstService: 'payments-db.payments.svc.cluster.local',
      dstNs: 'payments',
      findings: [finding('authz_denied', 'high', ['AC-3', 'AC-6'])],
    }),
    makeEvent({
      id: 'in-5',
      reporter: 'destination',
      status: 403,
      action: 'denied',
      srcSpiffe: FRONTEND,
      k8sNs: 'shop',
      dstService: 'cart.shop.svc.cluster.local',
      dstNs: 'shop',
      findings: [finding('authz_denied', 'medium', ['AC-3', 'AC-6'])],
    }),
    // Log content is attacker-controlled: identities and hosts below must come out inert.
    makeEvent({
      id: 'evil',
      reporter: 'source',
      srcNs: 'shop',
      srcSa: EVIL,
      cluster: 'PassthroughCluster',
      sni: `"><img src=x onerror=alert(1)>.example.com`,
      mtls: null,
      findings: [finding('unregistered_egress', 'medium', ['SC-7', 'AC-4'])],
    }),
  ])
})
afterAll(() => store.close())

describe('buildReportData', () => {
  test('mTLS and AU-3 coverage are the store counts, as percentages', async () => {
    const d = await buildReportData(store)
    expect(d.summary.events).toBe(6)
    expect(d.mtls).toMatchObject({ inbound: 5, inboundMtls: 4, pct: 80 })
    // Gaps first.
    expect(d.mtls.byNamespace.map((r) => [r.key, r.inbound, r.mtlsPct])).toEqual([
      ['payments', 2, 50],
      ['shop', 3, 100],
    ])
    expect(d.au3).toMatchObject({ events: 6, complete: 5, pct: 83.3 })
    expect(d.au3.missing).toEqual([{ element: 'identity', count: 1 }])
  })

  test('findings: one row per code with the highest severity and the split, controls, totals', async () => {
    const d = await buildReportData(store)
    const denied = d.findings.byCode.find((f) => f.code === 'authz_denied')!
    expect(denied).toMatchObject({ severity: 'high', count: 2, bySeverity: { high: 1, medium: 1 }, controls: ['AC-3', 'AC-6'] })
    expect(d.findings.total).toBe(5)
    expect(d.findings.bySeverity).toEqual({ high: 2, medium: 2, low: 1 })
    expect(d.findings.byControl.find((c) => c.control === 'AC-3')).toEqual({ control: 'AC-3', count: 2, codes: ['authz_denied'] })
    expect(d.findings.byCode[0]!.severity).toBe('high')
    expect(d.findings.examples.authz_denied!.map((x) => x.destination).sort()).toEqual([
      'cart.shop.svc.cluster.local',
      'payments-db.payments.svc.cluster.local',
    ])
  })

  test('denied flows and egress come from the store', async () => {
    const d = await buildReportData(store)
    expect(d.deniedFlows.map((r) => [r.source, r.destination, r.denied])).toEqual([
      [FRONTEND, 'cart.shop.svc.cluster.local', 1],
      [FRONTEND, 'payments-db.payments.svc.cluster.local', 1],
    ])
    expect(d.egress).toHaveLength(1)
  })

  test('a time range narrows every section', async () => {
    const d = await buildReportData(store, { range: { since: '2030-01-01T00:00:00.000Z' } })
    expect(d.summary.events).toBe(0)
    expect(d.mtls.pct).toBeNull()
    expect(d.findings.total).toBe(0)
    expect(renderHtmlReport(d)).toContain('None in the selected range.')
  })
})

describe('rendering', () => {
  test('HTML escapes log content everywhere and references nothing external', async () => {
    const html = renderHtmlReport(await buildReportData(store))
    expect(html).not.toContain('<script')
    expect(html).not.toContain('<img')
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;')
    expect(html).toContain('&quot;&gt;&lt;img src=x onerror=alert(1)&gt;.example.com')
    expect(html).not.toMatch(/\b(src|href)\s*=\s*["']?(https?:|\/\/)/i)
    expect(html).not.toMatch(/@import|url\(\s*['"]?https?:/i)
    expect(html).toContain("default-src 'none'")
  })

  test('JSON carries the same numbers as the HTML', async () => {
    const d = await buildReportData(store, { now: new Date('2026-11-20T00:00:00Z') })
    const json = JSON.parse(renderReport(d, 'json')) as typeof d
    expect(json).toEqual(JSON.parse(JSON.stringify(d)))
    const html = renderReport(d, 'html')
    expect(html).toContain(`data-metric="mtls-pct">${d.mtls.pct!.toFixed(1)}%`)
    expect(html).toContain(`data-metric="findings-total">${d.findings.total}`)
  })

  test('escapeHtml covers quotes, backticks and control characters', () => {
    expect(escapeHtml(`a<b>&"'\`\u0007`)).toBe('a&lt;b&gt;&amp;&quot;&#39;&#96;\uFFFD')
    expect(escapeHtml(undefined)).toBe('')
  })
})

describe('service graph', () => {
  test('source identities and destination services of one workload become one node', () => {
    expect(nodeFor(FRONTEND, 'cluster.local')).toMatchObject({ id: 'shop/frontend', group: 'mesh' })
    expect(nodeFor('frontend.shop', 'cluster.local').id).toBe('shop/frontend')
    expect(nodeFor('frontend.shop.svc.cluster.local', 'cluster.local').id).toBe('shop/frontend')
    expect(nodeFor('spiffe://partner.example/ns/a/sa/b', 'cluster.local').group).toBe('foreign')
    expect(nodeFor('203.0.113.9', 'cluster.local').id).toBe('internet')
    expect(nodeFor('10.244.1.9', 'cluster.local').group).toBe('unidentified')
    expect(nodeFor('api.stripe.com', 'cluster.local').group).toBe('external')
  })

  test('edges are coloured by what they prove', async () => {
    const g = buildGraph(await store.edges())
    const state = (from: string, to: string) => g.edges.find((e) => e.from === from && e.to === to)?.state
    expect(state('shop/frontend', 'shop/cart')).toBe('denied')
    expect(state('10.9.9.9', 'payments/payments')).toBe('plaintext')
  })
})

describe('several clusters', () => {
  const two = new DuckDbStore({ path: ':memory:' })
  const CHECKOUT = 'spiffe://cluster.local/ns/shop/sa/checkout'
  /** An event as a proxy of `cluster` logs it, with the peers' clusters from the peer metadata. */
  const inCluster = (cluster: string | undefined, src: string, dst: string, spec: Parameters<typeof makeEvent>[0]) => {
    const e = makeEvent(spec)
    if (cluster !== undefined) e.orchestrator = { type: 'kubernetes', cluster: { name: cluster, id: cluster } }
    e.mesh = { ...e.mesh!, source: { ...e.mesh?.source, cluster: src }, destination: { ...e.mesh?.destination, cluster: dst } }
    return e
  }

  beforeAll(async () => {
    await two.start()
    await two.writeEvents([
      inCluster('east', 'east', 'east', {
        id: 'c-1',
        reporter: 'destination',
        srcSpiffe: FRONTEND,
        k8sNs: 'shop',
        dstService: 'checkout.shop.svc.cluster.local',
        dstNs: 'shop',
      }),
      inCluster('east', 'east', 'east', {
        id: 'c-2',
        reporter: 'destination',
        mtls: false,
        sourceIp: '10.9.9.9',
        k8sNs: 'payments',
        dstService: 'payments.payments.svc.cluster.local',
        dstNs: 'payments',
        au3Missing: ['identity'],
        findings: [finding('plaintext_inbound', 'high', ['SC-8']), finding('au3_incomplete', 'low', ['AU-3'])],
      }),
      // Across the east-west gateway: the server sidecar in west logs the caller's cluster from the peer metadata.
      inCluster('west', 'east', 'west', {
        id: 'c-3',
        reporter: 'destination',
        srcSpiffe: CHECKOUT,
        k8sNs: 'finance',
        dstService: 'ledger.finance.svc.cluster.local',
        dstNs: 'finance',
      }),
      inCluster('west', 'east', 'west', {
        id: 'c-4',
        reporter: 'destination',
        status: 403,
        action: 'denied',
        srcSpiffe: FRONTEND,
        k8sNs: 'finance',
        dstService: 'ledger.finance.svc.cluster.local',
        dstNs: 'finance',
        findings: [finding('authz_denied', 'medium', ['AC-3'])],
      }),
      makeEvent({
        id: 'c-5',
        reporter: 'destination',
        srcSpiffe: FRONTEND,
        k8sNs: 'legacy',
        dstService: 'old.legacy.svc.cluster.local',
        dstNs: 'legacy',
      }),
    ])
  })
  afterAll(() => two.close())

  test('one row per cluster with its records, coverage and findings; records naming none are (unknown)', async () => {
    const d = await buildReportData(two)
    expect(d.clusters.map((c) => [c.key, c.events, c.inbound, c.inboundMtls, c.au3Complete, c.findingsTotal])).toEqual([
      ['east', 2, 2, 1, 1, 2],
      ['west', 2, 2, 2, 2, 1],
      ['(unknown)', 1, 1, 1, 1, 0],
    ])
    expect(d.clusters.find((c) => c.key === 'east')!.findings).toEqual({ plaintext_inbound: 1, au3_incomplete: 1 })
    expect(d.clusters.find((c) => c.key === 'west')!.findings).toEqual({ authz_denied: 1 })
    expect(d.clusters.find((c) => c.key === 'east')!.missing).toEqual({ identity: 1 })
  })

  test('the HTML has a By cluster table, graph nodes name their clusters, an east-west edge is marked', async () => {
    const d = await buildReportData(two)
    const html = renderHtmlReport(d)
    expect(html).toContain('<h2>By cluster</h2>')
    expect(html).toContain('data-metric="events-cluster" data-key="west">2<')
    expect(html).toContain('data-metric="mtls-pct-cluster" data-key="east">50.0%<')
    expect(html).toContain('data-metric="findings-cluster" data-key="east">2<')
    const graph = buildGraph(d.edges)
    expect(graph.nodes.find((n) => n.id === 'shop/checkout')?.clusters).toEqual(['east'])
    expect(graph.nodes.find((n) => n.id === 'finance/ledger')?.clusters).toEqual(['west'])
    const across = graph.edges.filter((e) => e.crossCluster.length > 0).map((e) => `${e.from} -> ${e.to}: ${e.crossCluster.join()}`)
    expect(across.sort()).toEqual(['shop/checkout -> finance/ledger: east → west', 'shop/frontend -> finance/ledger: east → west'])
    expect(html).toContain('edge-cross-cluster')
    expect(html).toContain('data-clusters="west"')
    // The JSON report carries the same rows.
    expect((JSON.parse(renderReport(d, 'json')) as { clusters: unknown }).clusters).toEqual(JSON.parse(JSON.stringify(d.clusters)))
  })
})
