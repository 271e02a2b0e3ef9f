import { describe, test, expect } from 'vitest'
import { readFileSync } from 'node:fs'
import { renderSavedObjects, VISUALIZATIONS } from '../../dashboards/build-saved-objects.js'
import { AGGREGATABLE, kqlFields, mappingFields } from '../support/mapping-fields.js'

const FILE = new URL('../../dashboards/envoy-audit.ndjson', import.meta.url)
const TEXT = readFileSync(FILE, 'utf8')
const FIELDS = mappingFields()

interface Obj {
  type: string
  id: string
  attributes: Record<string, any>
  references: Array<{ type: string; id: string; name: string }>
  migrationVersion?: Record<string, string>
}
const OBJECTS: Obj[] = TEXT.trim()
  .split('\n')
  .map((l) => JSON.parse(l) as Obj)
const byKey = new Map(OBJECTS.map((o) => [`${o.type}:${o.id}`, o]))

describe('dashboards/envoy-audit.ndjson', () => {
  test('one JSON object per line, unique type/id, known types', () => {
    expect(TEXT.endsWith('\n')).toBe(true)
    expect(byKey.size).toBe(OBJECTS.length)
    for (const o of OBJECTS) {
      expect(['index-pattern', 'visualization', 'dashboard', 'search']).toContain(o.type)
      expect(o.id).toMatch(/^[a-z0-9-]+$/)
      expect(Array.isArray(o.references)).toBe(true)
      expect(o.migrationVersion?.[o.type]).toMatch(/^\d+\.\d+\.\d+$/)
    }
  })

  test('is exactly what dashboards/build-saved-objects.ts renders (no hand edits drift)', () => {
    expect(renderSavedObjects()).toBe(TEXT)
  })

  test('every reference resolves to an object in the file', () => {
    for (const o of OBJECTS) for (const r of o.references) expect(byKey.has(`${r.type}:${r.id}`), `${o.id} → ${r.type}:${r.id}`).toBe(true)
  })

  test('the index pattern targets the events alias, time field @timestamp, fields = the mapping', () => {
    const ip = OBJECTS.find((o) => o.type === 'index-pattern')!
    expect(ip.attributes.title).toBe('envoy-audit-events*')
    expect(ip.attributes.timeFieldName).toBe('@timestamp')
    const fields = JSON.parse(ip.attributes.fields) as Array<{ name: string; aggregatable: boolean; esTypes: string[] }>
    const names = new Set(fields.map((f) => f.name))
    for (const [name, type] of FIELDS) {
      expect(names.has(name), name).toBe(true)
      const f = fields.find((x) => x.name === name)!
      expect(f.esTypes).toEqual([type])
      // event.original is kept in _source only (keyword without doc values, as ECS maps it).
      expect(f.aggregatable, name).toBe(AGGREGATABLE.has(type) && name !== 'event.original')
    }
    expect(FIELDS.get('mesh.mtls')).toBe('boolean')
  })

  test('every visualization: parses, binds its index via indexRefName, and uses only mapped, aggregatable fields', () => {
    const vis = OBJECTS.filter((o) => o.type === 'visualization')
    expect(vis.length).toBe(VISUALIZATIONS.length)
    for (const v of vis) {
      const state = JSON.parse(v.attributes.visState) as {
        title: string
        type: string
        aggs: Array<{ type: string; schema: string; params: Record<string, any> }>
      }
      expect(state.title).toBe(v.attributes.title)
      expect(state.aggs.some((a) => a.schema === 'metric')).toBe(true)
      const source = JSON.parse(v.attributes.kibanaSavedObjectMeta.searchSourceJSON) as {
        indexRefName: string
        query: { query: string; language: string }
      }
      const ref = v.references.find((r) => r.name === source.indexRefName)
      expect(ref, v.id).toMatchObject({ type: 'index-pattern', id: 'envoy-audit-events' })
      for (const a of state.aggs) {
        if (a.params.field === undefined) continue
        expect(FIELDS.has(a.params.field), `${v.id}: ${a.params.field}`).toBe(true)
        expect(AGGREGATABLE.has(FIELDS.get(a.params.field)!), `${v.id}: ${a.params.field} not aggregatable`).toBe(true)
      }
      const queries = [
        source.query.query,
        ...state.aggs.flatMap((a) => (a.params.filters ?? []).map((f: { input: { query: string } }) => f.input.query)),
      ]
      for (const q of queries) for (const f of kqlFields(q)) expect(FIELDS.has(f), `${v.id}: KQL field ${f}`).toBe(true)
      expect(JSON.parse(v.attributes.uiStateJSON)).toEqual({})
    }
  })

  test('the field source is the events index template setup installs, and the index pattern matches its indices', () => {
    const template = JSON.parse(readFileSync(new URL('../../schemas/opensearch/events-template.json', import.meta.url), 'utf8')) as {
      index_patterns: string[]
      template: { mappings: { properties: unknown } }
    }
    const mapping = JSON.parse(readFileSync(new URL('../../schemas/generated/audit-event.mapping.json', import.meta.url), 'utf8')) as {
      properties: unknown
    }
    expect(template.template.mappings.properties).toEqual(mapping.properties)
    const ip = OBJECTS.find((o) => o.type === 'index-pattern')!
    const glob = new RegExp(`^${(ip.attributes.title as string).replace(/[.]/g, '\\.').replace(/\*/g, '.*')}$`)
    for (const p of template.index_patterns) expect(p.replace(/\*$/, '000001')).toMatch(glob)
  })

  test('the visualizations the ConMon review needs are there', () => {
    const titles = OBJECTS.filter((o) => o.type === 'visualization')
      .map((o) => o.attributes.title as string)
      .join('|')
    for (const t of [
      'mTLS coverage over time',
      'mTLS coverage by namespace',
      'Plaintext flows',
      'Denied flows',
      'Top talkers',
      'AU-3 completeness',
      'Findings by NIST 800-53 control',
      'Unregistered egress destinations',
    ]) {
      expect(titles).toContain(t)
    }
  })

  test('the dashboard places every visualization through panelRefName', () => {
    const dash = OBJECTS.find((o) => o.type === 'dashboard')!
    const panels = JSON.parse(dash.attributes.panelsJSON) as Array<{ panelRefName: string; gridData: { x: number; w: number; i: string } }>
    const vis = OBJECTS.filter((o) => o.type === 'visualization')
    expect(panels).toHaveLength(vis.length)
    const referenced = new Set<string>()
    for (const p of panels) {
      const ref = dash.references.find((r) => r.name === p.panelRefName)
      expect(ref, p.panelRefName).toBeDefined()
      referenced.add(ref!.id)
      expect(p.gridData.x + p.gridData.w).toBeLessThanOrEqual(48)
    }
    expect(referenced).toEqual(new Set(vis.map((v) => v.id)))
    expect(new Set(panels.map((p) => p.gridData.i)).size).toBe(panels.length)
  })

  test('kqlFields finds field names (so the check above can fail)', () => {
    expect(kqlFields('audit.finding_codes:(a or b) and not mesh.mtls:* and @timestamp : x')).toEqual([
      'audit.finding_codes',
      'mesh.mtls',
      '@timestamp',
    ])
  })
})
