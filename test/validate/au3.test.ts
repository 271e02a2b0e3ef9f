import { describe, test, expect } from 'vitest'
import { readFileSync } from 'node:fs'
import type { AuditEvent } from '../../src/generated/types.js'
import { AU3_EXTRAS, AU3_TABLE, checkAu3, annotateAu3, readPath, renderAu3Markdown } from '../../src/validate/au3.js'
import { auditEventSchema } from '../../src/schema/audit-event.js'
import { loadTransformsConfig } from '../../src/config/transforms.js'
import { enrichIdentity } from '../../src/enrich/identity.js'
import { makeEvent, mtlsInbound, mtlsOutbound, nrFilterChain, passthrough, rbacDeniedPlaintext, uaex } from '../detect/fixtures.js'

const config = loadTransformsConfig({})
const enriched = (e: AuditEvent): AuditEvent => {
  enrichIdentity(e, config)
  return e
}

/** Walks the JSON Schema to check a dotted path names a real event field. */
function schemaHas(path: string): boolean {
  let node = auditEventSchema as Record<string, unknown>
  for (const key of path === '@timestamp' ? ['@timestamp'] : path.split('.')) {
    const props = node.properties as Record<string, Record<string, unknown>> | undefined
    if (props === undefined || !Object.hasOwn(props, key)) return false
    node = props[key] as Record<string, unknown>
  }
  return true
}

describe('the AU-3 table', () => {
  test('covers the six AU-3 elements a-f, in order', () => {
    expect(AU3_TABLE.map((r) => r.element)).toEqual(['type', 'when', 'where', 'source', 'outcome', 'identity'])
    expect(AU3_TABLE.map((r) => r.control)).toEqual(['AU-3a', 'AU-3b', 'AU-3c', 'AU-3d', 'AU-3e', 'AU-3f'])
    expect(AU3_EXTRAS.map((r) => r.element)).toEqual(['duration', 'bytes', 'request_id', 'tls_version'])
  })
  test('every field it names exists in schemas/audit-event.schema.json', () => {
    for (const row of [...AU3_TABLE, ...AU3_EXTRAS]) for (const f of row.fields) expect(schemaHas(f.path), f.path).toBe(true)
  })
  test('docs/au3-and-findings.md carries exactly the rendered table', () => {
    const doc = readFileSync(new URL('../../docs/au3-and-findings.md', import.meta.url), 'utf8')
    const m = /<!-- au3-table:start -->\n([\s\S]*?)<!-- au3-table:end -->/.exec(doc)
    expect(m?.[1]).toBe(renderAu3Markdown())
  })
  test('markdown rendering lists every element and field', () => {
    const md = renderAu3Markdown()
    for (const row of [...AU3_TABLE, ...AU3_EXTRAS]) {
      expect(md).toContain(`| ${row.element} | ${row.control} |`)
      for (const f of row.fields) expect(md).toContain(`\`${f.path}\``)
    }
  })
})

describe('checkAu3 on real lines', () => {
  test('inbound mTLS line with a peer SAN (istio PR #35337) is complete; only the TLS version extra is missing', () => {
    expect(checkAu3(enriched(mtlsInbound()))).toEqual({ complete: true, missing: [], extras_missing: ['tls_version'] })
  })
  test('default-format outbound line lacks identity (no SAN operator in Istio defaults)', () => {
    expect(checkAu3(enriched(mtlsOutbound()))).toEqual({ complete: false, missing: ['identity'], extras_missing: ['tls_version'] })
  })
  test('plaintext inbound (kubeflow#2858): no identity is not an AU-3 gap', () => {
    const e = enriched(rbacDeniedPlaintext())
    expect(e.mesh?.mtls).toBe(false)
    expect(checkAu3(e).complete).toBe(true)
  })
  test('the same line with mTLS unknowable does count identity as missing', () => {
    const e = rbacDeniedPlaintext()
    expect(checkAu3(e).missing).toEqual(['identity'])
  })
  test('TCP lines: response code 0 is not an outcome, flags or details are', () => {
    const e = enriched(nrFilterChain())
    expect(checkAu3(e)).toEqual({ complete: true, missing: [], extras_missing: ['request_id', 'tls_version'] })
    delete e.envoy.response_flags
    delete e.envoy.response_code_details
    e.event.outcome = 'unknown'
    e.http = { response: { status_code: 0 } }
    expect(checkAu3(e).missing).toContain('outcome')
  })
  test('passthrough TCP (engarde PR #8): outcome from event.outcome; no request id', () => {
    const r = checkAu3(enriched(passthrough()))
    expect(r.missing).toEqual(['identity'])
    expect(r.extras_missing).toEqual(['request_id', 'tls_version'])
  })
  test("Envoy's own default format (envoy#18964) has :authority for where but no client address: source is missing", () => {
    expect(checkAu3(enriched(uaex())).missing).toEqual(['source', 'identity'])
  })
  test('a bare event is missing everything but when', () => {
    const e = makeEvent({})
    const r = checkAu3(e)
    expect(r.missing).toEqual(['type', 'where', 'source', 'outcome', 'identity'])
    expect(r.extras_missing).toEqual(['duration', 'bytes', 'request_id', 'tls_version'])
  })
  test('bytes needs both directions; a bad timestamp fails when; invalid SPIFFE does not give identity', () => {
    const e = enriched(mtlsInbound())
    delete e.http?.response?.bytes
    e['@timestamp'] = 'not a date'
    e.envoy.peer = { downstream_uri_san: 'spiffe://Bad.TD/x' }
    delete e.mesh?.source
    const r = checkAu3(e)
    expect(r.missing).toEqual(['when', 'identity'])
    expect(r.extras_missing).toContain('bytes')
  })
  test('annotateAu3 writes audit.au3 and creates audit if a malformed event lacks it', () => {
    const e = makeEvent({})
    delete (e as Partial<AuditEvent>).audit
    annotateAu3(e)
    expect(e.audit.au3?.complete).toBe(false)
  })
  test('readPath reads own properties only', () => {
    expect(readPath({}, 'constructor')).toBeUndefined()
    expect(readPath({ a: { b: 1 } }, 'a.b')).toBe(1)
    expect(readPath(JSON.parse('{"a":{"__proto__":{"b":2}}}'), 'a.b')).toBeUndefined()
  })
})
