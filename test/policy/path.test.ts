/**
 * Path normalization modes (istio/api ProxyPathNormalization; istio.io normalization and best-practices
 * pages) and template matching. The idempotence property matters because `policy check` re-normalizes
 * logged paths that Envoy may already have normalized.
 */
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { normalizePath, templateProblem, templateRegex } from '../../src/policy/path.js'
import { PATH_NORMALIZATIONS } from '../../src/policy/mesh-config.js'
import { evaluator, httpReq } from './helpers.js'

const norm = (p: string, mode: (typeof PATH_NORMALIZATIONS)[number]) => {
  const r = normalizePath(p, mode)
  return r.ok ? r.path : `REJECT`
}

describe('modes', () => {
  test.each([
    ['/a/../b', 'NONE', '/a/../b'],
    ['/a/../b', 'BASE', '/b'],
    ['/a\\b', 'DEFAULT', '/a/b'],
    ['/data//secret', 'BASE', '/data//secret'],
    ['/data//secret', 'MERGE_SLASHES', '/data/secret'],
    ['/data%2Fsecret', 'MERGE_SLASHES', '/data%2Fsecret'],
    ['/data%2Fsecret', 'DECODE_AND_MERGE_SLASHES', '/data/secret'],
    ['/data%2f%2fsecret', 'DECODE_AND_MERGE_SLASHES', '/data/secret'],
    ['/%41DMIN', 'BASE', '/ADMIN'],
    ['/x?y=/../z', 'BASE', '/x'],
    ['/a%00b', 'BASE', 'REJECT'],
  ] as const)('%s under %s → %s', (p, mode, want) => expect(norm(p, mode)).toBe(want))

  test('normalization is idempotent in every mode', () => {
    const seg = fc.constantFrom('a', 'B', '.', '..', '', '%2e', '%2E', '%2f', '%5C', '\\', '%41', '%25', 'x%2Fy')
    fc.assert(
      fc.property(fc.array(seg, { maxLength: 8 }), fc.constantFrom(...PATH_NORMALIZATIONS), (segs, mode) => {
        const once = normalizePath(`/${segs.join('/')}`, mode)
        if (!once.ok) return
        expect(norm(once.path, mode)).toBe(once.path)
      }),
      { numRuns: 500 },
    )
  })

  test('best-practices example: DENY /data/secret is bypassed by //, unless MERGE_SLASHES', () => {
    const policy = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: deny-secret, namespace: ns1 }
spec: { action: DENY, rules: [{ to: [{ operation: { paths: ["/data/secret"] } }] }] }
`
    expect(evaluator(policy)(httpReq({ path: '/data//secret' })).verdict).toBe('ALLOW')
    expect(evaluator(policy, { pathNormalization: { normalization: 'MERGE_SLASHES' } })(httpReq({ path: '/data//secret' })).verdict).toBe(
      'DENY',
    )
    expect(evaluator(policy, { pathNormalization: { normalization: 'MERGE_SLASHES' } })(httpReq({ path: '/data%2Fsecret' })).verdict).toBe(
      'ALLOW',
    )
    expect(
      evaluator(policy, { pathNormalization: { normalization: 'DECODE_AND_MERGE_SLASHES' } })(httpReq({ path: '/data%2Fsecret' })).verdict,
    ).toBe('DENY')
  })
})

describe('templates', () => {
  test('validation (CheckValidPathTemplate)', () => {
    expect(templateProblem('/a/{**}/b/{*}')).toMatch(/last operator/)
    expect(templateProblem('/a/{*}/b*')).toMatch(/outside/)
    expect(templateProblem('/a/{*}/{**}')).toBeNull()
  })
  test('{*} never spans a slash; {**} may be empty', () => {
    expect(templateRegex('/a/{*}/c').test('/a/b/x/c')).toBe(false)
    expect(templateRegex('/a/{**}').test('/a/')).toBe(true)
  })
})
