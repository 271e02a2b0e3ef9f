/**
 * PeerAuthentication composition, after istio/istio pilot/pkg/security/authn/policy_applier_test.go
 * TestComposePeerAuthentication (case names quoted) and the PeerAuthentication proto docs.
 */
import { describe, expect, test } from 'vitest'
import { meshConfigFrom } from '../../src/policy/mesh-config.js'
import { effectiveMtls } from '../../src/policy/scope.js'
import { evaluator, httpReq, policySet } from './helpers.js'

const pa = (name: string, ns: string, spec: string, created = '2024-01-01T00:00:00Z'): string =>
  `apiVersion: security.istio.io/v1beta1\nkind: PeerAuthentication\nmetadata: { name: ${name}, namespace: ${ns}, creationTimestamp: "${created}" }\nspec: ${spec}\n---\n`

const mesh = meshConfigFrom({})
const mode = (yaml: string, labels: Record<string, string> = { app: 'foo' }, port: number | null = 8080) =>
  effectiveMtls(policySet(yaml).peerAuthentications, 'foo', labels, port, mesh).mode

describe('TestComposePeerAuthentication', () => {
  test('no policy → PERMISSIVE', () => expect(mode('')).toBe('PERMISSIVE'))
  test('mesh only', () => expect(mode(pa('default', 'istio-system', '{ mtls: { mode: STRICT } }'))).toBe('STRICT'))
  test('mesh vs namespace: namespace wins', () =>
    expect(mode(pa('m', 'istio-system', '{ mtls: { mode: STRICT } }') + pa('n', 'foo', '{ mtls: { mode: PERMISSIVE } }'))).toBe(
      'PERMISSIVE',
    ))
  test('namespace vs workload: workload wins', () =>
    expect(
      mode(
        pa('n', 'foo', '{ mtls: { mode: STRICT } }') +
          pa('w', 'foo', '{ selector: { matchLabels: { app: foo } }, mtls: { mode: DISABLE } }'),
      ),
    ).toBe('DISABLE'))
  test('workload UNSET inherits namespace', () =>
    expect(
      mode(
        pa('n', 'foo', '{ mtls: { mode: STRICT } }') + pa('w', 'foo', '{ selector: { matchLabels: { app: foo } }, mtls: { mode: UNSET } }'),
      ),
    ).toBe('STRICT'))
  test('ignore non-emptypb selector in root namespace', () =>
    expect(mode(pa('r', 'istio-system', '{ selector: { matchLabels: { app: foo } }, mtls: { mode: STRICT } }'))).toBe('PERMISSIVE'))
  test('root namespace with empty matchLabels is mesh-wide', () =>
    expect(mode(pa('r', 'istio-system', '{ selector: { matchLabels: {} }, mtls: { mode: STRICT } }'))).toBe('STRICT'))
  test('multiple namespace policies: the oldest wins', () => {
    const yaml =
      pa('newer', 'foo', '{ mtls: { mode: DISABLE } }', '2024-02-01T00:00:00Z') +
      pa('older', 'foo', '{ mtls: { mode: STRICT } }', '2023-01-01T00:00:00Z')
    expect(mode(yaml)).toBe('STRICT')
  })
  test('port level: 80 DISABLE, 90 UNSET → STRICT, 100 {} → STRICT', () => {
    const yaml = pa(
      'w',
      'foo',
      '{ selector: { matchLabels: { app: foo } }, mtls: { mode: STRICT }, portLevelMtls: { "80": { mode: DISABLE }, "90": { mode: UNSET }, "100": {} } }',
    )
    expect(mode(yaml, { app: 'foo' }, 80)).toBe('DISABLE')
    expect(mode(yaml, { app: 'foo' }, 90)).toBe('STRICT')
    expect(mode(yaml, { app: 'foo' }, 100)).toBe('STRICT')
  })
  test('workload selector not matching → namespace mode', () =>
    expect(
      mode(
        pa('n', 'foo', '{ mtls: { mode: STRICT } }') +
          pa('w', 'foo', '{ selector: { matchLabels: { app: bar } }, mtls: { mode: DISABLE } }'),
      ),
    ).toBe('STRICT'))
})

describe('peer-authn layer in the evaluator (mtls-migration task: plaintext to STRICT fails at the connection)', () => {
  const ev = evaluator(
    pa('default', 'istio-system', '{ mtls: { mode: STRICT } }') +
      pa('legacy', 'ns1', '{ selector: { matchLabels: { app: b } }, portLevelMtls: { "8080": { mode: PERMISSIVE } } }'),
  )
  test('plaintext refused at peer-authn, mTLS passes', () => {
    expect(ev(httpReq({ mtls: false, principal: null, port: 18080 }))).toMatchObject({
      verdict: 'DENY',
      layer: 'peer-authn',
      mtlsMode: 'STRICT',
    })
    expect(ev(httpReq({ port: 18080 })).verdict).toBe('ALLOW')
  })
  test('portLevelMtls PERMISSIVE lets plaintext through on that port only', () => {
    expect(ev(httpReq({ mtls: false, principal: null, port: 8080 })).verdict).toBe('ALLOW')
  })
})
