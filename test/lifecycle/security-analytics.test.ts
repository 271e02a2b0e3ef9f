import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest'
import type { Client } from '@opensearch-project/opensearch'
import { TestOpenSearch } from '../support/opensearch-server/index.js'
import { startSiemPluginsServer, type SiemPluginsServer } from '../support/siem-plugins-server.js'
import { pluginsRouter } from '../support/plugins-router.js'
import { createOpenSearchClient, loadConnectionConfig } from '../../src/connections/opensearch.js'
import { EnvoyAuditError } from '../../src/errors.js'
import { provisionSecurityAnalytics } from '../../src/lifecycle/security-analytics.js'
import { SECURITY_ANALYTICS_DEFAULTS, type SecurityAnalyticsConfig } from '../../src/lifecycle/security-analytics-resources.js'
import { RULE_FIELDS } from '../../src/sigma/fields.js'
import { defaultRulesDir, loadSigmaRules } from '../../src/sigma/loader.js'

/**
 * setup's Security Analytics half against the plugins double (its API modelled on the plugin's docs and
 * source) behind one URL with the OpenSearch test server, as a cluster would be.
 */
describe('provisionSecurityAnalytics', () => {
  let os: TestOpenSearch
  let plugins: SiemPluginsServer
  let front: { url: string; close(): Promise<void> }
  let client: Client
  const rules = loadSigmaRules()
  const config = (over: Partial<SecurityAnalyticsConfig> = {}): SecurityAnalyticsConfig => ({
    ...SECURITY_ANALYTICS_DEFAULTS,
    eventsIndexPattern: 'envoy-audit-events-*',
    rules,
    ...over,
  })
  const writes = () => plugins.requests.filter((r) => r.method !== 'GET' && !r.path.endsWith('/_search'))

  beforeAll(async () => {
    os = await TestOpenSearch.start()
    plugins = await startSiemPluginsServer({ indices: () => [...os.state.indices.keys()] })
    front = await pluginsRouter(os.url, plugins.url)
    client = await createOpenSearchClient(loadConnectionConfig({ node: front.url }), { maxRetries: 0 })
    await client.indices.create({ index: 'envoy-audit-events-2026.12.06' })
    await client.indices.create({ index: 'vpc-flow-2026.12' })
  })
  afterAll(async () => {
    await client.close()
    await front.close()
    await plugins.close()
    await os.close()
  })
  beforeEach(() => {
    plugins.requests.length = 0
  })

  test('first run: log type, mappings, every rule, a detector per group, the correlations whose other index exists', async () => {
    const steps = await provisionSecurityAnalytics(client, config())
    const by = (prefix: string) => steps.filter((s) => s.resource.startsWith(prefix))
    expect(by('security analytics log type').map((s) => s.action)).toEqual(['created'])
    expect(by('security analytics field mappings').map((s) => s.action)).toEqual(['created'])
    expect(by('security analytics rule ').map((s) => s.action)).toEqual(rules.map(() => 'created'))
    const groups = [...new Set(rules.map((r) => r.group))]
    expect(
      by('security analytics detector')
        .map((s) => s.resource)
        .sort(),
    ).toEqual(groups.map((g) => `security analytics detector envoy-audit ${g}`).sort())
    const corr = by('security analytics correlation rule')
    expect(corr.filter((s) => s.action === 'created').map((s) => s.resource)).toEqual([
      'security analytics correlation rule envoy-audit egress leaving the VPC',
    ])
    expect(corr.filter((s) => s.action === 'skipped').every((s) => s.detail === 'no index matches cloudtrail*')).toBe(true)

    const sa = plugins.securityAnalytics
    // The alias fields landed on the events index, each pointing at the canonical field.
    const aliases = sa.mappings.get('envoy-audit-events-2026.12.06')!
    expect(Object.fromEntries(Object.entries(aliases).map(([k, v]) => [k, v.path]))).toEqual(RULE_FIELDS)
    expect(sa.mappings.has('vpc-flow-2026.12')).toBe(false)
    // Each rule was uploaded as its file's text, under the log type.
    const stored = [...sa.rules.values()]
    expect(stored.map((r) => r.category)).toEqual(rules.map(() => 'envoy-audit'))
    expect(stored.map((r) => r.text).sort()).toEqual(rules.map((r) => readFileSync(join(defaultRulesDir(), r.source), 'utf8')).sort())
    // Each detector reads the events pattern with exactly its group's rules.
    for (const d of sa.detectors.values()) {
      const group = String(d.detector.name).replace('envoy-audit ', '')
      const input = (d.detector.inputs as { detector_input: { indices: string[]; custom_rules: { id: string }[] } }[])[0]!.detector_input
      expect(input.indices).toEqual(['envoy-audit-events-*'])
      const titles = input.custom_rules.map((r) => sa.rules.get(r.id)!.doc.title).sort()
      expect(titles).toEqual(
        rules
          .filter((r) => r.group === group)
          .map((r) => r.title)
          .sort(),
      )
      expect(d.detector.detector_type).toBe('envoy-audit')
    }
  })

  test('a second run writes nothing and reports every step unchanged (or skipped)', async () => {
    const steps = await provisionSecurityAnalytics(client, config())
    expect(new Set(steps.map((s) => s.action))).toEqual(new Set(['unchanged', 'skipped']))
    expect(writes()).toEqual([])
  })

  test('an edited rule is updated in place (forced, since a detector uses it); its detector stays as it is', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ea-sigma-'))
    try {
      cpSync(defaultRulesDir(), dir, { recursive: true })
      const file = join(dir, 'egress', 'egress_blocked.yml')
      writeFileSync(file, readFileSync(file, 'utf8').replace('level: low', 'level: medium'))
      const before = plugins.securityAnalytics.rules.size
      const steps = await provisionSecurityAnalytics(client, config({ rules: loadSigmaRules(dir) }))
      expect(steps.filter((s) => s.action === 'updated').map((s) => s.resource)).toEqual([
        'security analytics rule egress/egress_blocked.yml',
      ])
      expect(plugins.securityAnalytics.rules.size).toBe(before)
      const put = writes()
      expect(put.map((r) => `${r.method} ${r.query.get('forced')}`)).toEqual(['PUT true'])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  test('a CloudTrail index appearing later adds its correlation rules on the next run', async () => {
    await client.indices.create({ index: 'cloudtrail-2026.12' })
    const steps = await provisionSecurityAnalytics(client, config())
    expect(steps.filter((s) => s.action === 'created').map((s) => s.resource)).toEqual([
      'security analytics correlation rule envoy-audit foreign identity and AWS role use',
      'security analytics correlation rule envoy-audit mesh denials and AWS access denied',
    ])
    const bodies = [...plugins.securityAnalytics.correlationRules.values()].map((r) => r.rule)
    for (const b of bodies) expect((b.correlate as { index: string }[])[0]!.index).toBe('envoy-audit-events-*')
  })

  test('mappings are re-applied when setup replaced the events template (whose plugin component went with it)', async () => {
    const steps = await provisionSecurityAnalytics(client, config({ reapplyMappings: true }))
    expect(steps.find((s) => s.resource.startsWith('security analytics field mappings'))).toMatchObject({ action: 'updated' })
    expect(writes().map((r) => `${r.method} ${r.path}`)).toEqual(['POST /_plugins/_security_analytics/mappings'])
  })

  test('a plugin failure is a typed error naming the step', async () => {
    plugins.failNext('/_plugins/_security_analytics/detectors/_search', 503)
    const err = await provisionSecurityAnalytics(client, config()).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(EnvoyAuditError)
    expect((err as EnvoyAuditError).code).toBe('EA_SINK_UNAVAILABLE')
    expect((err as Error).message).toContain('reading security analytics detectors')
  })
})

describe('provisionSecurityAnalytics without the plugin', () => {
  test('EA_PLUGIN_MISSING before any Security Analytics call', async () => {
    const plugins = await startSiemPluginsServer({ plugins: ['opensearch-alerting'] })
    const client = await createOpenSearchClient(loadConnectionConfig({ node: plugins.url }), { maxRetries: 0 })
    try {
      const err = await provisionSecurityAnalytics(client, {
        ...SECURITY_ANALYTICS_DEFAULTS,
        eventsIndexPattern: 'envoy-audit-events-*',
        rules: loadSigmaRules(),
      }).catch((e: unknown) => e)
      expect((err as EnvoyAuditError).code).toBe('EA_PLUGIN_MISSING')
      expect(plugins.requests.map((r) => r.path)).toEqual(['/_cat/plugins'])
    } finally {
      await client.close()
      await plugins.close()
    }
  })
})
