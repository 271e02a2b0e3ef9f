import { describe, test, expect } from 'vitest'
import fc from 'fast-check'
import { compileTextFormat, parseCustomText } from '../../src/parse/text-format.js'
import { createParser } from '../../src/parse/index.js'
import type { AuditEvent } from '../../src/schema/audit-event.js'
import { deadLetterOf, eventOf, rec } from './helpers.js'

// Istio's default TEXT format (istio/istio pilot/pkg/model/telemetry_logging.go, EnvoyTextLogFormat,
// also shown on https://istio.io/latest/docs/tasks/observability/logs/access-log/).
const ISTIO_FORMAT =
  '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% "%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER_RAW% %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%\n'

// Real lines in that format (sources as in text.test.ts).
const LINES = [
  // elastic/integrations .../test-access-logs.log line 2 (user agent with spaces, XFF, port 0)
  '[2022-07-20T09:52:25.642Z] "GET /static/bootstrap/fonts/glyphicons-halflings-regular.woff2 HTTP/1.1" 200 - via_upstream - "-" 0 18028 3 3 "10.128.0.64" "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/103.0.5060.114 Safari/537.36" "96bf54e0-6dac-9c1f-8090-b4acd6f779ef" "35.184.82.199" "10.68.1.7:9080" inbound|9080|| 127.0.0.6:41929 10.68.1.7:9080 10.128.0.64:0 outbound_.9080_._.productpage.default.svc.cluster.local default',
  // envoyproxy/ratelimit#296 (TCP, NR)
  '[2021-09-28T14:55:12.134Z] "- - -" 0 NR filter_chain_not_found - "-" 0 0 0 - "-" "-" "-" "-" "-" - - 172.17.0.8:8081 172.17.0.1:38748 - -',
  // kubeflow/community-distribution#2858 (RBAC)
  '[2022-11-03T08:38:50.667Z] "GET /kfam/v1/bindings?user=user%40example.com HTTP/1.1" 403 - rbac_access_denied_matched_policy[none] - "-" 0 19 0 - "-" "-" "0614bb23-2978-9109-803c-870a6b63734f" "profiles-kfam.kubeflow:8081" "-" inbound|8081|| - 10.254.17.38:8081 10.254.15.161:37922 - -',
  // elastic/integrations .../test-access-logs.log line 8 (IPv6)
  '[2022-08-22T13:20:22.460Z] "GET /ratings/0 HTTP/1.1" 200 - via_upstream - "-" 0 48 1 0 "-" "curl/7.79.1" "72f12c1b-8a44-9a62-b28e-2296da5b1118" "ratings:9080" "[2a02:cf40::7]:3000" inbound|9080|| 127.0.0.6:38951 10.124.0.11:9080 [2a02:cf40::4e36]:5000 outbound_.9080_._.ratings.default.svc.cluster.local default',
]

function withoutFormat(e: AuditEvent): unknown {
  return { ...e, envoy: { ...e.envoy, format: '' } }
}

describe('custom text formats', () => {
  test("Istio's default format given as a custom format parses real lines exactly like the built-in parser", () => {
    for (const line of LINES) {
      const custom = eventOf(line, { format: 'custom-text', textFormat: ISTIO_FORMAT })
      expect(custom.envoy.format).toBe('custom:text')
      expect(withoutFormat(custom)).toEqual(withoutFormat(eventOf(line)))
    }
  })

  test('Istio format plus %DOWNSTREAM_PEER_URI_SAN% (istio/istio PR #35337 line)', () => {
    const fmt = ISTIO_FORMAT.replace(
      '%REQUESTED_SERVER_NAME% %ROUTE_NAME%',
      '%REQUESTED_SERVER_NAME% %DOWNSTREAM_PEER_URI_SAN% %ROUTE_NAME%',
    )
    const line =
      '[2021-09-23T23:40:40.289Z] "GET / HTTP/1.1" 200 - via_upstream - "-" 0 603 0 0 "-" "curl/7.69.1" "51531b24-e16f-4ac9-ab6c-667711893a60" "echo" "10.244.0.12:80" inbound|80|| 127.0.0.6:58943 10.244.0.12:80 10.244.0.11:35560 outbound_.80_._.echo.default.svc.cluster.local spiffe://cluster.local/ns/default/sa/default default'
    const e = eventOf(line, { format: 'custom-text', textFormat: fmt })
    expect(e.envoy.peer?.downstream_uri_san).toBe('spiffe://cluster.local/ns/default/sa/default')
    expect(e.mesh?.route_name).toBe('default')
    // and with a kubectl prefix, as copied in the PR
    expect(eventOf(`default/echo-cb96f8d94-722gq[istio-proxy]: ${line}`, { format: 'custom-text', textFormat: fmt }).kubernetes?.pod).toBe(
      'echo-cb96f8d94-722gq',
    )
  })

  test('TLS operators: a logged-but-unset TLS version means no TLS', () => {
    const fmt =
      '[%START_TIME%] %RESPONSE_CODE% %DOWNSTREAM_REMOTE_ADDRESS% %DOWNSTREAM_TLS_VERSION% %DOWNSTREAM_TLS_CIPHER% "%DOWNSTREAM_PEER_URI_SAN%"'
    const tls = eventOf('[2024-01-02T03:04:05.006Z] 200 10.0.0.1:4444 TLSv1.3 TLS_AES_256_GCM_SHA384 "spiffe://cluster.local/ns/a/sa/b"', {
      format: 'custom-text',
      textFormat: fmt,
    })
    // ECS: the numeric version and the protocol, not Envoy's TLSv1.3.
    expect(tls.tls).toMatchObject({ established: true, version: '1.3', version_protocol: 'tls', cipher: 'TLS_AES_256_GCM_SHA384' })
    const plain = eventOf('[2024-01-02T03:04:05.006Z] 200 10.0.0.1:4444 - - "-"', { format: 'custom-text', textFormat: fmt })
    expect(plain.tls).toEqual({ established: false })
  })

  test('auto mode tries the configured format first, then the default layouts', () => {
    const fmt = '%START_TIME% %REQ(:METHOD)% %REQ(:PATH)% %RESPONSE_CODE% %DURATION%'
    expect(eventOf('2024-01-02T03:04:05.006Z GET /x 200 5', { textFormat: fmt }).http?.response?.status_code).toBe(200)
    expect(eventOf(LINES[0]!, { textFormat: fmt }).envoy.format).toBe('istio-text-1.9')
    expect(deadLetterOf(LINES[0]!, { format: 'custom-text', textFormat: fmt }).reason).toBe('EA_PARSE_MALFORMED_TEXT')
  })

  test('operators with arguments containing % (START_TIME with a strftime format)', () => {
    // neonKUBE's format uses %START_TIME(%s.%6f)% (nforgeio/neonKUBE#873); epoch seconds with microseconds
    const e = eventOf('1662641465.656123 GET 200', {
      format: 'custom-text',
      textFormat: '%START_TIME(%s.%6f)% %REQ(:METHOD)% %RESPONSE_CODE%',
    })
    expect(e['@timestamp']).toBe('2022-09-08T12:51:05.656Z')
    expect(
      eventOf('[2022-09-08 12:51:05] 200', { format: 'custom-text', textFormat: '[%START_TIME(%Y-%m-%d %H:%M:%S)%] %RESPONSE_CODE%' })[
        '@timestamp'
      ],
    ).toBe('2022-09-08T12:51:05.000Z')
    expect(
      eventOf('"2022-09-08 12:51:05" 200', { format: 'custom-text', textFormat: '"%START_TIME(%Y-%m-%d %H:%M:%S)%" %RESPONSE_CODE%' })[
        '@timestamp'
      ],
    ).toBe('2022-09-08T12:51:05.000Z')
  })

  test('non-numeric numeric fields are malformed', () => {
    expect(
      deadLetterOf('2024-01-02T03:04:05.006Z GET /x abc 5', {
        format: 'custom-text',
        textFormat: '%START_TIME% %REQ(:METHOD)% %REQ(:PATH)% %RESPONSE_CODE% %DURATION%',
      }).reason,
    ).toBe('EA_PARSE_MALFORMED_TEXT')
  })

  test('unusable formats fail at startup, naming the option', () => {
    expect(() => createParser({ format: 'custom-text' })).toThrow(/parser\.textFormat/)
    expect(() => createParser({ textFormat: '%RESPONSE_CODE% %DURATION%' })).toThrow(/parser\.textFormat: .*START_TIME/)
    expect(() => createParser({ textFormat: '[%START_TIME%] %RESPONSE_CODE' })).toThrow(/unterminated/)
    expect(() => createParser({ textFormat: '%START_TIME%%RESPONSE_CODE%' })).toThrow(/directly followed/)
    expect(() => createParser({ textFormat: '%START_TIME% %not an operator%' })).toThrow(/not an Envoy command operator/)
  })

  test('matching stays linear on hostile lines (no catastrophic backtracking)', () => {
    const fmt = compileTextFormat(ISTIO_FORMAT)
    const hostile = [
      '[' + ' '.repeat(60_000),
      '[2022-07-20T09:52:25.642Z] "' + 'a '.repeat(30_000),
      '[2022-07-20T09:52:25.642Z] "GET / HTTP/1.1" ' + '"- '.repeat(20_000),
    ]
    for (const h of hostile) {
      const t0 = performance.now()
      expect('code' in parseCustomText(h, fmt)).toBe(true)
      expect(performance.now() - t0).toBeLessThan(200)
    }
  })

  test('property: any line gives an event or a dead letter under a custom format', () => {
    const parser = createParser({ format: 'custom-text', textFormat: ISTIO_FORMAT })
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.string({ maxLength: 200 }),
            fc.constantFrom(...LINES).chain((l) => fc.nat(l.length).map((n) => l.slice(0, n) + l.slice(n + 1))),
          ),
          { maxLength: 10 },
        ),
        (xs) => {
          const r = parser.parseBatch(xs.map((x, i) => rec(x, i + 1)))
          expect(r.events.length + r.deadLetters.length + r.counts.partialsHeld).toBe(xs.length)
        },
      ),
      { numRuns: 200 },
    )
    parser.flush()
  })
})
