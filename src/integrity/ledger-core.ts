/**
 * The store-independent part of the integrity ledger: given the events a store accepted and each
 * stream's current state, work out which events extend which chain, which are replays, and where a
 * stream must continue in a new epoch. The embedded store (ledger.ts) keeps the state in memory and
 * writes rows with SQL; the OpenSearch ledger (opensearch-ledger.ts) reads the state from a head
 * document at every batch and writes with `create` and optimistic concurrency. Both plan with this,
 * so the chains they write are bit for bit the same for the same input.
 */
import type { AuditEvent } from '../schema/audit-event.js'
import { EnvoyAuditError } from '../errors.js'
import type { IntegrityKey } from './config.js'
import { checkpointMac, genesis, link, positionOf, streamOf } from './chain.js'

export interface StreamState {
  /** The ledger stream name: the logical stream, plus `#<epoch>` after a coordinate reuse. */
  stream: string
  epoch: number
  lastPos: bigint
  count: number
  head: string
}

export interface LedgerRow {
  stream: string
  pos: string
  eventId: string
  hash: string
  chain: string
  /** The event's @timestamp: lets a reader tell events removed by retention from deleted ones. */
  ts: string
}

export interface CheckpointRow {
  stream: string
  pos: string
  count: number
  head: string
  keyId: string | null
  mac: string | null
  signedAt: string
}

export interface LedgerPlan {
  rows: LedgerRow[]
  checkpoints: CheckpointRow[]
  /** New state per logical stream the batch touched (also for streams whose events were all replays). */
  next: Map<string, StreamState>
  replaysSkipped: number
  epochs: number
}

/** Looks up the event ids the ledger holds at the given positions of one ledger stream. */
export type LedgerIdLookup = (stream: string, positions: string[]) => Promise<Map<string, string>>

export function epochOf(stream: string): { logical: string; epoch: number } {
  const m = /^(.*)#(\d+)$/.exec(stream)
  return m === null ? { logical: stream, epoch: 1 } : { logical: m[1]!, epoch: Number(m[2]) }
}

export function epochStream(logical: string, epoch: number): string {
  return epoch <= 1 ? logical : `${logical}#${epoch}`
}

export function initialState(logical: string, epoch = 1): StreamState {
  const stream = epochStream(logical, epoch)
  return { stream, epoch, lastPos: -1n, count: 0, head: genesis(stream) }
}

export function signCheckpoint(key: IntegrityKey | undefined, st: StreamState, signedAt: string): CheckpointRow {
  const fields = { stream: st.stream, pos: st.lastPos.toString(), count: st.count, head: st.head }
  return { ...fields, keyId: key?.id ?? null, mac: key === undefined ? null : checkpointMac(key, fields), signedAt }
}

/**
 * Plans one batch. Events are grouped by logical stream and ordered by position; positions at or
 * below the stream's last ledgered one are looked up: the same id there is a replay and is skipped,
 * anything else (another id, or a position the ledger never saw arriving late) starts a new epoch,
 * because a chain cannot be extended backwards. Pure apart from the lookup; changes no state.
 */
export async function planAppend(
  events: readonly AuditEvent[],
  stateOf: (logical: string) => StreamState | undefined,
  ledgerIds: LedgerIdLookup,
  key: IntegrityKey | undefined,
  signedAt: string = new Date().toISOString(),
): Promise<LedgerPlan> {
  const groups = new Map<string, { pos: bigint | undefined; event: AuditEvent }[]>()
  for (const event of events) {
    const logical = streamOf(event.audit.source)
    let g = groups.get(logical)
    if (g === undefined) groups.set(logical, (g = []))
    g.push({ pos: positionOf(event.audit.source), event })
  }
  const plan: LedgerPlan = { rows: [], checkpoints: [], next: new Map(), replaysSkipped: 0, epochs: 0 }
  for (const [logical, group] of groups) {
    group.sort((a, b) => (a.pos === undefined || b.pos === undefined ? 0 : a.pos < b.pos ? -1 : a.pos > b.pos ? 1 : 0))
    let st: StreamState = { ...(stateOf(logical) ?? initialState(logical)) }
    const old = group.filter((x) => x.pos !== undefined && x.pos <= st.lastPos).map((x) => x.pos!.toString())
    const before = plan.rows.length
    const known = old.length === 0 ? new Map<string, string>() : await ledgerIds(st.stream, old)
    let diverged = false
    for (const { pos: p, event } of group) {
      const pos = p ?? st.lastPos + 1n
      if (!diverged && pos <= st.lastPos) {
        if (known.get(pos.toString()) === event.event.id) {
          plan.replaysSkipped++
          continue
        }
        diverged = true
        st = initialState(logical, st.epoch + 1)
        plan.epochs++
      }
      if (pos <= st.lastPos) continue
      const hash = event.audit.hash
      if (hash === undefined)
        throw new EnvoyAuditError(
          'EA_SINK_UNAVAILABLE',
          'integrity ledger: an event has no audit.hash (the integrity stage must run last)',
          { retryable: false },
        )
      st.head = link(st.head, event.event.id, hash)
      st.count++
      st.lastPos = pos
      plan.rows.push({ stream: st.stream, pos: pos.toString(), eventId: event.event.id, hash, chain: st.head, ts: event['@timestamp'] })
    }
    if (plan.rows.length > before) plan.checkpoints.push(signCheckpoint(key, st, signedAt))
    plan.next.set(logical, st)
  }
  return plan
}
