import { describe, test, expect } from 'vitest'
import { deadLetterOf, eventOf } from './helpers.js'

// Payloads: elastic/integrations packages/istio/data_stream/access_logs/_dev/test/pipeline/
// test-access_container_logs.log (CRI lines, verbatim) and test-access-json-logs.log (JSON line 1).
// Envelope shapes: fluent/fluent-bit tests/runtime/data/kubernetes/out/** (kubernetes filter records,
// merge_log / merge_log_key / keep_log variants), Docker json-file as in fluent-bit
// tests/runtime/data/kubernetes/log/*.log, vectordotdev/vector kubernetes_logs.cue (Vector keys).
const CRI =
  '2022-07-22T12:24:13.900328365Z stdout F [2022-07-22T12:24:12.945Z] "GET /ratings/0 HTTP/1.1" 200 - via_upstream - "-" 0 48 62 61 "-" "curl/7.79.1" "d0caf832-6a17-916f-83b4-71a33dc038db" "ratings:9080" "10.24.1.5:9080" outbound|9080||ratings.default.svc.cluster.local 10.24.0.10:33168 10.12.29.240:9080 10.24.0.10:40768 - default'
const LINE = CRI.slice(CRI.indexOf(' F ') + 3)
const JSON_LINE =
  '{"authority":"reviews:9080","bytes_received":0,"bytes_sent":358,"connection_termination_details":null,"downstream_local_address":"10.124.1.5:9080","downstream_remote_address":"10.124.0.13:43612","duration":15,"method":"GET","path":"/reviews/0","protocol":"HTTP/1.1","request_id":"9fcc7101-13bd-9753-98d6-820806088d9d","requested_server_name":"outbound_.9080_._.reviews.default.svc.cluster.local","response_code":200,"response_code_details":"via_upstream","response_flags":"-","route_name":"default","start_time":"2022-09-08T12:51:05.656Z","upstream_cluster":"inbound|9080||","upstream_host":"10.124.1.5:9080","upstream_local_address":"127.0.0.6:37685","upstream_service_time":"14","upstream_transport_failure_reason":null,"user_agent":"curl/7.79.1","x_forwarded_for":null}'
const FB_KUBE = {
  pod_name: 'reviews-v1-545db77b95-x2k8z',
  namespace_name: 'default',
  pod_id: 'e9f2963f-55f2-11e9-84c5-02e422b8a84a',
  labels: { app: 'reviews', version: 'v1' },
  host: 'ip-10-49-18-80.eu-west-1.compute.internal',
  container_name: 'istio-proxy',
}

describe('JSON envelopes', () => {
  test('Docker json-file: log with trailing newline', () => {
    const e = eventOf(JSON.stringify({ log: `${LINE}\n`, stream: 'stdout', time: '2022-07-22T12:24:13.900328365Z' }))
    expect(e.event.original).toBe(LINE)
    expect(e.kubernetes).toBeUndefined()
  })

  test('Fluent Bit kubernetes filter + Kafka output (@timestamp double), text payload', () => {
    const env = {
      '@timestamp': 1658492653.900328,
      time: '2022-07-22T12:24:13.900328365Z',
      stream: 'stdout',
      _p: 'F',
      log: LINE,
      kubernetes: FB_KUBE,
    }
    const e = eventOf(JSON.stringify(env))
    expect(e['@timestamp']).toBe('2022-07-22T12:24:12.945Z')
    expect(e.kubernetes).toEqual({
      namespace: 'default',
      pod: 'reviews-v1-545db77b95-x2k8z',
      container: 'istio-proxy',
      node: 'ip-10-49-18-80.eu-west-1.compute.internal',
      labels: { app: 'reviews', version: 'v1' },
    })
    expect(e.event.original).toBe(LINE)
  })

  test('Fluent Bit, Istio JSON double-encoded in log', () => {
    const e = eventOf(JSON.stringify({ log: `${JSON_LINE}\n`, stream: 'stdout', kubernetes: FB_KUBE }))
    expect(e.envoy.format).toBe('istio-json')
    expect(e.event.original).toBe(JSON_LINE)
    expect(e.kubernetes?.pod).toBe('reviews-v1-545db77b95-x2k8z')
  })

  test('Fluent Bit merge_log on (fields at the root), with and without keep_log', () => {
    const fields = JSON.parse(JSON_LINE) as Record<string, unknown>
    const kept = eventOf(JSON.stringify({ log: `${JSON_LINE}\n`, stream: 'stdout', ...fields, kubernetes: FB_KUBE }))
    expect(kept.event.original).toBe(JSON_LINE)
    expect(kept.http?.response?.bytes).toBe(358)
    const merged = eventOf(JSON.stringify({ stream: 'stdout', ...fields, kubernetes: FB_KUBE }))
    expect(merged.envoy.format).toBe('istio-json')
    expect(merged.kubernetes?.namespace).toBe('default')
    expect(merged.mesh?.upstream_cluster).toBe('inbound|9080||')
  })

  test('Fluent Bit merge_log_key without keep_log: fields nested under the key', () => {
    const e = eventOf(JSON.stringify({ stream: 'stdout', envoy: JSON.parse(JSON_LINE), kubernetes: FB_KUBE }))
    expect(e.envoy.format).toBe('istio-json')
    expect(e.http?.request?.id).toBe('9fcc7101-13bd-9753-98d6-820806088d9d')
  })

  test('merge_log_key with a seed-format payload', () => {
    const seed = {
      timestamp: '2022-09-08T12:51:05.656Z',
      source_principal: '-',
      destination_service: 'reviews:9080',
      method: 'GET',
      path: '/reviews/0',
      response_code: 200,
      duration_ms: 15,
      connection_id: 4711,
    }
    expect(eventOf(JSON.stringify({ stream: 'stdout', envoy: seed, kubernetes: FB_KUBE })).envoy.format).toBe('custom:seed-000')
  })

  test('Fluent Bit legacy cri parser: line under message', () => {
    const e = eventOf(JSON.stringify({ time: '2022-07-22T12:24:13.900328365Z', stream: 'stdout', logtag: 'F', message: LINE }))
    expect(e.envoy.format).toBe('istio-text-1.9')
  })

  test('Fluent Bit tail without a CRI parser: CRI framing inside log', () => {
    expect(eventOf(JSON.stringify({ log: CRI })).event.original).toBe(LINE)
  })

  test('Vector kubernetes_logs', () => {
    const env = {
      message: LINE,
      source_type: 'kubernetes_logs',
      stream: 'stdout',
      file: '/var/log/pods/default_ratings-v1-7dc98c7588-wz7dq_0b9a5d9c/istio-proxy/0.log',
      timestamp: '2022-07-22T12:24:13.900328365Z',
      kubernetes: {
        pod_name: 'ratings-v1-7dc98c7588-wz7dq',
        pod_namespace: 'default',
        container_name: 'istio-proxy',
        pod_labels: { app: 'ratings' },
        pod_node_name: 'node-2',
      },
    }
    expect(eventOf(JSON.stringify(env)).kubernetes).toEqual({
      namespace: 'default',
      pod: 'ratings-v1-7dc98c7588-wz7dq',
      container: 'istio-proxy',
      node: 'node-2',
      labels: { app: 'ratings' },
    })
  })

  test('Filebeat-style nested kubernetes metadata', () => {
    // key layout of Filebeat's add_kubernetes_metadata (ECS kubernetes.pod.name, kubernetes.container.name)
    const env = {
      message: LINE,
      kubernetes: {
        namespace: 'default',
        pod: { name: 'ratings-v1-7dc98c7588-wz7dq', uid: 'x' },
        container: { name: 'istio-proxy' },
        node: { name: 'node-2' },
        labels: { app: 'ratings' },
      },
    }
    expect(eventOf(JSON.stringify(env)).kubernetes).toEqual({
      namespace: 'default',
      pod: 'ratings-v1-7dc98c7588-wz7dq',
      container: 'istio-proxy',
      node: 'node-2',
      labels: { app: 'ratings' },
    })
  })

  test('gateway pods make the reporter gateway and the direction ingress/egress', () => {
    const kube = {
      ...FB_KUBE,
      pod_name: 'istio-ingressgateway-5d8f5b4b6-abcde',
      namespace_name: 'istio-system',
      labels: { istio: 'ingressgateway', app: 'istio-ingressgateway' },
    }
    const e = eventOf(JSON.stringify({ log: LINE, kubernetes: kube }))
    expect(e.mesh?.reporter).toBe('gateway')
    expect(e.network?.direction).toBe('ingress')
    const eg = eventOf(JSON.stringify({ log: LINE, kubernetes: { ...kube, labels: { istio: 'egressgateway' } } }))
    expect(eg.network?.direction).toBe('egress')
  })

  test('envelope without a line, empty line, and non-access payload', () => {
    expect(deadLetterOf(JSON.stringify({ stream: 'stdout', kubernetes: FB_KUBE })).reason).toBe('EA_PARSE_ENVELOPE')
    expect(deadLetterOf(JSON.stringify({ log: '\n', stream: 'stdout' })).reason).toBe('EA_PARSE_ENVELOPE')
    // fluent/fluent-bit tests/runtime/data/kubernetes/log/socks_session-db-fdd649d68-cq5sp_istio-proxy.log (Mixer-era istio-proxy line)
    const mixer =
      '{"log":"{\\"level\\":\\"info\\",\\"time\\":\\"2018-09-21T02:56:05.979833Z\\",\\"instance\\":\\"tcpaccesslog.logentry.istio-system\\",\\"connectionDuration\\":\\"0s\\",\\"connectionEvent\\":\\"continue\\",\\"protocol\\":\\"tcp\\",\\"receivedBytes\\":432,\\"reporter\\":\\"source\\"}\\n","stream":"stdout","time":"2018-09-21T02:56:06.978292233Z"}'
    expect(deadLetterOf(mixer).reason).toBe('EA_PARSE_NOT_ACCESS_LOG')
  })

  test('hostile labels are dropped and Object.prototype stays clean', () => {
    const env = `{"log":${JSON.stringify(LINE)},"kubernetes":{"pod_name":"p","labels":{"__proto__":{"polluted":"1"},"constructor":"x","app":"ok","n":5}}}`
    const e = eventOf(env)
    expect(Object.keys(e.kubernetes?.labels ?? {})).toEqual(['app'])
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined()
  })
})

describe('copied-log prefixes', () => {
  test('kubectl logs --prefix', () => {
    expect(eventOf(`[pod/ratings-v1-7dc98c7588-wz7dq/istio-proxy] ${LINE}`).kubernetes).toEqual({
      pod: 'ratings-v1-7dc98c7588-wz7dq',
      container: 'istio-proxy',
    })
  })

  test('stern with ANSI colours', () => {
    const e = eventOf(`\u001b[32mratings-v1-7dc98c7588-wz7dq\u001b[0m \u001b[34mistio-proxy\u001b[0m ${LINE}`)
    expect(e.kubernetes).toEqual({ pod: 'ratings-v1-7dc98c7588-wz7dq', container: 'istio-proxy' })
    expect(e.event.original).toBe(LINE)
  })

  test('truncated JSON after a kubectl prefix keeps its reason; after a log level it is not an access log', () => {
    expect(deadLetterOf('[ubuntu istio-proxy] {"response_code":0,"upstream_service_time":null,"upst').reason).toBe('EA_PARSE_INVALID_JSON')
    expect(deadLetterOf('2021-03-16T09:29:20.896837Z info sds {"resource":"default","ttl":').reason).toBe('EA_PARSE_NOT_ACCESS_LOG')
  })

  test('istio-agent lines stay dead letters (istio/istio#31555)', () => {
    expect(deadLetterOf('2021-03-16T09:29:20.896837Z info Envoy proxy is ready').reason).toBe('EA_PARSE_NOT_ACCESS_LOG')
    // istio/istio#30437 (debug log with a [C982] connection tag)
    expect(deadLetterOf('2021-01-27T14:42:21.668305Z debug envoy connection  [C982] connecting to 10.206.2.72:8080').reason).toBe(
      'EA_PARSE_NOT_ACCESS_LOG',
    )
    // docs: envoy rbac debug message (reference e.4)
    expect(deadLetterOf('2021-01-07T04:14:09.160798Z\tdebug\tenvoy rbac\tenforced denied, matched policy none').reason).toBe(
      'EA_PARSE_NOT_ACCESS_LOG',
    )
  })
})
