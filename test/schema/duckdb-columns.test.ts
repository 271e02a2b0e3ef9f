import { describe, expect, test } from 'vitest'
import { auditEventSchema } from '../../src/schema/audit-event.js'
import { duckDbTablesFromSchema } from '../../src/schema/duckdb-generate.js'
import { EVENT_COLUMNS, EVENTS_TABLE, FINDING_COLUMNS, FINDINGS_TABLE } from '../../src/generated/duckdb-columns.js'
import type { AuditEvent } from '../../src/generated/types.js'

/** A minimal schema in the shape the generator reads, with `leaves` under `a` (optional) and `b` (required). */
function schema(leaves: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    type: 'object',
    'x-duckdb': { table: 'events', document: 'doc' },
    required: ['b'],
    properties: {
      a: { type: 'object', properties: leaves },
      b: { type: 'object', required: ['id'], properties: { id: { type: 'string', 'x-duckdb': { column: 'id', primaryKey: true } } } },
      ...extra,
    },
  }
}

const columnsOf = (s: Record<string, unknown>) => duckDbTablesFromSchema(s)[0]!.columns

describe('DuckDB columns from the schema', () => {
  test('types follow the JSON types; integers are BIGINT unless narrowed to INTEGER', () => {
    const cols = columnsOf(
      schema({
        s: { type: 'string', 'x-duckdb': 's' },
        t: { type: 'string', format: 'date-time', 'x-duckdb': 't' },
        n: { type: 'integer', 'x-duckdb': 'n' },
        p: { type: 'integer', 'x-duckdb': { column: 'p', type: 'INTEGER' } },
        f: { type: ['boolean', 'null'], 'x-duckdb': 'f' },
        l: { type: 'array', items: { type: 'string' }, 'x-duckdb': 'l' },
        skipped: { type: 'string' },
      }),
    )
    expect(cols.map((c) => [c.name, c.type])).toEqual([
      ['id', 'VARCHAR'],
      ['s', 'VARCHAR'],
      ['t', 'TIMESTAMP'],
      ['n', 'BIGINT'],
      ['p', 'INTEGER'],
      ['f', 'BOOLEAN'],
      ['l', 'VARCHAR[]'],
    ])
  })

  test('the primary key leads and is NOT NULL; the rest keep schema order; getters chain optionally where a member is not required', () => {
    const cols = columnsOf(
      schema({
        x: { type: 'string', 'x-duckdb': { column: 'x', notNull: true } },
        y: { type: 'string', 'x-duckdb': 'y' },
      }),
    )
    expect(cols.map((c) => [c.name, c.notNull, c.path, c.getter])).toEqual([
      ['id', true, 'b.id', 'e.b.id'],
      ['x', true, 'a.x', 'e.a?.x'],
      ['y', false, 'a.y', 'e.a?.y'],
    ])
  })

  test('refuses annotations it cannot honour, naming the field', () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ s: { type: 'string', 'x-duckdb': { column: 's', type: 'INTEGER' } } }, /a\.s: type INTEGER is allowed only/],
      [{ s: { type: 'string', 'x-duckdb': { column: 's', width: 3 } } }, /a\.s: unknown key width/],
      [{ s: { type: 'string', 'x-duckdb': 'Bad-Name' } }, /a\.s: needs a column name/],
      [{ s: { type: 'string', 'x-duckdb': 'id' } }, /column id appears twice in events/],
      [{ s: { type: 'string', 'x-duckdb': { column: 's', primaryKey: true } } }, /exactly one primaryKey column, found 2/],
      [{ o: { type: 'object', 'x-duckdb': 'o' } }, /a\.o: no DuckDB type/],
      [{ s: { type: 'string', 'x-duckdb': { column: 's', firstOf: ['app'] } } }, /a\.s: firstOf needs a string map/],
      [{ s: { type: 'array', items: { type: 'string' }, 'x-duckdb': { column: 's', orElse: 'a.no[].x' } } }, /a\.no names no field/],
    ]
    for (const [leaves, message] of bad) expect(() => columnsOf(schema(leaves))).toThrow(message)
    expect(() => duckDbTablesFromSchema({ ...schema({}), 'x-duckdb': undefined })).toThrow(/at the root: needs/)
  })

  test('an annotated array of objects is a child table keyed by its parent and position', () => {
    const [, child] = duckDbTablesFromSchema(
      schema({
        items: {
          type: 'array',
          'x-duckdb': { table: 'things', parentKey: 'parent_id', parentTime: 'at', position: 'pos' },
          items: { type: 'object', required: ['k'], properties: { k: { type: 'string', 'x-duckdb': 'k' }, v: { type: 'integer' } } },
        },
      }),
    )
    expect(child!.name).toBe('things')
    expect(child!.primaryKey).toEqual(['parent_id', 'pos'])
    expect(child!.columns.map((c) => [c.name, c.type, c.path, c.getter])).toEqual([
      ['parent_id', 'VARCHAR', 'b.id', 'r.eventId'],
      ['at', 'TIMESTAMP', '@timestamp', 'r.ts'],
      ['pos', 'INTEGER', 'a.items[]#index', 'r.index'],
      ['k', 'VARCHAR', 'a.items[].k', 'r.finding.k'],
    ])
  })
})

describe('the generated store columns', () => {
  test('are what the event schema describes: events keyed by id with the JSON last, findings keyed by (event_id, idx)', () => {
    const [events, findings] = duckDbTablesFromSchema(auditEventSchema)
    const spec = (c: { name: string; type: string; path: string; notNull: boolean }) => [c.name, c.type, c.path, c.notNull]
    expect(EVENT_COLUMNS.map(spec)).toEqual(events!.columns.map(spec))
    expect(FINDING_COLUMNS.map(spec)).toEqual(findings!.columns.map(spec))
    expect(EVENTS_TABLE).toEqual({ name: 'events', primaryKey: ['id'], document: 'event_json' })
    expect(FINDINGS_TABLE).toEqual({ name: 'findings', primaryKey: ['event_id', 'idx'] })
  })

  test('every plain column reads the field its path names', () => {
    let checked = 0
    for (const column of EVENT_COLUMNS) {
      if (column.name === 'k8s_app') continue // a label's value, tested below
      const event = { event: {}, envoy: {}, audit: {} } as Record<string, unknown>
      const segments = column.path.split('.')
      let node = event
      for (const s of segments.slice(0, -1)) node = (node[s] ??= {}) as Record<string, unknown>
      const sentinels: Record<string, unknown> = { 'VARCHAR[]': ['x'], BOOLEAN: true, INTEGER: 7, BIGINT: 7 }
      const sentinel = sentinels[column.type] ?? 'v'
      node[segments.at(-1)!] = sentinel
      expect(column.get(event as unknown as AuditEvent), column.name).toEqual(sentinel)
      checked++
    }
    expect(checked).toBe(EVENT_COLUMNS.length - 1)
  })

  test('k8s_app is the first of the app labels present, own keys only; finding_codes falls back to the findings', () => {
    const col = (name: string) => EVENT_COLUMNS.find((c) => c.name === name)!
    const base = { '@timestamp': 't', event: { id: 'i' }, envoy: { format: 'f' }, audit: {} } as unknown as AuditEvent
    const withLabels = (labels: Record<string, string>) => ({ ...base, kubernetes: { labels } }) as AuditEvent
    expect(col('k8s_app').get(withLabels({ 'k8s-app': 'c', 'app.kubernetes.io/name': 'b' }))).toBe('b')
    expect(col('k8s_app').get(withLabels({ 'k8s-app': 'c', app: 'a' }))).toBe('a')
    expect(col('k8s_app').get(withLabels(Object.create({ app: 'inherited' }) as Record<string, string>))).toBeUndefined()
    const findings = [{ code: 'x', severity: 'low', controls: [], message: '' }] as NonNullable<AuditEvent['audit']['findings']>
    expect(col('finding_codes').get({ ...base, audit: { findings } })).toEqual(['x'])
    expect(col('finding_codes').get({ ...base, audit: { findings, finding_codes: ['y'] } })).toEqual(['y'])
  })
})
