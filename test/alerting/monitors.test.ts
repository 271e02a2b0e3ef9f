import { describe, test, expect, beforeAll, afterAll } from 'vitest'
import { mkdtempSync, readFileSync, writeFileSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Client } from '@opensearch-project/opensearch'
import { defaultMonitorsDir, loadMonitorDefinitions, provisionMonitors, renderMonitor } from '../../src/alerting/monitors.js'
import { startSiemPluginsServer, type SiemPluginsServer } from '../support/siem-plugins-server.js'
import { AGGREGATABLE, mappingFields } from '../support/mapping-fields.js'
import { FINDING_CATALOGUE } from '../../src/detect/catalogue.js'

const FIELDS = mappingFields()

/** Every `field` value and every key of a term/terms/range/match query in a JSON tree. */
function referencedFields(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) node.forEach((n) => referencedFields(n, out))
  else if (node !== null && typeof node === 'object') {
    for (const [k, v] of Object.entries(node as Record<string, unknown>)) {
      if (k === 'field' && typeof v === 'string') out.push(v)
      else if (['term', 'terms', 'range', 'match', 'match_phrase'].includes(k) && v !== null && typeof v === 'object' && !('field' in v)) {
        // A query clause ({terms: {<field>: [...]}}); an aggregation of the same name has a `field` key instead.
        out.push(...Object.keys(v as object).filter((f) => !['boost', 'format'].includes(f)))
        referencedFields(v, out)
      } else referencedFields(v, out)
    }
  }
  return out
}

describe('monitor definitions (dashboards/monitors)', () => {
  const defs = loadMonitorDefinitions()

  test('the five ConMon monitors are there, with unique names', () => {
    expect(defs.map((d) => d.file)).toEqual([
      'au3-completeness.json',
      'new-edges.json',
      'plaintext-traffic.json',
      'rbac-denial-burst.json',
      'unregistered-egress.json',
    ])
    expect(new Set(defs.map((d) => d.body.name)).size).toBe(5)
  })

  test.each(loadMonitorDefinitions().map((d) => [d.file, d] as const))(
    '%s: query-level, events index, fields exist in the mapping',
    (_f, def) => {
      const b = def.body as Record<string, any>
      expect(b.monitor_type).toBe('query_level_monitor')
      expect(b.schedule.period.interval).toBeGreaterThan(0)
      expect(b.inputs[0].search.indices).toEqual(['envoy-audit-events*'])
      const fields = referencedFields(b.inputs)
      expect(fields.length).toBeGreaterThan(1)
      for (const f of fields) {
        expect(FIELDS.has(f), `${def.file}: ${f} not in mapping`).toBe(true)
        expect(AGGREGATABLE.has(FIELDS.get(f)!), `${def.file}: ${f} is ${FIELDS.get(f)}`).toBe(true)
      }
      // A time window bounded by the period, so every run looks at recent events only.
      expect(JSON.stringify(b.inputs)).toMatch(/\{\{period_end\}\}\|\|-\d+[mhd]"/)
      for (const t of b.triggers) {
        const trig = t.query_level_trigger
        expect(trig.condition.script.lang).toBe('painless')
        expect(['1', '2', '3', '4', '5']).toContain(trig.severity)
      }
    },
  )

  test('no monitor filters on a finding code that is never written to an event (new_edge is raised over a window, by flows)', () => {
    const codes: string[] = []
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) node.forEach(walk)
      else if (node !== null && typeof node === 'object') {
        for (const [k, v] of Object.entries(node as Record<string, unknown>)) {
          if ((k === 'term' || k === 'terms') && v !== null && typeof v === 'object' && 'audit.finding_codes' in v) {
            const c = (v as Record<string, unknown>)['audit.finding_codes']
            codes.push(
              ...(Array.isArray(c) ? c : [typeof c === 'object' && c !== null && 'value' in c ? (c as { value: unknown }).value : c]).map(
                String,
              ),
            )
          } else walk(v)
        }
      }
    }
    for (const d of defs) walk(d.body)
    expect(codes.length).toBeGreaterThan(0)
    expect(codes.filter((c) => c === 'new_edge' || !(c in FINDING_CATALOGUE))).toEqual([])
  })

  test('new edges: first-seen (source identity, service) pairs over a 7-day lookback, selected inside the query', () => {
    const def = defs.find((d) => d.file === 'new-edges.json')!
    const q = JSON.stringify(def.body.inputs)
    expect(q).toContain('"bucket_selector"')
    expect(q).toContain('{{period_end}}||-7d')
    expect(q).toMatch(/params\.first_seen >= \{\{period_end\}\}L - \d+L/)
  })

  test.each(loadMonitorDefinitions().map((d) => [d.file, d] as const))(
    '%s: at most search.max_buckets (65,535) buckets whatever the data',
    (_f, def) => {
      // The most buckets a response can hold: terms size x (1 + its sub-buckets), filters likewise; a
      // single-bucket filter and metrics add none. OpenSearch refuses the whole search past the limit.
      const most = (aggs: Record<string, any> | undefined): number =>
        Object.values(aggs ?? {}).reduce((n: number, a: any) => {
          const sub = most(a.aggregations ?? a.aggs)
          if (a.terms !== undefined) return n + a.terms.size * (1 + sub)
          if (a.filters !== undefined) return n + Object.keys(a.filters.filters).length * (1 + sub)
          return n + sub
        }, 0)
      const query = (def.body as Record<string, any>).inputs[0].search.query
      expect(most(query.aggregations ?? query.aggs)).toBeLessThanOrEqual(65_535)
    },
  )

  test('finding codes the monitors filter on are the ones the detections emit', () => {
    const all = JSON.stringify(defs.map((d) => d.body.inputs))
    for (const code of ['plaintext_inbound', 'plaintext_rejected', 'authz_denied', 'ext_authz_denied', 'unregistered_egress'])
      expect(all).toContain(`"${code}"`)
  })

  test('renderMonitor: channel actions, index override, disabled, and a hash that follows the options', () => {
    const def = defs[0]!
    const plain = renderMonitor(def) as any
    const withChannel = renderMonitor(def, { channelId: 'chan-1', throttleMinutes: 30 }) as any
    expect(plain.triggers[0].query_level_trigger.actions).toEqual([])
    const action = withChannel.triggers[0].query_level_trigger.actions[0]
    expect(action).toMatchObject({ destination_id: 'chan-1', throttle_enabled: true, throttle: { value: 30, unit: 'MINUTES' } })
    expect(withChannel.ui_metadata.envoy_audit.definition_hash).not.toBe(plain.ui_metadata.envoy_audit.definition_hash)
    expect((renderMonitor(def, { eventsIndex: 'audit-*' }) as any).inputs[0].search.indices).toEqual(['audit-*'])
    expect((renderMonitor(def, { disabled: true }) as any).enabled).toBe(false)
    expect(def.body).not.toHaveProperty('ui_metadata') // the definition itself is not mutated
  })

  test('a malformed definition is refused naming the file', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'mon-'))
    writeFileSync(path.join(dir, 'bad.json'), '{"type":"monitor"')
    expect(() => loadMonitorDefinitions(dir)).toThrow(/bad\.json/)
    writeFileSync(path.join(dir, 'bad.json'), '{"type":"monitor","name":"x"}')
    expect(() => loadMonitorDefinitions(dir)).toThrow(/bad\.json: needs/)
  })
})

describe('provisionMonitors through @opensearch-project/opensearch', () => {
  let srv: SiemPluginsServer
  let client: Client
  beforeAll(async () => {
    srv = await startSiemPluginsServer()
    client = new Client({ node: srv.url, maxRetries: 0 })
  })
  afterAll(async () => {
    await client.close()
    await srv.close()
  })

  test('creates all, then is idempotent, then updates only what changed', async () => {
    const first = await provisionMonitors(client)
    expect(first.created).toHaveLength(5)
    expect(srv.monitors.size).toBe(5)
    const stored = [...srv.monitors.values()].map((m) => m.monitor.name).sort()
    expect(stored).toEqual(
      loadMonitorDefinitions()
        .map((d) => d.body.name)
        .sort(),
    )

    const writesBefore = srv.requests.filter((r) => r.method !== 'POST' || !r.path.endsWith('_search')).length
    const second = await provisionMonitors(client)
    expect(second).toEqual({ created: [], updated: [], unchanged: first.created })
    expect(srv.requests.filter((r) => r.method !== 'POST' || !r.path.endsWith('_search')).length).toBe(writesBefore)

    // A changed definition file (copy of the shipped dir with one threshold edited) is one update.
    const dir = mkdtempSync(path.join(tmpdir(), 'mon-'))
    for (const f of readdirSync(defaultMonitorsDir())) writeFileSync(path.join(dir, f), readFileSync(path.join(defaultMonitorsDir(), f)))
    const file = path.join(dir, 'rbac-denial-burst.json')
    writeFileSync(file, readFileSync(file, 'utf8').replace('"threshold": 20', '"threshold": 50'))
    const third = await provisionMonitors(client, { dir })
    expect(third.updated).toEqual(['envoy-audit: RBAC denial burst'])
    expect(third.unchanged).toHaveLength(4)
    const updated = [...srv.monitors.values()].find((m) => m.monitor.name === 'envoy-audit: RBAC denial burst')!
    expect(updated.version).toBe(2)
    expect(JSON.stringify(updated.monitor)).toContain('"threshold":50')
    expect(srv.monitors.size).toBe(5)

    // New option (a notification channel) updates every monitor once.
    const fourth = await provisionMonitors(client, { dir, channelId: 'soc-channel' })
    expect(fourth.updated).toHaveLength(5)
    expect((await provisionMonitors(client, { dir, channelId: 'soc-channel' })).unchanged).toHaveLength(5)
  })

  test('server errors become catalogued errors naming the monitor file', async () => {
    const srv2 = await startSiemPluginsServer()
    const c2 = new Client({ node: srv2.url, maxRetries: 0 })
    try {
      srv2.failNext('/_plugins/_alerting/monitors', 403, 1)
      await expect(provisionMonitors(c2)).rejects.toMatchObject({
        code: 'EA_SINK_AUTH',
        message: expect.stringContaining('au3-completeness.json'),
      })
      srv2.failNext('/_plugins/_alerting/monitors', 503, 1)
      await expect(provisionMonitors(c2)).rejects.toMatchObject({ code: 'EA_SINK_UNAVAILABLE', retryable: true })
    } finally {
      await c2.close()
      await srv2.close()
    }
  })
})
