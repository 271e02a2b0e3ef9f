import { describe, test, expect } from 'vitest'
import { deadLetterOf, eventOf } from './helpers.js'

describe('Istio 1.9+ text format', () => {
  // elastic/integrations packages/istio/data_stream/access_logs/_dev/test/pipeline/test-access-logs.log, line 4 (outbound sidecar)
  const outbound =
    '[2022-08-22T13:08:23.188Z] "GET /reviews/0 HTTP/1.1" 200 - via_upstream - "-" 0 442 12 12 "-" "curl/7.79.1" "00bcf1d7-12c4-93b9-b36a-bc0faac8e428" "reviews:9080" "10.124.1.5:9080" outbound|9080||reviews.default.svc.cluster.local 10.124.2.6:50960 10.0.18.132:9080 10.124.2.6:52930 - default'

  test('outbound sidecar line: every field lands in the canonical event', () => {
    const e = eventOf(outbound)
    expect(e['@timestamp']).toBe('2022-08-22T13:08:23.188Z')
    expect(e.envoy.format).toBe('istio-text-1.9')
    expect(e.event).toMatchObject({ kind: 'event', dataset: 'envoy.access', outcome: 'success', duration: 12_000_000, original: outbound })
    expect(e.http).toEqual({
      version: '1.1',
      request: { method: 'GET', id: '00bcf1d7-12c4-93b9-b36a-bc0faac8e428', bytes: 0 },
      response: { status_code: 200, bytes: 442 },
    })
    expect(e.url).toEqual({ path: '/reviews/0', domain: 'reviews' })
    expect(e.user_agent).toEqual({ original: 'curl/7.79.1' })
    expect(e.source).toEqual({ address: '10.124.2.6:52930', ip: '10.124.2.6', port: 52930 })
    // outbound: the destination is the endpoint Envoy chose, not the ClusterIP the app dialed
    expect(e.destination).toMatchObject({ ip: '10.124.1.5', port: 9080 })
    expect(e.network).toEqual({ transport: 'tcp', protocol: 'http', direction: 'outbound' })
    expect(e.mesh).toEqual({
      reporter: 'source',
      upstream_cluster: 'outbound|9080||reviews.default.svc.cluster.local',
      route_name: 'default',
    })
    expect(e.envoy).toMatchObject({
      response_flags: [],
      response_code_details: 'via_upstream',
      upstream_service_time: 12,
      downstream_local_address: '10.0.18.132:9080',
      upstream_local_address: '10.124.2.6:50960',
    })
    expect(e.tls).toBeUndefined()
    expect(e.audit.source).toEqual({ kind: 'file', file: 'fixture.log', line: 1, offset: '100' })
  })

  test('inbound sidecar line: destination is the local pod address, SNI is kept, reporter destination', () => {
    // same file, line 3
    const e = eventOf(
      '[2022-08-22T10:51:35.926Z] "GET /reviews/0 HTTP/1.1" 200 - via_upstream - "-" 0 437 30 29 "-" "curl/7.79.1" "f5dd9a93-895b-9a0d-a830-44694ed10c4c" "reviews:9080" "10.124.0.12:9080" inbound|9080|| 127.0.0.6:50151 10.124.0.12:9080 10.124.2.6:54438 outbound_.9080_._.reviews.default.svc.cluster.local default',
    )
    expect(e.network?.direction).toBe('inbound')
    expect(e.mesh?.reporter).toBe('destination')
    expect(e.destination).toMatchObject({ ip: '10.124.0.12', port: 9080, address: '10.124.0.12:9080' })
    expect(e.tls?.client?.server_name).toBe('outbound_.9080_._.reviews.default.svc.cluster.local')
    expect(e.envoy.requested_server_name).toBe('outbound_.9080_._.reviews.default.svc.cluster.local')
    expect(e.destination?.domain).toBe('reviews')
  })

  test('IPv6 upstream and downstream addresses', () => {
    // same file, line 8
    const e = eventOf(
      '[2022-08-22T13:20:22.460Z] "GET /ratings/0 HTTP/1.1" 200 - via_upstream - "-" 0 48 1 0 "-" "curl/7.79.1" "72f12c1b-8a44-9a62-b28e-2296da5b1118" "ratings:9080" "[2a02:cf40::7]:3000" inbound|9080|| 127.0.0.6:38951 10.124.0.11:9080 [2a02:cf40::4e36]:5000 outbound_.9080_._.ratings.default.svc.cluster.local default',
    )
    expect(e.source).toEqual({ address: '[2a02:cf40::4e36]:5000', ip: '2a02:cf40::4e36', port: 5000 })
    expect(e.envoy.upstream_host).toBe('[2a02:cf40::7]:3000')
  })

  test('port 0 (address inferred from X-Forwarded-For) keeps the IP and drops the port', () => {
    // same file, line 2
    const e = eventOf(
      '[2022-07-20T09:52:25.642Z] "GET /static/bootstrap/fonts/glyphicons-halflings-regular.woff2 HTTP/1.1" 200 - via_upstream - "-" 0 18028 3 3 "10.128.0.64" "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/103.0.5060.114 Safari/537.36" "96bf54e0-6dac-9c1f-8090-b4acd6f779ef" "35.184.82.199" "10.68.1.7:9080" inbound|9080|| 127.0.0.6:41929 10.68.1.7:9080 10.128.0.64:0 outbound_.9080_._.productpage.default.svc.cluster.local default',
    )
    expect(e.source).toEqual({ address: '10.128.0.64:0', ip: '10.128.0.64' })
    expect(e.user_agent?.original).toContain('(KHTML, like Gecko)')
    expect(e.envoy.x_forwarded_for).toBe('10.128.0.64')
    expect(e.http?.response?.bytes).toBe(18028)
  })

  test('RBAC denial: 403 with the matched policy extracted and outcome failure', () => {
    // kubeflow/community-distribution#2858 (istio-proxy log of profiles-kfam)
    const e = eventOf(
      '[2022-11-03T08:38:50.667Z] "GET /kfam/v1/bindings?user=user%40example.com HTTP/1.1" 403 - rbac_access_denied_matched_policy[none] - "-" 0 19 0 - "-" "-" "0614bb23-2978-9109-803c-870a6b63734f" "profiles-kfam.kubeflow:8081" "-" inbound|8081|| - 10.254.17.38:8081 10.254.15.161:37922 - -',
    )
    expect(e.envoy.rbac_policy).toBe('none')
    expect(e.event.outcome).toBe('failure')
    expect(e.event.action).toBe('denied')
    expect(e.url).toEqual({ path: '/kfam/v1/bindings', query: 'user=user%40example.com', domain: 'profiles-kfam.kubeflow' })
    expect(e.envoy.upstream_host).toBeUndefined()
    expect(e.envoy.upstream_service_time).toBeUndefined()
    expect(e.mesh?.route_name).toBeUndefined()
  })

  test('named DENY policy id with nested brackets (format from istio/proxy#3100), TCP termination details', () => {
    // Constructed from the documented TCP RBAC shape: details `-`, policy in the termination-details field.
    const e = eventOf(
      '[2023-05-01T10:00:00.000Z] "- - -" 0 - - rbac_access_denied_matched_policy[ns[foo]-policy[deny-tcp]-rule[0]] "-" 0 0 1 - "-" "-" "-" "-" "-" inbound|3306|| - 10.0.0.5:3306 10.0.0.9:51000 - -',
    )
    expect(e.envoy.rbac_policy).toBe('ns[foo]-policy[deny-tcp]-rule[0]')
    expect(e.envoy.connection_termination_details).toBe('rbac_access_denied_matched_policy[ns[foo]-policy[deny-tcp]-rule[0]]')
    expect(e.network?.protocol).toBe('tcp')
    expect(e.event.outcome).toBe('failure')
  })

  test('STRICT mTLS rejecting plaintext: listener-level NR filter_chain_not_found TCP line', () => {
    // envoyproxy/ratelimit#296 (after PeerAuthentication STRICT); prefix `istio-proxy ` as copied there
    const e = eventOf(
      'istio-proxy [2021-09-28T14:55:12.134Z] "- - -" 0 NR filter_chain_not_found - "-" 0 0 0 - "-" "-" "-" "-" "-" - - 172.17.0.8:8081 172.17.0.1:38748 - -',
    )
    expect(e.network).toEqual({ transport: 'tcp', protocol: 'tcp', direction: 'unknown' })
    expect(e.envoy.response_flags).toEqual(['NR'])
    expect(e.envoy.response_code_details).toBe('filter_chain_not_found')
    expect(e.event.outcome).toBe('failure')
    expect(e.event.action).toBe('rejected')
    expect(e.http).toBeUndefined()
    expect(e.destination).toMatchObject({ ip: '172.17.0.8', port: 8081 })
    expect(e.kubernetes?.container).toBe('istio-proxy')
    expect(e.event.original?.startsWith('[2021-09-28T14:55:12.134Z]')).toBe(true)
  })

  test('BlackHoleCluster TCP line is egress, denied, with SNI as destination domain', () => {
    // istio/istio#51178 (text line from before the switch to JSON)
    const e = eventOf(
      '[2023-04-24T15:57:17.434Z] "- - -" 0 UH - - "-" 0 0 0 - "-" "-" "-" "-" "-" BlackHoleCluster - 142.250.217.115:443 10.52.97.65:58576 sqa.ory.sh -',
    )
    expect(e.network?.direction).toBe('egress')
    expect(e.mesh?.reporter).toBe('source')
    expect(e.event.action).toBe('denied')
    expect(e.destination).toMatchObject({ ip: '142.250.217.115', port: 443, domain: 'sqa.ory.sh' })
    expect(e.tls?.client?.server_name).toBe('sqa.ory.sh')
  })

  test('HTTP stream reset by the client: status 0 with DC flag is a failure', () => {
    // elastic/integrations .../test-access-failed.log, last line
    const e = eventOf(
      '[2022-09-01T13:08:55.358Z] "GET /productpage HTTP/1.1" 0 DC downstream_remote_disconnect - "-" 0 0 746 - "10.128.0.60" "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/104.0.5112.102 Safari/537.36" "2dc64af2-bd13-9962-819e-0b72064e7909" "35.232.196.88" "10.124.1.6:9080" inbound|9080|| 127.0.0.6:38601 10.124.1.6:9080 10.128.0.60:0 outbound_.9080_._.productpage.default.svc.cluster.local default',
    )
    expect(e.http?.response?.status_code).toBe(0)
    expect(e.event.outcome).toBe('failure')
    expect(e.event.duration).toBe(746_000_000)
  })

  test('codec error line with "- - HTTP/1.1" request and multi-flag details', () => {
    // elastic/integrations .../test-access-failed.log, lines 5 and 7
    const a = eventOf(
      '[2022-09-01T09:36:33.553Z] "- - HTTP/1.1" 400 DPE http1.codec_error - "-" 0 11 46 - "-" "-" "-" "-" "-" - - 10.124.2.10:8080 10.128.0.60:51643 - -',
    )
    expect(a.network?.protocol).toBe('http')
    expect(a.http?.request?.method).toBeUndefined()
    expect(a.url).toBeUndefined()
    expect(a.envoy.response_flags).toEqual(['DPE'])
    const b = eventOf(
      '[2022-09-01T13:15:09.085Z] "GET /reviews/0 HTTP/1.1" 503 UF upstream_reset_before_response_started{connection_failure,delayed_connect_error:_111} - "-" 0 145 0 - "-" "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/104.0.5112.102 Safari/537.36" "56446678-64f3-9fbf-9c4a-eca01fafba4d" "reviews:9080" "10.124.2.14:9080" inbound|9080|| - 10.124.2.14:9080 10.124.1.6:48816 outbound_.9080_._.reviews.default.svc.cluster.local default',
    )
    expect(b.envoy.response_code_details).toBe('upstream_reset_before_response_started{connection_failure,delayed_connect_error:_111}')
    expect(b.event.outcome).toBe('failure')
  })

  test('downstream peer URI SAN variant (istio/istio PR #35337), with a kubectl --prefix style prefix', () => {
    // istio/istio PR #35337 description, second line (server side)
    const e = eventOf(
      'default/echo-cb96f8d94-722gq[istio-proxy]: [2021-09-23T23:40:40.289Z] "GET / HTTP/1.1" 200 - via_upstream - "-" 0 603 0 0 "-" "curl/7.69.1" "51531b24-e16f-4ac9-ab6c-667711893a60" "echo" "10.244.0.12:80" inbound|80|| 127.0.0.6:58943 10.244.0.12:80 10.244.0.11:35560 outbound_.80_._.echo.default.svc.cluster.local spiffe://cluster.local/ns/default/sa/default default',
    )
    expect(e.envoy.format).toBe('istio-text-1.9-peer-san')
    expect(e.envoy.peer?.downstream_uri_san).toBe('spiffe://cluster.local/ns/default/sa/default')
    expect(e.tls?.established).toBe(true)
    expect(e.mesh?.route_name).toBe('default')
    expect(e.kubernetes).toEqual({ namespace: 'default', pod: 'echo-cb96f8d94-722gq', container: 'istio-proxy' })
  })
})

describe('older Istio text generations and plain Envoy', () => {
  test('Istio 1.3-1.7 (mixer status + failure reason): PassthroughCluster TCP line', () => {
    // nitishm/engarde PR #8 (original_message of the TCP example)
    const e = eventOf(
      '[2020-05-19T19:53:38.151Z] "- - -" 0 - "-" "-" 2279 3059 63 - "-" "-" "-" "-" "1.2.3.4:443" PassthroughCluster 10.0.0.93:37018 1.2.3.4:443 10.0.0.93:39849 - -',
    )
    expect(e.envoy.format).toBe('istio-text-1.3')
    expect(e.network).toMatchObject({ protocol: 'tcp', direction: 'egress' })
    expect(e.event.outcome).toBe('success')
    expect(e.event.action).toBe('connection')
    expect(e.destination).toMatchObject({ ip: '1.2.3.4', port: 443 })
    expect(e.event.duration).toBe(63_000_000)
  })

  test('Istio 1.8 (failure reason, no mixer status, no details yet)', () => {
    // istio/istio.io#8404 (output of the access-log task with 1.8.0-alpha.2)
    const e = eventOf(
      '[2020-10-29T21:51:57.945Z] "GET /status/418 HTTP/1.1" 418 - "-" 0 135 2 2 "-" "curl/7.69.1" "f65c68d3-619a-44c7-a9c1-44384b3055ba" "httpbin:8000" "127.0.0.1:80" inbound|8000|| 127.0.0.1:52328 10.244.0.14:80 10.244.0.13:43430 outbound_.8000_._.httpbin.default.svc.cluster.local default',
    )
    expect(e.envoy.format).toBe('istio-text-1.8')
    expect(e.envoy.upstream_transport_failure_reason).toBeUndefined()
    expect(e.mesh?.route_name).toBe('default')
    expect(e.tls?.client?.server_name).toBe('outbound_.8000_._.httpbin.default.svc.cluster.local')
    expect(e.event.outcome).toBe('failure')
  })

  test('Istio 1.0 layout (Envoy default + cluster and addresses + SNI)', () => {
    // Constructed from the 1.0 format in istio/istio pilot (tag 1.0.x, reference a.2) with values from
    // elastic/integrations test-access-logs.log line 4; no attributable real 1.0 line was found.
    const e = eventOf(
      '[2022-08-22T13:08:23.188Z] "GET /reviews/0 HTTP/1.1" 200 - 0 442 12 12 "-" "curl/7.79.1" "00bcf1d7-12c4-93b9-b36a-bc0faac8e428" "reviews:9080" "10.124.1.5:9080" outbound|9080||reviews.default.svc.cluster.local 10.124.2.6:50960 10.0.18.132:9080 10.124.2.6:52930 -',
    )
    expect(e.envoy.format).toBe('istio-text-1.0')
    expect(e.network?.direction).toBe('outbound')
  })

  test('TCP connection failures with UF,URX (inbound and InboundPassthroughCluster)', () => {
    // istio/istio#31555
    const a = eventOf(
      '[2021-03-16T09:30:47.919Z] "- - -" 0 UF,URX - - "-" 0 0 2285 - "-" "-" "-" "-" "127.0.0.1:12950" inbound|12950|| - 10.244.0.31:12950 10.244.0.1:11504 - -',
    )
    expect(a.envoy.response_flags).toEqual(['UF', 'URX'])
    expect(a.event.outcome).toBe('failure')
    expect(a.network?.direction).toBe('inbound')
    // istio/istio#56356 (egress to api.github.com through an InboundPassthroughCluster listener)
    const b = eventOf(
      '[2025-05-19T13:09:04.747Z] "- - -" 0 UF,URX - - "-" 0 0 9995 - "-" "-" "-" "-" "4.208.26.200:443" InboundPassthroughCluster - 4.208.26.200:443 172.17.0.2:55322 api.github.com -',
    )
    expect(b.network?.direction).toBe('inbound')
    expect(b.destination).toMatchObject({ ip: '4.208.26.200', port: 443, domain: 'api.github.com' })
    // same issue as #31555: a successful PassthroughCluster connection
    const c = eventOf(
      '[2021-03-16T09:29:27.498Z] "- - -" 0 - - - "-" 6238 6291 84 - "-" "-" "-" "-" "100.77.28.132:1521" PassthroughCluster 10.244.0.31:50844 100.77.28.132:1521 10.244.0.31:50842 - -',
    )
    expect(c.event.outcome).toBe('success')
    expect(c.network?.direction).toBe('egress')
    expect(c.http).toBeUndefined()
  })

  test('kubectl logs --timestamps prefix in front of an access line', () => {
    const e = eventOf(
      '2022-07-22T12:24:16.902897561Z [2022-07-22T12:24:16.069Z] "GET /ratings/0 HTTP/1.1" 200 - via_upstream - "-" 0 48 2 2 "-" "curl/7.79.1" "05106d2a-339c-996d-9fae-37276f2a6ac7" "ratings:9080" "10.24.1.5:9080" outbound|9080||ratings.default.svc.cluster.local 10.24.0.10:33168 10.12.29.240:9080 10.24.0.10:40768 - default',
    )
    expect(e['@timestamp']).toBe('2022-07-22T12:24:16.069Z')
    // istio/istio#32037 (debug line under --timestamps)
    expect(
      deadLetterOf(
        '2021-04-01T05:09:24.193719454Z 2021-04-01T05:09:24.189062Z      debug   envoy filter    [src/envoy/http/alpn/alpn_filter.cc:81] override with 2 ALPNs',
      ).reason,
    ).toBe('EA_PARSE_NOT_ACCESS_LOG')
  })

  test('Istio 1.1 (mixer status, old inbound cluster name, port 0)', () => {
    // istio/istio#13551 (second line, Istio 1.1.x)
    const e = eventOf(
      '[2019-04-23T12:07:22.912Z] "GET /productpage HTTP/1.1" 200 - "-" 0 5723 32 31 "10.166.15.195" "curl/7.64.0" "8cda8b91-df5c-46db-aa52-47db3581137d" "redacted.com" "127.0.0.1:9080" inbound|9080|http|productpage.default.svc.cluster.local - 10.60.1.30:9080 10.166.15.195:0 -',
    )
    expect(e.envoy.format).toBe('istio-text-1.1')
    expect(e.network?.direction).toBe('inbound')
    expect(e.destination).toMatchObject({ ip: '10.60.1.30', port: 9080 })
    expect(e.url?.domain).toBe('redacted.com')
  })

  test('Istio 1.1/1.2 outbound line (engarde README)', () => {
    // nitishm/engarde README.md, "Istio Proxy" example original_message
    const e = eventOf(
      '[2019-09-03T05:37:41.341Z] "GET /index HTTP/1.1" 200 - "-" 148 171 4 3 "-" "-" "c0ce81db-4f5a-9134-8a5c-f8c076c91652" "hello-world" "192.168.89.50:9001" outbound|80||hello-world.default.svc.cluster.local - 10.97.86.53:80 192.168.167.113:39953 -',
    )
    expect(e.envoy.format).toBe('istio-text-1.1')
    expect(e.http?.request?.bytes).toBe(148)
    expect(e.http?.response?.bytes).toBe(171)
  })

  test('Istio 1.1-era TCP line with typographic quotes is dead-lettered, not misparsed', () => {
    // istio/istio#13551 (first line, as pasted into the issue with “ ” quotes)
    const d = deadLetterOf(
      '[2019-04-23T11:02:56.481Z] “- - -” 0 - “-” 129 200 81 - “-” “-” “-” “-” “127.0.0.1:8081” inbound|8081|mgmt-8081|mgmtCluster 127.0.0.1:43756 10.16.118.7:8081 10.16.118.1:60630 -',
    )
    expect(d.reason).toBe('EA_PARSE_NOT_ACCESS_LOG')
  })

  test('Istio 1.9 format line from engarde PR #12 (pre-1.10 inbound via 127.0.0.1)', () => {
    // nitishm/engarde PR #12 description
    const e = eventOf(
      '[2020-10-29T03:22:16.126Z] "GET /headers HTTP/1.1" 200 - via_upstream - "-" 0 547 5 4 "-" "curl/7.73.0-DEV" "24e58e43-e576-9048-829b-02e3f3da16f0" "httpbin:8000" "127.0.0.1:80" inbound|8000|| 127.0.0.1:51680 172.17.0.7:80 172.17.0.6:59022 outbound_.8000_._.httpbin.foo.svc.cluster.local default',
    )
    expect(e.destination).toMatchObject({ ip: '172.17.0.7', port: 80 })
  })

  test('plain Envoy default format (Envoy docs example, tcp:// upstream)', () => {
    // nitishm/engarde README.md "Envoy" example (the Envoy access-log docs' default-format sample)
    const e = eventOf(
      '[2016-04-15T20:17:00.310Z] "POST /api/v1/locations HTTP/2" 204 - 154 0 226 100 "10.0.35.28" "nsq2http" "cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2" "locations" "tcp://10.0.2.1:80"',
    )
    expect(e.envoy.format).toBe('envoy-default')
    expect(e.http).toEqual({
      version: '2',
      request: { method: 'POST', id: 'cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2', bytes: 154 },
      response: { status_code: 204, bytes: 0 },
    })
    expect(e.destination).toMatchObject({ ip: '10.0.2.1', port: 80, address: 'tcp://10.0.2.1:80' })
    expect(e.mesh?.reporter).toBe('unknown')
    expect(e.network?.direction).toBe('unknown')
  })

  test('Envoy default format 404 NR from an Istio 1.0-era gateway', () => {
    // istio/istio#7817 (comment by markns)
    const e = eventOf(
      '[2018-08-16T06:44:40.637Z] "GET /apis/gridarrow.io/v1alpha1/namespaces/mns/apps?timeoutSeconds=60&watch=true HTTP/2" 503 NR 0 0 0 - "10.132.0.11" "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_6) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/68.0.3440.106 Safari/537.36" "769f3716-ab68-9858-8ffe-da5c91c46839" "mns-apiserver.gridarrow.site" "-"',
    )
    expect(e.envoy.format).toBe('envoy-default')
    expect(e.url).toEqual({
      path: '/apis/gridarrow.io/v1alpha1/namespaces/mns/apps',
      query: 'timeoutSeconds=60&watch=true',
      domain: 'mns-apiserver.gridarrow.site',
    })
    expect(e.event.outcome).toBe('failure')
  })

  test('explicit format forces the family', () => {
    const envoyLine =
      '[2016-04-15T20:17:00.310Z] "POST /api/v1/locations HTTP/2" 204 - 154 0 226 100 "10.0.35.28" "nsq2http" "cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2" "locations" "tcp://10.0.2.1:80"'
    expect(eventOf(envoyLine, { format: 'envoy-text' }).envoy.format).toBe('envoy-default')
    expect(deadLetterOf(envoyLine, { format: 'istio-text' }).reason).toBe('EA_PARSE_MALFORMED_TEXT')
    expect(deadLetterOf(envoyLine, { format: 'istio-json' }).reason).toBe('EA_PARSE_NOT_ACCESS_LOG')
  })
})

describe('malformed text', () => {
  const good =
    '[2022-06-22T10:27:00.362Z] "GET /status/418 HTTP/1.1" 418 - via_upstream - "-" 0 135 25 25 "-" "curl/7.83.1-DEV" "adc1465d-589f-9119-bdcf-2ea373ff7d7a" "httpbin:8000" "172.17.0.7:80" outbound|8000||httpbin.default.svc.cluster.local 172.17.0.6:57130 10.99.37.119:8000 172.17.0.6:50514 - default'

  test('the untouched line parses (elastic/integrations test-access-failed.log line 2)', () => {
    expect(eventOf(good).http?.response?.status_code).toBe(418)
  })

  test('truncated line -> EA_PARSE_MALFORMED_TEXT', () => {
    expect(deadLetterOf(good.slice(0, 120)).reason).toBe('EA_PARSE_MALFORMED_TEXT')
    expect(deadLetterOf(good.slice(0, good.indexOf('"curl') + 3)).reason).toBe('EA_PARSE_MALFORMED_TEXT')
  })

  test('non-numeric status -> EA_PARSE_MALFORMED_TEXT naming the field', () => {
    const d = deadLetterOf(good.replace(' 418 ', ' abc '))
    expect(d.reason).toBe('EA_PARSE_MALFORMED_TEXT')
    expect(d.message).toContain('response_code')
  })

  test('impossible start time -> EA_PARSE_BAD_TIMESTAMP', () => {
    expect(deadLetterOf(good.replace('2022-06-22T10:27:00.362Z', '2022-02-30T10:27:00.362Z')).reason).toBe('EA_PARSE_BAD_TIMESTAMP')
    expect(deadLetterOf(good.replace('2022-06-22T10:27:00.362Z', '1')).reason).toBe('EA_PARSE_BAD_TIMESTAMP')
  })

  test('Envoy debug log line is not an access log', () => {
    // istio/istio#3295 (debug log of an echosrv sidecar)
    const d = deadLetterOf(
      '[2018-03-02 22:27:32.337][23][debug][http] external/envoy/source/common/http/conn_manager_impl.cc:447] [C1175][S2595374538763107673] request headers complete (end_stream=true):',
    )
    expect(d.reason).toBe('EA_PARSE_NOT_ACCESS_LOG')
    // the message quotes the line as it came, not what followed a would-be prefix
    expect(d.message).toContain('[2018-03-02 22:27:32.337][23]')
  })
})
