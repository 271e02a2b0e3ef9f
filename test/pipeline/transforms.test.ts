import { describe, test, expect } from 'vitest'
import fc from 'fast-check'
import type { AuditEvent } from '../../src/generated/types.js'
import type { TransformStage } from '../../src/pipeline/component.js'
import { loadTransformsConfig } from '../../src/config/transforms.js'
import { applyStages, perEventStage } from '../../src/pipeline/transforms.js'
import { createTransformStages, STAGE_NAMES } from '../../src/compose/transform-stages.js'
import { compileEventSerializer } from '../../src/schema/audit-event.js'
import { FINDING_CATALOGUE, SEVERITY_ORDER } from '../../src/detect/catalogue.js'
import * as fx from '../detect/fixtures.js'

const config = loadTransformsConfig({})
const stages = createTransformStages(config)
const serialize = compileEventSerializer()

const FIXTURES: (() => AuditEvent)[] = [
  fx.rbacDeniedPlaintext,
  fx.mtlsInbound,
  fx.mtlsOutbound,
  fx.nrFilterChain,
  fx.blackhole,
  fx.passthrough,
  fx.uaex,
  fx.clientSide403,
  () => fx.tcpRbacDenied(),
  () => fx.tlsInbound('TLSv1.1', 'ECDHE-RSA-CHACHA20-POLY1305', 'spiffe://other/ns/a/sa/b'),
  () => fx.tlsInbound('TLSv1.3', 'TLS_AES_128_GCM_SHA256', 'spiffe://cluster.local/bad//path'),
  fx.upstreamTlsFailure,
]

describe('createTransformStages', () => {
  test('stages are spiffe, au3, detect in that order', () => {
    expect(stages.map((s) => s.name)).toEqual([...STAGE_NAMES])
  })
  test('everything the stages write survives the schema serializer (no field outside the schema)', () => {
    for (const make of FIXTURES) {
      const { events } = applyStages(stages, [make()])
      const e = events[0] as AuditEvent
      const round = JSON.parse(serialize(e)) as AuditEvent
      expect(round.mesh).toEqual(e.mesh)
      expect(round.audit).toEqual(e.audit)
    }
  })
  test('a batch keeps order and count', () => {
    const batch = FIXTURES.map((m) => m())
    const ids = batch.map((e) => e.event.id)
    const r = applyStages(stages, batch)
    expect(r.deadLetters).toEqual([])
    expect(r.events.map((e) => e.event.id)).toEqual(ids)
  })
})

describe('dead-lettering', () => {
  const boom = perEventStage('boom', (e) => {
    if (e.event.id.endsWith('2')) throw new TypeError('cannot read x')
  })
  test('a throwing record becomes EA_TRANSFORM_FAILED with its original line and coordinates; the rest continue', () => {
    const batch = [fx.mtlsInbound(), fx.mtlsInbound(), fx.mtlsInbound()]
    batch.forEach((e, i) => (e.event.id = `id-${i + 1}`))
    const target = batch[1] as AuditEvent
    const r = applyStages([boom, ...stages], batch)
    expect(r.deadLetters).toHaveLength(1)
    expect(r.events.map((e) => e.event.id)).toEqual(['id-1', 'id-3'])
    expect(r.deadLetters[0]).toMatchObject({
      reason: 'EA_TRANSFORM_FAILED',
      stage: 'transform',
      raw: fx.MTLS_INBOUND_LINE,
      event_id: 'id-2',
      source: target.audit.source,
    })
    expect(r.deadLetters[0]?.message).toContain('stage boom: TypeError: cannot read x')
    // The survivors went through every later stage.
    for (const e of r.events) expect(e.audit.severity).toBe('none')
  })
  test('a stage that throws out of process() is isolated per record', () => {
    const rogue: TransformStage = {
      name: 'rogue',
      process(events) {
        for (const e of events) if (e.event.original === fx.UAEX_LINE) throw new Error('bad')
        return { events, deadLetters: [] }
      },
    }
    const r = applyStages([rogue], [fx.mtlsInbound(), fx.uaex(), fx.passthrough()])
    expect(r.events.map((e) => e.event.original)).toEqual([fx.MTLS_INBOUND_LINE, fx.PASSTHROUGH_LINE])
    expect(r.deadLetters.map((d) => [d.reason, d.raw])).toEqual([['EA_TRANSFORM_FAILED', fx.UAEX_LINE]])
  })
})

// Shape mutations: any value may be dropped or replaced by a hostile one.
const weird = fc.oneof(
  fc.string(),
  fc.constantFrom('-', '', 'null', '__proto__', 'spiffe://', 'outbound_.1_._.', 'inbound|||', 'rbac_access_denied_matched_policy[', ',,,'),
  fc.string({ maxLength: 20 }).map((s) => `spiffe://cluster.local/ns/${s}/sa/${s}`),
  fc.string({ maxLength: 20 }).map((s) => `outbound|${s}|${s}|${s}`),
  fc.constant('a'.repeat(100_000)),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.array(fc.string(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 3 }),
  fc.constant(JSON.parse('{"__proto__":{"polluted":true}}') as unknown),
)
const PATHS = [
  'mesh',
  'mesh.upstream_cluster',
  'mesh.source',
  'mesh.destination',
  'mesh.mtls',
  'mesh.reporter',
  'envoy',
  'envoy.peer',
  'envoy.peer.downstream_uri_san',
  'envoy.peer.upstream_uri_san',
  'envoy.peer.downstream_local_uri_san',
  'envoy.peer.upstream_tls_version',
  'envoy.peer.upstream_tls_cipher',
  'envoy.requested_server_name',
  'envoy.authority',
  'envoy.response_flags',
  'envoy.response_code_details',
  'envoy.connection_termination_details',
  'envoy.rbac_policy',
  'envoy.upstream_transport_failure_reason',
  'tls',
  'tls.version',
  'tls.cipher',
  'tls.established',
  'http',
  'http.response',
  'http.response.status_code',
  'kubernetes',
  'kubernetes.labels',
  'kubernetes.namespace',
  'network',
  'network.direction',
  'audit',
  'audit.findings',
  'audit.au3',
  'event',
  '@timestamp',
  'source',
]

function setPath(root: Record<string, unknown>, path: string, value: unknown, drop: boolean): void {
  const keys = path === '@timestamp' ? ['@timestamp'] : path.split('.')
  let cur: Record<string, unknown> = root
  for (const k of keys.slice(0, -1)) {
    const next = cur[k]
    if (typeof next !== 'object' || next === null) return
    cur = next as Record<string, unknown>
  }
  const last = keys[keys.length - 1] as string
  if (drop) delete cur[last]
  else cur[last] = value
}

const mutatedEvent = fc
  .tuple(fc.nat(FIXTURES.length - 1), fc.array(fc.tuple(fc.constantFrom(...PATHS), weird, fc.boolean()), { maxLength: 8 }))
  .map(([i, muts]) => {
    const e = (FIXTURES[i] as () => AuditEvent)() as unknown as Record<string, unknown>
    for (const [p, v, drop] of muts) setPath(e, p, v, drop)
    return e as unknown as AuditEvent
  })

describe('property: the stages never throw on any event shape', () => {
  test('mutated real events: no dead letters, valid outputs', () => {
    fc.assert(
      fc.property(fc.array(mutatedEvent, { minLength: 1, maxLength: 5 }), (batch) => {
        const r = applyStages(stages, batch)
        expect(r.deadLetters).toEqual([])
        expect(r.events).toHaveLength(batch.length)
        for (const e of r.events) {
          expect([true, false, null]).toContain(e.mesh?.mtls)
          expect(SEVERITY_ORDER).toContain(e.audit.severity)
          expect(typeof e.audit.au3?.complete).toBe('boolean')
          for (const c of e.audit.finding_codes ?? []) expect(Object.hasOwn(FINDING_CATALOGUE, c)).toBe(true)
        }
        expect(({} as Record<string, unknown>).polluted).toBeUndefined()
      }),
      { numRuns: 400 },
    )
  })
  test('the stages are idempotent: a replayed (already enriched) event comes out unchanged', () => {
    fc.assert(
      fc.property(mutatedEvent, (e) => {
        const once = applyStages(stages, [e]).events[0]
        if (once === undefined) return
        const snapshot = structuredClone(once)
        const twice = applyStages(stages, [once]).events[0]
        expect(twice).toEqual(snapshot)
      }),
      { numRuns: 200 },
    )
  })
  test('arbitrary JSON values in place of an event are enriched or dead-lettered, never thrown', () => {
    fc.assert(
      fc.property(fc.array(fc.jsonValue(), { maxLength: 4 }), (values) => {
        const r = applyStages(stages, values as unknown as AuditEvent[])
        expect(r.events.length + r.deadLetters.length).toBe(values.length)
      }),
      { numRuns: 300 },
    )
  })
})
