/**
 * The integrity ledger in the embedded DuckDB store: after the store has acknowledged a batch, each
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
import type { DuckDbStore, InsertColumn } from '../store/duckdb-store.js'
import { EnvoyAuditError } from '../errors.js'
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

  /** Ledgers the events the store accepted. Rejects (and changes no state) when the store fails. */
  append(events: readonly AuditEvent[]): Promise<void> {
    const run = this.queue.then(() => this.appendNow(events))
    this.queue = run.catch(() => undefined)
    return run
  }

  private async appendNow(events: readonly AuditEvent[]): Promise<void> {
    await this.start()
    const plan = await planAppend(
      events,
      (logical) => this.states.get(logical),
      (stream, positions) => this.ledgerIds(stream, positions),
      this.key,
    )
    try {
      await this.store.insertRows(
        'integrity_ledger',
        LEDGER_COLUMNS,
        plan.rows.map((r) => [r.stream, r.pos, r.eventId, r.hash, r.chain]),
      )
      for (const c of plan.checkpoints) {
        await this.store.sql('INSERT INTO integrity_checkpoints VALUES (?, CAST(? AS BIGINT), ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING', [
          c.stream,
          c.pos,
          c.count,
          c.head,
          c.keyId as string,
          c.mac as string,
          c.signedAt,
        ])
      }
    } catch (err) {
      // Retryable: the batch is not acknowledged, so it is replayed and ledgered then.
      throw new EnvoyAuditError(
        'EA_SINK_UNAVAILABLE',
        `integrity ledger write failed: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      )
    }
    for (const [logical, st] of plan.next) this.states.set(logical, st)
    this.stats.ledgered += plan.rows.length
    this.stats.checkpoints += plan.checkpoints.length
    this.stats.replaysSkipped += plan.replaysSkipped
    this.stats.epochs += plan.epochs
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
 * The store as a sink that ledgers what it accepted before acknowledging: a batch counts as written
 * only once both the events and their ledger entries are in the file.
 */
export function ledgeredSink(store: DuckDbStore, ledger: DuckDbLedger, closeStore = true): Sink {
  return {
    name: store.name,
    async start() {
      await store.start()
      await ledger.start()
    },
    async write(events: AuditEvent[]): Promise<SinkWriteResult> {
      const result = await store.write(events)
      const rejected = new Set(result.rejected.map((r) => r.event))
      await ledger.append(rejected.size === 0 ? events : events.filter((e) => !rejected.has(e)))
      return result
    },
    close: () => (closeStore ? store.close() : Promise.resolve()),
  }
}
