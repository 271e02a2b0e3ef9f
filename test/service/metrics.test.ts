/**
 * The service's Prometheus metrics: every name snake_case, every counter a counter named `*_total` and
 * nothing else named so (names used to mirror camelCase stats as gauges, e.g.
 * envoy_audit_kafka_inFlightRecords, envoy_audit_kafka_commits); the latency histograms
 * docs/production.md promises; and the OpenSearch observer's per-status item counts and its one
 * summary log line per interval instead of a line per retried item.
 */
import { describe, expect, test } from 'vitest'
import pino from 'pino'
import { Registry } from 'prom-client'
import { validateConfig } from '../../src/compose/config.js'
import { buildService } from '../../src/service/service.js'
import { OpenSearchObserver } from '../../src/service/opensearch-observer.js'
import { createOpenSearchClient, loadConnectionConfig } from '../../src/connections/opensearch.js'
import { loadSinkConfig } from '../../src/sinks/opensearch/config.js'
import { OpenSearchSink } from '../../src/sinks/opensearch/sink.js'
import { TestOpenSearch, failByRate } from '../support/opensearch-server/index.js'
import { okEvent } from '../sinks/opensearch/fixtures.js'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { logFile } from '../compose/lines.js'

describe('metric names', () => {
  test('every metric of a full service is snake_case; counters, and only counters, end in _total', async () => {
    const config = validateConfig({
      source: { kind: 'kafka', kafka: { brokers: ['127.0.0.1:1'], topics: ['envoy'] } },
      sink: { kind: 'opensearch', opensearch: { connection: { node: 'http://127.0.0.1:1' } } },
      deadLetter: { kind: 'kafka', topic: 'dlq' },
      integrity: { enabled: true },
      alerting: { enabled: true, webhook: { url: 'http://127.0.0.1:1/hook' } },
    })
    const service = buildService(config, { logger: pino({ level: 'silent' }), env: {} })
    const metrics = await service.metrics.registry.getMetricsAsJSON()
    const names = metrics.map((m) => m.name)
    const bad: string[] = []
    for (const m of metrics) {
      if (!/^envoy_audit_[a-z0-9]+(_[a-z0-9]+)*$/.test(m.name)) bad.push(`${m.name}: not snake_case`)
      const counter = String(m.type) === 'counter'
      // prom-client's standard process metrics name three gauges *_total (nodejs_active_handles_total, ...): theirs, kept as every exporter has them.
      const promClientGauge = /^envoy_audit_process_nodejs_active_\w+_total$/.test(m.name) && !counter
      if (counter !== m.name.endsWith('_total') && !promClientGauge) bad.push(`${m.name}: ${String(m.type)}`)
    }
    expect(bad).toEqual([])
    for (const expected of [
      'envoy_audit_kafka_consumer_lag',
      'envoy_audit_kafka_fetch_lag',
      'envoy_audit_kafka_oldest_unacked_age_seconds',
      'envoy_audit_kafka_in_flight_records',
      'envoy_audit_kafka_commits_total',
      'envoy_audit_kafka_records_lost_upstream_total',
      'envoy_audit_opensearch_request_duration_seconds',
      'envoy_audit_opensearch_bulk_item_errors_total',
      'envoy_audit_opensearch_item_retries_total',
      'envoy_audit_sink_write_duration_seconds',
      'envoy_audit_integrity_ledgered_total',
      'envoy_audit_alerts_delivered_total',
      'envoy_audit_redaction_values_total',
      'envoy_audit_ready',
    ]) {
      expect(names).toContain(expected)
    }
    const types = Object.fromEntries(metrics.map((m) => [m.name, String(m.type)]))
    expect(types.envoy_audit_opensearch_request_duration_seconds).toBe('histogram')
    expect(types.envoy_audit_sink_write_duration_seconds).toBe('histogram')
    expect(types.envoy_audit_redaction_values_total).toBe('counter')
  })
})

describe('OpenSearch observer (test server)', () => {
  test('item failures: a counter by status and one summary line per interval, not one per item; bulk latency observed', async () => {
    const os = await TestOpenSearch.start()
    const client = await createOpenSearchClient(loadConnectionConfig({ node: os.url }))
    const registry = new Registry()
    const lines: { obj: Record<string, unknown>; msg: string }[] = []
    const observer = new OpenSearchObserver({
      registry,
      answerWindowMs: 5_000,
      summaryIntervalMs: 300,
      logger: { warn: (obj, msg) => void lines.push({ obj: obj as Record<string, unknown>, msg }) },
    })
    observer.attach(client)
    os.faults.item = failByRate(429, 0.4, 'observer')
    const sink = new OpenSearchSink({
      client,
      config: loadSinkConfig({ flushIntervalMs: 5, writeFindings: false, retry: { initialMs: 5, maxMs: 20 } }),
    })
    try {
      await sink.start()
      expect((await sink.write(Array.from({ length: 200 }, (_, i) => okEvent(i)))).rejected).toEqual([])
      await new Promise((r) => setTimeout(r, 400))
      const retried = sink.stats.itemRetries
      expect(retried).toBeGreaterThan(20)
      const summaries = lines.filter((l) => l.msg.startsWith('opensearch bulk items not indexed'))
      // One line per 300 ms interval at most, however many items were retried.
      expect(summaries.length).toBeGreaterThan(0)
      expect(summaries.length).toBeLessThan(retried)
      const logged = summaries.reduce((n, l) => n + Number((l.obj.items as Record<string, number>)['429'] ?? 0), 0)
      expect(logged).toBe(retried)
      expect(summaries[0]!.msg).toMatch(/: \d+ to retry \(429\/5xx\), 0 refused$/)
      const json = await registry.getMetricsAsJSON()
      const errors = json.find((m) => m.name === 'envoy_audit_opensearch_bulk_item_errors_total')!
      expect(errors.values).toEqual([expect.objectContaining({ labels: { status: '429' }, value: retried })])
      const latency = json.find((m) => m.name === 'envoy_audit_opensearch_request_duration_seconds')!
      const bulkCount = latency.values.find(
        (v) => (v as { metricName?: string }).metricName?.endsWith('_count') && v.labels.operation === 'bulk',
      )
      expect(bulkCount?.value).toBe(sink.stats.bulkRequests)
    } finally {
      observer.close()
      await sink.close()
      await client.close()
      await os.close()
    }
  })
})

describe('per-stage counts on /metrics', () => {
  test('transform worker threads on /metrics: workers, ready, busy, queued slices, slices answered, crashes, restarts', async () => {
    const { dir, file } = logFile(3, 4)
    const config = validateConfig({
      source: { kind: 'file', file: { paths: [file], follow: true, stateFile: join(dir, 'positions.json'), pollMs: 20, lingerMs: 20 } },
      sink: { kind: 'ndjson', ndjson: { path: join(dir, 'events.ndjson') } },
      deadLetter: { kind: 'file', path: join(dir, 'dlq.ndjson') },
      transforms: { workers: 2 },
      service: { host: '127.0.0.1', port: 0 },
    })
    const service = buildService(config, { logger: pino({ level: 'silent' }), env: {} })
    const running = service.run()
    try {
      for (let i = 0; i < 1200 && service.counters.recordsIn < 7; i++) await new Promise((r) => setTimeout(r, 25))
      expect(service.counters.recordsIn).toBe(7)
      const text = await (await fetch(`http://127.0.0.1:${service.httpPort}/metrics`)).text()
      const value = (name: string): number | undefined => {
        const line = text.split('\n').find((l) => l.startsWith(`envoy_audit_transform_workers_${name} `))
        return line === undefined ? undefined : Number(line.split(' ')[1])
      }
      expect(value('workers')).toBe(2)
      expect(value('busy')).toBe(0)
      expect(value('queued_slices')).toBe(0)
      expect(value('crashes_total')).toBe(0)
      expect(value('restarts_total')).toBe(0)
      expect(value('slices_unanswered_total')).toBe(0)
      expect(value('slices_redone_total')).toBe(0)
      // The file's 7 lines are one slice: parsed on a worker once the workers were ready, else on the main thread.
      expect(value('ready')).toBe(2)
      expect(value('slices_answered_total')).toBeGreaterThanOrEqual(0)
      expect(text).toMatch(/^# TYPE envoy_audit_transform_workers_busy gauge$/m)
      expect(text).toMatch(/^# TYPE envoy_audit_transform_workers_crashes_total counter$/m)
    } finally {
      await service.close()
      await running
      rmSync(dir, { recursive: true, force: true })
    }
  }, 60_000)

  test('records in, out and dead-lettered and the time of every stage, read from a running service', async () => {
    const { dir, file } = logFile(3, 4)
    const config = validateConfig({
      source: { kind: 'file', file: { paths: [file], follow: true, stateFile: join(dir, 'positions.json'), pollMs: 20, lingerMs: 20 } },
      sink: { kind: 'ndjson', ndjson: { path: join(dir, 'events.ndjson') } },
      deadLetter: { kind: 'file', path: join(dir, 'dlq.ndjson') },
      service: { host: '127.0.0.1', port: 0 },
    })
    const service = buildService(config, { logger: pino({ level: 'silent' }), env: {} })
    const running = service.run()
    try {
      for (let i = 0; i < 400 && service.counters.recordsIn < 7; i++) await new Promise((r) => setTimeout(r, 25))
      expect(service.counters.recordsIn).toBe(7)
      const text = await (await fetch(`http://127.0.0.1:${service.httpPort}/metrics`)).text()
      const value = (name: string, stage: string): number | undefined => {
        const line = text.split('\n').find((l) => l.startsWith(`envoy_audit_stage_${name}{stage="${stage}"} `))
        return line === undefined ? undefined : Number(line.split(' ')[1])
      }
      expect([value('records_in_total', 'parse'), value('records_out_total', 'parse'), value('dead_letters_total', 'parse')]).toEqual([
        7, 3, 4,
      ])
      for (const stage of ['redact', 'spiffe', 'au3', 'detect', 'integrity', 'sink']) {
        expect([stage, value('records_in_total', stage), value('records_out_total', stage), value('dead_letters_total', stage)]).toEqual([
          stage,
          3,
          3,
          0,
        ])
        expect(value('seconds_total', stage)).toBeGreaterThanOrEqual(0)
      }
      expect(value('seconds_total', 'parse')).toBeGreaterThan(0)
      expect(text).toMatch(/^# TYPE envoy_audit_stage_records_in_total counter$/m)
    } finally {
      await service.close()
      await running
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
