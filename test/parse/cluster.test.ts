import { describe, expect, test } from 'vitest'
import { createParser } from '../../src/parse/index.js'
import { deriveEventId } from '../../src/pipeline/event-id.js'
import { loadKafkaSourceConfig } from '../../src/sources/kafka/config.js'
import { eventOf, rec } from './helpers.js'

// An outbound (source-reported) Istio JSON line; Istio's own keys, plus what a format adds for clusters:
// `cluster_id` as `%ENVIRONMENT(ISTIO_META_CLUSTER_ID)%` and the peers' cluster ids.
const OUTBOUND = {
  start_time: '2024-05-01T10:00:00.000Z',
  method: 'GET',
  path: '/orders',
  protocol: 'HTTP/1.1',
  response_code: 200,
  upstream_cluster: 'outbound|8080||orders.shop.svc.cluster.local',
  upstream_host: '10.2.0.7:8080',
  downstream_remote_address: '10.1.0.4:51000',
}
const line = (extra: Record<string, unknown> = {}): string => JSON.stringify({ ...OUTBOUND, ...extra })
const INBOUND = line({ upstream_cluster: 'inbound|8080||', downstream_peer_uri_san: 'spiffe://cluster.local/ns/web/sa/frontend' })

describe('the cluster of an event', () => {
  test('a line with no cluster anywhere has no orchestrator and no mesh cluster', () => {
    const e = eventOf(line())
    expect(e.orchestrator).toBeUndefined()
    expect(e.mesh?.source?.cluster).toBeUndefined()
    expect(e.mesh?.destination?.cluster).toBeUndefined()
  })

  test('the Istio cluster id the proxy logs names the cluster and its own side', () => {
    const e = eventOf(line({ cluster_id: 'east' }))
    expect(e.orchestrator).toEqual({ type: 'kubernetes', cluster: { name: 'east', id: 'east' } })
    expect(e.mesh?.source?.cluster).toBe('east')
    expect(e.mesh?.destination?.cluster).toBeUndefined()
  })

  test('on an inbound line the reporting proxy is the destination', () => {
    const e = eventOf(INBOUND, { cluster: 'west' })
    expect(e.mesh?.destination?.cluster).toBe('west')
    expect(e.mesh?.source?.cluster).toBeUndefined()
  })

  test('peer metadata gives the other side: an east-west call carries both clusters', () => {
    const e = eventOf(line({ cluster_id: 'east', upstream_peer_cluster: 'west' }))
    expect(e.mesh?.source?.cluster).toBe('east')
    expect(e.mesh?.destination?.cluster).toBe('west')
    const inbound = eventOf(JSON.stringify({ ...JSON.parse(INBOUND), cluster_id: 'west', downstream_peer_cluster: 'east' }))
    expect(inbound.mesh?.source?.cluster).toBe('east')
    expect(inbound.mesh?.destination?.cluster).toBe('west')
  })

  test('the configured cluster names records, and the Istio id stays the id', () => {
    const e = eventOf(line({ cluster_id: 'cluster-1' }), { cluster: 'prod-east' })
    expect(e.orchestrator?.cluster).toEqual({ name: 'prod-east', id: 'cluster-1' })
  })

  test("the source's cluster (per topic) wins over the configured one; the envelope's over both", () => {
    const parser = createParser({ cluster: 'fallback' })
    const fromTopic = { ...rec(line()), cluster: 'west' }
    const envelope = JSON.stringify({ log: line(), kubernetes: { pod_name: 'web-1', namespace_name: 'web' }, cluster_name: 'north' })
    const enveloped = { ...rec(envelope, 2), cluster: 'west' }
    const plain = rec(line({ request_id: 'x' }), 3)
    const names = parser.parseBatch([fromTopic, enveloped, plain]).events.map((e) => e.orchestrator?.cluster?.name)
    expect(names).toEqual(['west', 'north', 'fallback'])
  })

  test('envelope shapes: ECS orchestrator.cluster.name, cluster, kubernetes.cluster_name', () => {
    const kube = { pod_name: 'web-1', namespace_name: 'web' }
    const of = (env: Record<string, unknown>): string | undefined =>
      eventOf(JSON.stringify({ log: line(), ...env })).orchestrator?.cluster?.name
    expect(of({ kubernetes: kube, orchestrator: { cluster: { name: 'a' } } })).toBe('a')
    expect(of({ kubernetes: kube, cluster: 'b' })).toBe('b')
    expect(of({ kubernetes: { ...kube, cluster_name: 'c' } })).toBe('c')
    expect(of({ kubernetes: kube, cluster: { name: 'not-a-string' } })).toBeUndefined()
  })

  test('the same line from the same pod name in two clusters is two events; without a cluster the id is unchanged', () => {
    const env = (cluster?: string): string =>
      JSON.stringify({
        log: line(),
        kubernetes: { pod_name: 'web-1', namespace_name: 'web', container_name: 'istio-proxy' },
        ...(cluster ? { cluster } : {}),
      })
    const east = eventOf(env('east')).event.id
    const west = eventOf(env('west')).event.id
    const none = eventOf(env()).event.id
    expect(east).not.toBe(west)
    expect(none).not.toBe(east)
    // Without a cluster the id is derived from the line and the workload alone, as before clusters existed.
    expect(none).toBe(deriveEventId(line(), { namespace: 'web', pod: 'web-1', container: 'istio-proxy' }))
  })

  test('a TEXT format that logs %ENVIRONMENT(ISTIO_META_CLUSTER_ID)% gives the cluster id', () => {
    const textFormat = [
      '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%"',
      '%RESPONSE_CODE% %UPSTREAM_CLUSTER% %ENVIRONMENT(ISTIO_META_CLUSTER_ID)%',
    ].join(' ')
    const e = eventOf('[2024-05-01T10:00:00.000Z] "GET /x HTTP/1.1" 200 outbound|80||a.b.svc.cluster.local east-1', {
      format: 'custom-text',
      textFormat,
    })
    expect(e.orchestrator?.cluster).toEqual({ name: 'east-1', id: 'east-1' })
  })

  test('a value that is no cluster name is not one', () => {
    expect(eventOf(line({ cluster_id: 'x'.repeat(300) })).orchestrator).toBeUndefined()
    expect(() => createParser({ cluster: 'bad name' })).toThrow(/parser\.cluster/)
  })
})

describe('source.kafka.clusters', () => {
  const base = { brokers: ['127.0.0.1:9092'], topics: ['mesh-east', 'mesh-west'] }
  test('maps topics to clusters', () => {
    expect(loadKafkaSourceConfig({ ...base, clusters: { 'mesh-east': 'east', 'mesh-west': 'west' } }).clusters).toEqual({
      'mesh-east': 'east',
      'mesh-west': 'west',
    })
  })
  test('names a topic that is not consumed', () => {
    expect(() => loadKafkaSourceConfig({ ...base, clusters: { 'mesh-north': 'north' } })).toThrow(/source\.kafka\.clusters\.mesh-north/)
  })
})
