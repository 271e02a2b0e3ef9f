/**
 * What a DuckDB column of the embedded store is: the shape of src/generated/duckdb-columns.ts, which
 * `npm run generate` renders from the `x-duckdb` annotations of schemas/audit-event.schema.json
 * (src/schema/duckdb-generate.ts). Kept apart from the generator so the store loads no generator code.
 */
import type { Finding } from '../generated/types.js'

export type ColumnType = 'VARCHAR' | 'INTEGER' | 'BIGINT' | 'BOOLEAN' | 'TIMESTAMP' | 'VARCHAR[]'

export type ColumnValue = string | number | boolean | readonly string[] | null

export interface Column<Row> {
  readonly name: string
  readonly type: ColumnType
  /** The event field the value comes from, dotted (`[]` maps over an array, `#index` is the position in it). */
  readonly path: string
  readonly notNull: boolean
  readonly get: (row: Row) => ColumnValue | undefined
}

/** A table filled from the schema: its name, key and, for `events`, the column holding the whole document. */
export interface TableSpec {
  readonly name: string
  readonly primaryKey: readonly string[]
  readonly document?: string
}

/** One row of a child table (`findings`): the item, its position, and the parent event's key and time. */
export interface FindingRow {
  eventId: string
  ts: string
  index: number
  finding: Finding
}

/**
 * The value of the first of `keys` that `map` has as an own property. Own-property reads only: the
 * keys of a string map (kubernetes labels) came from untrusted envelopes.
 */
export function firstOwnValue(map: Readonly<Record<string, string | undefined>> | undefined, keys: readonly string[]): string | undefined {
  if (map === undefined) return undefined
  for (const key of keys) {
    if (Object.prototype.hasOwnProperty.call(map, key)) return map[key]
  }
  return undefined
}
