/**
 * The integrity ledger for the OpenSearch sink (docs/integrity.md, "OpenSearch"). Same chains as the
 * embedded store (ledger-core.ts plans both), but no in-memory chain state: several `envoy-audit run`
 * members of one consumer group hand partitions to each other on rebalance, so each batch starts
 * from the stream's head document read with a realtime multi-get (search is only near-real-time).
 *
 * One attempt: read the heads → plan → `create` one ledger block per stream (opensearch-blocks.ts; its
 * `_id` is the stream and first position, so the same block written twice is a 409, never a copy) and
 * the checkpoint documents (409 on an identical document = already ledgered by a replay or a concurrent
 * writer) → advance each head with if_seq_no/if_primary_term. A head conflict, or a 409 on a document
 * that differs (a block of other bounds or contents), means another writer moved the stream: re-read and
 * re-plan (replays are deterministic, so that converges).
 * Ledger entries beyond a head are left by a writer that died before advancing it; they are checked
 * whenever a stream's head was last written by someone else. Leftover entries that are exactly what is
 * being planned are not written again (whatever blocks they sit in: a replay may batch differently), so
 * every position has one entry; a stream whose leftovers disagree with what is being written continues
 * in a new epoch instead of interleaving two histories.
 * Replays (positions at or below the head) are looked up with realtime gets: the head names the first
 * position of its latest block and every block the one before it, so the lookup walks back block by
 * block; per-event documents of the first releases are got by their own ids; only what neither finds is
 * searched for.
 * Outages (connection errors, 429, 5xx) are retried with capped backoff until close(), like the sink.
 * Appends on different streams run at once; on one stream, one at a time in call order (stream-locks.ts).
 */
import type { Client } from '@opensearch-project/opensearch'
import type { AuditEvent } from '../schema/audit-event.js'
import { EnvoyAuditError } from '../errors.js'
import { backoffMs, classifyRequestError, sleepUnlessAborted } from '../sinks/opensearch/classify.js'
import { createOpenSearchClient, type ConnectionConfig } from '../connections/opensearch.js'
import type { IntegrityKey } from './config.js'
import { streamOf } from './chain.js'
import { initialState, planAppend, signCheckpoint, type LedgerPlan, type LedgerRow, type StreamState } from './ledger-core.js'
import {
  blockId,
  ensureIntegrityIndices,
  entryId,
  headId,
  integrityIndices,
  posValue,
  type IntegrityIndices,
} from './opensearch-indices.js'
import { bulk, Conflict, mget, Transient, type Json } from './opensearch-io.js'
import { BLOCK_ENTRIES, blockDoc, decodeLedgerDoc, rowEntry, sameEntries } from './opensearch-blocks.js'
import { docsBeyond, idsAt, ORPHAN_SCAN, refreshLedger } from './opensearch-lookup.js'
import { StreamLocks } from './stream-locks.js'

export interface OpenSearchLedgerOptions {
  /** A client to use (the caller owns it), or a connection to open at start(). */
  client?: Client
  connection?: ConnectionConfig
  key: IntegrityKey | undefined
  indexPrefix: string
  /** Backoff after a failed attempt; `probeMaxMs` (the sink's) caps it after an outage, so the ledger notices the cluster is back as soon as the sink does. */
  retry: { initialMs: number; maxMs: number; probeMaxMs?: number }
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
  /** First position of the latest block of state.stream: where replay lookups start walking back. */
  block: string | undefined
}

/** Per ledger stream: the planned positions already written exactly so beyond the head → the first position of the block holding each (undefined: a per-event document). */
type Covered = Map<string, Map<string, string | undefined>>

export class OpenSearchLedger {
  readonly stats = {
    ledgered: 0,
    blocks: 0,
    replaysSkipped: 0,
    epochs: 0,
    checkpoints: 0,
    conflicts: 0,
    retries: 0,
    tailChecks: 0,
    searches: 0,
  }
  readonly indices: IntegrityIndices
  private client: Client | undefined
  private readonly ownsClient: boolean
  private started: Promise<void> | undefined
  private ready = false
  private readonly locks = new StreamLocks()
  /** The integrity indices being made sure of, shared by the attempts that run at once. */
  private ensuring: Promise<void> | undefined
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
      if (this.options.connection === undefined)
        throw new EnvoyAuditError('EA_CONFIG_INVALID', 'integrity ledger: a client or a connection is required')
      this.client = await createOpenSearchClient(this.options.connection, { maxRetries: 0 })
    })()
    return this.started
  }

  /**
   * Ledgers the events the sink stored; rejects only when closing or on a permanent error. Appends that
   * share a stream run one at a time in call order; appends on other streams run alongside.
   */
  append(events: readonly AuditEvent[]): Promise<void> {
    return this.locks.run([...new Set(events.map((e) => streamOf(e.audit.source)))], () => this.appendNow(events))
  }

  get closeTimeoutMs(): number {
    return this.options.closeTimeoutMs
  }

  /** Waits for the ledger write in progress (up to waitMs, then interrupts its retries). Idempotent. */
  close(waitMs: number = this.options.closeTimeoutMs): Promise<void> {
    this.closing ??= (async () => {
      const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), waitMs).unref())
      if ((await Promise.race([this.locks.idle(), timeout])) === 'timeout')
        this.options.logger?.warn({}, 'integrity ledger: close timed out; the unfinished batches are not acknowledged')
      this.abort.abort()
      await this.locks.idle()
      if (this.ownsClient) await this.client?.close()
    })()
    return this.closing
  }

  private async appendNow(events: readonly AuditEvent[]): Promise<void> {
    if (events.length === 0) return
    await this.start()
    let conflicts = 0
    for (let round = 0; ;) {
      if (this.abort.signal.aborted)
        throw new EnvoyAuditError('EA_SINK_UNAVAILABLE', 'integrity ledger closed before the batch was ledgered')
      try {
        return await this.attempt(events)
      } catch (err) {
        if (err instanceof Conflict) {
          this.stats.conflicts++
          if (++conflicts > (this.options.maxConflicts ?? 20))
            throw new EnvoyAuditError(
              'EA_SINK_UNAVAILABLE',
              `integrity ledger: ${conflicts} conflicts with other writers in a row: ${err.message}`,
            )
          await this.sleep(backoffMs(Math.min(conflicts, 4), this.options.retry.initialMs, this.options.retry.maxMs, this.options.random))
        } else if (err instanceof Transient) {
          this.stats.retries++
          this.options.logger?.warn(
            { code: 'EA_SINK_UNAVAILABLE', reason: err.message, round },
            'integrity ledger write failed; backing off',
          )
          const { initialMs, maxMs, probeMaxMs } = this.options.retry
          await this.sleep(backoffMs(round++, initialMs, Math.min(maxMs, probeMaxMs ?? maxMs), this.options.random))
        } else throw err
      }
    }
  }

  private async attempt(events: readonly AuditEvent[]): Promise<void> {
    if (!this.ready && this.options.createIndices !== false) {
      this.ensuring ??= this.ensureIndices().finally(() => (this.ensuring = undefined))
      await this.ensuring
    }
    const logicals = [...new Set(events.map((e) => streamOf(e.audit.source)))]
    const heads = await this.readHeads(logicals)
    const plan = await planAppend(
      events,
      (l) => heads.get(l)?.state,
      (stream, positions) => this.ledgerIds(stream, positions, heads),
      this.options.key,
    )
    const { clean, covered } = await this.checkTails(plan, heads)
    const pointers = await this.createDocs(plan, heads, covered)
    await this.advanceHeads(plan, heads, clean, pointers)
    this.stats.ledgered += plan.rows.length
    this.stats.checkpoints += plan.checkpoints.length
    this.stats.replaysSkipped += plan.replaysSkipped
    this.stats.epochs += plan.epochs
  }

  private async ensureIndices(): Promise<void> {
    let steps
    try {
      steps = await ensureIntegrityIndices(this.client!, this.options.indexPrefix)
    } catch (err) {
      const cause = err instanceof EnvoyAuditError ? err.cause : err
      if (cause !== undefined && classifyRequestError(cause).kind === 'retry')
        throw new Transient(err instanceof Error ? err.message : String(err))
      throw err
    }
    // Indices of an older version this role could not extend: the writes below are refused by the
    // strict mapping (saying to run setup); look again at the next batch, setup may have run since.
    const incomplete = steps.filter((s) => s.incomplete === true)
    for (const s of incomplete)
      this.options.logger?.warn({ code: 'EA_SINK_MAPPING', resource: s.resource }, `integrity ledger: ${s.detail ?? ''}`)
    this.ready = incomplete.length === 0
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
        state: {
          stream: String(s.ledger_stream),
          epoch: Number(s.epoch),
          lastPos: BigInt(String(s.pos)),
          count: Number(s.count),
          head: String(s.head),
        },
        seqNo: Number(d._seq_no),
        primaryTerm: Number(d._primary_term),
        block: s.block === undefined || s.block === null ? undefined : String(s.block),
      })
    }
    return out
  }

  private async ledgerIds(stream: string, positions: string[], heads: Map<string, Head>): Promise<Map<string, string>> {
    let latest: string | undefined
    for (const h of heads.values()) if (h.state.stream === stream) latest = h.block
    const { ids, searched } = await idsAt(this.client!, this.indices.ledger, stream, positions, latest)
    if (searched) this.stats.searches++
    return ids
  }

  /**
   * Leftovers beyond a head: only looked for when someone else wrote the head last (or nobody yet in
   * this process). Returns the streams known clean after this batch, and the planned entries that
   * leftovers already hold exactly (not to be written again). A leftover at or below the last position
   * being written that is not exactly what is being written moves the stream to a new epoch.
   */
  private async checkTails(plan: LedgerPlan, heads: Map<string, Head>): Promise<{ clean: Set<string>; covered: Covered }> {
    const clean = new Set<string>()
    const covered: Covered = new Map()
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
        await refreshLedger(this.client!, this.indices.ledger)
        refreshed = true
      }
      this.stats.tailChecks++
      const from = head !== undefined && head.state.stream === st.stream ? head.state.lastPos : -1n
      const { docs, hits } = await docsBeyond(this.client!, this.indices.ledger, st.stream, from)
      const planned = new Map(rows.map((r) => [r.pos, r]))
      const last = BigInt(rows[rows.length - 1]!.pos)
      const cov = new Map<string, string | undefined>()
      let beyond = false
      for (const doc of docs) {
        if (doc === undefined) continue
        for (const e of doc.entries) {
          const pos = BigInt(e.pos)
          if (pos <= from) continue
          if (pos > last) {
            beyond = true
            continue
          }
          const r = planned.get(e.pos)
          if (doc.problem !== undefined || r === undefined || r.eventId !== e.event_id || r.hash !== e.hash || r.chain !== e.chain) {
            await this.newEpoch(logical, head, Math.max(head?.state.epoch ?? 1, st.epoch) + 1)
            throw new Conflict(`ledger entries beyond the head of ${logical} disagree with this batch at position ${e.pos}`)
          }
          cov.set(e.pos, doc.kind === 'block' ? doc.pos : undefined)
        }
      }
      if (cov.size > 0) covered.set(st.stream, cov)
      if (!beyond && hits < ORPHAN_SCAN) clean.add(logical)
    }
    return { clean, covered }
  }

  /** Moves a stream to a fresh epoch (its own genesis), guarded by the head's sequence number. */
  private async newEpoch(logical: string, head: Head | undefined, epoch: number): Promise<void> {
    const st = initialState(logical, epoch)
    const [item] = await bulk(this.client!, [[this.headAction(logical, head), this.headDoc(logical, st)]])
    if (item!.status === 409) throw new Conflict(`head of ${logical} moved`)
    this.stats.epochs++
  }

  /**
   * Writes the plan's entries as blocks (those leftovers do not already hold) and its checkpoints.
   * Returns, per ledger stream, the first position of its latest block: the head's lookup hint.
   */
  private async createDocs(plan: LedgerPlan, heads: Map<string, Head>, covered: Covered): Promise<Map<string, string | undefined>> {
    const byStream = new Map<string, LedgerRow[]>()
    for (const r of plan.rows) {
      let list = byStream.get(r.stream)
      if (list === undefined) byStream.set(r.stream, (list = []))
      list.push(r)
    }
    const ops: [Json, Json][] = []
    const blocks: LedgerRow[][] = []
    const pointers = new Map<string, string | undefined>()
    for (const [stream, rows] of byStream) {
      const cov = covered.get(stream)
      // Block starts known below or at what is written now: the head's, the leftovers' and ours.
      const starts: bigint[] = []
      for (const h of heads.values()) if (h.state.stream === stream && h.block !== undefined) starts.push(BigInt(h.block))
      const todo: LedgerRow[] = []
      for (const r of rows) {
        if (cov?.has(r.pos) !== true) todo.push(r)
        else if (cov.get(r.pos) !== undefined) starts.push(BigInt(cov.get(r.pos)!))
      }
      for (let i = 0; i < todo.length; i += BLOCK_ENTRIES) {
        const chunk = todo.slice(i, i + BLOCK_ENTRIES)
        const first = BigInt(chunk[0]!.pos)
        let prev: bigint | undefined
        for (const s of starts) if (s < first && (prev === undefined || s > prev)) prev = s
        ops.push([{ create: { _index: this.indices.ledger, _id: blockId(stream, chunk[0]!.pos) } }, blockDoc(chunk, prev?.toString())])
        blocks.push(chunk)
        starts.push(first)
      }
      let latest: bigint | undefined
      for (const s of starts) if (latest === undefined || s > latest) latest = s
      pointers.set(stream, latest?.toString())
    }
    for (const c of plan.checkpoints) {
      ops.push([
        { create: { _index: this.indices.checkpoints, _id: entryId(c.stream, c.pos) } },
        { stream: c.stream, pos: posValue(c.pos), count: c.count, head: c.head, key_id: c.keyId, mac: c.mac, signed_at: c.signedAt },
      ])
    }
    if (ops.length === 0) return pointers
    const items = await bulk(this.client!, ops)
    this.stats.blocks += blocks.length
    const dupBlocks = new Map<string, LedgerRow[]>()
    const dupCheckpoints: string[] = []
    items.forEach((item, i) => {
      if (item.status !== 409) return
      const id = String((ops[i]![0].create as Json)._id)
      if (i < blocks.length) dupBlocks.set(id, blocks[i]!)
      else dupCheckpoints.push(id)
    })
    if (dupBlocks.size === 0 && dupCheckpoints.length === 0) return pointers
    // Already there: fine when it is exactly what this batch would write (a concurrent writer got there
    // first). A block of other bounds or contents at the same first position is another writer's round:
    // re-plan, which then finds its entries as leftovers or replays.
    const differs = (why: string): never => {
      for (const l of plan.next.keys()) this.cleanAt.delete(l)
      throw new Conflict(why)
    }
    for (const d of await mget(this.client!, this.indices.ledger, [...dupBlocks.keys()])) {
      const want = dupBlocks.get(String(d._id))!
      const got = d.found === true ? decodeLedgerDoc(String(d._id), d._source as Json) : undefined
      if (
        got === undefined ||
        got.problem !== undefined ||
        got.stream !== want[0]!.stream ||
        !sameEntries(got.entries, want.map(rowEntry))
      ) {
        differs(`${this.indices.ledger} already holds a different block ${String(d._id)}`)
      }
    }
    const want = new Map<string, Json>()
    for (const [action, doc] of ops) want.set(String((action.create as Json)._id), doc)
    for (const d of await mget(this.client!, this.indices.checkpoints, dupCheckpoints)) {
      const w = want.get(String(d._id))!
      const got = (d._source ?? {}) as Json
      if (d.found !== true || ['stream', 'pos', 'count', 'head'].some((f) => String(got[f]) !== String(w[f])))
        differs(`${this.indices.checkpoints} already holds a different document ${String(d._id)}`)
    }
    return pointers
  }

  private async advanceHeads(
    plan: LedgerPlan,
    heads: Map<string, Head>,
    clean: Set<string>,
    pointers: Map<string, string | undefined>,
  ): Promise<void> {
    const ops: [Json, Json][] = []
    const logicals: string[] = []
    for (const [logical, st] of plan.next) {
      if (!plan.rows.some((r) => r.stream === st.stream)) continue
      ops.push([this.headAction(logical, heads.get(logical)), this.headDoc(logical, st, pointers.get(st.stream))])
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

  private headDoc(logical: string, st: StreamState, block?: string): Json {
    const signed = signCheckpoint(this.options.key, st, new Date().toISOString())
    const doc: Json = {
      stream: logical,
      ledger_stream: st.stream,
      epoch: st.epoch,
      pos: posValue(st.lastPos),
      count: st.count,
      head: st.head,
      key_id: signed.keyId,
      mac: signed.mac,
      updated_at: signed.signedAt,
    }
    if (block !== undefined) doc.block = posValue(block)
    return doc
  }

  private sleep(ms: number): Promise<void> {
    return sleepUnlessAborted(ms, this.abort.signal)
  }
}
