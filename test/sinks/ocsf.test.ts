/**
 * The OCSF output is checked against OCSF's own JSON schema for the two classes (vendored under
 * test/fixtures/ocsf, with its source): every event of the demo mesh (all its incidents), of the real-world
 * fixture and of the ztunnel fixture must validate, and the mapping must say what docs/ocsf.md says.
 */
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Ajv2020 } from 'ajv/dist/2020.js'
import { describe, expect, test } from 'vitest'
import type { AuditEvent } from '../../src/schema/audit-event.js'
import { generateMeshTraffic } from '../../src/demo/mesh-traffic.js'
import { createParser } from '../../src/parse/index.js'
import { applyStages } from '../../src/pipeline/transforms.js'
import { createTransformStages } from '../../src/compose/transform-stages.js'
import { loadTransformsConfig } from '../../src/config/transforms.js'
import { OCSF_VERSION, toOcsf } from '../../src/sinks/ocsf/index.js'
import { buildPipeline } from '../../src/compose/pipeline.js'
import { eventEncodings } from '../../src/compose/encodings.js'

const schemaOf = (name: string): object =>
  JSON.parse(readFileSync(new URL(`../fixtures/ocsf/${name}.schema.json`, import.meta.url), 'utf8'))
// strict: false because OCSF's schema carries `deprecated` annotations only; allErrors to see every problem.
const ajv = new Ajv2020({ strict: false, allErrors: true })
const validators: Record<number, ReturnType<typeof ajv.compile>> = {
  4002: ajv.compile(schemaOf('http_activity')),
  4001: ajv.compile(schemaOf('network_activity')),
}

function invalid(o: Record<string, unknown>): string | undefined {
  const v = validators[o['class_uid'] as number]
  if (v === undefined) return `class_uid ${String(o['class_uid'])} is neither 4001 nor 4002`
  return v(o) ? undefined : ajv.errorsText(v.errors)
}

const stages = createTransformStages(loadTransformsConfig())
function eventsOf(lines: Array<{ text: string; file: string }>, cluster?: string): AuditEvent[] {
  const parsed = createParser(cluster === undefined ? {} : { cluster }).parseBatch(
    lines.map((l, i) => ({ value: l.text, coords: { kind: 'file' as const, file: l.file, line: i + 1 } })),
  )
  return applyStages(stages, parsed.events).events
}
const fixtureLines = (rel: string): Array<{ text: string; file: string }> =>
  readFileSync(new URL(`../fixtures/${rel}`, import.meta.url), 'utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map((text) => ({ text, file: rel }))

const demo = generateMeshTraffic({ seed: 42, sessions: 300, noise: true })
const ztunnelDir = new URL('../fixtures/ztunnel/', import.meta.url)
const ztunnelFiles = readdirSync(ztunnelDir).filter((f) => f.endsWith('.log'))
const events = [
  ...eventsOf(demo.lines, 'demo'),
  ...eventsOf(fixtureLines('envoy/mixed-real-world.log')),
  ...ztunnelFiles.flatMap((f) => eventsOf(fixtureLines(`ztunnel/${f}`))),
]
const product = { version: '0.0.0-test' }

describe('OCSF output', () => {
  test('every event validates against the OCSF 1.1.0 schema of its class', () => {
    expect(events.length).toBeGreaterThan(300)
    const classes = new Set<number>()
    const problems: string[] = []
    for (const e of events) {
      const o = toOcsf(e, product)
      classes.add(o['class_uid'] as number)
      const why = invalid(o)
      if (why !== undefined && problems.length < 5) problems.push(`${e.event.original?.slice(0, 80)}: ${why}`)
    }
    expect(problems).toEqual([])
    expect([...classes].sort()).toEqual([4001, 4002])
  })

  test('the schema is strict enough to catch a broken mapping', () => {
    const http = toOcsf(
      events.find((e) => e.http !== undefined)!,
      product,
    )
    expect(invalid(http)).toBeUndefined()
    expect(invalid({ ...http, http_response: {} })).toMatch(/code/)
    expect(invalid({ ...http, activity_id: 42 })).toMatch(/activity_id/)
    expect(invalid({ ...http, dst_endpoint: { port: 80 } })).toMatch(/dst_endpoint/)
    expect(invalid({ ...http, metadata: { ...(http['metadata'] as object), version: undefined } })).toMatch(/version/)
  })

  test('HTTP lines are HTTP Activity with the method as activity, TCP lines Network Activity', () => {
    const get = events.find((e) => e.http?.request?.method === 'GET')!
    const o = toOcsf(get, product)
    expect(o).toMatchObject({ class_uid: 4002, activity_id: 3, type_uid: 400203, category_uid: 4 })
    expect(o['http_request']).toMatchObject({ http_method: 'GET', url: { path: get.url!.path } })
    expect((o['http_response'] as { code: number }).code).toBe(get.http!.response!.status_code)
    const tcp = events.find((e) => e.network?.protocol === 'tcp' && e.event.outcome === 'success')
    expect(tcp).toBeDefined()
    expect(toOcsf(tcp!, product)).toMatchObject({ class_uid: 4001, activity_id: 2, activity_name: 'Close', type_uid: 400102 })
  })

  test('identities, findings, severity and the cluster are where docs/ocsf.md says', () => {
    const denied = events.find((e) => e.event.action === 'denied' && e.mesh?.source?.spiffe_id !== undefined)!
    const o = toOcsf(denied, product)
    expect((o['src_endpoint'] as { uid: string }).uid).toBe(denied.mesh!.source!.spiffe_id)
    expect((o['metadata'] as { labels: string[] }).labels).toEqual(denied.audit.finding_codes)
    expect(o['metadata']).toMatchObject({
      version: OCSF_VERSION,
      uid: denied.event.id,
      product: { name: 'envoy-audit', version: '0.0.0-test' },
    })
    const severity = { info: 1, low: 2, medium: 3, high: 4, critical: 5 }[denied.audit.severity as 'high']
    expect(o['severity_id']).toBe(severity)
    expect(o['status_id']).toBe(denied.event.outcome === 'failure' ? 2 : 1)
    expect((o['unmapped'] as { orchestrator: unknown }).orchestrator).toEqual({ type: 'kubernetes', cluster: { name: 'demo' } })
    expect(o['raw_data']).toBe(denied.event.original)
  })

  test('sidecar hops are Lateral, gateways Inbound/Outbound', () => {
    const dir = (d: string): unknown => {
      const e = events.find((x) => x.network?.direction === d)
      return e === undefined ? undefined : (toOcsf(e, product)['connection_info'] as { direction_id: number }).direction_id
    }
    expect(dir('inbound')).toBe(3)
    expect(dir('outbound')).toBe(3)
    expect(dir('egress')).toBe(2)
  })

  test("a ztunnel connection's bytes are its traffic: bytes_out from the source, bytes_in from the destination", () => {
    const e = events.find((x) => x.mesh?.reporter === 'ztunnel' && (x.source?.bytes ?? 0) > 0 && (x.destination?.bytes ?? 0) > 0)!
    expect(toOcsf(e, product)['traffic']).toEqual({
      bytes_out: e.source!.bytes,
      bytes_in: e.destination!.bytes,
      bytes: e.source!.bytes! + e.destination!.bytes!,
    })
  })
})

describe('the ndjson sink and its encodings', () => {
  test('the encodings registry has canonical and ocsf; an unknown one names the option', () => {
    expect(eventEncodings.kinds()).toEqual(['canonical', 'ocsf'])
    expect(() =>
      buildPipeline({ source: { kind: 'stdin' }, sink: { kind: 'ndjson', ndjson: { path: '-', format: 'cef' } } } as never, {
        env: {},
        warn: () => undefined,
      }),
    ).toThrow(/sink\.ndjson\.format/)
  })

  test('sink.ndjson.format ocsf writes one OCSF event per line, through buildPipeline', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ea-ocsf-'))
    const input = path.join(dir, 'in.log')
    const out = path.join(dir, 'out.ndjson')
    const { writeFileSync } = await import('node:fs')
    writeFileSync(input, readFileSync(new URL('../fixtures/envoy/mixed-real-world.log', import.meta.url)))
    const pipeline = buildPipeline(
      {
        source: { kind: 'file', file: { paths: [input] } },
        sink: { kind: 'ndjson', ndjson: { path: out, format: 'ocsf' } },
        deadLetter: { kind: 'file', path: path.join(dir, 'dlq.ndjson') },
      } as never,
      { env: {}, warn: () => undefined },
    )
    await pipeline.run()
    const lines = readFileSync(out, 'utf8').trim().split('\n')
    expect(lines.length).toBe(pipeline.counters.eventsOut)
    for (const l of lines) expect(invalid(JSON.parse(l) as Record<string, unknown>)).toBeUndefined()
  })
})

describe('parse --output ocsf', () => {
  test('writes OCSF on stdout; --help names the option; --cluster lands in unmapped.orchestrator', async () => {
    const { runCli } = await import('../helpers/cli.js')
    const dir = mkdtempSync(path.join(tmpdir(), 'ea-ocsf-cli-'))
    const r = await runCli([
      'parse',
      '--output',
      'ocsf',
      '--cluster',
      'east',
      '-q',
      '--dlq',
      path.join(dir, 'dlq.ndjson'),
      'test/fixtures/envoy/mixed-real-world.log',
    ])
    expect(r.code).toBe(0)
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(lines.length).toBeGreaterThan(10)
    for (const o of lines) {
      expect(invalid(o)).toBeUndefined()
      expect((o['unmapped'] as { orchestrator: { cluster: { name: string } } }).orchestrator.cluster.name).toBe('east')
    }
    const help = await runCli(['parse', '--help'])
    expect(help.stdout).toMatch(/--output <encoding>[\s\S]*ocsf/)
    const bad = await runCli(['parse', '--output', 'cef'])
    expect(bad.code).toBe(2)
  }, 120_000)
})
