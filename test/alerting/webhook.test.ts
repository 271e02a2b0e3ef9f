import { describe, test, expect, afterEach } from 'vitest'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { loadAlertingConfig } from '../../src/alerting/config.js'
import { AlertSink, createAlertSink } from '../../src/alerting/alert-sink.js'
import { backoffDelay, WebhookOutput } from '../../src/alerting/webhook.js'
import { emptyAlertState, selectAlerts, type Alert } from '../../src/alerting/select.js'
import { passthroughEgress, plaintextInbound, rbacDenied } from './fixtures.js'

interface Received {
  headers: http.IncomingHttpHeaders
  body: Alert
}

/** A webhook receiver answering from a scripted list of statuses, then 200. */
async function receiver(script: Array<number | { status: number; headers?: Record<string, string> }> = []) {
  const received: Received[] = []
  let calls = 0
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      calls++
      const step = script.shift()
      const s = typeof step === 'number' ? { status: step } : (step ?? { status: 200 })
      if (s.status >= 200 && s.status < 300)
        received.push({ headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Alert })
      res.writeHead(s.status, s.headers ?? {})
      res.end('{}')
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`
  return { url, received, calls: () => calls, close: () => new Promise<void>((r) => server.close(() => r())) }
}

const closers: Array<() => Promise<void>> = []
afterEach(async () => {
  while (closers.length > 0) await closers.pop()!()
})

function webhookCfg(url: string, over: object = {}) {
  return loadAlertingConfig({ enabled: true, webhook: { url, backoff: { initialMs: 5, maxMs: 20 }, ...over } }).webhook!
}

function someAlerts(n = 1): Alert[] {
  const events = Array.from({ length: n }, (_, i) => passthroughEgress('2026-11-23T10:00:01Z', `host${i}.example.com`))
  return selectAlerts(events, emptyAlertState(), Date.now(), loadAlertingConfig({})).alerts
}

describe('webhook output', () => {
  test('POSTs each alert as JSON with the dedupe key as Idempotency-Key and a bearer token from env', async () => {
    const rx = await receiver()
    closers.push(rx.close)
    const out = new WebhookOutput(webhookCfg(rx.url, { bearerTokenEnv: 'HOOK_TOKEN', headers: { 'x-routing-key': 'soc' } }), {
      env: { HOOK_TOKEN: 's3cret' },
    })
    closers.push(() => out.close())
    const alerts = someAlerts(3)
    const rep = await out.send(alerts)
    expect(rep).toMatchObject({ delivered: 3, failed: 0, attempts: 3 })
    expect(rx.received.map((r) => r.body.dedupe_key).sort()).toEqual(alerts.map((a) => a.dedupe_key).sort())
    for (const r of rx.received) {
      expect(r.headers['idempotency-key']).toBe(r.body.dedupe_key)
      expect(r.headers.authorization).toBe('Bearer s3cret')
      expect(r.headers['content-type']).toBe('application/json')
      expect(r.headers['x-routing-key']).toBe('soc')
      expect(r.body.schema).toBe('envoy-audit.alert/v1')
    }
  })

  test('retries 503, 429 and 500, then succeeds', async () => {
    const rx = await receiver([503, { status: 429, headers: { 'retry-after': '0' } }, 500])
    closers.push(rx.close)
    const out = new WebhookOutput(webhookCfg(rx.url))
    closers.push(() => out.close())
    const rep = await out.send(someAlerts(1))
    expect(rep).toMatchObject({ delivered: 1, failed: 0, attempts: 4 })
    expect(rx.calls()).toBe(4)
    expect(rx.received).toHaveLength(1)
  })

  test('a 400 is permanent: no retry, counted as failed', async () => {
    const rx = await receiver([400])
    closers.push(rx.close)
    const out = new WebhookOutput(webhookCfg(rx.url))
    closers.push(() => out.close())
    const rep = await out.send(someAlerts(1))
    expect(rep).toMatchObject({ delivered: 0, failed: 1, attempts: 1, lastError: 'HTTP 400' })
    expect(rx.calls()).toBe(1)
  })

  test('gives up after maxAttempts on a receiver that keeps failing', async () => {
    const rx = await receiver([502, 502, 502, 502, 502, 502])
    closers.push(rx.close)
    const out = new WebhookOutput(webhookCfg(rx.url, { maxAttempts: 3 }))
    closers.push(() => out.close())
    const rep = await out.send(someAlerts(1))
    expect(rep).toMatchObject({ delivered: 0, failed: 1, attempts: 3 })
    expect(rx.calls()).toBe(3)
  })

  test('connection refused is retried then reported, never thrown', async () => {
    const rx = await receiver()
    await rx.close() // port now closed
    const out = new WebhookOutput(webhookCfg(rx.url, { maxAttempts: 2 }))
    closers.push(() => out.close())
    const rep = await out.send(someAlerts(1))
    expect(rep.failed).toBe(1)
    expect(rep.attempts).toBe(2)
    expect(rep.lastError).toMatch(/ECONNREFUSED/)
  })

  test('backoff is capped and jittered', () => {
    expect(backoffDelay(0, 100, 1000, () => 0.999)).toBe(99)
    expect(backoffDelay(3, 100, 1000, () => 0.999)).toBe(799)
    expect(backoffDelay(20, 100, 1000, () => 0.999)).toBe(999)
    expect(backoffDelay(20, 100, 1000, () => 0)).toBe(0)
  })
})

describe('alert sink', () => {
  test('end to end: findings in, deduplicated and rate-limited alerts out, stats counted', async () => {
    const rx = await receiver()
    closers.push(rx.close)
    const sink = createAlertSink({ enabled: true, webhook: { url: rx.url } })!
    expect(sink).toBeInstanceOf(AlertSink)
    await sink.start()
    const burst = Array.from({ length: 20 }, () => rbacDenied('2026-11-23T10:00:01Z'))
    const res = await sink.write([...burst, plaintextInbound('2026-11-23T10:00:02Z'), passthroughEgress('2026-11-23T10:00:03Z')])
    expect(res.rejected).toEqual([])
    await sink.flush()
    expect(rx.received.map((r) => r.body.finding.code).sort()).toEqual(['authz_denied', 'plaintext_inbound', 'unregistered_egress'])
    expect(sink.stats).toMatchObject({ selected: 3, duplicate: 19, belowSeverity: 1, delivered: { webhook: 3 }, failed: { webhook: 0 } })
    await sink.close()
    await sink.close() // idempotent
    expect(await sink.write([rbacDenied('2026-11-23T11:00:00Z')])).toEqual({ rejected: [] })
    expect(sink.stats.selected).toBe(3)
  })

  test('write does not wait for a slow receiver; the queue is bounded and overflow is counted', async () => {
    let release: () => void = () => {}
    const gate = new Promise<void>((r) => (release = r))
    let got = 0
    const server = http.createServer((req, res) => {
      req.resume()
      req.on(
        'end',
        () =>
          void gate.then(() => {
            got++
            res.end('ok')
          }),
      )
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    closers.push(
      () =>
        new Promise<void>((r) => {
          server.closeAllConnections()
          server.close(() => r())
        }),
    )
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
    const sink = createAlertSink({ enabled: true, maxQueued: 5, webhook: { url, concurrency: 1 } })!
    await sink.start()
    const events = Array.from({ length: 30 }, (_, i) => passthroughEgress('2026-11-23T10:00:01Z', `h${i}.example.com`))
    const t = Date.now()
    await sink.write(events.slice(0, 10)) // first chunk (10) goes in flight at once
    await sink.write(events.slice(10))
    expect(Date.now() - t).toBeLessThan(500)
    expect(sink.pending()).toBe(5)
    expect(sink.stats.queueDropped).toBe(15)
    release()
    await sink.flush()
    expect(got).toBe(15)
    await sink.close()
  })

  test('close waits at most drainTimeoutMs and counts what it dropped', async () => {
    const rx = await receiver(Array.from({ length: 50 }, () => 503))
    closers.push(rx.close)
    const warnings: string[] = []
    const sink = createAlertSink(
      { enabled: true, drainTimeoutMs: 100, webhook: { url: rx.url, backoff: { initialMs: 1000, maxMs: 1000 } } },
      { warn: (m) => warnings.push(m) },
    )!
    await sink.start()
    await sink.write([rbacDenied('2026-11-23T10:00:01Z')])
    const t = Date.now()
    await sink.close()
    expect(Date.now() - t).toBeLessThan(1000)
    expect(sink.stats.delivered.webhook).toBe(0)
    expect(warnings.join('\n')).not.toContain('Bearer')
  })
})
