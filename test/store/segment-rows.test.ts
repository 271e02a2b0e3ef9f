import { describe, expect, test } from 'vitest'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { generateMeshTraffic } from '../../src/demo/mesh-traffic.js'
import { createParser } from '../../src/parse/index.js'
import { applyStages } from '../../src/pipeline/transforms.js'
import { createTransformStages } from '../../src/compose/transform-stages.js'
import { loadTransformsConfig } from '../../src/config/transforms.js'
import { createHashStage } from '../../src/integrity/chain.js'
import type { RawRecord } from '../../src/pipeline/component.js'
import type { AuditEvent } from '../../src/schema/audit-event.js'
import { DuckDbStore } from '../../src/store/duckdb-store.js'
import { finding, makeEvent } from './event-fixtures.js'

// The segment layout computes the typed columns in DuckDB from the stored documents
// (src/store/segment-rows.ts); the table layout appends them from the generated getters. Both must
// give the same rows, column for column, for every kind of line the parser knows.
const fixtures = fileURLToPath(new URL('../fixtures/', import.meta.url))

function pipelineEvents(lines: readonly string[], file: string): AuditEvent[] {
  const records: RawRecord[] = lines.map((value, i) => ({
    value: Buffer.from(value, 'utf8'),
    coords: { kind: 'file', file, line: i + 1, offset: String(i * 1000) },
  }))
  const parser = createParser()
  const stages = [...createTransformStages(loadTransformsConfig()), createHashStage()]
  const events = parser.parseBatch(records).events
  return applyStages(stages, events).events
}

function allEvents(): AuditEvent[] {
  const demo = generateMeshTraffic({ seed: 3, sessions: 60 }).lines.map((l) => l.text)
  const mixed = readFileSync(`${fixtures}envoy/mixed-real-world.log`, 'utf8').split('\n').slice(0, -1)
  const untimed = readFileSync(`${fixtures}envoy/istio-text-without-start-time.log`, 'utf8').split('\n').slice(0, -1)
  const ztunnel = readFileSync(`${fixtures}ztunnel/ztunnel.log`, 'utf8').split('\n').slice(0, -1)
  const labelled = [
    makeEvent({ findings: [finding('authz_denied', 'medium', ['AC-3', 'AC-6']), finding('weak_tls', 'high', ['SC-8(1)'])] }),
    makeEvent({}),
  ]
  labelled[1]!.kubernetes = { namespace: 'shop', pod: 'cart-1', labels: { 'app.kubernetes.io/name': 'cart', 'k8s-app': 'other' } }
  delete labelled[0]!.audit.finding_codes
  // Lone surrogates (which DuckDB's JSON reader refuses as escapes), a __proto__ label, control characters.
  const hostile = makeEvent({})
  hostile.url = { path: '/a\ud800b\u0000c\u2028d\u{1F600}' }
  hostile.user_agent = { original: '\udfff' }
  hostile.kubernetes = { namespace: 'ns', labels: JSON.parse('{"__proto__": "x", "app": "\\ud83d"}') as Record<string, string> }
  labelled.push(hostile)
  return [
    ...pipelineEvents(demo, 'demo.log'),
    ...pipelineEvents(mixed, 'mixed.log'),
    ...pipelineEvents(untimed, 'untimed.log'),
    ...pipelineEvents(ztunnel, 'ztunnel.log'),
    ...labelled,
  ]
}

async function rowsOf(layout: 'table' | 'segments', events: AuditEvent[]): Promise<[unknown[], unknown[]]> {
  const store = new DuckDbStore({ path: ':memory:', layout, callTables: false })
  try {
    await store.start()
    for (let i = 0; i < events.length; i += 500) await store.writeEvents(events.slice(i, i + 500))
    const ev = await store.sql('SELECT * FROM events ORDER BY id')
    const fi = await store.sql('SELECT * FROM findings ORDER BY event_id, idx')
    return [
      [ev.columns, ev.types, ...ev.rows],
      [fi.columns, fi.types, ...fi.rows],
    ]
  } finally {
    await store.close()
  }
}

describe('segment rows', () => {
  test('the segment layout stores the same events and findings rows, typed alike, as the table layout', async () => {
    const events = allEvents()
    expect(events.length).toBeGreaterThan(300)
    expect(events.some((e) => e.audit.time_source !== undefined)).toBe(true)
    expect(events.some((e) => e.envoy.format.startsWith('ztunnel'))).toBe(true)
    const [tableEvents, tableFindings] = await rowsOf('table', events)
    const [segEvents, segFindings] = await rowsOf('segments', events)
    expect(segEvents.length).toBe(events.length + 2)
    expect(JSON.stringify(segEvents)).toContain('\ufffd')
    expect(tableFindings.length).toBeGreaterThan(10)
    expect(segEvents).toEqual(tableEvents)
    expect(segFindings).toEqual(tableFindings)
  }, 120_000)
})
