import { describe, test, expect } from 'vitest'
import fc from 'fast-check'
import { loadAlertingConfig } from '../../src/alerting/config.js'
import { cloneAlertState, dedupeKey, destinationName, emptyAlertState, selectAlerts, sourceIdentity } from '../../src/alerting/select.js'
import type { AuditEvent } from '../../src/generated/types.js'
import { clean, passthroughEgress, plaintextInbound, rbacDenied } from './fixtures.js'

const T0 = Date.parse('2026-11-23T10:00:00.000Z')
const cfg = (over: object = {}) => loadAlertingConfig({ enabled: true, webhook: { url: 'http://127.0.0.1:1/' }, ...over })

describe('selectAlerts', () => {
  test('keeps findings at or above minSeverity, drops the rest and counts them', () => {
    const r = selectAlerts([plaintextInbound('2026-11-23T10:00:01Z'), clean('2026-11-23T10:00:02Z')], emptyAlertState(), T0, cfg())
    expect(r.alerts.map((a) => a.finding.code)).toEqual(['plaintext_inbound'])
    expect(r.stats).toMatchObject({ findings: 2, belowSeverity: 1 })
    const low = selectAlerts([plaintextInbound('2026-11-23T10:00:01Z')], emptyAlertState(), T0, cfg({ minSeverity: 'low' }))
    expect(low.alerts.map((a) => a.finding.code).sort()).toEqual(['au3_incomplete', 'plaintext_inbound'])
  })

  test('a code allowlist restricts alerts', () => {
    const events = [rbacDenied('2026-11-23T10:00:01Z'), passthroughEgress('2026-11-23T10:00:01Z')]
    const r = selectAlerts(events, emptyAlertState(), T0, cfg({ codes: ['unregistered_egress'] }))
    expect(r.alerts.map((a) => a.finding.code)).toEqual(['unregistered_egress'])
    expect(r.stats.notSelectedCode).toBe(1)
  })

  test('alert carries identity, destination, policy and the event id', () => {
    const e = rbacDenied('2026-11-23T10:00:01Z')
    const [a] = selectAlerts([e], emptyAlertState(), T0, cfg()).alerts
    expect(a).toBeDefined()
    expect(a!.source.identity).toBe('spiffe://cluster.local/ns/foo/sa/sleep')
    expect(a!.destination).toEqual({ name: 'httpbin.foo.svc.cluster.local', namespace: 'foo', port: 9080 })
    expect(a!.finding.policy).toBe('ns[foo]-policy[ext-authz-server]-rule[0]')
    expect(a!.event_id).toBe(e.event.id)
    expect(a!.http_status).toBe(403)
    expect(a!.dedupe_key).toBe(
      dedupeKey('authz_denied', a!.source.identity, a!.destination.name, Math.floor(Date.parse(e['@timestamp']) / 300_000)),
    )
  })

  test('identity falls back from SPIFFE to IP; destination from service to egress host', () => {
    const egress = passthroughEgress('2026-11-23T10:00:01Z')
    expect(sourceIdentity(egress)).toBe('10.44.2.9')
    expect(destinationName(egress)).toBe('edition.cnn.com')
    expect(sourceIdentity(clean('2026-11-23T10:00:01Z'))).toBe('unknown')
  })

  test('duplicates in one time bucket alert once, across batches, and a new bucket alerts again', () => {
    const c = cfg({ rateLimit: { perMinute: 6000, burst: 1000 } })
    const first = selectAlerts([rbacDenied('2026-11-23T10:00:01Z'), rbacDenied('2026-11-23T10:02:00Z')], emptyAlertState(), T0, c)
    expect(first.alerts).toHaveLength(1)
    expect(first.stats.duplicate).toBe(1)
    const again = selectAlerts([rbacDenied('2026-11-23T10:03:00Z')], first.state, T0 + 1000, c)
    expect(again.alerts).toHaveLength(0)
    const next = selectAlerts([rbacDenied('2026-11-23T10:05:00Z')], again.state, T0 + 2000, c)
    expect(next.alerts).toHaveLength(1)
    expect(next.alerts[0]!.dedupe_key).not.toBe(first.alerts[0]!.dedupe_key)
  })

  test('the same finding from another source or to another destination is a different key', () => {
    const r = selectAlerts(
      [
        rbacDenied('2026-11-23T10:00:01Z', 'sleep'),
        rbacDenied('2026-11-23T10:00:01Z', 'curl'),
        rbacDenied('2026-11-23T10:00:01Z', 'sleep', 'other.foo.svc.cluster.local'),
      ],
      emptyAlertState(),
      T0,
      cfg(),
    )
    expect(new Set(r.alerts.map((a) => a.dedupe_key)).size).toBe(3)
  })

  test('token bucket: burst, then suppression, then refill on wall clock with a suppressed count', () => {
    // One-second dedupe window so every event is a new key and only the limiter decides.
    const c = cfg({ dedupeWindowSeconds: 1, rateLimit: { perMinute: 2, burst: 3 } })
    const events = Array.from({ length: 10 }, (_, i) => rbacDenied(new Date(T0 + i * 1000).toISOString()))
    const r1 = selectAlerts(events, emptyAlertState(), T0, c)
    expect(r1.alerts).toHaveLength(3)
    expect(r1.stats.rateLimited).toBe(7)
    // 29 s later: 0.97 token, still nothing.
    const r2 = selectAlerts([rbacDenied(new Date(T0 + 20_000).toISOString())], r1.state, T0 + 29_000, c)
    expect(r2.alerts).toHaveLength(0)
    // 31 s after the first call: one token refilled; the alert reports the 8 held back.
    const r3 = selectAlerts([rbacDenied(new Date(T0 + 21_000).toISOString())], r2.state, T0 + 31_000, c)
    expect(r3.alerts).toHaveLength(1)
    expect(r3.alerts[0]!.suppressed_before).toBe(8)
  })

  test('deterministic: equal states and inputs give equal results; only the given state changes', () => {
    const events = [rbacDenied('2026-11-23T10:00:01Z'), passthroughEgress('2026-11-23T10:00:02Z'), plaintextInbound('2026-11-23T10:00:03Z')]
    const warm = selectAlerts(events.slice(0, 1), emptyAlertState(), T0, cfg()).state
    const copy = cloneAlertState(warm)
    const a = selectAlerts(events, warm, T0 + 5, cfg())
    const b = selectAlerts(events, copy, T0 + 5, cfg())
    expect(a.alerts).toEqual(b.alerts)
    expect(a.stats).toEqual(b.stats)
    expect([...a.state.buckets]).toEqual([...b.state.buckets])
    expect(a.state).toBe(warm)
    const snapshot = cloneAlertState(warm)
    selectAlerts(events, cloneAlertState(warm), T0 + 10, cfg())
    expect([...warm.buckets]).toEqual([...snapshot.buckets])
  })

  test('state stays within maxKeys, evicting oldest', () => {
    const c = cfg({ rateLimit: { perMinute: 2, burst: 3, maxKeys: 100 } })
    const events = Array.from({ length: 250 }, (_, i) => passthroughEgress('2026-11-23T10:00:01Z', `h${i}.example.com`))
    const r = selectAlerts(events, emptyAlertState(), T0, c)
    expect(r.alerts).toHaveLength(250)
    expect(r.state.buckets.size).toBe(100)
    expect(r.state.seen.size).toBe(100)
    expect(r.stats.evicted).toBe(300)
    expect([...r.state.buckets.keys()].some((k) => k.includes('h249.example.com'))).toBe(true)
    expect([...r.state.buckets.keys()].some((k) => k.includes('h0.example.com'))).toBe(false)
  })

  test('dedupe keys expire with the wall clock', () => {
    const c = cfg({ dedupeWindowSeconds: 60 })
    const r1 = selectAlerts([rbacDenied('2026-11-23T10:00:01Z')], emptyAlertState(), T0, c)
    expect(r1.state.seen.size).toBe(1)
    const r2 = selectAlerts([], r1.state, T0 + 121_000, c)
    expect(r2.state.seen.size).toBe(0)
  })

  test('property: never throws, never exceeds burst per limiter key at one instant, keys unique', () => {
    const severity = fc.constantFrom('info', 'low', 'medium', 'high', 'critical' as const)
    const finding = fc.record({
      code: fc.constantFrom('a', 'b', 'plaintext_inbound'),
      severity,
      controls: fc.array(fc.string(), { maxLength: 2 }),
      message: fc.string(),
    })
    const event = fc.record({
      ts: fc.oneof(
        fc.date({ min: new Date(0), max: new Date(4e12), noInvalidDate: true }).map((d) => d.toISOString()),
        fc.string(),
      ),
      spiffe: fc.option(fc.constantFrom('spiffe://td/ns/a/sa/x', 'spiffe://td/ns/b/sa/y', '')),
      ip: fc.option(fc.ipV4()),
      dest: fc.option(fc.constantFrom('a.svc', 'b.svc', '__proto__', 'constructor')),
      findings: fc.array(finding, { maxLength: 4 }),
    })
    fc.assert(
      fc.property(fc.array(event, { maxLength: 60 }), fc.integer({ min: 1, max: 5 }), (specs, burst) => {
        const events: AuditEvent[] = specs.map((s, i) => {
          const e: AuditEvent = {
            '@timestamp': s.ts,
            event: { id: `p${i}`, kind: 'event', dataset: 'envoy.access', outcome: 'unknown' },
            envoy: { format: 'x' },
            audit: { findings: s.findings },
          }
          if (s.spiffe !== null) e.mesh = { source: { spiffe_id: s.spiffe } }
          if (s.dest !== null) e.mesh = { ...e.mesh, destination: { service: s.dest } }
          if (s.ip !== null) e.source = { ip: s.ip }
          return e
        })
        const r = selectAlerts(events, emptyAlertState(), T0, cfg({ minSeverity: 'info', rateLimit: { perMinute: 1, burst } }))
        const perKey = new Map<string, number>()
        for (const a of r.alerts) {
          const k = `${a.finding.code}|${a.source.identity}|${a.destination.name}`
          perKey.set(k, (perKey.get(k) ?? 0) + 1)
        }
        for (const n of perKey.values()) expect(n).toBeLessThanOrEqual(burst)
        expect(new Set(r.alerts.map((a) => a.dedupe_key)).size).toBe(r.alerts.length)
        const total = r.alerts.length + r.stats.duplicate + r.stats.rateLimited + r.stats.belowSeverity + r.stats.notSelectedCode
        expect(total).toBe(r.stats.findings)
      }),
      { numRuns: 300 },
    )
  })
})
