/**
 * Repeated request headers as Envoy's matchers see them: the copies joined with `,` in order (cookie with
 * `; `), then matched by Istio per `,`-separated element for `when: request.headers[...]`. Sources: Envoy
 * HeaderUtility::getAllOfHeaderAsString and header_map_impl.cc delimiterByHeader; Istio
 * pilot/pkg/security/authz/matcher/header.go HeaderMatcherWithRegex.
 */
import { describe, expect, test } from 'vitest'
import { parseRequest } from '../../src/policy/request.js'
import { evaluator, httpReq } from './helpers.js'

const req = (headers: Record<string, string | string[]>) =>
  httpReq({ principal: 'cluster.local/ns/a/sa/web', ns: 'ns', app: 'api', port: 8080, headers })

const allowWhen = (header: string, value: string) => `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: allow, namespace: ns }
spec:
  selector: { matchLabels: { app: api } }
  action: ALLOW
  rules:
  - when: [{ key: "request.headers[${header}]", values: ["${value}"] }]
`
const denyWhen = (header: string, value: string) => allowWhen(header, value).replace('action: ALLOW', 'action: DENY')

describe('parseRequest joins repeated headers as Envoy does', () => {
  test('an array joins with "," in order; names differing in case are one header, not an overwrite', () => {
    expect(parseRequest(req({ 'X-Token': ['admin', 'guest'] })).headers['x-token']).toBe('admin,guest')
    expect(parseRequest(req({ 'X-Token': 'evil', 'x-token': 'ok' })).headers['x-token']).toBe('evil,ok')
  })

  test('cookie joins with "; ", set-cookie with "," like any other header', () => {
    expect(parseRequest(req({ cookie: ['a=1', 'session=abc'] })).headers['cookie']).toBe('a=1; session=abc')
    expect(parseRequest(req({ Cookie: 'a=1', cookie: ['b=2'] })).headers['cookie']).toBe('a=1; b=2')
    expect(parseRequest(req({ 'set-cookie': ['a=1', 'b=2'] })).headers['set-cookie']).toBe('a=1,b=2')
  })
})

describe('verdicts on repeated headers', () => {
  test('Istio matches request.headers per ","-element: [admin, guest] matches "admin", a spaced single value does not split', () => {
    const decide = evaluator(allowWhen('x-token', 'admin'))
    expect(decide(req({ 'x-token': ['admin', 'guest'] })).verdict).toBe('ALLOW')
    expect(decide(req({ 'x-token': ['guest'] })).verdict).toBe('DENY')
    // One header "guest, admin": the element is " admin" (leading space), which the regex does not match.
    expect(decide(req({ 'x-token': 'guest, admin' })).verdict).toBe('DENY')
  })

  test('a DENY on a header value is not dodged by sending the header twice under two spellings', () => {
    const decide = evaluator(denyWhen('x-token', 'evil'))
    expect(decide(req({ 'X-Token': 'evil', 'x-token': 'ok' })).verdict).toBe('DENY')
  })

  test('a cookie never splits on ",": an ALLOW on one cookie pair does not match a joined cookie header', () => {
    const decide = evaluator(allowWhen('cookie', 'session=abc'))
    expect(decide(req({ cookie: 'session=abc' })).verdict).toBe('ALLOW')
    expect(decide(req({ cookie: ['a=1', 'session=abc'] })).verdict).toBe('DENY')
  })
})
