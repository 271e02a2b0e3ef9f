/**
 * Sink throughput against the test server in a child process (so it does not share this event loop).
 * Not a vitest file: run `npx tsx test/sinks/opensearch/bench.ts [events] [--gzip]`.
 * It measures the client side (serialization, NDJSON, HTTP, response classification); the server's own
 * cost shares the machine, so the numbers are a floor for a real cluster, not a prediction.
 */
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { Client } from '@opensearch-project/opensearch'
import { OpenSearchSink } from '../../../src/sinks/opensearch/sink.js'
import { loadSinkConfig } from '../../../src/sinks/opensearch/config.js'
import { deniedEvent, okEvent } from './fixtures.js'

const total = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 200_000)
const gzip = process.argv.includes('--gzip')
const batch = 2000

const child = spawn(
  new URL('../../../node_modules/.bin/tsx', import.meta.url).pathname,
  [new URL('../../support/opensearch-server/cli.ts', import.meta.url).pathname],
  { stdio: ['pipe', 'pipe', 'inherit'] },
)
const line = await new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once('line', resolve))
const { port } = JSON.parse(line) as { port: number }
const client = new Client({ node: `http://127.0.0.1:${port}`, maxRetries: 0, ...(gzip ? { compression: 'gzip' as const } : {}) })
const sink = new OpenSearchSink({ client, config: loadSinkConfig({ flushBytes: 5 * 1024 * 1024, concurrency: 2 }) })
await sink.start()

const events = Array.from({ length: total }, (_, i) => (i % 20 === 0 ? deniedEvent(i) : okEvent(i)))
const cpu0 = process.cpuUsage()
const t0 = process.hrtime.bigint()
// Two writers in flight, as a source with two partitions would have.
const writes: Promise<unknown>[] = []
for (let i = 0; i < total; i += batch) {
  writes.push(sink.write(events.slice(i, i + batch)))
  if (writes.length >= 4) await writes.shift()
}
await Promise.all(writes)
await sink.close()
const seconds = Number(process.hrtime.bigint() - t0) / 1e9
const cpu = process.cpuUsage(cpu0)
const s = sink.stats
console.log(
  JSON.stringify({
    events: total,
    gzip,
    seconds: +seconds.toFixed(2),
    eventsPerSecond: Math.round(total / seconds),
    clientCpuMicrosPerEvent: +((cpu.user + cpu.system) / total).toFixed(2),
    bulkRequests: s.bulkRequests,
    documents: s.indexed,
    mbSent: +(s.bytesSent / 1e6).toFixed(1),
    avgDocBytes: Math.round(s.bytesSent / s.indexed),
  }),
)
await client.close()
child.kill('SIGTERM')
