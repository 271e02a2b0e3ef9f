import { describe, test, expect } from 'vitest'
import fc from 'fast-check'
import { readFileSync } from 'node:fs'
import { DEFAULT_SECRET_HEADERS, DEFAULT_SECRET_PARAMS } from '../../src/redact/config.js'
import { compileRules, redactText } from '../../src/redact/rules.js'
import { loadRedactionConfig } from '../../src/redact/config.js'
import { fileRecord, runRecords } from './harness.js'

const FIXTURE = readFileSync(new URL('../fixtures/envoy/mixed-real-world.log', import.meta.url), 'utf8').split('\n')
/** elastic/integrations packages/istio/data_stream/access_logs/_dev/test/pipeline/test-access-logs.log line 4. */
const TEXT_LINE = FIXTURE[0]!
/** elastic/integrations .../test-access-json-logs.log line 1. */
const JSON_LINE = FIXTURE[2]!

/** A secret that cannot occur in the fixture lines by accident. */
const secretArb = fc.stringMatching(/^[A-Za-z0-9]{12,32}$/).map((s) => `zQ${s}`)
const b64url = fc.stringMatching(/^[A-Za-z0-9_-]{4,40}$/)
const mixedCase = (name: string): fc.Arbitrary<string> =>
  fc
    .array(fc.boolean(), { minLength: name.length, maxLength: name.length })
    .map((up) => [...name].map((c, i) => (up[i] ? c.toUpperCase() : c)).join(''))

/** Where the secret goes. Each returns the path to put in the line and, for JSON, extra keys. */
type Placement = { path: string; jsonExtra?: Record<string, string>; secretText: string }
const placement = (secret: string): fc.Arbitrary<Placement> =>
  fc.oneof(
    fc
      .tuple(
        fc.constantFrom(...DEFAULT_SECRET_PARAMS).chain(mixedCase),
        fc.constantFrom('?', '?a=1&', '?x=y;'),
        fc.constantFrom('', '&b=2', '#frag'),
      )
      .map(([name, pre, post]) => ({ path: `/p${pre}${name}=${secret}${post}`, secretText: secret })),
    fc.tuple(b64url, b64url).map(([h, p]) => {
      const jwt = `eyJ${h}.eyJ${p}.${secret}`
      return { path: `/api/${jwt}/x`, secretText: secret }
    }),
    fc
      .tuple(fc.constantFrom(...DEFAULT_SECRET_HEADERS), fc.constantFrom('', 'req_', 'request.'), fc.constantFrom('', 'Bearer ', 'Basic '))
      .map(([h, prefix, scheme]) => ({ path: '/h', jsonExtra: { [`${prefix}${h}`]: `${scheme}${secret}` }, secretText: secret })),
  )

type Shape = 'text' | 'json' | 'truncated-json' | 'envelope' | 'envelope-broken' | 'invalid-utf8'
const shapeArb = fc.constantFrom<Shape>('text', 'json', 'truncated-json', 'envelope', 'envelope-broken', 'invalid-utf8')

function line(shape: Shape, p: Placement): string | Buffer {
  const json = (): string => {
    const obj = JSON.parse(JSON_LINE) as Record<string, unknown>
    obj.path = p.path
    return JSON.stringify({ ...obj, ...(p.jsonExtra ?? {}) })
  }
  const text = (): string => {
    // Headers have no slot in the Istio TEXT layout: text lines carry the secret in the path only.
    const path = p.jsonExtra === undefined ? p.path : `/h?token=${p.secretText}`
    return TEXT_LINE.replace('/reviews/0', path)
  }
  switch (shape) {
    case 'text':
      return text()
    case 'json':
      return json()
    case 'truncated-json': {
      const j = json()
      return j.slice(0, j.indexOf(p.secretText) + p.secretText.length + 3)
    }
    case 'envelope':
      return JSON.stringify({ log: json(), stream: 'stdout', time: '2022-09-08T12:51:05.656Z' })
    case 'envelope-broken':
      return JSON.stringify({ log: `${json()} trailing`, stream: 'stdout', time: 'x' })
    case 'invalid-utf8':
      return Buffer.concat([Buffer.from([0xff]), Buffer.from(text())])
  }
}

describe('no generated secret survives', () => {
  test('into any serialized event or dead letter, whatever the line shape; one output per record', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          secretArb.chain((s) => fc.tuple(fc.constant(s), placement(s), shapeArb)),
          { minLength: 1, maxLength: 8 },
        ),
        async (cases) => {
          const records = cases.map(([, p, shape], i) => fileRecord(line(shape, p), i + 1))
          const cap = await runRecords(records)
          expect(cap.events.length + cap.deadLetters.length).toBe(records.length)
          for (const [secret] of cases) for (const out of cap.outputs) expect(out).not.toContain(secret)
          expect(cap.redactions).toBeGreaterThanOrEqual(cases.length)
        },
      ),
      { numRuns: 150 },
    )
  })
  test('redactText is idempotent and never grows a secret-free text', () => {
    const rules = compileRules(loadRedactionConfig())
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (s) => {
        const once = redactText(rules, s)
        expect(redactText(rules, once.text)).toEqual({ text: once.text, count: 0 })
        if (once.count === 0) expect(once.text).toBe(s)
      }),
      { numRuns: 2000 },
    )
  })
  test('named markers or a separator match exactly what the combined marker matches; each covered rule marker implies them', () => {
    const rules = compileRules(loadRedactionConfig())
    const piece = fc.oneof(
      fc.constantFrom(...DEFAULT_SECRET_HEADERS).chain(mixedCase),
      fc.constantFrom(...DEFAULT_SECRET_PARAMS).chain(mixedCase),
      fc.constantFrom('Bearer ', 'bEaReR', 'NTLM ', 'eyJ', 'eyJa.eyJb', 'EYJ', '?', ';', '&', '=', '"', ' '),
      fc.string({ maxLength: 12 }),
    )
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 8 }), (parts) => {
        const text = parts.join('')
        const named = rules.named!.test(text)
        expect(named || (rules.separators && (text.includes('?') || text.includes(';')))).toBe(rules.markers!.test(text))
        for (const rule of rules.builtIn) if (rule.named === true && rule.marker!.test(text)) expect(named).toBe(true)
      }),
      { numRuns: 3000 },
    )
  })
  test('the per-rule markers only skip rules that could not have matched', () => {
    const rules = compileRules(loadRedactionConfig())
    // The same rules without the per-rule pre-tests: the reference result.
    const unguarded = { ...rules, builtIn: rules.builtIn.map((r) => ({ re: r.re, group: r.group })) }
    const piece = fc.oneof(
      fc
        .constantFrom(...DEFAULT_SECRET_PARAMS)
        .chain(mixedCase)
        .map((n) => `${n}=zQsecret1`),
      fc
        .constantFrom(...DEFAULT_SECRET_HEADERS)
        .chain(mixedCase)
        .map((h) => `"${h}":"v1x2y3z4"`),
      fc.constantFrom(...DEFAULT_SECRET_HEADERS).map((h) => `${h}: Basic dXNlcjpwYXNz`),
      fc.constantFrom('Bearer abcdef123456', 'bearer abcdef123456', 'eyJhbGc.eyJzdWIi.c2ln', '?', '&', ';', '=', '"', '\\"', ' ', '/x'),
      fc.string({ maxLength: 12 }),
    )
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 8 }), fc.boolean(), (parts, isQuery) => {
        const text = parts.join('')
        expect(redactText(rules, text, isQuery)).toEqual(redactText(unguarded, text, isQuery))
      }),
      { numRuns: 3000 },
    )
  })
})
