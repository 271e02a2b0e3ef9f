/**
 * The integrity ledger in the embedded DuckDB store: in the transaction that stores a batch, each
 * stored event is appended to its stream's hash chain (`integrity_ledger`: stream, position, event id,
 * event hash, chain value) and the stream's new head is checkpointed, HMAC-signed when a key is set
 * (`integrity_checkpoints`). Tables are prefixed `integrity_` and live next to `events`.
 *
 * Replays: a record read again has the same position, id and hash; positions at or below the
 * stream's last ledgered one are checked against the ledger and skipped when the id matches. A
 * different id at an old position means the coordinates were reused (stdin read again, a rotated
 * file, a recreated topic): the stream continues in a new epoch `<stream>#<n>` with its own chain.
 */
import type { AuditEvent } from '../schema/audit-event.js'
import type { Sink, SinkWriteResult } from '../pipeline/component.js'
import { type CompanionRows, type DuckDbStore, type InsertColumn, unstorable } from '../store/duckdb-store.js'
import type { IntegrityKey } from './config.js'
import { epochOf, planAppend, type StreamState } from './ledger-core.js'
import { cutSigner } from './retention-cuts.js'

export { epochOf }

export const LEDGER_DDL: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS integrity_ledger (stream VARCHAR NOT NULL, pos BIGINT NOT NULL, event_id VARCHAR NOT NULL,
     hash VARCHAR NOT NULL, chain VARCHAR NOT NULL, PRIMARY KEY (stream, pos))`,
  `CREATE TABLE IF NOT EXISTS integrity_checkpoints (stream VARCHAR NOT NULL, pos BIGINT NOT NULL, count BIGINT NOT NULL,
     head VARCHAR NOT NULL, key_id VARCHAR, mac VARCHAR, signed_at VARCHAR NOT NULL, PRIMARY KEY (stream, pos))`,
]

/** Positions per lookup of ledgered ids: keeps the parameter list of one statement bounded. */
const CHUNK = 400

/** integrity_ledger's columns, in table order, for the store's bulk insert. */
const LEDGER_COLUMNS: readonly InsertColumn[] = [
  { name: 'stream', type: 'VARCHAR' },
  { name: 'pos', type: 'BIGINT' },
  { name: 'event_id', type: 'VARCHAR' },
  { name: 'hash', type: 'VARCHAR' },
  { name: 'chain', type: 'VARCHAR' },
]

/** integrity_checkpoints' columns, in table order. */
const CHECKPOINT_COLUMNS: readonly InsertColumn[] = [
  { name: 'stream', type: 'VARCHAR' },
  { name: 'pos', type: 'BIGINT' },
  { name: 'count', type: 'BIGINT' },
  { name: 'head', type: 'VARCHAR' },
  { name: 'key_id', type: 'VARCHAR' },
  { name: 'mac', type: 'VARCHAR' },
  { name: 'signed_at', type: 'VARCHAR' },
]

export class DuckDbLedger {
  private readonly states = new Map<string, StreamState>()
  private loaded: Promise<void> | undefined
  /** Appends run one at a time: a stream's chain state is read and advanced across awaits. */
  private queue: Promise<unknown> = Promise.resolve()
  readonly stats = { ledgered: 0, replaysSkipped: 0, epochs: 0, checkpoints: 0 }
  constructor(
    private readonly store: DuckDbStore,
    private readonly key: IntegrityKey | undefined,
  ) {
    // Retention may run as the store opens: the cut must be signed in its own transaction, never later.
    store.cutSigner = key === undefined ? undefined : cutSigner(key)
  }

  start(): Promise<void> {
    this.loaded ??= this.load()
    return this.loaded
  }

  private async load(): Promise<void> {
    for (const ddl of LEDGER_DDL) await this.store.sql(ddl)
    const { rows } = await this.store.sql(
      `SELECT stream, CAST(max(pos) AS VARCHAR) AS pos, arg_max(chain, pos) AS head, count(*) AS n FROM integrity_ledger GROUP BY stream`,
    )
    for (const r of rows) {
      const { logical, epoch } = epochOf(String(r.stream))
      const current = this.states.get(logical)
      if (current !== undefined && current.epoch > epoch) continue
      this.states.set(logical, {
        stream: String(r.stream),
        epoch,
        lastPos: BigInt(String(r.pos)),
        count: Number(r.n),
        head: String(r.head),
      })
    }
  }

  /**
   * Ledgers `events` (those the store will accept) through `write`, which commits the rows it is given
   * in the same transaction as the events (DuckDbStore.writeEvents). The chain moves on only once
   * `write` has resolved; when it rejects, nothing changes and the batch is ledgered when replayed.
   */
  appendThrough<T>(events: readonly AuditEvent[], write: (rows: CompanionRows[]) => Promise<T>): Promise<T> {
    const run = this.queue.then(() => this.appendNow(events, write))
    this.queue = run.catch(() => undefined)
    return run
  }

  private async appendNow<T>(events: readonly AuditEvent[], write: (rows: CompanionRows[]) => Promise<T>): Promise<T> {
    await this.start()
    const plan = await planAppend(
      events,
      (logical) => this.states.get(logical),
      (stream, positions) => this.ledgerIds(stream, positions),
      this.key,
    )
    const result = await write([
      { table: 'integrity_ledger', columns: LEDGER_COLUMNS, rows: plan.rows.map((r) => [r.stream, r.pos, r.eventId, r.hash, r.chain]) },
      {
        table: 'integrity_checkpoints',
        columns: CHECKPOINT_COLUMNS,
        rows: plan.checkpoints.map((c) => [c.stream, c.pos, c.count, c.head, c.keyId, c.mac, c.signedAt]),
      },
    ])
    for (const [logical, st] of plan.next) this.states.set(logical, st)
    this.stats.ledgered += plan.rows.length
    this.stats.checkpoints += plan.checkpoints.length
    this.stats.replaysSkipped += plan.replaysSkipped
    this.stats.epochs += plan.epochs
    return result
  }

  private async ledgerIds(stream: string, positions: string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>()
    for (let i = 0; i < positions.length; i += CHUNK) {
      const chunk = positions.slice(i, i + CHUNK)
      const { rows } = await this.store.sql(
        `SELECT CAST(pos AS VARCHAR) AS pos, event_id FROM integrity_ledger WHERE stream = ? AND pos IN (${chunk.map(() => 'CAST(? AS BIGINT)').join(', ')})`,
        [stream, ...chunk],
      )
      for (const r of rows) out.set(String(r.pos), String(r.event_id))
    }
    return out
  }
}

/**
 * The store as a sink that ledgers what it accepts: a batch's events and their ledger entries are
 * committed together, so a batch counts as written only once both are in the file, and a writer
 * killed at any moment leaves both or neither.
 */
export function ledgeredSink(store: DuckDbStore, ledger: DuckDbLedger, closeStore = true): Sink {
  return {
    name: store.name,
    async start() {
      await store.start()
      await ledger.start()
    },
    write(events: AuditEvent[]): Promise<SinkWriteResult> {
      const storable = events.filter((e) => unstorable(e) === undefined)
      return ledger.appendThrough(storable, (rows) => store.writeEvents(events, rows))
    },
    close: () => (closeStore ? store.close() : Promise.resolve()),
  }
}
