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
import type { DuckDbStore } from '../store/duckdb-store.js'
import { EnvoyAuditError } from '../errors.js'
import type { IntegrityKey } from './config.js'
import { checkpointMac, genesis, link, positionOf, streamOf } from './chain.js'

export const LEDGER_DDL: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS integrity_ledger (stream VARCHAR NOT NULL, pos BIGINT NOT NULL, event_id VARCHAR NOT NULL,
     hash VARCHAR NOT NULL, chain VARCHAR NOT NULL, PRIMARY KEY (stream, pos))`,
  `CREATE TABLE IF NOT EXISTS integrity_checkpoints (stream VARCHAR NOT NULL, pos BIGINT NOT NULL, count BIGINT NOT NULL,
     head VARCHAR NOT NULL, key_id VARCHAR, mac VARCHAR, signed_at VARCHAR NOT NULL, PRIMARY KEY (stream, pos))`,
]

interface StreamState {
  /** The ledger stream name: the logical stream, plus `#<epoch>` after a coordinate reuse. */
  stream: string
  epoch: number
  lastPos: bigint
  count: number
  head: string
}

/** Rows per INSERT: keeps the parameter list of one statement bounded. */
const CHUNK = 400

export function epochOf(stream: string): { logical: string; epoch: number } {
  const m = /^(.*)#(\d+)$/.exec(stream)
  return m === null ? { logical: stream, epoch: 1 } : { logical: m[1]!, epoch: Number(m[2]) }
}

export class DuckDbLedger {
  private readonly states = new Map<string, StreamState>()
  private loaded: Promise<void> | undefined
  /** Appends run one at a time: a stream's chain state is read and advanced across awaits. */
  private queue: Promise<unknown> = Promise.resolve()
  readonly stats = { ledgered: 0, replaysSkipped: 0, epochs: 0, checkpoints: 0 }

  constructor(
    private readonly store: DuckDbStore,
    private readonly key: IntegrityKey | undefined,
  ) {}

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
      this.states.set(logical, { stream: String(r.stream), epoch, lastPos: BigInt(String(r.pos)), count: Number(r.n), head: String(r.head) })
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
    const groups = new Map<string, { pos: bigint | undefined; event: AuditEvent }[]>()
    for (const event of events) {
      const logical = streamOf(event.audit.source)
      let g = groups.get(logical)
      if (g === undefined) groups.set(logical, (g = []))
      g.push({ pos: positionOf(event.audit.source), event })
    }
    const rows: (string | number)[][] = []
    const checkpoints: (string | number | null)[][] = []
    const next = new Map<string, StreamState>()
    for (const [logical, group] of groups) {
      group.sort((a, b) => (a.pos === undefined || b.pos === undefined ? 0 : a.pos < b.pos ? -1 : a.pos > b.pos ? 1 : 0))
      let st: StreamState = { ...(this.states.get(logical) ?? { stream: logical, epoch: 1, lastPos: -1n, count: 0, head: genesis(logical) }) }
      const old = group.filter((x) => x.pos !== undefined && x.pos <= st.lastPos).map((x) => x.pos!.toString())
      const before = rows.length
      const known = old.length === 0 ? new Map<string, string>() : await this.ledgerIds(st.stream, old)
      let diverged = false
      for (const { pos: p, event } of group) {
        const pos = p ?? st.lastPos + 1n
        if (!diverged && pos <= st.lastPos) {
          if (known.get(pos.toString()) === event.event.id) {
            this.stats.replaysSkipped++
            continue
          }
          diverged = true
          const epoch = st.epoch + 1
          const stream = `${logical}#${epoch}`
          st = { stream, epoch, lastPos: -1n, count: 0, head: genesis(stream) }
          this.stats.epochs++
        }
        if (pos <= st.lastPos) continue
        const hash = event.audit.hash
        if (hash === undefined) throw new EnvoyAuditError('EA_SINK_UNAVAILABLE', 'integrity ledger: an event has no audit.hash (the integrity stage must run last)', { retryable: false })
        st.head = link(st.head, event.event.id, hash)
        st.count++
        st.lastPos = pos
        rows.push([st.stream, pos.toString(), event.event.id, hash, st.head])
      }
      if (rows.length > before) {
        const fields = { stream: st.stream, pos: st.lastPos.toString(), count: st.count, head: st.head }
        const mac = this.key === undefined ? null : checkpointMac(this.key, fields)
        checkpoints.push([fields.stream, fields.pos, fields.count, fields.head, this.key?.id ?? null, mac, new Date().toISOString()])
      }
      next.set(logical, st)
    }
    try {
      for (let i = 0; i < rows.length; i += CHUNK) {
        const chunk = rows.slice(i, i + CHUNK)
        await this.store.sql(
          `INSERT INTO integrity_ledger VALUES ${chunk.map(() => '(?, CAST(? AS BIGINT), ?, ?, ?)').join(', ')} ON CONFLICT DO NOTHING`,
          chunk.flat(),
        )
      }
      for (const c of checkpoints) {
        await this.store.sql(
          'INSERT INTO integrity_checkpoints VALUES (?, CAST(? AS BIGINT), ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
          c.map((v) => (v === null ? (null as unknown as string) : v)),
        )
      }
    } catch (err) {
      // Retryable: the batch is not acknowledged, so it is replayed and ledgered then.
      throw new EnvoyAuditError('EA_SINK_UNAVAILABLE', `integrity ledger write failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
    }
    for (const [logical, st] of next) this.states.set(logical, st)
    this.stats.ledgered += rows.length
    this.stats.checkpoints += checkpoints.length
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
