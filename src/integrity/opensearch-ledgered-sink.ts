/**
 * The OpenSearch sink wrapped so that a batch counts as written only once its events are indexed AND
 * ledgered. Events the sink rejected (dead-lettered) are not ledgered.
 *
 * Order matters: the Kafka source keeps several batches of one partition in flight, and the sink
 * settles them in whatever order its bulk requests finish. Ledgering in that order would put a later
 * offset before an earlier one, and the earlier batch would then look like a late arrival and start
 * a new epoch. So writes go to the sink at once (its concurrency is kept), but are ledgered strictly
 * in the order write() was called; batches whose sink writes have settled by then are ledgered
 * together in one round (fewer requests under load).
 */
import type { AuditEvent } from '../schema/audit-event.js'
import type { Sink, SinkWriteResult } from '../pipeline/component.js'
import type { OpenSearchLedger } from './opensearch-ledger.js'

interface Entry {
  events: AuditEvent[]
  written: Promise<SinkWriteResult>
  outcome?: { ok: true; result: SinkWriteResult } | { ok: false; error: unknown }
  resolve: (r: SinkWriteResult) => void
  reject: (e: unknown) => void
}

/** Events ledgered in one round at most: bounds the size of one ledger bulk request. */
const MAX_GROUP_EVENTS = 20_000

export function ledgeredOpenSearchSink(sink: Sink, ledger: OpenSearchLedger): Sink {
  const queue: Entry[] = []
  let pumping: Promise<void> | undefined
  let running = false

  function kick(): void {
    if (running) return
    running = true
    // Re-checked after the loop ends: a write may have queued between its last check and here.
    pumping = pump().finally(() => {
      running = false
      if (queue.length > 0) kick()
    })
  }

  async function pump(): Promise<void> {
    while (queue.length > 0) {
      const first = queue[0]!
      await first.written.then(
        () => undefined,
        () => undefined,
      )
      const group: Entry[] = []
      let size = 0
      while (queue.length > 0 && queue[0]!.outcome !== undefined && (group.length === 0 || size + queue[0]!.events.length <= MAX_GROUP_EVENTS)) {
        const e = queue.shift()!
        size += e.events.length
        group.push(e)
      }
      const stored: AuditEvent[] = []
      for (const e of group) {
        if (e.outcome?.ok !== true) continue
        const rejected = new Set(e.outcome.result.rejected.map((r) => r.event))
        for (const ev of e.events) if (!rejected.has(ev)) stored.push(ev)
      }
      try {
        await ledger.append(stored)
        for (const e of group) settle(e)
      } catch (err) {
        for (const e of group) e.reject(e.outcome?.ok === false ? e.outcome.error : err)
      }
    }
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
        const entry: Entry = { events, written: sink.write(events), resolve, reject }
        entry.written.then(
          (result) => void (entry.outcome = { ok: true, result }),
          (error: unknown) => void (entry.outcome = { ok: false, error }),
        )
        queue.push(entry)
        kick()
      })
    },
    async close() {
      // The sink flushes and settles every write first; the ledger then finishes what the sink stored,
      // for as long as the ledger's close timeout allows (an outage), and gives up on the rest.
      try {
        await sink.close()
      } finally {
        const drained = (async () => {
          while (running) await pumping
        })()
        const timeout = new Promise<void>((r) => setTimeout(r, ledger.closeTimeoutMs).unref())
        await Promise.race([drained, timeout])
        await ledger.close(0)
        await drained
      }
    },
  }
}
