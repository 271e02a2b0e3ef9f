/**
 * `--memory-limit` of the commands that query the embedded store (report, hunt, flows, sql, policy):
 * DuckDB's memory cap for the query. Past it DuckDB spills joins and aggregates to a temporary
 * directory next to the store instead of growing, so a smaller cap trades time for memory
 * (docs/store.md, "Readers' memory").
 */
import { Option } from 'commander'
import { EnvoyAuditError } from '../errors.js'
import { READER_MEMORY_LIMIT } from '../store/duckdb-store.js'

const SIZE = /^\d{1,6}(KB|MB|GB)$/i

export function readerMemoryOption(): Option {
  return new Option(
    '--memory-limit <size>',
    'DuckDB memory cap for the query, e.g. 256MB or 2GB; past it joins and aggregates spill to disk beside the store (embedded store)',
  ).default(READER_MEMORY_LIMIT)
}

/** The option's value, checked: a size DuckDB accepts. */
export function readerMemoryLimit(value: string | undefined): string {
  return checkMemoryLimit(value ?? READER_MEMORY_LIMIT, '256MB or 1GB')
}

/** A `--memory-limit` value (here, or verify's scratch limit), refused unless DuckDB reads it as a size like `example`. */
export function checkMemoryLimit(value: string, example: string): string {
  if (!SIZE.test(value)) throw new EnvoyAuditError('EA_USAGE', `--memory-limit: not a size like ${example}: ${value}`)
  return value
}
