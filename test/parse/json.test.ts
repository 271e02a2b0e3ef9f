import { describe, test, expect } from 'vitest'
import { deadLetterOf, eventOf } from './helpers.js'
import { CANONICAL_FIELDS } from '../../src/parse/fields.js'
import { ISTIO_MAP, compileFieldMap, extractJsonFields } from '../../src/parse/json.js'

// elastic/integrations packages/istio/data_stream/access_logs/_dev/test/pipeline/test-access-json-logs.log, line 1
const JSON_TYPED =
  '{"authority":"reviews:9080","bytes_received":0,"bytes_sent":358,"connection_termination_details":null,"downstream_local_address":"10.124.1.5:9080","downstream_remote_address":"10.124.0.13:43612","duration":15,"method":"GET","path":"/reviews/0","protocol":"HTTP/1.1","request_id":"9fcc7101-13bd-9753-98d6-820806088d9d","requested_server_name":"outbound_.9080_._.reviews.default.svc.cluster.local","response_code":200,"response_code_details":"via_upstream","response_flags":"-","route_name":"default","start_time":"2022-09-08T12:51:05.656Z","upstream_cluster":"inbound|9080||","upstream_host":"10.124.1.5:9080","upstream_local_address":"127.0.0.6:37685","upstream_service_time":"14","upstream_transport_failure_reason":null,"user_agent":"curl/7.79.1","x_forwarded_for":null}'

describe('Istio default JSON', () => {
  const typed = JSON_TYPED

  test('typed 1.8+ line (alphabetical keys)', () => {
    const e = eventOf(typed)
    expect(e.envoy.format).toBe('istio-json')
    expect(e['@timestamp']).toBe('2022-09-08T12:51:05.656Z')
    expect(e.event.original).toBe(typed)
    expect(e.event.duration).toBe(15_000_000)
    expect(e.http).toEqual({
      version: '1.1',
      request: { method: 'GET', id: '9fcc7101-13bd-9753-98d6-820806088d9d', bytes: 0 },
      response: { status_code: 200, bytes: 358 },
    })
    expect(e.envoy.upstream_service_time).toBe(14)
    expect(e.envoy.x_forwarded_for).toBeUndefined()
    expect(e.envoy.connection_termination_details).toBeUndefined()
    expect(e.network?.direction).toBe('inbound')
    expect(e.mesh?.reporter).toBe('destination')
    expect(e.source).toEqual({ address: '10.124.0.13:43612', ip: '10.124.0.13', port: 43612 })
    expect(e.destination).toMatchObject({ ip: '10.124.1.5', port: 9080 })
  })

  test('key order does not matter', () => {
    const obj = JSON.parse(typed) as Record<string, unknown>
    const reversed = JSON.stringify(Object.fromEntries(Object.entries(obj).reverse()))
    const a = eventOf(typed)
    const b = eventOf(reversed)
    expect({ ...b, event: { ...b.event, id: '', original: '' } }).toEqual({ ...a, event: { ...a.event, id: '', original: '' } })
  })

  test('TCP line from a sidecar with null protocol and response_code 0 (BlackHole, REGISTRY_ONLY)', () => {
    // istio/istio#33281 (copied with a `[ubuntu istio-proxy] ` kubectl prefix)
    const e = eventOf(
      '[ubuntu istio-proxy] {"response_code":0,"upstream_service_time":null,"upstream_host":null,"upstream_local_address":null,"request_id":null,"downstream_remote_address":"172.17.3.28:35070","bytes_sent":0,"upstream_cluster":null,"upstream_transport_failure_reason":null,"authority":null,"duration":8,"response_code_details":null,"response_flags":"UH","protocol":null,"user_agent":null,"path":null,"connection_termination_details":null,"method":null,"downstream_local_address":"13.249.75.75:443","route_name":null,"x_forwarded_for":null,"requested_server_name":null,"start_time":"2021-06-04T14:35:50.462Z","bytes_received":0}',
    )
    expect(e.network?.protocol).toBe('tcp')
    expect(e.http).toBeUndefined()
    expect(e.envoy.response_flags).toEqual(['UH'])
    expect(e.event.outcome).toBe('failure')
    expect(e.destination).toMatchObject({ ip: '13.249.75.75', port: 443 })
    expect(e.kubernetes).toEqual({ pod: 'ubuntu', container: 'istio-proxy' })
    expect(e.event.original?.startsWith('{"response_code":0')).toBe(true)
  })

  test('untyped (<=1.7) line with istio_policy_status, all values strings', () => {
    // istio/istio#20362 (ingress gateway, Istio 1.4/1.5; client IPs masked in the issue)
    const e = eventOf(
      '{"upstream_local_address":"-","duration":"94","downstream_local_address":"10.24.11.20:443","upstream_transport_failure_reason":"-","route_name":"-","response_code":"503","user_agent":"GoogleStackdriverMonitoring-UptimeChecks(https://cloud.google.com/monitoring)","response_flags":"URX","start_time":"2020-01-21T14:53:45.548Z","method":"GET","request_id":"a3f7c112-2ae1-4494-be7f-e5248fbbe530","upstream_host":"10.24.11.30:5005","x_forwarded_for":"XXX.XXX.XXX.XXX","requested_server_name":"api.agilicus.com","bytes_received":"0","istio_policy_status":"-","bytes_sent":"0","upstream_cluster":"outbound|5005||v1-tokens.api.svc.cluster.local","downstream_remote_address":"XXX.XXX.XXX.XXX:38317","authority":"api.agilicus.com","path":"/v1/tokens/healthz","protocol":"HTTP/2","upstream_service_time":"-"}',
    )
    expect(e.envoy.format).toBe('istio-json-untyped')
    expect(e.http?.response?.status_code).toBe(503)
    expect(e.http?.version).toBe('2')
    expect(e.event.duration).toBe(94_000_000)
    expect(e.envoy.upstream_service_time).toBeUndefined()
    expect(e.envoy.upstream_local_address).toBeUndefined()
    // masked address: kept as evidence, but no invalid IP reaches the ip-typed field
    expect(e.source).toEqual({ address: 'XXX.XXX.XXX.XXX:38317' })
    expect(e.tls?.client?.server_name).toBe('api.agilicus.com')
    expect(e.destination?.domain).toBe('api.agilicus.com')
  })

  test('1.23/1.24 trailing ";" on upstream_cluster is stripped', () => {
    // shape from istio/istio#54219; values from the Elastic fixture above
    const obj = JSON.parse(typed) as Record<string, unknown>
    obj['upstream_cluster'] = 'outbound|80||x.svc.cluster.local;'
    const e = eventOf(JSON.stringify(obj))
    expect(e.mesh?.upstream_cluster).toBe('outbound|80||x.svc.cluster.local')
    expect(e.network?.direction).toBe('outbound')
  })

  test('codec error JSON line with "-" strings mixed with nulls', () => {
    // elastic/integrations .../test-access-json-logs.log, line 3
    const e = eventOf(
      '{"authority":"-","bytes_received":0,"bytes_sent":11,"connection_termination_details":null,"downstream_local_address":"10.124.2.10:8080","downstream_remote_address":"10.128.0.60:51643","duration":46,"method":"-","path":"-","protocol":"HTTP/1.1","request_id":"-","requested_server_name":"-","response_code":400,"response_code_details":"http1.codec_error","response_flags":"DPE","route_name":"-","start_time":"2022-09-01T09:36:33.553Z","upstream_cluster":null,"upstream_host":"-","upstream_local_address":null,"upstream_service_time":null,"upstream_transport_failure_reason":"-","user_agent":"-","x_forwarded_for":null}',
    )
    expect(e.network?.protocol).toBe('http')
    expect(e.http?.request).toEqual({ bytes: 0 })
    expect(e.url).toBeUndefined()
    expect(e.envoy.authority).toBeUndefined()
    expect(e.envoy.upstream_transport_failure_reason).toBeUndefined()
    expect(e.event.outcome).toBe('failure')
  })

  test('BlackHoleCluster JSON line with extra custom keys', () => {
    // istio/istio#51178 (line wraps from the issue rejoined)
    const e = eventOf(
      '{"route_name":null,"request_id":null,"x_forwarded_for":null,"response_code":0,"response_code_details":null,"bytes_received":0,"connection_termination_details":null,"user_agent":null,"authority":null,"upstream_transport_failure_reason":null,"protocol":null,"stack_name":"stacky-stack","requested_server_name":null,"method":null,"upstream_host":null,"duration":0,"client_ip":null,"grpc_status":null,"upstream_local_address":null,"upstream_cluster":"BlackHoleCluster","env":"dev","response_flags":"UH","downstream_remote_address":"10.52.59.26:59206","upstream_service_time":null,"downstream_local_address":"240.240.180.115:81","request_fwd_for":null,"path":null,"start_time":"2024-05-21T16:19:04.707Z","bytes_sent":0}',
    )
    expect(e.network?.direction).toBe('egress')
    expect(e.event.action).toBe('denied')
    // unknown keys stay in event.original only
    expect(JSON.stringify({ ...e, event: { ...e.event, original: '' } })).not.toContain('stacky-stack')
  })

  test('ambient waypoint cluster (inbound-vip) and envoy:// upstream host', () => {
    // Shape from istio/istio pilot TrafficDirectionInboundVIP and reference d.1; values constructed.
    const obj = JSON.parse(typed) as Record<string, unknown>
    Object.assign(obj, {
      upstream_cluster: 'inbound-vip|8080|http|reviews.default.svc.cluster.local',
      upstream_host: 'envoy://connect_originate/10.244.0.15:8080',
    })
    const e = eventOf(JSON.stringify(obj))
    expect(e.network?.direction).toBe('inbound')
    expect(e.mesh?.reporter).toBe('waypoint')
    expect(e.envoy.upstream_host).toBe('envoy://connect_originate/10.244.0.15:8080')
  })

  test('bad or missing start_time -> EA_PARSE_BAD_TIMESTAMP', () => {
    const obj = JSON.parse(typed) as Record<string, unknown>
    obj['start_time'] = 'yesterday'
    expect(deadLetterOf(JSON.stringify(obj)).reason).toBe('EA_PARSE_BAD_TIMESTAMP')
    obj['start_time'] = null
    expect(deadLetterOf(JSON.stringify(obj)).reason).toBe('EA_PARSE_BAD_TIMESTAMP')
  })
})

describe('custom JSON through field maps', () => {
  // The seed format's operators (the `seed-000` preset: timestamp, source_principal=%DOWNSTREAM_PEER_SUBJECT%,
  // destination_service=%REQ(:authority)%, ...), values from the Elastic JSON fixture; the TLS/SAN extras
  // use the operator semantics documented in envoyproxy/envoy substitution_formatter.rst.
  const seed =
    '{"timestamp":"2022-09-08T12:51:05.656Z","source_principal":"-","destination_service":"reviews:9080","method":"GET","path":"/reviews/0?a=b","response_code":200,"duration_ms":15,"connection_id":4711}'

  test('seed-000 preset detected in auto mode', () => {
    const e = eventOf(seed)
    expect(e.envoy.format).toBe('custom:seed-000')
    expect(e['@timestamp']).toBe('2022-09-08T12:51:05.656Z')
    expect(e.envoy.connection_id).toBe('4711')
    expect(e.envoy.authority).toBe('reviews:9080')
    expect(e.url).toEqual({ path: '/reviews/0', query: 'a=b', domain: 'reviews' })
    expect(e.event.duration).toBe(15_000_000)
    expect(e.envoy.peer).toBeUndefined()
  })

  test('seed-000 with TLS extras: peer SAN, TLS version and cipher', () => {
    const obj = JSON.parse(seed) as Record<string, unknown>
    Object.assign(obj, {
      source_principal: 'spiffe://cluster.local/ns/default/sa/sleep',
      downstream_peer_uri_san: 'spiffe://cluster.local/ns/default/sa/sleep',
      downstream_local_uri_san: 'spiffe://cluster.local/ns/default/sa/reviews',
      downstream_tls_version: 'TLSv1.3',
      downstream_tls_cipher: 'TLS_AES_256_GCM_SHA384',
      upstream_peer_uri_san: null,
    })
    const e = eventOf(JSON.stringify(obj), { format: 'custom-json', fieldMap: 'seed-000' })
    expect(e.tls).toEqual({ established: true, version: '1.3', version_protocol: 'tls', cipher: 'TLS_AES_256_GCM_SHA384' })
    expect(e.envoy.peer).toEqual({
      downstream_uri_san: 'spiffe://cluster.local/ns/default/sa/sleep',
      downstream_subject: 'spiffe://cluster.local/ns/default/sa/sleep',
      downstream_local_uri_san: 'spiffe://cluster.local/ns/default/sa/reviews',
    })
  })

  test('a logged-but-unset downstream TLS version means no TLS', () => {
    const obj = JSON.parse(seed) as Record<string, unknown>
    obj['downstream_tls_version'] = null
    expect(eventOf(JSON.stringify(obj)).tls).toEqual({ established: false })
  })

  test('user-supplied map', () => {
    const line =
      '{"ts":"2024-01-02T03:04:05.006Z","verb":"POST","uri":"/api","code":"201","src":"10.0.0.1:5555","cluster":"outbound|80||api.prod.svc.cluster.local"}'
    const e = eventOf(line, {
      format: 'custom-json',
      fieldMap: {
        name: 'acme',
        fields: {
          start_time: 'ts',
          method: 'verb',
          path: 'uri',
          response_code: 'code',
          downstream_remote_address: 'src',
          upstream_cluster: 'cluster',
        },
      },
    })
    expect(e.envoy.format).toBe('custom:acme')
    expect(e.http?.request?.method).toBe('POST')
    expect(e.http?.response?.status_code).toBe(201)
    expect(e.source?.ip).toBe('10.0.0.1')
    expect(e.network?.direction).toBe('outbound')
  })

  test('the istio preset as a custom map still reports istio-json', () => {
    expect(eventOf(JSON_TYPED, { format: 'custom-json', fieldMap: 'istio' }).envoy.format).toBe('istio-json')
    expect(deadLetterOf(seed, { format: 'custom-json', fieldMap: 'istio' }).reason).toBe('EA_PARSE_NOT_ACCESS_LOG')
  })

  test('explicit formats force the map: custom-json defaults to seed-000, istio-json ignores seed lines', () => {
    expect(eventOf(seed, { format: 'custom-json' }).envoy.format).toBe('custom:seed-000')
    expect(deadLetterOf(seed, { format: 'istio-json' }).reason).toBe('EA_PARSE_NOT_ACCESS_LOG')
    expect(deadLetterOf(seed, { format: 'istio-text' }).reason).toBe('EA_PARSE_NOT_ACCESS_LOG')
  })

  test('invalid config names the option path', () => {
    expect(() => eventOf(seed, { format: 'custom-json', fieldMap: { fields: { start_time: '__proto__' } } })).toThrow(/parser\.fieldMap/)
    expect(() => eventOf(seed, { maxLineBytes: -1 })).toThrow(/parser\.maxLineBytes/)
    expect(() => eventOf(seed, { format: 'xml' as never })).toThrow(/parser\.format/)
  })
})

describe('JSON that is not an access log', () => {
  test('non-object JSON -> EA_PARSE_NOT_OBJECT', () => {
    for (const v of ['42', '"text"', '[1,2]', 'null', 'true', '[]']) expect(deadLetterOf(v).reason).toBe('EA_PARSE_NOT_OBJECT')
  })

  test('truncated JSON -> EA_PARSE_INVALID_JSON', () => {
    expect(deadLetterOf('{"start_time":"2022-09-08T12:51:05.656Z","method":"GE').reason).toBe('EA_PARSE_INVALID_JSON')
  })

  test('istio-agent JSON log -> EA_PARSE_NOT_ACCESS_LOG', () => {
    // istio/istio#29565 (istio-proxy with JSON logging, trace level)
    const d = deadLetterOf(
      '{"time":"2025-10-30T15:37:29.343051Z","level":"debug","scope":"envoy filter","msg":"proxy_protocol: New connection accepted","caller":"external/envoy/source/extensions/filters/listener/proxy_protocol/proxy_protocol.cc:176","thread":"25"}',
    )
    expect(d.reason).toBe('EA_PARSE_NOT_ACCESS_LOG')
  })

  test('__proto__ / constructor keys at the root -> EA_PARSE_UNSAFE_KEY, prototype untouched', () => {
    const d = deadLetterOf('{"start_time":"2022-09-08T12:51:05.656Z","response_code":200,"__proto__":{"polluted":"yes"}}')
    expect(d.reason).toBe('EA_PARSE_UNSAFE_KEY')
    expect(deadLetterOf('{"start_time":"2022-09-08T12:51:05.656Z","constructor":{"prototype":{"polluted":"yes"}}}').reason).toBe(
      'EA_PARSE_UNSAFE_KEY',
    )
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined()
  })
})

describe('field extraction', () => {
  test('the unrolled Istio extractor reads exactly the canonical fields, like the generic map loop', () => {
    const obj: Record<string, unknown> = { extra: 'ignored', nested: { a: 1 } }
    CANONICAL_FIELDS.forEach((f, i) => (obj[f] = i % 3 === 0 ? `v${i}` : i % 3 === 1 ? i : null))
    obj['route_name'] = { not: 'a primitive' }
    const generic = extractJsonFields(obj, compileFieldMap({ name: 'identity', fields: {} }))
    const unrolled = extractJsonFields(obj, ISTIO_MAP)
    expect({ ...unrolled }).toEqual({ ...generic })
    expect(unrolled.route_name).toBeUndefined()
    expect(unrolled.start_time).toBe('v0')
  })
})
