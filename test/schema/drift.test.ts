import { readFileSync } from 'node:fs'
import { describe, expect, test } from 'vitest'
import { renderArtifacts } from '../../src/schema/artifacts.js'
import { auditEventSchema, compileEventSerializer } from '../../src/schema/audit-event.js'
import { leafFields, mappingFromSchema } from '../../src/schema/mapping.js'

describe('generated artifacts', () => {
  test('every checked-in artifact matches what the schema generates (run `npm run generate` after a schema edit)', async () => {
    const artifacts = await renderArtifacts()
    expect(artifacts.map((a) => a.path)).toEqual(
      expect.arrayContaining([
        'src/generated/types.ts',
        'src/generated/duckdb-columns.ts',
        'schemas/generated/audit-event.mapping.json',
        'schemas/opensearch/findings-template.json',
      ]),
    )
    for (const a of artifacts) {
      const onDisk = readFileSync(new URL(`../../${a.path}`, import.meta.url), 'utf8')
      expect(onDisk, `${a.path} drifted from schemas/`).toBe(a.content)
    }
  })

  test('the mapping types identities as keyword, addresses as ip, times as date, counts as long', () => {
    const fields = leafFields(mappingFromSchema(auditEventSchema))
    expect(fields.get('@timestamp')).toBe('date')
    expect(fields.get('source.ip')).toBe('ip')
    expect(fields.get('destination.ip')).toBe('ip')
    expect(fields.get('mesh.source.spiffe_id')).toBe('keyword')
    expect(fields.get('http.response.status_code')).toBe('long')
    expect(fields.get('event.duration')).toBe('long')
    expect(fields.get('mesh.mtls')).toBe('boolean')
    expect(fields.get('audit.findings.code')).toBe('keyword')
    expect(fields.get('kubernetes.labels')).toBe('flat_object')
  })

  test('the mapping is strict so an unexpected field is rejected rather than added', () => {
    expect(mappingFromSchema(auditEventSchema).dynamic).toBe('strict')
  })
})

describe('compiled serializer', () => {
  const serialize = compileEventSerializer()
  const base = {
    '@timestamp': '2022-09-08T12:51:05.656Z',
    event: { id: 'x', kind: 'event' as const, dataset: 'envoy.access' as const, outcome: 'success' as const },
    envoy: { format: 'istio-json' },
    audit: {},
  }

  test('drops keys that are not in the schema, including prototype-polluting ones', () => {
    const hostile = JSON.parse(
      '{"@timestamp":"2022-09-08T12:51:05.656Z","event":{"id":"x","kind":"event","dataset":"envoy.access","outcome":"success","injected":1},"envoy":{"format":"f"},"audit":{},"__proto__":{"polluted":true},"extra":"no"}',
    )
    const out = JSON.parse(serialize(hostile))
    expect(out.extra).toBeUndefined()
    expect(out.event.injected).toBeUndefined()
    expect(Object.keys(out)).not.toContain('__proto__')
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })

  test('round-trips a nested event', () => {
    const e = { ...base, mesh: { mtls: null, source: { spiffe_id: 'spiffe://cluster.local/ns/a/sa/b' } } }
    expect(JSON.parse(serialize(e))).toEqual(e)
  })

  test('refuses an event without its required fields', () => {
    expect(() => serialize({ ...base, event: undefined } as never)).toThrow()
  })
})
