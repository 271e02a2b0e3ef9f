/**
 * The smallest sink there is: one line per event on standard output (or the stream the build context
 * names), `<@timestamp> <event.id> <source> -> <destination> <status>`. It exists to show what a sink
 * needs (docs/architecture.md, "Adding a sink"): options with a zod schema, a factory without side
 * effects, and the Sink contract (write resolves once every event is accepted or rejected). It is
 * registered in src/compose/sinks.ts.
 */
import { z } from 'zod'
import type { AuditEvent } from '../../schema/audit-event.js'
import type { Sink } from '../../pipeline/component.js'
import type { Writable } from 'node:stream'

export const stdoutSinkSchema = z
  .object({
    /** Print the whole event as JSON instead of the one-line summary. */
    json: z.boolean().default(false),
  })
  .strict()

export type StdoutSinkConfig = z.output<typeof stdoutSinkSchema>

function summary(e: AuditEvent): string {
  const from = e.mesh?.source?.workload ?? e.source?.address ?? '-'
  const to = e.mesh?.destination?.workload ?? e.destination?.address ?? '-'
  return `${e['@timestamp']} ${e.event.id} ${from} -> ${to} ${e.http?.response?.status_code ?? '-'}`
}

/** Builds nothing but the closure: the stream is only written to by write(). */
export function createStdoutSink(config: StdoutSinkConfig, out: Writable = process.stdout): Sink {
  const line = config.json ? (e: AuditEvent) => JSON.stringify(e) : summary
  return {
    name: 'stdout',
    start: async () => undefined,
    async write(events) {
      if (events.length > 0) {
        const body = events.map((e) => `${line(e)}\n`).join('')
        // Waits for the stream to take the bytes: a slow terminal pushes back on the source.
        await new Promise<void>((resolve, reject) => out.write(body, (err) => (err ? reject(err) : resolve())))
      }
      return { rejected: [] }
    },
    close: async () => undefined,
  }
}
