import { describe, test, expect } from 'vitest'
import { readFileSync } from 'node:fs'
import { loadRedactionConfig } from '../../src/redact/config.js'
import { compileRules, redactText, REDACTED } from '../../src/redact/rules.js'
import { createRedactionStage, createRedactor } from '../../src/redact/redactor.js'
import { createParser } from '../../src/parse/index.js'
import { validateConfig } from '../../src/compose/config.js'
import { fileRecord, runRecords } from './harness.js'

const rules = compileRules(loadRedactionConfig())
const FIXTURE = readFileSync(new URL('../fixtures/envoy/mixed-real-world.log', import.meta.url), 'utf8').split('\n')
/** elastic/integrations packages/istio/data_stream/access_logs/_dev/test/pipeline/test-access-logs.log line 4. */
const TEXT_LINE = FIXTURE[0]!
/** elastic/integrations .../test-access-json-logs.log line 1. */
const JSON_LINE = FIXTURE[2]!

/** RFC 6749 §4.1.2 authorization response example. */
const OAUTH_CODE_PATH = '/cb?code=SplxlOBeZQQYbYS6WxSbIA&state=xyz'
/** RFC 7519 §3.1 example JWT. */
const RFC7519_JWT =
  'eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk'
/** AWS S3 docs, "Authenticating Requests: Using Query Parameters (AWS Signature Version 4)" example URL. */
const AWS_PRESIGNED =
  '/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404'
/** RFC 7617 §2 example credentials (Aladdin:open sesame). */
const BASIC = 'Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=='

const withPath = (line: string, path: string): string => line.replace('/reviews/0', path)

describe('redactText', () => {
  test('keeps the key, replaces the value (RFC 6749 code), leaves other parameters', () => {
    const r = redactText(rules, OAUTH_CODE_PATH)
    expect(r).toEqual({ text: `/cb?code=${REDACTED}&state=xyz`, count: 1 })
  })
  test('AWS SigV4 presigned URL: signature and credential gone, the rest kept', () => {
    const r = redactText(rules, AWS_PRESIGNED)
    expect(r.count).toBe(2)
    expect(r.text).not.toContain('aeeed9bb')
    expect(r.text).not.toContain('AKIAIOSFODNN7EXAMPLE')
    expect(r.text).toContain('X-Amz-Date=20130524T000000Z')
    expect(r.text).toContain(`X-Amz-Signature=${REDACTED}`)
  })
  test('url.query has no `?` but is still scanned', () => {
    expect(redactText(rules, 'access_token=mF_9.B5f-4.1JqM&x=1', true)).toEqual({ text: `access_token=${REDACTED}&x=1`, count: 1 })
    expect(redactText(rules, 'access_token=mF_9.B5f-4.1JqM&x=1', false).count).toBe(0)
  })
  test('a parameter name must be whole: monkey= and tokens= are not secrets', () => {
    expect(redactText(rules, '/x?monkey=1&tokens=2&key=AIzaSyA').text).toBe(`/x?monkey=1&tokens=2&key=${REDACTED}`)
  })
  test('matrix parameter (servlet session id)', () => {
    expect(redactText(rules, '/app;jsessionid=1A530637289A03B07199A44E8D531427').text).toBe(`/app;jsessionid=${REDACTED}`)
  })
  test('JWT anywhere, whole token', () => {
    expect(redactText(rules, `/api/v1/${RFC7519_JWT}/profile`)).toEqual({ text: `/api/v1/${REDACTED}/profile`, count: 1 })
  })
  test('headers logged by custom JSON formats, with and without prefixes, and escaped inside an envelope', () => {
    const line = `{"path":"/a","authorization":"${BASIC}","req_x_api_key":"k-123456","Cookie":"sid=abc; theme=dark"}`
    const r = redactText(rules, line)
    expect(r.text).toBe(`{"path":"/a","authorization":"${REDACTED}","req_x_api_key":"${REDACTED}","Cookie":"${REDACTED}"}`)
    const escaped = JSON.stringify({ log: line })
    const e = redactText(rules, escaped)
    expect(e.text).not.toContain('QWxhZGRp')
    expect(e.text).not.toContain('k-123456')
    expect(e.text).not.toContain('sid=abc')
  })
  test('bare auth scheme as a text format prints %REQ(AUTHORIZATION)%, and Name: value dumps', () => {
    expect(redactText(rules, `"GET /a HTTP/1.1" 200 "${BASIC}"`).text).toBe(`"GET /a HTTP/1.1" 200 "Basic ${REDACTED}"`)
    expect(redactText(rules, 'x-api-key: 0123456789abcdef').text).toBe(`x-api-key: ${REDACTED}`)
  })
  test('fast path: a line without markers is returned as is', () => {
    const r = redactText(rules, TEXT_LINE)
    expect(r.count).toBe(0)
    expect(r.text).toBe(TEXT_LINE)
  })
  test('idempotent: redacting redacted text changes and counts nothing', () => {
    for (const s of [OAUTH_CODE_PATH, AWS_PRESIGNED, `{"authorization":"${BASIC}"}`, RFC7519_JWT]) {
      const once = redactText(rules, s).text
      expect(redactText(rules, once)).toEqual({ text: once, count: 0 })
    }
  })
  test('user rules: whole match, or only the `value` group', () => {
    const custom = compileRules(
      loadRedactionConfig({
        rules: [
          { name: 'ssn', pattern: '\\b\\d{3}-\\d{2}-\\d{4}\\b' },
          { name: 'tenant', pattern: 'tenant-key/(?<value>[a-f0-9]+)', flags: 'i' },
        ],
      }),
    )
    expect(redactText(custom, '/u/078-05-1120/TENANT-KEY/abc123').text).toBe(`/u/${REDACTED}/TENANT-KEY/${REDACTED}`)
  })
  test('an empty-matching user rule terminates and replaces nothing', () => {
    const custom = compileRules(loadRedactionConfig({ rules: [{ name: 'empty', pattern: 'x*' }] }))
    expect(redactText(custom, 'abc')).toEqual({ text: 'abc', count: 0 })
  })
})

describe('config', () => {
  test('errors name the option path', () => {
    expect(() => loadRedactionConfig({ rules: [{ name: 'bad', pattern: '(' }] })).toThrow(
      /redaction\.rules\.0\.pattern: not a valid regular expression/,
    )
    expect(() => loadRedactionConfig({ params: ['a b'] })).toThrow(/redaction\.params\.0/)
    expect(() => validateConfig({ redaction: { jwt: 'yes' } })).toThrow(/redaction\.jwt/)
  })
  test('defaults: on, JWT and auth schemes on, RFC 6749 names present, frozen', () => {
    const c = loadRedactionConfig()
    expect(c.enabled).toBe(true)
    expect(c.jwt && c.authSchemes).toBe(true)
    expect(c.params).toEqual(expect.arrayContaining(['code', 'access_token', 'x-amz-signature', 'client_secret']))
    expect(Object.isFrozen(c.params)).toBe(true)
    expect(validateConfig({}).redaction.enabled).toBe(true)
  })
})

describe('events', () => {
  test('text line: path and original redacted, audit.redactions counts both', () => {
    const parser = createParser({})
    const { events } = parser.parseBatch([fileRecord(withPath(TEXT_LINE, OAUTH_CODE_PATH))])
    const e = events[0]!
    createRedactionStage().process([e])
    expect(e.url?.path).toBe('/cb')
    expect(e.url?.query).toBe(`code=${REDACTED}&state=xyz`)
    expect(e.event.original).toContain(`/cb?code=${REDACTED}&state=xyz`)
    expect(e.audit.redactions).toBe(2)
  })
  test('an event without secrets is left exactly as parsed and gets no redactions field', () => {
    const parser = createParser({})
    const a = parser.parseBatch([fileRecord(JSON_LINE)]).events[0]!
    const b = structuredClone(a)
    expect(createRedactor().redactEvent(b)).toBe(0)
    expect(b).toEqual(a)
  })
})

describe('through the batch handler', () => {
  test('the stage runs first and redacts before detection can quote the path', async () => {
    const line = withPath(TEXT_LINE, `/login?password=hunter2hunter2&next=${RFC7519_JWT}`)
    const cap = await runRecords([fileRecord(line)])
    expect(cap.events).toHaveLength(1)
    for (const out of cap.outputs) {
      expect(out).not.toContain('hunter2hunter2')
      expect(out).not.toContain('dBjftJeZ4CVP')
    }
    expect(cap.redactions).toBe(cap.events[0]!.audit.redactions)
    expect(cap.redactions).toBe(4)
  })
  test('dead letters: raw, message and Kafka headers redacted, `redacted` set, other bytes unchanged', async () => {
    const junk = `not an access log GET ${OAUTH_CODE_PATH}`
    const cap = await runRecords([fileRecord(junk, 1, { Authorization: BASIC, trace: 'abc' })])
    expect(cap.deadLetters).toHaveLength(1)
    const dl = cap.deadLetters[0]!
    expect(dl.raw).toBe(`not an access log GET /cb?code=${REDACTED}&state=xyz`)
    expect(dl.headers).toEqual({ Authorization: REDACTED, trace: 'abc' })
    expect(dl.redacted).toBeGreaterThanOrEqual(2)
    expect(cap.redactions).toBe(dl.redacted)
  })
  test('invalid UTF-8 dead letters: the secret bytes go, every other byte stays', async () => {
    const bytes = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(` GET ${OAUTH_CODE_PATH} `), Buffer.from([0xc3])])
    const cap = await runRecords([fileRecord(bytes)])
    const dl = cap.deadLetters[0]!
    expect(dl.raw_base64).toBeDefined()
    const back = Buffer.from(dl.raw_base64!, 'base64')
    const expected = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(` GET /cb?code=${REDACTED}&state=xyz `), Buffer.from([0xc3])])
    expect(back.equals(expected)).toBe(true)
  })
  test('a joined CRI line that fails: the secret in an earlier part is redacted there too', async () => {
    const p1 = `2022-07-22T12:24:13.900328365Z stdout P not an access log GET ${OAUTH_CODE_PATH}`
    const f = '2022-07-22T12:24:13.900328366Z stdout F  and the rest'
    const cap = await runRecords([fileRecord(p1, 1), fileRecord(f, 2)])
    expect(cap.deadLetters).toHaveLength(1)
    const dl = cap.deadLetters[0]!
    expect(dl.parts?.map((x) => x.raw)).toEqual([p1.replace('SplxlOBeZQQYbYS6WxSbIA', REDACTED)])
    for (const out of cap.outputs) expect(out).not.toContain('SplxlOBeZQQYbYS6WxSbIA')
    expect(dl.redacted).toBeGreaterThanOrEqual(1)
  })
  test('--no-redact keeps the secret (the opt-out works, so the other tests are meaningful)', async () => {
    const cap = await runRecords([fileRecord(withPath(TEXT_LINE, OAUTH_CODE_PATH))], false)
    expect(cap.outputs.join('\n')).toContain('SplxlOBeZQQYbYS6WxSbIA')
    expect(cap.redactions).toBe(0)
  })
})
