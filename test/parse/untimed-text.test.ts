import { describe, test, expect } from 'vitest'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { createParser } from '../../src/parse/index.js'
import type { RawRecord } from '../../src/pipeline/component.js'
import type { AuditEvent } from '../../src/schema/audit-event.js'
import { createTransformStages } from '../../src/compose/transform-stages.js'
import { applyStages } from '../../src/pipeline/transforms.js'
import { loadTransformsConfig } from '../../src/config/transforms.js'
import { createHashStage } from '../../src/integrity/chain.js'

// Istio TEXT lines whose `[START_TIME] ` prefix is missing, as log viewers and copied excerpts show them.
// Each line's origin is in the .sources.json next to the fixture (real public lines, prefix removed).
const dir = fileURLToPath(new URL('../fixtures/envoy/', import.meta.url))
const lines = readFileSync(`${dir}istio-text-without-start-time.log`, 'utf8').split('\n').slice(0, -1)
const sources = JSON.parse(readFileSync(`${dir}istio-text-without-start-time.sources.json`, 'utf8')) as Array<{
  line: number
  expect: string
  source: string
}>

const rec = (value: string, line = 1): RawRecord => ({
  value,
  coords: { kind: 'file', file: 'untimed.log', line, offset: String(line * 400) },
})

function parseOne(value: string): AuditEvent {
  const r = createParser().parseBatch([rec(value)])
  expect(r.deadLetters).toEqual([])
  return r.events[0]!
}

describe('Istio TEXT lines without [START_TIME] are access records, not dead letters', () => {
  test('each fixture line becomes an event of its layout, timed by when it was read, marked as such', () => {
    expect(lines).toHaveLength(sources.length)
    const before = Date.now()
    const r = createParser().parseBatch(lines.map((l, i) => rec(l, i + 1)))
    const after = Date.now()
    expect(r.deadLetters).toEqual([])
    expect(r.events.map((e) => [e.audit.source?.line, e.envoy.format])).toEqual(sources.map((s) => [s.line, s.expect]))
    for (const e of r.events) {
      const t = Date.parse(e['@timestamp'])
      expect(t).toBeGreaterThanOrEqual(before)
      expect(t).toBeLessThanOrEqual(after)
      expect(e.event.created).toBe(e['@timestamp'])
      expect(e.audit.time_source).toBe('ingest')
    }
    const [outbound, inbound, scan, strict] = r.events
    expect([outbound!.http?.response?.status_code, outbound!.mesh?.upstream_cluster, outbound!.network?.direction]).toEqual([
      200,
      'outbound|8000||httpbin.default.svc.cluster.local',
      'outbound',
    ])
    expect([inbound!.tls?.client?.server_name, inbound!.source?.ip]).toEqual([
      'outbound_.8000_._.httpbin.default.svc.cluster.local',
      '10.244.0.26',
    ])
    expect([scan!.url?.path, scan!.envoy.response_flags, scan!.event.action]).toEqual(['/portal/redlion', ['NR'], 'rejected'])
    expect([strict!.envoy.response_code_details, strict!.network?.protocol]).toEqual(['filter_chain_not_found', 'tcp'])
  })

  test('inside an envelope, @timestamp is the envelope time (CRI, Docker, Fluent Bit, Vector) and event.created the read time', () => {
    const line = lines[0]!
    const cri = parseOne(`2022-04-01T03:23:13.900328365Z stdout F ${line}`)
    expect([cri['@timestamp'], cri.audit.time_source]).toEqual(['2022-04-01T03:23:13.900Z', 'envelope'])
    expect(Date.parse(cri.event.created!)).toBeGreaterThan(Date.parse('2025-01-01'))
    const docker = parseOne(JSON.stringify({ log: `${line}\n`, stream: 'stdout', time: '2022-04-01T03:23:13.5Z' }))
    expect(docker['@timestamp']).toBe('2022-04-01T03:23:13.500Z')
    const fluentBit = parseOne(
      JSON.stringify({
        '@timestamp': 1648783393.25,
        stream: 'stdout',
        log: line,
        kubernetes: { namespace_name: 'default', pod_name: 'sleep-1', container_name: 'istio-proxy' },
      }),
    )
    expect([fluentBit['@timestamp'], fluentBit.audit.time_source, fluentBit.kubernetes?.pod]).toEqual([
      '2022-04-01T03:23:13.250Z',
      'envelope',
      'sleep-1',
    ])
    const vector = parseOne(JSON.stringify({ message: line, source_type: 'kubernetes_logs', timestamp: '2022-04-01T03:23:14.000000001Z' }))
    expect(vector['@timestamp']).toBe('2022-04-01T03:23:14.000Z')
  })

  test('AU-3 reports "when" missing (au3_incomplete): the time is not the request\'s', () => {
    const stages = createTransformStages(loadTransformsConfig({}))
    const r = createParser().parseBatch([rec(lines[1]!), rec(`[2022-04-01T03:23:12.738Z] ${lines[1]!}`, 2)])
    const out = applyStages(stages, r.events).events
    const [untimed, timed] = out
    expect(untimed!.audit.au3?.missing).toContain('when')
    expect(untimed!.audit.finding_codes).toContain('au3_incomplete')
    // The same line with its start time: "when" is satisfied by the request's own time.
    expect(timed!.audit.au3?.missing).not.toContain('when')
    expect(timed!.audit.time_source).toBeUndefined()
    expect(timed!.event.created).toBeUndefined()
  })

  test('the read time is not part of audit.hash: the same enveloped line read twice hashes alike', async () => {
    const value = `2022-04-01T03:23:13.900328365Z stdout F ${lines[2]!}`
    const a = createParser().parseBatch([rec(value)]).events
    await new Promise((r) => setTimeout(r, 5))
    const b = createParser().parseBatch([rec(value)]).events
    expect(a[0]!.event.created).not.toBe(b[0]!.event.created)
    const hash = createHashStage()
    expect(hash.process(a).events[0]!.audit.hash).toBe(hash.process(b).events[0]!.audit.hash)
  })

  test('a start time that is present but unreadable, or a quoted line of no known layout, stays a dead letter', () => {
    // Without the time prefix only an exact layout makes a line an access record: anything else quoted is not one.
    const r = createParser().parseBatch([
      rec(`[2022-13-45T25:61:00.000Z] ${lines[0]!}`, 1),
      rec('"GET /get HTTP/1.1" 200 and then something else', 2),
      rec('"quoted" 5 words of an application log', 3),
    ])
    expect(r.events).toEqual([])
    expect(r.deadLetters.map((d) => [d.source.line, d.reason])).toEqual([
      [1, 'EA_PARSE_BAD_TIMESTAMP'],
      [2, 'EA_PARSE_NOT_ACCESS_LOG'],
      [3, 'EA_PARSE_NOT_ACCESS_LOG'],
    ])
  })
})
