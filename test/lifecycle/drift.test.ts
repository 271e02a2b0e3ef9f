import { describe, expect, test } from 'vitest'
import { readFileSync } from 'node:fs'
import { renderOpenSearchArtifacts } from '../../src/lifecycle/artifacts.js'
import { eventsTemplate, findingsTemplate } from '../../src/lifecycle/index-template.js'
import { loadLifecycleConfig } from '../../src/lifecycle/config.js'
import { leafFields } from '../../src/schema/mapping.js'
import { auditEventSchema, SCHEMA_VERSION } from '../../src/schema/audit-event.js'
import { findingSchema } from '../../src/sinks/opensearch/documents.js'

const root = new URL('../../', import.meta.url)

/** Every dotted leaf path of a JSON Schema (arrays map as their items). */
function schemaLeaves(node: Record<string, unknown>, prefix = ''): string[] {
  const props = node.properties as Record<string, Record<string, unknown>> | undefined
  if (props === undefined) {
    const items = node.items as Record<string, unknown> | undefined
    return items?.properties !== undefined ? schemaLeaves(items, prefix) : [prefix]
  }
  return Object.entries(props).flatMap(([k, v]) => schemaLeaves(v, prefix === '' ? k : `${prefix}.${k}`))
}

describe('OpenSearch artifacts drift', () => {
  test.each(renderOpenSearchArtifacts().map((a) => [a.path, a.content]))('%s is what `npm run generate` produces', (path, content) => {
    expect(readFileSync(new URL(path, root), 'utf8')).toBe(content)
  })

  test('every event schema leaf is mapped, with the intended types', () => {
    const t = eventsTemplate(loadLifecycleConfig())
    const fields = leafFields(t.template.mappings)
    for (const leaf of schemaLeaves(auditEventSchema)) expect(fields.has(leaf), leaf).toBe(true)
    expect(t.version).toBe(SCHEMA_VERSION)
    expect(t.template.mappings.dynamic).toBe('strict')
    expect(fields.get('@timestamp')).toBe('date')
    expect(fields.get('source.ip')).toBe('ip')
    expect(fields.get('destination.ip')).toBe('ip')
    expect(fields.get('http.response.status_code')).toBe('long')
    expect(fields.get('event.duration')).toBe('long')
    expect(fields.get('mesh.source.spiffe_id')).toBe('keyword')
    expect(fields.get('mesh.destination.spiffe_id')).toBe('keyword')
    expect(fields.get('audit.finding_codes')).toBe('keyword')
    expect(fields.get('mesh.mtls')).toBe('boolean')
  })

  test('every finding schema leaf is mapped', () => {
    const fields = leafFields(findingsTemplate(loadLifecycleConfig()).template.mappings)
    for (const leaf of schemaLeaves(findingSchema)) expect(fields.has(leaf), leaf).toBe(true)
    expect(fields.get('finding.controls')).toBe('keyword')
    expect(fields.get('@timestamp')).toBe('date')
  })
})
