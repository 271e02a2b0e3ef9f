import type { Sink, SinkWriteResult } from '../pipeline/component.js'

/**
 * The primary sink decides acknowledgement; followers (alert outputs) see only the events the primary
 * accepted, after it accepted them, so an alert never exists for a record that is not stored.
 * Followers must not push back (the alert sink queues and returns at once); a follower failure is
 * theirs to count, never a reason to withhold the acknowledgement.
 */
export function teeSink(primary: Sink, followers: Sink[]): Sink {
  if (followers.length === 0) return primary
  return {
    name: `${primary.name}+${followers.map((f) => f.name).join('+')}`,
    async start() {
      await primary.start()
      for (const f of followers) await f.start()
    },
    async write(events): Promise<SinkWriteResult> {
      const result = await primary.write(events)
      const rejected = new Set(result.rejected.map((r) => r.event))
      const accepted = rejected.size === 0 ? events : events.filter((e) => !rejected.has(e))
      for (const f of followers) await f.write(accepted).catch(() => undefined)
      return result
    },
    async close() {
      // Primary first: its flush is what acknowledges records; followers drain after.
      try {
        await primary.close()
      } finally {
        for (const f of followers) await f.close().catch(() => undefined)
      }
    },
  }
}
