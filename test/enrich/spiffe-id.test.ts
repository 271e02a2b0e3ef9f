import { describe, test, expect } from 'vitest'
import fc from 'fast-check'
import {
  parseSpiffeId,
  parseIstioPrincipal,
  parseIdentity,
  parseSanList,
  type SpiffeIdError,
  type SpiffeId,
} from '../../src/enrich/spiffe-id.js'

// Section numbers refer to the SPIFFE ID specification, spiffe/spiffe standards/SPIFFE-ID.md
// (commit 27b59b81ba8c), "2. SPIFFE Identity" and its subsections.
const SPEC = 'spiffe/spiffe standards/SPIFFE-ID.md'

describe(`valid SPIFFE IDs (${SPEC})`, () => {
  test.each([
    // §2.2 examples, verbatim from the spec.
    ['spiffe://staging.example.com/payments/mysql', 'staging.example.com', '/payments/mysql', undefined, undefined],
    ['spiffe://k8s-west.example.com/ns/staging/sa/default', 'k8s-west.example.com', '/ns/staging/sa/default', 'staging', 'default'],
    [
      'spiffe://example.com/9eebccd2-12bf-40a6-b262-65fe0487d453',
      'example.com',
      '/9eebccd2-12bf-40a6-b262-65fe0487d453',
      undefined,
      undefined,
    ],
    // §3.1: a signing authority's ID SHOULD NOT have a path component (trust-domain ID).
    ['spiffe://example.com', 'example.com', '', undefined, undefined],
    // §2.1: [a-z0-9.-_]; IPv4 dotted quads are not excluded.
    ['spiffe://trust_domain_name.example.com/a', 'trust_domain_name.example.com', '/a', undefined, undefined],
    ['spiffe://10.0.0.1/x', '10.0.0.1', '/x', undefined, undefined],
    // §2.2: segments [a-zA-Z0-9.-_]; path is case-sensitive (§2.4); a dot inside a segment is fine.
    ['spiffe://example.org/Foo/bar.baz/..x/_-.', 'example.org', '/Foo/bar.baz/..x/_-.', undefined, undefined],
    // Istio workload identity (istio.io authz-td-migration task; istio/istio PR #35337 log line).
    ['spiffe://cluster.local/ns/default/sa/default', 'cluster.local', '/ns/default/sa/default', 'default', 'default'],
  ])('%s', (input, td, path, ns, sa) => {
    const r = parseSpiffeId(input)
    expect(r.ok).toBe(true)
    if (!r.ok) return
    expect(r.id.trustDomain).toBe(td)
    expect(r.id.path).toBe(path)
    expect(r.id.namespace).toBe(ns)
    expect(r.id.serviceAccount).toBe(sa)
    expect(r.id.uri).toBe(input)
  })

  test('§2.4: the scheme is case-insensitive; the canonical form lowercases it', () => {
    const r = parseSpiffeId('SPIFFE://example.org/a')
    expect(r.ok && r.id.uri).toBe('spiffe://example.org/a')
  })

  test('§2.3: exactly 2048 bytes is accepted; a 255-byte trust domain is accepted', () => {
    const prefix = 'spiffe://example.org/'
    const id = prefix + 'a'.repeat(2048 - prefix.length)
    expect(id.length).toBe(2048)
    expect(parseSpiffeId(id).ok).toBe(true)
    expect(parseSpiffeId(`spiffe://${'a'.repeat(255)}/x`).ok).toBe(true)
  })
})

describe(`invalid SPIFFE IDs (${SPEC})`, () => {
  test.each<[string, SpiffeIdError, string]>([
    ['', 'empty', '§2 non-zero trust domain'],
    ['https://example.org/a', 'wrong_scheme', '§2 scheme MUST be spiffe'],
    ['spiffe:/example.org/a', 'wrong_scheme', '§2 hier-part with authority'],
    ['example.org/a', 'wrong_scheme', 'not a URI'],
    ['spiffe://', 'missing_trust_domain', '§2.1 host MUST NOT be empty'],
    ['spiffe:///path', 'missing_trust_domain', '§2.1 host MUST NOT be empty'],
    ['spiffe://user@example.org/a', 'userinfo', '§2.1 userinfo MUST be empty'],
    ['spiffe://example.org:8080/a', 'port', '§2.1 port MUST be empty'],
    ['spiffe://example.org:/a', 'port', '§2.1 the ":" delimiter MUST NOT be present'],
    ['spiffe://Example.org/a', 'trust_domain_chars', '§2.1 host MUST be lowercase'],
    ['spiffe://exa mple.org/a', 'trust_domain_chars', '§2.1 charset'],
    ['spiffe://example.org~/a', 'trust_domain_chars', '§2.1 charset'],
    ['spiffe://[::1]/a', 'port', '§2.1 excludes IPv6 addresses'],
    ['spiffe://ex%41mple.org/a', 'percent_encoded', '§2.1 no percent-encoded characters'],
    ['spiffe://example.org/a?x=1', 'query', '§2 MUST NOT include a query'],
    ['spiffe://example.org?x=1', 'query', '§2 MUST NOT include a query'],
    ['spiffe://example.org/a#frag', 'fragment', '§2 MUST NOT include a fragment'],
    ['spiffe://example.org/a%20b', 'percent_encoded', '§2.2 no percent-encoded characters'],
    ['spiffe://example.org/', 'trailing_slash', '§2.2 MUST NOT include a trailing /'],
    ['spiffe://example.org/a/', 'trailing_slash', '§2.2 MUST NOT include a trailing /'],
    ['spiffe://example.org//a', 'empty_segment', '§2.2 no empty segments'],
    ['spiffe://example.org/a//b', 'empty_segment', '§2.2 no empty segments'],
    ['spiffe://example.org/./a', 'dot_segment', '§2.2 no relative path modifiers'],
    ['spiffe://example.org/a/..', 'dot_segment', '§2.2 no relative path modifiers'],
    ['spiffe://example.org/a b', 'path_chars', '§2.2 segment charset'],
    ['spiffe://example.org/a$b', 'path_chars', '§2.2 segment charset'],
    ['spiffe://example.org/ü', 'path_chars', '§2.2 segment charset (ASCII only)'],
  ])('%s → %s (%s)', (input, error) => {
    const r = parseSpiffeId(input)
    expect(r).toEqual({ ok: false, error })
  })

  test('§2.3: over 2048 bytes and a trust domain over 255 bytes are rejected', () => {
    const prefix = 'spiffe://example.org/'
    expect(parseSpiffeId(prefix + 'a'.repeat(2049 - prefix.length))).toEqual({ ok: false, error: 'too_long' })
    expect(parseSpiffeId(`spiffe://${'a'.repeat(256)}/x`)).toEqual({ ok: false, error: 'trust_domain_too_long' })
  })

  test('non-strings are rejected, not thrown on', () => {
    for (const v of [undefined, null, 42, {}, [], Symbol.iterator]) expect(parseSpiffeId(v).ok).toBe(false)
  })
})

describe('Istio principal form td/ns/NS/sa/SA', () => {
  test('principal parses to the same identity as the URI', () => {
    const r = parseIstioPrincipal('cluster.local/ns/foo/sa/bar')
    expect(r.ok).toBe(true)
    if (!r.ok) return
    expect(r.id).toMatchObject({
      uri: 'spiffe://cluster.local/ns/foo/sa/bar',
      trustDomain: 'cluster.local',
      namespace: 'foo',
      serviceAccount: 'bar',
      form: 'istio-principal',
    })
  })
  test.each([
    'cluster.local/foo/bar',
    'cluster.local/ns/foo',
    'spiffe://cluster.local/ns/foo/sa/bar',
    'Cluster.local/ns/a/sa/b',
    '*/ns/foo/sa/bar',
    '',
  ])('rejects %j', (input) => expect(parseIstioPrincipal(input).ok).toBe(false))
  test('parseIdentity accepts both forms', () => {
    expect(parseIdentity('my-td/ns/a/sa/b').ok).toBe(true)
    expect(parseIdentity('spiffe://my-td/ns/a/sa/b').ok).toBe(true)
    expect(parseIdentity('my-td').ok).toBe(false)
  })
})

describe('comma-joined SAN lists (Envoy absl::StrJoin(..., ","))', () => {
  test('several SANs, invalid ones reported separately, order kept', () => {
    const r = parseSanList('spiffe://cluster.local/ns/a/sa/x,https://example.org/not-spiffe,spiffe://other.td/ns/b/sa/y')
    expect(r.ids.map((i) => i.uri)).toEqual(['spiffe://cluster.local/ns/a/sa/x', 'spiffe://other.td/ns/b/sa/y'])
    expect(r.invalid).toEqual([{ value: 'https://example.org/not-spiffe', error: 'wrong_scheme' }])
  })
  test.each(['-', '', undefined, null, 7])('unset value %j gives nothing', (v) => {
    expect(parseSanList(v)).toEqual({ ids: [], invalid: [] })
  })
})

describe('properties', () => {
  test('never throws, and every accepted ID re-parses to itself', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.webUrl(), fc.constantFrom('spiffe://', 'spiffe://a/', 'spiffe://a/b/../c')),
        (s) => {
          const r = parseSpiffeId(s)
          if (r.ok) {
            expect(parseSpiffeId(r.id.uri)).toEqual(r)
            expect(r.id.uri.length).toBeLessThanOrEqual(2048)
          }
          parseSanList(s)
          parseIdentity(s)
        },
      ),
      { numRuns: 2000 },
    )
  })

  test('IDs built from the allowed alphabets are always accepted, with the Istio fields extracted', () => {
    const td = fc.stringMatching(/^[a-z0-9._-]{1,40}$/)
    const seg = fc.stringMatching(/^[a-zA-Z0-9._-]{1,20}$/).filter((s) => s !== '.' && s !== '..')
    fc.assert(
      fc.property(td, seg, seg, (t, ns, sa) => {
        const r = parseSpiffeId(`spiffe://${t}/ns/${ns}/sa/${sa}`)
        expect(r.ok).toBe(true)
        if (r.ok) expect([r.id.trustDomain, r.id.namespace, r.id.serviceAccount]).toEqual([t, ns, sa])
      }),
    )
  })
})

describe('parseSanList cache (each distinct value parsed once)', () => {
  const value = 'spiffe://cluster.local/ns/shop/sa/frontend,spiffe://cluster.local/ns/shop/sa/frontend-v2,DNS:frontend'

  test('a repeated value returns the same frozen result, equal to parsing each entry', () => {
    const a = parseSanList(value)
    const b = parseSanList(value)
    expect(b).toBe(a)
    expect(Object.isFrozen(a) && Object.isFrozen(a.ids) && Object.isFrozen(a.ids[0])).toBe(true)
    expect(a.ids.map((id) => id.uri)).toEqual([
      'spiffe://cluster.local/ns/shop/sa/frontend',
      'spiffe://cluster.local/ns/shop/sa/frontend-v2',
    ])
    expect(a.invalid).toEqual([{ value: 'DNS:frontend', error: 'wrong_scheme' }])
    // A caller that tries to change a shared result fails loudly instead of corrupting later events.
    expect(() => (a.ids as SpiffeId[]).push(a.ids[0] as SpiffeId)).toThrow(TypeError)
  })

  test('cached and uncached parses agree for any list, also after the cache has been dropped', () => {
    const entry = fc.oneof(
      fc.stringMatching(/^spiffe:\/\/[a-z0-9.-]{1,12}\/ns\/[a-z0-9-]{1,8}\/sa\/[a-z0-9-]{1,8}$/),
      fc.string({ maxLength: 30 }),
    )
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 5 }), (entries) => {
        const v = entries.join(',')
        const first = parseSanList(v)
        // Fill the cache past its bound with distinct values, so the next call re-parses.
        for (let i = 0; i < 4200; i++) parseSanList(`spiffe://td${i}.local/ns/a/sa/b`)
        const again = parseSanList(v)
        expect(again).toEqual(first)
        const expected = entries
          .map((e) => e.trim())
          .filter((e) => e !== '' && e !== '-')
          .map((e) => parseSpiffeId(e))
        expect(first.ids.map((id) => id.uri)).toEqual(expected.flatMap((r) => (r.ok ? [r.id.uri] : [])))
      }),
      { numRuns: 30 },
    )
  })

  test('oversized values are parsed but not cached', () => {
    const long = `spiffe://cluster.local/ns/shop/sa/${'a'.repeat(600)}`
    const a = parseSanList(long)
    expect(a.ids).toHaveLength(1)
    expect(parseSanList(long)).not.toBe(a)
    expect(parseSanList(long)).toEqual(a)
  })
})
