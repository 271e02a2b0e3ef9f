/**
 * The embedded store's `dead_letters` table: every dead letter of an `ingest` (or `demo`) run, next to
 * the events, queryable with `envoy-audit sql`. The primary key is the dead letter's deterministic id
 * (src/pipeline/dead-letter.ts), so a replay or a re-ingest of the same bad records adds no row: the
 * first copy stays, as with events. The whole document (schemas/dead-letter.schema.json, after
 * redaction) is kept in `dead_letter_json`; the other columns are for queries.
 */
import type { DeadLetterSink } from '../pipeline/component.js'
import { compileDeadLetterSerializer, type DeadLetter, type Serializer } from '../schema/audit-event.js'
import { EnvoyAuditError } from '../errors.js'
import type { DuckDbStore } from './duckdb-store.js'

export const DEAD_LETTERS_DDL = `CREATE TABLE IF NOT EXISTS dead_letters (
  id VARCHAR PRIMARY KEY,
  reason VARCHAR NOT NULL,
  stage VARCHAR NOT NULL,
  dead_lettered_at VARCHAR NOT NULL,
  source_kind VARCHAR,
  source_file VARCHAR,
  source_line BIGINT,
  source_topic VARCHAR,
  source_partition INTEGER,
  source_offset VARCHAR,
  event_id VARCHAR,
  parts INTEGER NOT NULL,
  dead_letter_json VARCHAR NOT NULL
)`

const COLUMNS = 13
/** Rows per INSERT: keeps one statement's parameter list bounded. */
const CHUNK = 200

/** Writes dead letters into the store's dead_letters table; the caller owns (and closes) the store. */
export function createStoreDeadLetterSink(store: DuckDbStore): DeadLetterSink & { readonly inserted: number } {
  let serialize: Serializer<DeadLetter> | undefined
  let ready: Promise<void> | undefined
  let inserted = 0
  const start = (): Promise<void> =>
    (ready ??= (async () => {
      await store.start()
      await store.sql(DEAD_LETTERS_DDL)
    })())
  return {
    get inserted() {
      return inserted
    },
    start,
    async write(deadLetters) {
      if (deadLetters.length === 0) return
      await start()
      serialize ??= compileDeadLetterSerializer()
      for (let i = 0; i < deadLetters.length; i += CHUNK) {
        const chunk = deadLetters.slice(i, i + CHUNK)
        const values = chunk.flatMap((dl) => row(dl, serialize!))
        const placeholders = chunk.map(() => `(${Array.from({ length: COLUMNS }, () => '?').join(', ')})`).join(', ')
        try {
          // ON CONFLICT DO NOTHING: the first copy of a dead letter stays, a replay adds nothing.
          const r = await store.sql(`INSERT INTO dead_letters VALUES ${placeholders} ON CONFLICT DO NOTHING RETURNING id`, values)
          inserted += r.rows.length
        } catch (err) {
          throw new EnvoyAuditError(
            'EA_IO',
            `dead letters could not be written to the store at ${store.path}: ${err instanceof Error ? err.message : String(err)}`,
            { cause: err },
          )
        }
      }
    },
    close: async () => undefined,
  }
}

function row(dl: DeadLetter, serialize: Serializer<DeadLetter>): (string | number)[] {
  const s = dl.source
  // DuckDB binds a JavaScript null as NULL; the parameter type only admits strings and numbers.
  const nul = null as unknown as string
  return [
    dl.id,
    dl.reason,
    dl.stage,
    dl.at,
    s.kind ?? nul,
    s.file ?? nul,
    s.line ?? nul,
    s.topic ?? nul,
    s.partition ?? nul,
    s.offset ?? nul,
    dl.event_id ?? nul,
    dl.parts?.length ?? 0,
    serialize(dl),
  ]
}

/**
 * Dead letters to two outputs: the caller's (an NDJSON file) first, then the store's table. Both must
 * take a batch before it is acknowledged; the file keeps every copy it is given (an append-only file
 * cannot dedupe across runs), the table one row per dead-letter id.
 */
export function withStoreDeadLetters(primary: DeadLetterSink, store: DuckDbStore): DeadLetterSink {
  const table = createStoreDeadLetterSink(store)
  return {
    async start() {
      await primary.start()
      await table.start()
    },
    async write(deadLetters) {
      await primary.write(deadLetters)
      await table.write(deadLetters)
    },
    close: () => primary.close(),
  }
}
