/**
 * Every monitor of dashboards/monitors runs on the real node: its search input (date math, terms,
 * cardinality, the new-edges bucket_selector script) and its Painless trigger, against events planted
 * through the product's setup and sink. The node `npm run services:up` starts has lang-painless but not
 * the Alerting plugin (not on Maven Central), so this test does the plugin's part, as its InputService
 * and TriggerService do (opensearch-project/alerting):
 *
 * - the input: the search source is rendered with mustache, the only variables being `period_start` and
 *   `period_end`, epoch milliseconds of the period that ends at this run (period_start = period_end minus
 *   the schedule interval), then searched on the monitor's indices (the product's own renderMonitor with
 *   its eventsIndex option points them at the planted alias). Any other `{{...}}` fails the test, since
 *   mustache would render it empty.
 * - the trigger: the condition script is compiled in the plugin's trigger context, where `params` are
 *   the condition's params and `ctx.results` is the list of search responses as maps. The Painless
 *   execute API (`POST _scripts/painless/_execute`, painless_test context) has `params` only, so the
 *   search response is passed as `params.ctx = {results: [response]}` and the script runs behind one
 *   line, `def ctx = params.ctx;`. Both sides parse the response JSON the same way (ints, longs,
 *   doubles, lists, maps), so `ctx.results[0]...` reads the same values. A trigger that reads anything
 *   else of ctx (periodEnd, monitor, alert) or params.ctx is refused here, not approximated. A script
 *   error is a failure: the plugin would turn it into an error alert that always "fires".
 *
 * Each monitor must fire on the `fire` set and stay quiet on the `quiet` set (events just outside its
 * window, below its threshold, or edges that are not new).
 */
import { afterAll, beforeAll, expect, test } from 'vitest'
import type { Client } from '@opensearch-project/opensearch'
import { loadMonitorDefinitions, renderMonitor, type MonitorDefinition } from '../../src/alerting/monitors.js'
import type { AuditEvent } from '../../src/schema/audit-event.js'
import { describeOpenSearch } from '../helpers/real-servers.js'
import { plantIndices, type Planted } from '../helpers/opensearch-planted.js'
import { clean, passthroughEgress, plaintextInbound, rbacDenied } from './fixtures.js'

type Json = Record<string, any>

const MINUTE = 60_000
/** period_end of the simulated run: the start of the current minute. */
const PE = Math.floor(Date.now() / MINUTE) * MINUTE
const at = (minutesBefore: number) => new Date(PE - minutesBefore * MINUTE).toISOString()

const INTERVAL_MS: Record<string, number> = { MINUTES: MINUTE, HOURS: 60 * MINUTE, DAYS: 24 * 60 * MINUTE }

/** The search request the Alerting plugin sends for a query-level monitor's first input. */
function renderInput(body: Json, periodEnd: number): { indices: string[]; query: Json } {
  const period = body.schedule.period as { interval: number; unit: string }
  const vars: Record<string, number> = { period_end: periodEnd, period_start: periodEnd - period.interval * INTERVAL_MS[period.unit]! }
  const text = JSON.stringify(body.inputs[0].search.query).replace(/\{\{\s*(\w+)\s*\}\}/g, (tag, name: string) => {
    if (!(name in vars)) throw new Error(`monitor ${body.name}: {{${name}}} is not a variable the Alerting plugin gives a search input`)
    return String(vars[name])
  })
  return { indices: body.inputs[0].search.indices, query: JSON.parse(text) as Json }
}

/** Runs a query-level trigger's condition on the node's Painless with ctx.results bound to `results`. */
async function runTrigger(client: Client, condition: Json, results: Json[]): Promise<boolean> {
  const source = String(condition.script.source)
  const reads = [...source.matchAll(/\bctx\.(\w+)/g)].map((m) => m[1])
  if (reads.some((r) => r !== 'results') || /params\.ctx\b/.test(source))
    throw new Error(`trigger reads ${reads.join(', ')}: bind it faithfully before testing it`)
  const res = await client.transport.request({
    method: 'POST',
    path: '/_scripts/painless/_execute',
    body: {
      script: {
        lang: 'painless',
        source: `def ctx = params.ctx;\n${source}`,
        params: { ...(condition.script.params ?? {}), ctx: { results } },
      },
    },
  })
  const result = (res.body as { result: string }).result
  if (result !== 'true' && result !== 'false') throw new Error(`trigger returned ${result}, not a boolean`)
  return result === 'true'
}

async function runMonitor(client: Client, def: MonitorDefinition, alias: string): Promise<{ response: Json; fired: boolean[] }> {
  const body = renderMonitor(def, { eventsIndex: `${alias}*` }) as Json
  const { indices, query } = renderInput(body, PE)
  const res = await client.search({ index: indices.join(','), body: query as never })
  const response = res.body as unknown as Json
  const fired: boolean[] = []
  for (const t of body.triggers as Json[]) fired.push(await runTrigger(client, t.query_level_trigger.condition, [response]))
  return { response, fired }
}

const inNs = (e: AuditEvent, ns: string, complete: boolean): AuditEvent => {
  e.kubernetes = { namespace: ns }
  e.audit.au3 = { complete, missing: complete ? [] : ['identity'] }
  return e
}

const NEW_EDGE = {
  code: 'new_edge',
  severity: 'medium' as const,
  controls: ['AC-4', 'SI-4'],
  message: 'first call on this edge in the learning window',
}
/** One call on an edge between SPIFFE identity `src` and service `svc`. */
function edgeCall(ts: string, src: string, svc: string, newEdge = false): AuditEvent {
  const e = clean(ts)
  e.mesh = {
    reporter: 'destination',
    mtls: true,
    source: { spiffe_id: `spiffe://cluster.local/ns/shop/sa/${src}` },
    destination: { service: `${svc}.shop.svc.cluster.local`, namespace: 'shop' },
  }
  if (newEdge) {
    e.audit.findings = [{ ...NEW_EDGE, controls: [...NEW_EDGE.controls] }]
    e.audit.finding_codes = ['new_edge']
  }
  return e
}

function fireEvents(): AuditEvent[] {
  return [
    ...[3, 3, 4].map((m) => plaintextInbound(at(m))),
    ...[2, 9].map((m) => passthroughEgress(at(m))),
    // 20 denials of one source identity within 5 minutes.
    ...Array.from({ length: 20 }, (_, i) => rbacDenied(at(1 + (i % 4)), 'sleep')),
    // 60 events in the last hour in one namespace, 50 AU-3 complete: 83%.
    ...Array.from({ length: 60 }, (_, i) => inNs(clean(at(5 + (i % 50))), 'billing', i >= 10)),
    // An edge first called 10 minutes ago, next to an old one still in use.
    edgeCall(at(10), 'frontend', 'cart', true),
    edgeCall(at(8), 'frontend', 'cart'),
    edgeCall(at(3 * 24 * 60), 'frontend', 'catalog'),
    edgeCall(at(5), 'frontend', 'catalog'),
  ]
}

function quietEvents(): AuditEvent[] {
  return [
    // Plaintext and egress just outside their 10-minute windows, and one after period_end.
    plaintextInbound(at(11)),
    plaintextInbound(at(-1)),
    passthroughEgress(at(11)),
    // 19 denials of one identity in the window; 25 of another before it. Both identities called that
    // service two days ago, so these are not new edges either.
    ...Array.from({ length: 19 }, (_, i) => rbacDenied(at(1 + (i % 4)), 'sleep')),
    ...Array.from({ length: 25 }, () => rbacDenied(at(6), 'curl')),
    rbacDenied(at(2 * 24 * 60), 'sleep'),
    rbacDenied(at(2 * 24 * 60), 'curl'),
    // 96.7% AU-3 complete with 60 events; and 40 events (under the 50 minimum) none complete.
    ...Array.from({ length: 60 }, (_, i) => inNs(clean(at(5 + (i % 50))), 'billing', i >= 2)),
    ...Array.from({ length: 40 }, (_, i) => inNs(clean(at(5 + i)), 'tiny', false)),
    // Edges first called 3 days and 30 minutes ago (new then, with the finding), in use since.
    edgeCall(at(3 * 24 * 60), 'frontend', 'catalog', true),
    edgeCall(at(5), 'frontend', 'catalog'),
    edgeCall(at(30), 'cart', 'payments', true),
    edgeCall(at(4), 'cart', 'payments'),
  ]
}

describeOpenSearch('monitors: search inputs, bucket_selector and Painless triggers on the real node', () => {
  const defs = loadMonitorDefinitions()
  let fire: Planted
  let quiet: Planted

  beforeAll(async () => {
    fire = await plantIndices('mon-fire')
    quiet = await plantIndices('mon-quiet')
    await fire.write(fireEvents())
    await quiet.write(quietEvents())
  }, 120_000)

  afterAll(async () => {
    await fire?.drop()
    await quiet?.drop()
  })

  test('the five monitors, each with its triggers, are all covered', () => {
    expect(defs.map((d) => d.file)).toEqual([
      'au3-completeness.json',
      'new-edges.json',
      'plaintext-traffic.json',
      'rbac-denial-burst.json',
      'unregistered-egress.json',
    ])
  })

  test.each(loadMonitorDefinitions().map((d) => [d.file, d] as const))(
    '%s fires on its planted events and stays quiet without them',
    async (_file, def) => {
      const fired = await runMonitor(fire.client, def, fire.eventsAlias)
      const calm = await runMonitor(quiet.client, def, quiet.eventsAlias)
      expect(fired.fired.every(Boolean), JSON.stringify(fired.response.aggregations ?? fired.response.hits?.total)).toBe(true)
      expect(calm.fired.some(Boolean), JSON.stringify(calm.response.aggregations ?? calm.response.hits?.total)).toBe(false)
    },
    60_000,
  )

  test('new edges: the bucket_selector keeps exactly the pair first seen within 20 minutes of period_end', async () => {
    const def = defs.find((d) => d.file === 'new-edges.json')!
    const pairs = (r: Json) =>
      (r.aggregations.by_source.buckets as Json[]).flatMap((s) => (s.by_destination.buckets as Json[]).map((d) => `${s.key} -> ${d.key}`))
    // The denied caller's first call is a new edge too (20 minutes ago at most).
    expect(pairs((await runMonitor(fire.client, def, fire.eventsAlias)).response).sort()).toEqual([
      'spiffe://cluster.local/ns/foo/sa/sleep -> httpbin.foo.svc.cluster.local',
      'spiffe://cluster.local/ns/shop/sa/frontend -> cart.shop.svc.cluster.local',
    ])
    expect(pairs((await runMonitor(quiet.client, def, quiet.eventsAlias)).response)).toEqual([])
  })

  test('new edges on a wide mesh: 340 sources x 200 services in 7 days (68,000 pairs) stay within search.max_buckets, and the one new pair is found', async () => {
    const wide = await plantIndices('mon-wide')
    try {
      const events: AuditEvent[] = []
      for (let s = 0; s < 340; s++) for (let d = 0; d < 200; d++) events.push(edgeCall(at(3 * 24 * 60 - s), `sa-${s}`, `svc-${d}`))
      events.push(edgeCall(at(10), 'sa-7', 'svc-new'))
      await wide.write(events)
      const def = defs.find((d) => d.file === 'new-edges.json')!
      const run = await runMonitor(wide.client, def, wide.eventsAlias)
      const pairs = (run.response.aggregations.by_source.buckets as Json[]).flatMap((b) =>
        (b.by_destination.buckets as Json[]).map((d) => `${b.key} -> ${d.key}`),
      )
      expect(pairs).toEqual(['spiffe://cluster.local/ns/shop/sa/sa-7 -> svc-new.shop.svc.cluster.local'])
      expect(run.fired).toEqual([true])
    } finally {
      await wide.drop()
    }
  }, 300_000)

  test('rbac burst: the trigger reads the per-source counts (19 in the window stays quiet, 20 fires)', async () => {
    const def = defs.find((d) => d.file === 'rbac-denial-burst.json')!
    const counts = (r: Json) => Object.fromEntries((r.aggregations.by_source.buckets as Json[]).map((b) => [b.key, b.doc_count]))
    expect(counts((await runMonitor(quiet.client, def, quiet.eventsAlias)).response)).toEqual({
      'spiffe://cluster.local/ns/foo/sa/sleep': 19,
    })
    expect(counts((await runMonitor(fire.client, def, fire.eventsAlias)).response)).toEqual({
      'spiffe://cluster.local/ns/foo/sa/sleep': 20,
    })
  })
})
