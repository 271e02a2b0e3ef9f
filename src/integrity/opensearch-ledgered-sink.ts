/**
 * The OpenSearch sink wrapped so that a batch counts as written only once its events are indexed AND
 * ledgered. Events the sink rejected (dead-lettered) are not ledgered.
 *
 * Order matters within a stream (a Kafka partition, a file): the source keeps several batches of one
 * partition in flight, and the sink settles them in whatever order its requests finish. Ledgering in
 * that order would put a later offset before an earlier one, and the earlier batch would then look
 * like a late arrival and start a new epoch. So every batch goes to the sink at once, and is ledgered
 * after every earlier batch of its streams, never after another stream's: a partition whose batch is
 * still retrying in the sink does not hold the ledger (and the commits) of the others. Whatever is
 * ready when a ledger round can start is ledgered together (fewer requests under load); a few rounds
 * on disjoint streams run at once, so a slow round (a replay, conflicts with another writer) does not
 * hold the rest either.
 */
import type { AuditEvent } from '../schema/audit-event.js'
import type { Sink, SinkWriteResult } from '../pipeline/component.js'
import type { OpenSearchLedger } from './opensearch-ledger.js'
import { streamOf } from './chain.js'

interface Entry {
  events: AuditEvent[]
  /** The logical streams of its events, in which it must wait its turn. */
  streams: string[]
  outcome?: { ok: true; result: SinkWriteResult } | { ok: false; error: unknown }
  resolve: (r: SinkWriteResult) => void
  reject: (e: unknown) => void
}

/** Events ledgered in one round at most: bounds the size of one ledger bulk request. */
const MAX_GROUP_EVENTS = 20_000
/** Ledger rounds in flight at once (each on streams of its own). */
const MAX_ROUNDS = 4

export function ledgeredOpenSearchSink(sink: Sink, ledger: OpenSearchLedger): Sink {
  /** Per stream, its batches not yet handed to a ledger round, in write() order. */
  const queues = new Map<string, Entry[]>()
  /** Streams a ledger round is writing now. */
  const busy = new Set<string>()
  const rounds = new Set<Promise<void>>()

  /** The batch at the front of every queue it is in, its sink write settled, none of its streams busy. */
  const ready = (e: Entry): boolean => e.outcome !== undefined && e.streams.every((s) => !busy.has(s) && queues.get(s)?.[0] === e)

  function take(e: Entry): void {
    for (const s of e.streams) {
      const q = queues.get(s)!
      q.shift()
      if (q.length === 0) queues.delete(s)
    }
  }

  /** Starts rounds while there are free ones and batches ready; each round takes what is ready then. */
  function schedule(): void {
    while (rounds.size < MAX_ROUNDS) {
      const group: Entry[] = []
      let size = 0
      let found = true
      while (found) {
        found = false
        for (const q of queues.values()) {
          const e = q[0]!
          if (!ready(e) || (group.length > 0 && size + e.events.length > MAX_GROUP_EVENTS)) continue
          take(e)
          group.push(e)
          size += e.events.length
          found = true
        }
      }
      if (group.length === 0) return
      round(group)
    }
  }

  function round(group: Entry[]): void {
    const streams = [...new Set(group.flatMap((e) => e.streams))]
    for (const s of streams) busy.add(s)
    const stored: AuditEvent[] = []
    for (const e of group) {
      if (e.outcome?.ok !== true) continue
      const rejected = new Set(e.outcome.result.rejected.map((r) => r.event))
      for (const ev of e.events) if (!rejected.has(ev)) stored.push(ev)
    }
    const r: Promise<void> = ledger
      .append(stored)
      .then(
        () => group.forEach(settle),
        (err: unknown) => group.forEach((e) => e.reject(e.outcome?.ok === false ? e.outcome.error : err)),
      )
      .finally(() => {
        for (const s of streams) busy.delete(s)
        rounds.delete(r)
        schedule()
      })
    rounds.add(r)
  }

  function settle(e: Entry): void {
    if (e.outcome?.ok === true) e.resolve(e.outcome.result)
    else e.reject(e.outcome?.ok === false ? e.outcome.error : new Error('unreachable: settled without an outcome'))
  }

  return {
    name: sink.name,
    async start() {
      await sink.start()
      await ledger.start()
    },
    write(events: AuditEvent[]): Promise<SinkWriteResult> {
      return new Promise<SinkWriteResult>((resolve, reject) => {
        const entry: Entry = { events, streams: [...new Set(events.map((e) => streamOf(e.audit.source)))], resolve, reject }
        for (const s of entry.streams) {
          let q = queues.get(s)
          if (q === undefined) queues.set(s, (q = []))
          q.push(entry)
        }
        sink.write(events).then(
          (result) => {
            entry.outcome = { ok: true, result }
            if (entry.streams.length === 0) settle(entry)
            else schedule()
          },
          (error: unknown) => {
            entry.outcome = { ok: false, error }
            if (entry.streams.length === 0) settle(entry)
            else schedule()
          },
        )
      })
    },
    async close() {
      // The sink flushes and settles every write first; the ledger then finishes what the sink stored,
      // for as long as the ledger's close timeout allows (an outage), and gives up on the rest.
      try {
        await sink.close()
      } finally {
        const drained = (async () => {
          while (rounds.size > 0 || queues.size > 0) {
            if (rounds.size === 0) {
              // Nothing running yet something queued: only possible if a write is still unsettled in the sink, which close() has settled.
              await new Promise((r) => setImmediate(r))
              schedule()
              if (rounds.size === 0) break
            }
            await Promise.all(rounds)
          }
        })()
        const timeout = new Promise<void>((r) => setTimeout(r, ledger.closeTimeoutMs).unref())
        await Promise.race([drained, timeout])
        await ledger.close(0)
        await drained
      }
    },
  }
}
