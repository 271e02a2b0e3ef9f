import type { Command } from 'commander'
import { DEFAULT_STORE_PATH, openStoreForReading } from '../store/duckdb-store.js'
import type { SqlResult } from '../store/duckdb-store.js'
import { readerMemoryLimit, readerMemoryOption } from './reader-memory.js'

interface SqlOptions {
  store: string
  json?: boolean
  memoryLimit?: string
}

export function registerSql(program: Command): void {
  program
    .command('sql')
    .description(
      'read-only SQL over the embedded store, also while run or ingest writes it (tables: events, findings, edge_facts, ' +
        'and unless the store keeps none, calls, call_links, call_groups, call_link_groups; view: flows)',
    )
    .argument('<query>', 'SQL text, e.g. "SELECT finding_codes, count(*) FROM events GROUP BY ALL"')
    .option('--store <path>', 'DuckDB store file', DEFAULT_STORE_PATH)
    .option('--json', 'rows as NDJSON instead of a table')
    .addOption(readerMemoryOption())
    .addHelpText(
      'after',
      '\nThe store is opened read-only: INSERT, UPDATE, DELETE and DDL on its tables fail (temporary tables work). ' +
        'While run or ingest holds the store, the query runs in the writer and sees every batch it stored before the query.\n' +
        "\nevents has a column per mapped field (docs/store.md), its clusters among them: cluster (the proxy's), " +
        "src_cluster and dst_cluster (each peer's).\n" +
        '\nExample:\n  envoy-audit sql "SELECT code, count(*) n FROM findings GROUP BY code ORDER BY n DESC"\n',
    )
    .action(async (query: string, opts: SqlOptions) => {
      const store = await openStoreForReading(opts.store, { memoryLimit: readerMemoryLimit(opts.memoryLimit) })
      try {
        const result = numbersAsNumbers(await store.sql(query))
        process.stdout.write(
          opts.json === true
            ? result.rows.map((r) => JSON.stringify(r)).join('\n') + (result.rows.length > 0 ? '\n' : '')
            : formatTable(result),
        )
      } finally {
        await store.close()
      }
    })
}

const WIDE_INTEGERS = new Set(['BIGINT', 'HUGEINT', 'UBIGINT', 'UHUGEINT'])

/** count(*) is a BIGINT, which DuckDB's JSON form gives as a string; print it as a number when exact. */
function numbersAsNumbers(result: SqlResult): SqlResult {
  const wide = result.columns.filter((_, i) => WIDE_INTEGERS.has(result.types[i] ?? ''))
  if (wide.length === 0) return result
  const rows = result.rows.map((row) => {
    const out = { ...row }
    for (const c of wide) {
      const v = out[c]
      if (typeof v === 'string' && Number.isSafeInteger(Number(v))) out[c] = Number(v)
    }
    return out
  })
  return { ...result, rows }
}

const MAX_CELL = 80

function cell(value: unknown): string {
  const text = value === null || value === undefined ? 'NULL' : typeof value === 'object' ? JSON.stringify(value) : String(value)
  // Log content is untrusted: control characters would let a crafted value rewrite the terminal.
  // eslint-disable-next-line no-control-regex
  const safe = text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
  return safe.length > MAX_CELL ? `${safe.slice(0, MAX_CELL - 1)}…` : safe
}

/** An aligned text table with a row count, like the psql and duckdb shells print. */
export function formatTable(result: SqlResult): string {
  const cells = result.rows.map((r) => result.columns.map((c) => cell(r[c])))
  const widths = result.columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)))
  const line = (values: string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i]!))
      .join(' │ ')
      .trimEnd()
  const out = [line(result.columns), widths.map((w) => '─'.repeat(w)).join('─┼─'), ...cells.map(line)]
  out.push(`(${result.rows.length} row${result.rows.length === 1 ? '' : 's'})`)
  return out.join('\n') + '\n'
}
