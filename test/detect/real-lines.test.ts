/**
 * End to end over the real parser: public access-log lines → createParser().parseBatch → the
 * transform stages. Each line's source is cited in fixtures.ts or next to it here.
 */
import { describe, test, expect } from 'vitest'
import fc from 'fast-check'
import type { AuditEvent } from '../../src/generated/types.js'
import { createParser } from '../../src/parse/index.js'
import { loadTransformsConfig } from '../../src/config/transforms.js'
import { applyStages } from '../../src/pipeline/transforms.js'
import { createTransformStages } from '../../src/compose/transform-stages.js'
import * as fx from './fixtures.js'

// istio/istio#51178 (2024-05-21): the same BlackHole case after switching to JSON; the user's
// format adds keys (stack_name, env, client_ip...) and the SNI is null.
const BLACKHOLE_JSON =
  '{"route_name":null,"request_id":null,"x_forwarded_for":null,"response_code":0,"response_code_details":null,"bytes_received":0,"connection_termination_details":null,"user_agent":null,"authority":null,"upstream_transport_failure_reason":null,"protocol":null,"stack_name":"stacky-stack","requested_server_name":null,"method":null,"upstream_host":null,"duration":0,"client_ip":null,"grpc_status":null,"upstream_local_address":null,"upstream_cluster":"BlackHoleCluster","env":"dev","response_flags":"UH","downstream_remote_address":"10.52.59.26:59206","upstream_service_time":null,"downstream_local_address":"240.240.180.115:81","request_fwd_for":null,"path":null,"start_time":"2024-05-21T16:19:04.707Z","bytes_sent":0}'

const config = loadTransformsConfig({})
const stages = createTransformStages(config)

function runLines(lines: string[]): AuditEvent[] {
  const parser = createParser({})
  const parsed = parser.parseBatch(
    lines.map((value, i) => ({ value, coords: { kind: 'file' as const, file: 'public.log', line: i + 1, offset: String(i * 1000) } })),
  )
  expect(parsed.deadLetters.map((d) => d.reason)).toEqual([])
  const staged = applyStages(stages, parsed.events)
  expect(staged.deadLetters).toEqual([])
  return staged.events
}

describe('real public lines through the parser and the stages', () => {
  const table: [string, string, string[], boolean | null][] = [
    ['kubeflow#2858 RBAC deny over plaintext', fx.RBAC_DENIED_PLAINTEXT_LINE, ['authz_denied', 'plaintext_inbound'], false],
    ['istio PR #35337 inbound mTLS with peer SAN', fx.MTLS_INBOUND_LINE, [], true],
    ['istio PR #35337 outbound', fx.MTLS_OUTBOUND_LINE, ['au3_incomplete'], null],
    ['ratelimit#296 STRICT rejection', fx.NR_FILTER_CHAIN_LINE, ['plaintext_rejected'], false],
    ['istio#51178 BlackHole text', fx.BLACKHOLE_LINE, ['au3_incomplete', 'egress_blocked'], null],
    ['istio#51178 BlackHole JSON', BLACKHOLE_JSON, ['au3_incomplete', 'egress_blocked'], null],
    ['engarde PR #8 Passthrough (Istio 1.3 text)', fx.PASSTHROUGH_LINE, ['au3_incomplete', 'unregistered_egress'], null],
    ['envoy#18964 UAEX (Envoy default format)', fx.UAEX_LINE, ['au3_incomplete', 'ext_authz_denied'], null],
  ]
  test.each(table)('%s', (_name, line, expected, mtls) => {
    const [e] = runLines([line])
    expect([...(e?.audit.finding_codes ?? [])].sort()).toEqual(expected)
    expect(e?.mesh?.mtls).toBe(mtls)
    expect(e?.audit.severity).toBeDefined()
  })

  test('RBAC policy id survives the parser into the finding', () => {
    const [e] = runLines([fx.RBAC_DENIED_PLAINTEXT_LINE])
    expect(e?.audit.findings?.find((f) => f.code === 'authz_denied')?.policy).toBe('none')
    expect(e?.mesh?.destination).toMatchObject({ service: 'profiles-kfam', namespace: 'kubeflow' })
  })

  test('the PR #35337 pair: both sides name the same destination; only the server side has the client identity', () => {
    const [inbound, outbound] = runLines([fx.MTLS_INBOUND_LINE, fx.MTLS_OUTBOUND_LINE])
    expect(inbound?.mesh?.destination?.service).toBe('echo')
    expect(outbound?.mesh?.destination?.service).toBe('echo')
    expect(inbound?.mesh?.source?.spiffe_id).toBe('spiffe://cluster.local/ns/default/sa/default')
    expect(outbound?.mesh?.source?.spiffe_id).toBeUndefined()
    expect(inbound?.audit.au3?.complete).toBe(true)
  })

  test('a batch of every line: counts per code', () => {
    const events = runLines([
      fx.RBAC_DENIED_PLAINTEXT_LINE,
      fx.MTLS_INBOUND_LINE,
      fx.MTLS_OUTBOUND_LINE,
      fx.NR_FILTER_CHAIN_LINE,
      fx.BLACKHOLE_LINE,
      BLACKHOLE_JSON,
      fx.PASSTHROUGH_LINE,
      fx.UAEX_LINE,
    ])
    const counts: Record<string, number> = {}
    for (const e of events) for (const c of e.audit.finding_codes ?? []) counts[c] = (counts[c] ?? 0) + 1
    expect(counts).toEqual({
      authz_denied: 1,
      plaintext_inbound: 1,
      au3_incomplete: 5,
      plaintext_rejected: 1,
      egress_blocked: 2,
      unregistered_egress: 1,
      ext_authz_denied: 1,
    })
  })
})

// Parser-produced events with hostile values: real lines with random tokens swapped in (text) or
// random values under the real keys (JSON). Whatever the parser accepts must pass the stages.
const token = fc.oneof(
  fc.stringMatching(/^[^\s"]{1,30}$/),
  fc.constantFrom(
    '-',
    '0',
    '403',
    'UAEX',
    'NR',
    'PassthroughCluster',
    'BlackHoleCluster',
    'inbound|1||',
    'outbound|1|x|a.b.svc.cluster.local',
    'outbound_.1_._.a.b.svc.cluster.local',
    'spiffe://evil/ns/a/sa/b',
    'spiffe://cluster.local/ns/a/sa/b,spiffe://x/y',
    'rbac_access_denied_matched_policy[ns[a]-policy[b]-rule[0]]',
    '__proto__',
  ),
)
const TEXT_LINES = [
  fx.RBAC_DENIED_PLAINTEXT_LINE,
  fx.MTLS_INBOUND_LINE,
  fx.MTLS_OUTBOUND_LINE,
  fx.NR_FILTER_CHAIN_LINE,
  fx.BLACKHOLE_LINE,
  fx.PASSTHROUGH_LINE,
  fx.UAEX_LINE,
]
const JSON_KEYS = Object.keys(JSON.parse(BLACKHOLE_JSON) as object)

describe('property: every event the parser produces passes the stages', () => {
  test('mutated text and JSON lines', () => {
    const textLine = fc
      .tuple(fc.constantFrom(...TEXT_LINES), fc.array(fc.tuple(fc.nat(40), token), { maxLength: 6 }))
      .map(([line, subs]) => {
        const parts = line.split(' ')
        for (const [i, t] of subs) if (i > 0 && i < parts.length) parts[i] = t
        return parts.join(' ')
      })
    const jsonLine = fc.array(fc.tuple(fc.constantFrom(...JSON_KEYS), fc.oneof(token, fc.jsonValue())), { maxLength: 6 }).map((subs) => {
      const o = JSON.parse(BLACKHOLE_JSON) as Record<string, unknown>
      for (const [k, v] of subs) if (k !== 'start_time') o[k] = v
      return JSON.stringify(o)
    })
    let accepted = 0
    fc.assert(
      fc.property(fc.array(fc.oneof(textLine, jsonLine), { minLength: 1, maxLength: 8 }), (lines) => {
        const parsed = createParser({}).parseBatch(
          lines.map((value, i) => ({ value, coords: { kind: 'file' as const, file: 'p', line: i + 1 } })),
        )
        accepted += parsed.events.length
        const staged = applyStages(stages, parsed.events)
        expect(staged.deadLetters).toEqual([])
        expect(staged.events).toHaveLength(parsed.events.length)
        for (const e of staged.events) expect(e.audit.severity).toBeDefined()
      }),
      { numRuns: 300 },
    )
    // The generator must actually reach the stages, or this property proves nothing.
    expect(accepted).toBeGreaterThan(300)
  })
})
