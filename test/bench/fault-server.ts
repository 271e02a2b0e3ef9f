/**
 * The OpenSearch test server in its own process (so its work does not share the bench's event loop),
 * with its fault injection driven over stdin: one JSON command per line, one JSON answer per line on
 * stdout. The first stdout line is `{"port":N}`. Commands:
 *   {"op":"items","status":429,"rate":0.3}   that fraction of bulk items answered with `status`
 *   {"op":"requests","status":503}           every bulk request answered with `status`
 *   {"op":"refuse"} / {"op":"resume"}        stop listening (connection refused) / listen again
 *   {"op":"clear"}                           no faults
 *   {"op":"stats"}                           {"docs": events indexed, "bulkRequests": N}
 * Usage: npx tsx test/bench/fault-server.ts
 */
import { createInterface } from 'node:readline'
import { TestOpenSearch, failByRate } from '../support/opensearch-server/index.js'

interface Command {
  op: 'items' | 'requests' | 'refuse' | 'resume' | 'clear' | 'stats'
  status?: number
  rate?: number
}

const srv = await TestOpenSearch.start({ maxRecorded: 1 })
let bulkRequests = 0
const counted = srv.faults.takeRequestFault.bind(srv.faults)
srv.faults.takeRequestFault = (method, path) => {
  if (path.endsWith('/_bulk')) bulkRequests++
  return counted(method, path)
}
process.stdout.write(JSON.stringify({ port: srv.port }) + '\n')

for await (const line of createInterface({ input: process.stdin })) {
  const c = JSON.parse(line) as Command
  let answer: unknown = { ok: true }
  if (c.op === 'items') srv.faults.item = failByRate(c.status ?? 429, c.rate ?? 0.3, 'bench')
  else if (c.op === 'requests') srv.faults.failRequests(/_bulk/, c.status ?? 503, Number.MAX_SAFE_INTEGER)
  else if (c.op === 'refuse') await srv.stopListening()
  else if (c.op === 'resume') await srv.resume()
  else if (c.op === 'clear') srv.faults.clear()
  else if (c.op === 'stats') answer = { docs: srv.docs('envoy-audit-events-*').length, bulkRequests }
  process.stdout.write(JSON.stringify(answer) + '\n')
}
await srv.close()
process.exit(0)
