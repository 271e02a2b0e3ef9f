/**
 * Throughput of selectAlerts with its state at the size bound (50k limiter keys, 50k dedupe keys).
 * Run: npx tsx test/alerting/bench-select.ts
 */
import { emptyAlertState, selectAlerts } from '../../src/alerting/select.js'
import { loadAlertingConfig } from '../../src/alerting/config.js'
import { clean, passthroughEgress, rbacDenied } from './fixtures.js'

const N = 300_000
const BATCH = 1000
const cfg = loadAlertingConfig({ enabled: true, webhook: { url: 'http://127.0.0.1:1/' } })
const ts = (i: number) => new Date(1.7e12 + i * 10).toISOString()
// 20% of events carry a finding, each from a distinct source/destination: the worst case for the state.
const events = Array.from({ length: N }, (_, i) =>
  i % 10 === 0 ? rbacDenied(ts(i), `sa${i}`) : i % 10 === 1 ? passthroughEgress(ts(i), `h${i}.example.com`) : clean(ts(i)),
)
const state = emptyAlertState()
let alerts = 0
const t = performance.now()
for (let i = 0; i < N; i += BATCH) alerts += selectAlerts(events.slice(i, i + BATCH), state, Date.now(), cfg).alerts.length
const ms = performance.now() - t
process.stdout.write(
  `${N} events (20% with findings), batches of ${BATCH}: ${ms.toFixed(0)} ms = ${Math.round((N / ms) * 1000)} events/s; ${alerts} alerts; ${state.buckets.size} limiter keys\n`,
)
