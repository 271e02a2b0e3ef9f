import { describe, test, expect } from 'vitest'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { createParser } from '../../src/parse/index.js'
import { createTransformStages } from '../../src/compose/transform-stages.js'
import { applyStages } from '../../src/pipeline/transforms.js'
import { loadTransformsConfig } from '../../src/config/transforms.js'
import type { AuditEvent } from '../../src/schema/audit-event.js'
import { parseZtunnelText } from '../../src/parse/ztunnel.js'
import { deadLetterOf, eventOf, rec } from './helpers.js'

// Istio ambient ztunnel access lines; each line's origin is in ztunnel.sources.json next to the fixture.
const dir = fileURLToPath(new URL('../fixtures/ztunnel/', import.meta.url))
const lines = readFileSync(`${dir}ztunnel.log`, 'utf8').split('\n').slice(0, -1)
const sources = JSON.parse(readFileSync(`${dir}ztunnel.sources.json`, 'utf8')) as Array<{ line: number; expect: string; source: string }>

const stages = createTransformStages(loadTransformsConfig({}))

function run(): { events: AuditEvent[]; reasons: string[] } {
  const r = createParser().parseBatch(lines.map((l, i) => rec(l, i + 1, 'ztunnel.log')))
  const staged = applyStages(stages, r.events)
  expect(staged.deadLetters).toEqual([])
  return { events: staged.events, reasons: r.deadLetters.map((d) => d.reason) }
}

describe('ztunnel access lines (Istio ambient) become events, not dead letters', () => {
  test('every fixture line cites its source and ends as the event or dead letter it expects', () => {
    expect(lines).toHaveLength(sources.length)
    for (const s of sources) expect(s.source.length).toBeGreaterThan(20)
    const { events, reasons } = run()
    const got = new Map<number, string>(events.map((e) => [e.audit.source!.line!, e.envoy.format]))
    const expected = sources.filter((s) => s.expect.startsWith('ztunnel-'))
    expect([...got.entries()]).toEqual(expected.map((s) => [s.line, s.expect]))
    expect(reasons).toEqual(sources.filter((s) => s.expect.startsWith('EA_')).map((s) => s.expect))
  })

  test('the public istio/istio#55533 line: identities from the log, HBONE mTLS, an L4 authorization denial', () => {
    const e = run().events[0]!
    expect(e.event.dataset).toBe('ztunnel.access')
    expect(e.mesh?.reporter).toBe('ztunnel')
    expect(e.network).toEqual({ transport: 'tcp', protocol: 'tcp', direction: 'inbound' })
    expect(e['@timestamp']).toBe('2025-03-14T08:38:10.194Z')
    // bytes_sent=0 bytes_recv=0: the connection was refused before any byte.
    expect(e.source).toEqual({ address: '10.1.26.201:41616', ip: '10.1.26.201', port: 41616, bytes: 0 })
    // The HBONE target is where the client was going; dst.addr is the peer's tunnel port.
    expect(e.destination).toEqual({ address: '10.1.27.83:80', ip: '10.1.27.83', port: 80, bytes: 0 })
    expect(e.ztunnel?.dst_addr).toBe('10.1.27.83:15008')
    expect(e.mesh?.mtls).toBe(true)
    expect(e.mesh?.source).toEqual({
      spiffe_id: 'spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account',
      trust_domain: 'cluster.local',
      namespace: 'istio-system',
      service_account: 'istio-ingressgateway-service-account',
      workload: 'istio-ingressgateway-955654497-rv74f',
      signal: 'ztunnel',
    })
    expect(e.mesh?.destination).toMatchObject({
      service: 'backend-translation',
      namespace: 'staging',
      port: 80,
      spiffe_id: 'spiffe://cluster.local/ns/staging/sa/default',
      workload: 'backend-translation-78f6c4d95-g4zkp',
      signal: 'ztunnel',
    })
    expect([e.event.action, e.event.outcome, e.event.type]).toEqual(['denied', 'failure', ['connection', 'denied']])
    expect(e.audit.finding_codes).toEqual(['authz_denied'])
    expect(e.audit.au3?.complete).toBe(true)
  })

  test('a named DENY policy is the finding policy; STRICT mTLS refusing plaintext is plaintext_rejected', () => {
    const { events } = run()
    const named = events.find((e) => e.audit.source?.line === 3)!
    expect(named.ztunnel?.policy).toBe('default/deny-reviews')
    expect(named.audit.findings?.map((f) => [f.code, f.policy, f.severity])).toEqual([['authz_denied', 'default/deny-reviews', 'high']])
    const strict = events.find((e) => e.audit.source?.line === 4)!
    expect(strict.mesh?.mtls).toBe(false)
    expect(strict.mesh?.source).toBeUndefined()
    expect(strict.audit.finding_codes).toEqual(['plaintext_rejected'])
  })

  test('a plaintext connection into a captured pod that ztunnel let through is plaintext_inbound', () => {
    const line =
      '2025-10-30T22:23:02.000001Z\tinfo\taccess\tconnection complete\tsrc.addr=10.217.0.2:44490 dst.addr=10.217.0.248:8080 ' +
      'dst.workload="golang-ex-6d957754b-nfbfv" dst.namespace="test" direction="inbound" bytes_sent=120 bytes_recv=80 duration="3ms"'
    const [e] = applyStages(stages, [eventOf(line)]).events
    expect([e!.mesh?.mtls, e!.event.outcome, e!.event.action]).toEqual([false, 'success', 'connection'])
    expect(e!.audit.finding_codes).toEqual(['plaintext_inbound'])
    // Start time = the close time minus the duration.
    expect(e!['@timestamp']).toBe('2025-10-30T22:23:01.997Z')
    expect(e!.event.duration).toBe(3_000_000)
    expect([e!.ztunnel?.bytes_sent, e!.ztunnel?.bytes_recv]).toEqual([120, 80])
  })

  test('JSON form: the outbound hop to a waypoint names the service asked for and the waypoint it reached', () => {
    const e = run().events.find((x) => x.audit.source?.line === 5)!
    expect(e.envoy.format).toBe('ztunnel-json')
    expect(e.network?.direction).toBe('outbound')
    expect(e.destination?.address).toBe('10.96.47.9:8080')
    expect(e.mesh?.destination).toMatchObject({ service: 'handson', namespace: 'default', workload: 'waypoint-57f4fcd686-6vwck' })
    expect(e.event.duration).toBe(5_000_000)
    expect(e['@timestamp']).toBe('2024-10-19T02:01:06.544Z')
    expect(e.audit.finding_codes).toEqual([])
  })

  test('a line without a time is timed by its reading and AU-3 says so', () => {
    const e = run().events.find((x) => x.audit.source?.line === 2)!
    expect(e.audit.time_source).toBe('ingest')
    expect(e.audit.au3?.missing).toEqual(['when'])
  })

  test('Rust Debug escapes in quoted values are undone; unknown keys are ignored', () => {
    const r = parseZtunnelText(
      'error access connection complete src.addr=10.0.0.1:1 future.key=x error="a \\"quoted\\" word\\\\ and \\u{e9}" direction="outbound"',
    )
    if ('code' in r) throw new Error(r.message)
    expect(r.raw.error).toBe('a "quoted" word\\ and é')
    expect(r.raw.direction).toBe('outbound')
    expect(r.untimed).toBe(true)
  })

  test('damaged lines are dead letters with a reason', () => {
    expect(deadLetterOf('2024-08-22T17:03:41Z\terror\taccess\tconnection complete\tsrc.addr=1.2.3.4:5 error="unterminated').reason).toBe(
      'EA_PARSE_MALFORMED_TEXT',
    )
    expect(deadLetterOf('2024-08-22T17:03:41Z\terror\taccess\tconnection complete\tsrc.addr').reason).toBe('EA_PARSE_MALFORMED_TEXT')
    expect(
      deadLetterOf('{"level":"info","time":"not a time","scope":"access","message":"connection complete","src.addr":"1.2.3.4:5"}').reason,
    ).toBe('EA_PARSE_BAD_TIMESTAMP')
  })

  test('format ztunnel accepts only ztunnel lines; Envoy lines are not access logs there', () => {
    expect(eventOf(lines[0]!, { format: 'ztunnel' }).mesh?.reporter).toBe('ztunnel')
    const envoy =
      '[2024-05-21T16:19:04.707Z] "GET / HTTP/1.1" 200 - via_upstream - "-" 0 5 1 1 "-" "curl" "id" "a" "10.0.0.2:80" ' +
      'outbound|80||a.b.svc.cluster.local 10.0.0.1:1 10.0.0.2:80 10.0.0.1:2 - default'
    expect(deadLetterOf(envoy, { format: 'ztunnel' }).reason).toBe('EA_PARSE_NOT_ACCESS_LOG')
  })

  test('a ztunnel line inside a Fluent Bit envelope keeps the envelope metadata of the ztunnel pod', () => {
    const env = JSON.stringify({ log: lines[0], kubernetes: { namespace_name: 'istio-system', pod_name: 'ztunnel-abcde' } })
    const e = eventOf(env)
    expect([e.mesh?.reporter, e.kubernetes?.pod, e.envoy.format]).toEqual(['ztunnel', 'ztunnel-abcde', 'ztunnel-text'])
  })
})

describe('ztunnel bytes in the canonical byte fields', () => {
  test('outbound: the local workload is the source, so bytes_sent is source.bytes; AU-3(1) bytes is satisfied', () => {
    // The public JSON line from istio/ztunnel#2055 (fixture line 5): curl's ztunnel, 147 bytes out, 239 back.
    const e = run().events.find((x) => x.audit.source?.line === 5)!
    expect([e.source?.bytes, e.destination?.bytes]).toEqual([147, 239])
    expect(e.audit.au3?.extras_missing).not.toContain('bytes')
    expect(e.http).toBeUndefined()
  })

  test('inbound: the local workload is the destination, so bytes_sent is destination.bytes', () => {
    const line =
      '2025-10-30T22:23:02.000001Z\tinfo\taccess\tconnection complete\tsrc.addr=10.217.0.2:44490 dst.addr=10.217.0.248:8080 ' +
      'dst.workload="golang-ex-6d957754b-nfbfv" dst.namespace="test" direction="inbound" bytes_sent=120 bytes_recv=80 duration="3ms"'
    const [e] = applyStages(stages, [eventOf(line)]).events
    expect([e!.source?.bytes, e!.destination?.bytes]).toEqual([80, 120])
    expect(e!.audit.au3?.extras_missing).not.toContain('bytes')
  })

  test('a line without byte counts (connection opened) misses the AU-3(1) bytes element', () => {
    const line =
      '2025-10-30T22:23:02.000001Z\tdebug\taccess\tconnection opened\tsrc.addr=10.217.0.2:44490 dst.addr=10.217.0.248:8080 ' +
      'dst.namespace="test" direction="inbound"'
    const [e] = applyStages(stages, [eventOf(line)]).events
    expect([e!.source?.bytes, e!.destination?.bytes]).toEqual([undefined, undefined])
    expect(e!.audit.au3?.extras_missing).toContain('bytes')
  })
})
