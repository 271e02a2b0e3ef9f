import { describe, expect, test } from 'vitest'
import fc from 'fast-check'
import {
  FLUENT_BIT_FILE,
  FLUENT_BIT_FILE_SECOND,
  MESH_TRAFFIC_DEFAULTS,
  generateMeshTraffic,
  linesByFile,
} from '../../src/demo/mesh-traffic.js'
import { CLUSTERS, EAST_WEST_ADDRESS, EXFIL_HOST, eastWestTraffic } from '../../src/demo/east-west.js'
import { Prng } from '../../src/demo/prng.js'
import { istioJsonLine, istioTextLine } from '../../src/demo/envoy-lines.js'
import { createParser } from '../../src/parse/index.js'
import { applyStages } from '../../src/pipeline/transforms.js'
import { createTransformStages } from '../../src/compose/transform-stages.js'
import { loadTransformsConfig } from '../../src/config/transforms.js'

const small = { sessions: 120 }

/** The Envoy line inside a generated record, envelope removed. */
function inner(text: string): string {
  if (text.startsWith('{')) return (JSON.parse(text) as { log: string }).log
  const m = /^\S+ stdout F (.*)$/.exec(text)
  if (m === null) throw new Error(`not a CRI line: ${text.slice(0, 80)}`)
  return m[1]!
}

describe('generateMeshTraffic', () => {
  test('is deterministic for a seed and differs between seeds', () => {
    const a = generateMeshTraffic({ ...small, seed: 7 })
    const b = generateMeshTraffic({ ...small, seed: 7 })
    const c = generateMeshTraffic({ ...small, seed: 8 })
    expect(b.lines.map((l) => l.text)).toEqual(a.lines.map((l) => l.text))
    expect(c.lines.map((l) => l.text)).not.toEqual(a.lines.map((l) => l.text))
  })

  test('writes Istio JSON and TEXT in Fluent Bit and CRI envelopes, in write order', () => {
    const t = generateMeshTraffic(small)
    const combos = new Set(t.lines.map((l) => `${l.format}/${l.envelope}`))
    for (const c of ['istio-json/fluent-bit', 'istio-json/cri', 'istio-text/fluent-bit', 'istio-text/cri']) expect(combos).toContain(c)
    const times = t.lines.map((l) => l.writtenMs)
    expect([...times].sort((x, y) => x - y)).toEqual(times)
    const files = linesByFile(t.lines)
    expect(files.has(FLUENT_BIT_FILE)).toBe(true)
    // CRI files follow the kubelet's /var/log/containers naming: <pod>_<namespace>_<container>-<64 hex>.log
    for (const name of files.keys())
      if (name !== FLUENT_BIT_FILE) expect(name).toMatch(/^[a-z0-9-]+_[a-z0-9-]+_istio-proxy-[0-9a-f]{64}\.log$/)
  })

  test('every access line has the shape of its format: 29 JSON keys, 22 TEXT fields', () => {
    const t = generateMeshTraffic(small)
    for (const l of t.lines.filter((x) => x.format !== 'noise')) {
      const line = inner(l.text)
      if (l.format === 'istio-json') {
        const obj = JSON.parse(line) as Record<string, unknown>
        expect(Object.keys(obj)).toHaveLength(29)
        expect(typeof obj.response_code).toBe('number')
        expect(obj.upstream_service_time === null || typeof obj.upstream_service_time === 'string').toBe(true)
      } else {
        // Quoted fields may contain spaces (user agents); count the fields outside quotes.
        const fields = line.match(/"[^"]*"|\[[^\]]*\]|\S+/g)!
        expect(fields).toHaveLength(22)
      }
    }
  })

  test('client and server lines of one hop share the request id and the client socket', () => {
    const t = generateMeshTraffic(small)
    const json = t.lines.filter((l) => l.format === 'istio-json').map((l) => JSON.parse(inner(l.text)) as Record<string, string | null>)
    const inbound = new Map<string, Record<string, string | null>>()
    for (const o of json) if (o.upstream_cluster?.startsWith('inbound|')) inbound.set(o.downstream_remote_address!, o)
    let paired = 0
    for (const o of json) {
      if (!o.upstream_cluster?.startsWith('outbound|') || o.upstream_local_address === null) continue
      const server = inbound.get(o.upstream_local_address!)
      if (server === undefined) continue
      paired++
      expect(server.request_id).toBe(o.request_id)
      expect(server.requested_server_name).toMatch(/^outbound_\.\d+_\._\./)
      expect(server.downstream_peer_uri_san).toMatch(/^spiffe:\/\/cluster\.local\/ns\//)
    }
    expect(paired).toBeGreaterThan(100)
  })

  test('plants every incident and keeps some noise for the dead-letter path', () => {
    const t = generateMeshTraffic(small)
    expect(t.incidents.map((i) => i.id)).toEqual([
      'legacy-plaintext',
      'strict-rejects-plaintext',
      'rbac-deny',
      'passthrough-egress',
      'blocked-egress',
      'weak-tls',
      'ext-authz',
      'foreign-trust-domain',
      'lateral-movement',
    ])
    expect(t.lines.filter((l) => l.format === 'noise').length).toBeGreaterThanOrEqual(3)
    expect(generateMeshTraffic({ ...small, noise: false }).lines.some((l) => l.format === 'noise')).toBe(false)
    const text = t.lines.map((l) => l.text).join('\n')
    expect(text).toContain('rbac_access_denied_matched_policy[ns[shop]-policy[deny-catalog-writes]-rule[0]]')
    expect(text).toContain('PassthroughCluster')
    expect(text).toContain('filter_chain_not_found')
  })
})

describe('renderers and PRNG', () => {
  test('unset values print as null in JSON and - in TEXT; TCP prints "- - -"', () => {
    const r = {
      startMs: Date.parse('2026-11-20T14:00:00.000Z'),
      code: 0,
      bytesIn: 0,
      bytesOut: 0,
      durationMs: 0,
      downstreamLocal: '10.0.0.1:5432',
      downstreamRemote: '10.0.0.2:40000',
    }
    expect(JSON.parse(istioJsonLine(r))).toMatchObject({
      method: null,
      protocol: null,
      response_code: 0,
      response_flags: '-',
      upstream_cluster: null,
    })
    expect(istioTextLine(r)).toBe(
      '[2026-11-20T14:00:00.000Z] "- - -" 0 - - - "-" 0 0 0 - "-" "-" "-" "-" "-" - - 10.0.0.1:5432 10.0.0.2:40000 - -',
    )
  })

  test('Prng stays in range and makes v4-shaped UUIDs', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        fc.integer({ min: -50, max: 50 }),
        fc.integer({ min: 0, max: 100 }),
        (seed, lo, span) => {
          const p = new Prng(seed)
          const n = p.int(lo, lo + span)
          expect(n).toBeGreaterThanOrEqual(lo)
          expect(n).toBeLessThanOrEqual(lo + span)
          expect(p.next()).toBeLessThan(1)
          expect(p.uuid()).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
        },
      ),
    )
  })
})

describe('the ambient namespace', () => {
  test('ztunnel lines (through Fluent Bit) become ztunnel events: HBONE traffic, an L4 denial and a STRICT plaintext refusal', () => {
    const t = generateMeshTraffic({ ...small, ambient: true })
    const without = generateMeshTraffic(small)
    // Off by default, and adding it leaves the rest of the traffic as it was.
    expect(t.lines.filter((l) => l.format !== 'ztunnel').map((l) => l.text)).toEqual(without.lines.map((l) => l.text))
    const zt = t.lines.filter((l) => l.format === 'ztunnel')
    expect(zt.length).toBeGreaterThan(10)
    const parsed = createParser().parseBatch(
      zt.map((l, i) => ({ value: l.text, coords: { kind: 'file' as const, file: l.file, line: i + 1 } })),
    )
    expect(parsed.deadLetters).toEqual([])
    const events = applyStages(createTransformStages(loadTransformsConfig({})), parsed.events).events
    expect(new Set(events.map((e) => e.mesh?.reporter))).toEqual(new Set(['ztunnel']))
    expect(events.every((e) => e.kubernetes?.namespace === 'istio-system')).toBe(true)
    const codes = events.flatMap((e) => e.audit.finding_codes ?? [])
    expect(codes.filter((c) => c === 'authz_denied')).toHaveLength(3)
    expect(codes.filter((c) => c === 'plaintext_rejected')).toHaveLength(1)
    const ok = events.filter((e) => e.event.outcome === 'success')
    expect(ok.every((e) => e.mesh?.mtls === true && e.mesh?.source?.spiffe_id === 'spiffe://cluster.local/ns/analytics/sa/reports')).toBe(
      true,
    )
  })
})

describe('the second cluster (eastWest)', () => {
  const t = generateMeshTraffic({ ...small, eastWest: true })
  const inner = (text: string): Record<string, unknown> => JSON.parse((JSON.parse(text) as { log: string }).log) as Record<string, unknown>
  const fluent = (file: string) => t.lines.filter((l) => l.file === file && l.format === 'istio-json').map((l) => inner(l.text))

  test('every line names its cluster; the second cluster ships through its own collector, with cluster_name', () => {
    expect(new Set(t.lines.map((l) => l.cluster))).toEqual(new Set([CLUSTERS.first, CLUSTERS.second]))
    const second = t.lines.filter((l) => l.cluster === CLUSTERS.second)
    expect(second.every((l) => l.file === FLUENT_BIT_FILE_SECOND)).toBe(true)
    expect(second.every((l) => (JSON.parse(l.text) as { cluster_name: string }).cluster_name === CLUSTERS.second)).toBe(true)
    // Each proxy logs its own Istio cluster id, the first cluster's too.
    for (const o of fluent(FLUENT_BIT_FILE)) expect(o.cluster_id).toBe(CLUSTERS.first)
    for (const o of fluent(FLUENT_BIT_FILE_SECOND)) expect(o.cluster_id).toBe(CLUSTERS.second)
  })

  test('a call across clusters is three lines: client sidecar to the gateway on 15443, gateway passthrough by SNI, server sidecar', () => {
    const east = fluent(FLUENT_BIT_FILE)
    const west = fluent(FLUENT_BIT_FILE_SECOND)
    const client = east.find((o) => o.path === '/v1/accounts/export?format=csv')!
    expect(client).toMatchObject({
      upstream_host: EAST_WEST_ADDRESS,
      upstream_cluster: 'outbound|8080||ledger.finance.svc.cluster.local',
      upstream_peer_uri_san: 'spiffe://cluster.local/ns/finance/sa/ledger',
      upstream_peer_cluster: CLUSTERS.second,
    })
    const server = west.find((o) => o.request_id === client.request_id)!
    expect(server).toMatchObject({
      upstream_cluster: 'inbound|8080||',
      downstream_peer_uri_san: 'spiffe://cluster.local/ns/shop/sa/checkout',
      downstream_peer_cluster: CLUSTERS.first,
      requested_server_name: 'outbound_.8080_._.ledger.finance.svc.cluster.local',
    })
    // The gateway's own line: TCP, no identity (it does not terminate the mTLS), the SNI-named cluster,
    // its upstream socket is what the server sees as its downstream.
    const gw = west.find((o) => o.upstream_local_address === server.downstream_remote_address)!
    expect(gw).toMatchObject({
      method: null,
      response_code: 0,
      upstream_cluster: 'outbound_.8080_._.ledger.finance.svc.cluster.local',
      requested_server_name: 'outbound_.8080_._.ledger.finance.svc.cluster.local',
      downstream_peer_uri_san: null,
      upstream_host: server.downstream_local_address,
    })
    expect(gw.downstream_local_address).toMatch(/:15443$/)
    // The gateway sees the first cluster's node, not the pod: pod addresses do not cross networks.
    expect(gw.downstream_remote_address).toMatch(/^10\.20\.\d+\.\d+:\d+$/)
  })

  test('the lateral-movement incident continues into the second cluster; the first cluster is unchanged but for the cluster names', () => {
    const lateral = t.incidents.find((i) => i.id === 'lateral-movement')!
    const ledger = lateral.flows.filter((f) => f.destination.includes('ledger.finance'))
    expect(ledger.map((f) => f.finding ?? 'allowed')).toEqual(['authz_denied', 'allowed'])
    expect(lateral.flows.some((f) => f.finding === 'unregistered_egress' && f.destination.includes(EXFIL_HOST.host))).toBe(true)
    const strip = (text: string): string => {
      const env = JSON.parse(text) as Record<string, unknown>
      if (typeof env.log !== 'string') return text
      delete env.cluster_name
      const log = env.log.startsWith('{') ? (JSON.parse(env.log) as Record<string, unknown>) : env.log
      if (typeof log === 'object') for (const k of ['cluster_id', 'downstream_peer_cluster', 'upstream_peer_cluster']) delete log[k]
      return JSON.stringify({ ...env, log: typeof log === 'string' ? log : JSON.stringify(log) })
    }
    const before = generateMeshTraffic(small).lines.filter((l) => l.envelope === 'fluent-bit' && l.format !== 'noise')
    const firstCluster = t.lines.filter((l) => l.envelope === 'fluent-bit' && l.format !== 'noise' && l.cluster === CLUSTERS.first)
    const added = new Set(generateEastWestOnly())
    expect(firstCluster.filter((l) => !added.has(l.pod + l.writtenMs)).map((l) => strip(l.text))).toEqual(before.map((l) => strip(l.text)))
  })

  /** Lines the second cluster's generator adds on the first cluster's side (its cross-cluster clients and the exfiltration). */
  function generateEastWestOnly(): string[] {
    const ew = eastWestTraffic(t.topology, MESH_TRAFFIC_DEFAULTS.seed, Date.parse(t.window.start), Date.parse(t.window.end))
    return ew.builder.records.filter((r) => r.workload.cluster === undefined).map((r) => r.pod.name + r.writtenMs)
  }
})
