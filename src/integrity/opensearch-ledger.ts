/**
 * The integrity ledger for the OpenSearch sink (docs/integrity.md, "OpenSearch"). Same chains as the
 * embedded store (ledger-core.ts plans both), but no in-memory chain state: several `envoy-audit run`
 * members of one consumer group hand partitions to each other on rebalance, so each batch starts
 * from the stream's head document read with a realtime multi-get (search is only near-real-time).
 *
 * One attempt: read the heads → plan → `create` the ledger and checkpoint documents (409 on an
 * identical document = already ledgered by a replay or a concurrent writer) → advance each head with
 * if_seq_no/if_primary_term. A head conflict, or a 409 on a document that differs, means another
 * writer moved the stream: re-read and re-plan (replays are deterministic, so that converges).
 * Ledger documents beyond a head are left by a writer that died before advancing it; they are checked
 * whenever a stream's head was last written by someone else, and a stream whose leftovers disagree
 * with what is being written continues in a new epoch instead of interleaving two histories.
 * Outages (connection errors, 429, 5xx) are retried with capped backoff until close(), like the sink.
 */
import type { Client } from '@opensearch-project/opensearch'
import type { AuditEvent } from '../schema/audit-event.js'
import { EnvoyAuditError } from '../errors.js'
import { backoffMs, classifyRequestError, sleepUnlessAborted } from '../sinks/opensearch/classify.js'
import { createOpenSearchClient } from '../sinks/opensearch/client.js'
import type { ConnectionConfig } from '../sinks/opensearch/config.js'
import type { IntegrityKey } from './config.js'
import { streamOf } from './chain.js'
import { initialState, planAppend, signCheckpoint, type LedgerPlan, type LedgerRow, type StreamState } from './ledger-core.js'
import { ensureIntegrityIndices, entryId, headId, integrityIndices, posValue, type IntegrityIndices } from './opensearch-indices.js'
import { bulk, Conflict, mget, request, Transient, type Json } from './opensearch-io.js'

export interface OpenSearchLedgerOptions {
  /** A client to use (the caller owns it), or a connection to open at start(). */
  client?: Client
  connection?: ConnectionConfig
  key: IntegrityKey | undefined
  indexPrefix: string
  retry: { initialMs: number; maxMs: number }
  /** How long close() waits for a ledger write that is retrying through an outage. */
  closeTimeoutMs: number
  /** Immediate re-plans after concurrent-writer conflicts before the batch fails (and is re-delivered). */
  maxConflicts?: number
  /** Create the indices when missing at start (setup normally has). */
  createIndices?: boolean
  logger?: { warn(obj: object, msg: string): void }
  random?: () => number
}

interface Head {
  state: StreamState
  seqNo: number
  primaryTerm: number
}



const ORPHAN_SCAN = 10_000

export class OpenSearchLedger {
  readonly stats = { ledgered: 0, replaysSkipped: 0, epochs: 0, checkpoints: 0, conflicts: 0, retries: 0, tailChecks: 0 }
  readonly indices: IntegrityIndices
  private client: Client | undefined
  private readonly ownsClient: boolean
  private started: Promise<void> | undefined
  private ready = false
  private queue: Promise<unknown> = Promise.resolve()
  private readonly abort = new AbortController()
  private closing: Promise<void> | undefined
  /** logical stream → `seq/term` of the head we wrote last, known to have no leftover documents beyond it. */
  private readonly cleanAt = new Map<string, string>()

  constructor(private readonly options: OpenSearchLedgerOptions) {
    this.client = options.client
    this.ownsClient = options.client === undefined
    this.indices = integrityIndices(options.indexPrefix)
  }

  /** Opens the client; contacts nothing (as the sink): the indices are made sure of by the first write, which retries through outages. */
  start(): Promise<void> {
    this.started ??= (async () => {
      if (this.client !== undefined) return
      if (this.options.connection === undefined) throw new EnvoyAuditError('EA_CONFIG_INVALID', 'integrity ledger: a client or a connection is required')
      this.client = await createOpenSearchClient(this.options.connection, { maxRetries: 0 })
    })()
    return this.started
  }

  /** Ledgers the events the sink stored. One batch at a time per process; rejects only when closing or on a permanent error. */
  append(events: readonly AuditEvent[]): Promise<void> {
    const run = this.queue.then(() => this.appendNow(events))
    this.queue = run.catch(() => undefined)
    return run
  }

  get closeTimeoutMs(): number {
    return this.options.closeTimeoutMs
  }

  /** Waits for the ledger write in progress (up to waitMs, then interrupts its retries). Idempotent. */
  close(waitMs: number = this.options.closeTimeoutMs): Promise<void> {
    this.closing ??= (async () => {
      const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), waitMs).unref())
      if ((await Promise.race([this.queue, timeout])) === 'timeout') this.options.logger?.warn({}, 'integrity ledger: close timed out; the unfinished batch is not acknowledged')
      this.abort.abort()
      await this.queue
      if (this.ownsClient) await this.client?.close()
    })()
    return this.closing
  }

  private async appendNow(events: readonly AuditEvent[]): Promise<void> {
    if (events.length === 0) return
    await this.start()
    let conflicts = 0
    for (let round = 0; ; ) {
      if (this.abort.signal.aborted) throw new EnvoyAuditError('EA_SINK_UNAVAILABLE', 'integrity ledger closed before the batch was ledgered')
      try {
        return await this.attempt(events)
      } catch (err) {
        if (err instanceof Conflict) {
          this.stats.conflicts++
          if (++conflicts > (this.options.maxConflicts ?? 20)) throw new EnvoyAuditError('EA_SINK_UNAVAILABLE', `integrity ledger: ${conflicts} conflicts with other writers in a row: ${err.message}`)
          await this.sleep(backoffMs(Math.min(conflicts, 4), this.options.retry.initialMs, this.options.retry.maxMs, this.options.random))
        } else if (err instanceof Transient) {
          this.stats.retries++
          this.options.logger?.warn({ code: 'EA_SINK_UNAVAILABLE', reason: err.message, round }, 'integrity ledger write failed; backing off')
          await this.sleep(backoffMs(round++, this.options.retry.initialMs, this.options.retry.maxMs, this.options.random))
        } else throw err
      }
    }
  }

  private async attempt(events: readonly AuditEvent[]): Promise<void> {
    if (!this.ready && this.options.createIndices !== false) {
      try {
        await ensureIntegrityIndices(this.client!, this.options.indexPrefix)
      } catch (err) {
        const cause = err instanceof EnvoyAuditError ? err.cause : err
        if (cause !== undefined && classifyRequestError(cause).kind === 'retry') throw new Transient(err instanceof Error ? err.message : String(err))
        throw err
      }
      this.ready = true
    }
    const logicals = [...new Set(events.map((e) => streamOf(e.audit.source)))]
    const heads = await this.readHeads(logicals)
    const plan = await planAppend(events, (l) => heads.get(l)?.state, (stream, positions) => this.ledgerIds(stream, positions), this.options.key)
    const clean = await this.checkTails(plan, heads)
    await this.createDocs(plan)
    await this.advanceHeads(plan, heads, clean)
    this.stats.ledgered += plan.rows.length
    this.stats.checkpoints += plan.checkpoints.length
    this.stats.replaysSkipped += plan.replaysSkipped
    this.stats.epochs += plan.epochs
  }

  private async readHeads(logicals: string[]): Promise<Map<string, Head>> {
    const byId = new Map(logicals.map((l) => [headId(l), l]))
    const docs = await mget(this.client!, this.indices.heads, [...byId.keys()])
    const out = new Map<string, Head>()
    for (const d of docs) {
      const logical = byId.get(String(d._id))
      if (d.found !== true || logical === undefined) continue
      const s = d._source as Json
      out.set(logical, {
        state: { stream: String(s.ledger_stream), epoch: Number(s.epoch), lastPos: BigInt(String(s.pos)), count: Number(s.count), head: String(s.head) },
        seqNo: Number(d._seq_no),
        primaryTerm: Number(d._primary_term),
      })
    }
    return out
  }

  private async ledgerIds(stream: string, positions: string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>()
    for (const d of await mget(this.client!, this.indices.ledger, positions.map((p) => entryId(stream, p)))) {
      const s = d._source as Json | undefined
      if (d.found === true && s !== undefined && s.stream === stream) out.set(String(s.pos), String(s.event_id))
    }
    return out
  }

  /**
   * Leftovers beyond a head: only looked for when someone else wrote the head last (or nobody yet in
   * this process). Returns the streams known clean after this batch. A leftover at or below the last
   * position being written that is not exactly what is being written moves the stream to a new epoch.
   */
  private async checkTails(plan: LedgerPlan, heads: Map<string, Head>): Promise<Set<string>> {
    const clean = new Set<string>()
    let refreshed = false
    for (const [logical, st] of plan.next) {
      const head = heads.get(logical)
      const rows = plan.rows.filter((r) => r.stream === st.stream)
      if (rows.length === 0) continue
      if (head !== undefined && this.cleanAt.get(logical) === `${head.seqNo}/${head.primaryTerm}`) {
        clean.add(logical)
        continue
      }
      if (!refreshed) {
        // Leftovers come from a writer that may have died a moment ago: make its documents searchable.
        // Best effort: a role without indices:admin/refresh only risks missing the last second's.
        await this.client!.indices.refresh({ index: this.indices.ledger }).catch(() => undefined)
        refreshed = true
      }
      this.stats.tailChecks++
      const from = head !== undefined && head.state.stream === st.stream ? head.state.lastPos : -1n
      const res = await request(() =>
        this.client!.search({
          index: this.indices.ledger,
          body: { size: ORPHAN_SCAN, sort: [{ pos: 'asc' }], query: { bool: { filter: [{ term: { stream: st.stream } }, { range: { pos: { gt: posValue(from) } } }] } } } as never,
        }),
      )
      const hits = ((res.body as { hits?: { hits?: { _source: Json }[] } }).hits?.hits ?? []).map((h) => h._source)
      const planned = new Map(rows.map((r) => [r.pos, r]))
      const last = BigInt(rows[rows.length - 1]!.pos)
      let beyond = false
      for (const h of hits) {
        const pos = String(h.pos)
        if (BigInt(pos) > last) {
          beyond = true
          continue
        }
        const r = planned.get(pos)
        if (r === undefined || r.eventId !== h.event_id || r.hash !== h.hash || r.chain !== h.chain) {
          await this.newEpoch(logical, head, Math.max(head?.state.epoch ?? 1, st.epoch) + 1)
          throw new Conflict(`ledger entries beyond the head of ${logical} disagree with this batch at position ${pos}`)
        }
      }
      if (!beyond && hits.length < ORPHAN_SCAN) clean.add(logical)
    }
    return clean
  }

  /** Moves a stream to a fresh epoch (its own genesis), guarded by the head's sequence number. */
  private async newEpoch(logical: string, head: Head | undefined, epoch: number): Promise<void> {
    const st = initialState(logical, epoch)
    const [item] = await bulk(this.client!, [[this.headAction(logical, head), this.headDoc(logical, st)]])
    if (item!.status === 409) throw new Conflict(`head of ${logical} moved`)
    this.stats.epochs++
  }

  private async createDocs(plan: LedgerPlan): Promise<void> {
    const ops: [Json, Json][] = []
    for (const r of plan.rows) ops.push([{ create: { _index: this.indices.ledger, _id: entryId(r.stream, r.pos) } }, ledgerDoc(r)])
    for (const c of plan.checkpoints) {
      ops.push([
        { create: { _index: this.indices.checkpoints, _id: entryId(c.stream, c.pos) } },
        { stream: c.stream, pos: posValue(c.pos), count: c.count, head: c.head, key_id: c.keyId, mac: c.mac, signed_at: c.signedAt },
      ])
    }
    if (ops.length === 0) return
    const items = await bulk(this.client!, ops)
    const dupLedger: string[] = []
    const dupCheckpoints: string[] = []
    items.forEach((item, i) => {
      if (item.status !== 409) return
      const id = String((ops[i]![0].create as Json)._id)
      ;(i < plan.rows.length ? dupLedger : dupCheckpoints).push(id)
    })
    if (dupLedger.length === 0 && dupCheckpoints.length === 0) return
    // Already there: fine when it is exactly what this batch would write (a replay, or a concurrent writer).
    const want = new Map<string, Json>()
    for (const [action, doc] of ops) want.set(`${String((action.create as Json)._index)}/${String((action.create as Json)._id)}`, doc)
    const fields = { [this.indices.ledger]: ['stream', 'pos', 'event_id', 'hash', 'chain'], [this.indices.checkpoints]: ['stream', 'pos', 'count', 'head'] }
    for (const [index, ids] of [[this.indices.ledger, dupLedger], [this.indices.checkpoints, dupCheckpoints]] as const) {
      if (ids.length === 0) continue
      for (const d of await mget(this.client!, index, ids)) {
        const w = want.get(`${index}/${String(d._id)}`)!
        const got = (d._source ?? {}) as Json
        if (d.found !== true || fields[index]!.some((f) => String(got[f]) !== String(w[f]))) {
          for (const l of plan.next.keys()) this.cleanAt.delete(l)
          throw new Conflict(`${index} already holds a different document ${String(d._id)}`)
        }
      }
    }
  }

  private async advanceHeads(plan: LedgerPlan, heads: Map<string, Head>, clean: Set<string>): Promise<void> {
    const ops: [Json, Json][] = []
    const logicals: string[] = []
    for (const [logical, st] of plan.next) {
      if (!plan.rows.some((r) => r.stream === st.stream)) continue
      ops.push([this.headAction(logical, heads.get(logical)), this.headDoc(logical, st)])
      logicals.push(logical)
    }
    if (ops.length === 0) return
    const items = await bulk(this.client!, ops)
    let conflict: string | undefined
    items.forEach((item, i) => {
      const logical = logicals[i]!
      if (item.status === 409) {
        conflict = logical
        this.cleanAt.delete(logical)
      } else if (clean.has(logical)) this.cleanAt.set(logical, `${String(item._seq_no)}/${String(item._primary_term)}`)
      else this.cleanAt.delete(logical)
    })
    if (conflict !== undefined) throw new Conflict(`head of ${conflict} moved`)
  }

  private headAction(logical: string, head: Head | undefined): Json {
    return head === undefined
      ? { create: { _index: this.indices.heads, _id: headId(logical) } }
      : { index: { _index: this.indices.heads, _id: headId(logical), if_seq_no: head.seqNo, if_primary_term: head.primaryTerm } }
  }

  private headDoc(logical: string, st: StreamState): Json {
    const signed = signCheckpoint(this.options.key, st, new Date().toISOString())
    return {
      stream: logical, ledger_stream: st.stream, epoch: st.epoch, pos: posValue(st.lastPos), count: st.count, head: st.head,
      key_id: signed.keyId, mac: signed.mac, updated_at: signed.signedAt,
    }
  }

  private sleep(ms: number): Promise<void> {
    return sleepUnlessAborted(ms, this.abort.signal)
  }
}

function ledgerDoc(r: LedgerRow): Json {
  return { stream: r.stream, pos: posValue(r.pos), event_id: r.eventId, hash: r.hash, chain: r.chain, ts: r.ts }
}
