/**
 * Against the real OpenSearch node (OPENSEARCH_URL). The node `npm run services:up` starts has no
 * Security Analytics plugin (Maven Central serves no zip), so what runs there is what does not need it:
 * the field mappings setup asks the plugin to apply are alias fields, which the real node must accept on
 * an index of the events template, and the correlation rules' envoy-audit queries must find an event
 * through them; and setup must refuse with EA_PLUGIN_MISSING. With the plugin installed, the whole
 * provisioning runs and is found again by a second run.
 */
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, expect, test } from 'vitest'
import type { Client } from '@opensearch-project/opensearch'
import { describeOpenSearch, opensearchPlugins, opensearchUrl as url } from '../helpers/real-servers.js'
import { createOpenSearchClient, loadConnectionConfig } from '../../src/connections/opensearch.js'
import { EnvoyAuditError } from '../../src/errors.js'
import { eventsTemplate } from '../../src/lifecycle/index-template.js'
import { loadLifecycleConfig } from '../../src/lifecycle/config.js'
import { provisionSecurityAnalytics, SECURITY_ANALYTICS_PLUGIN } from '../../src/lifecycle/security-analytics.js'
import {
  aliasMappings,
  correlationDefinitions,
  SECURITY_ANALYTICS_DEFAULTS,
  type SecurityAnalyticsConfig,
} from '../../src/lifecycle/security-analytics-resources.js'
import { baselineRulesDir, loadSigmaRules } from '../../src/sigma/loader.js'
import { learnBaselineFromOpenSearch } from '../../src/lifecycle/baseline-opensearch.js'
import { plantIndices, type Planted } from '../helpers/opensearch-planted.js'
import { at, callLines, MESH, spiffe, toEvents } from '../hunt/scenario.js'
import { applyStages } from '../../src/pipeline/transforms.js'
import { createTransformStages } from '../../src/compose/transform-stages.js'
import { loadTransformsConfig } from '../../src/config/transforms.js'
import { passthrough } from '../detect/fixtures.js'

const hasSecurityAnalytics = url !== undefined && (await opensearchPlugins(url)).has(SECURITY_ANALYTICS_PLUGIN)

describeOpenSearch('Security Analytics field mappings and setup', () => {
  const prefix = `ea-sa-it-${randomBytes(4).toString('hex')}`
  const index = `${prefix}-events-2026.12.06`
  let client: Client
  const config = (): SecurityAnalyticsConfig => ({
    ...SECURITY_ANALYTICS_DEFAULTS,
    logType: prefix,
    eventsIndexPattern: `${prefix}-events-*`,
    rules: loadSigmaRules(),
    vpcFlowIndexPattern: `${prefix}-vpc-flow*`,
    cloudTrailIndexPattern: `${prefix}-cloudtrail*`,
  })

  beforeAll(async () => {
    client = await createOpenSearchClient(
      loadConnectionConfig({
        node: url,
        username: process.env.OPENSEARCH_USERNAME || undefined,
        password: process.env.OPENSEARCH_PASSWORD || undefined,
      }),
      { maxRetries: 1 },
    )
    const template = eventsTemplate(loadLifecycleConfig({ eventsAlias: `${prefix}-events`, replicas: 0 }))
    await client.indices.create({ index, body: { settings: { number_of_replicas: 0 }, mappings: template.template.mappings } as never })
  })
  afterAll(async () => {
    await client.indices.delete({ index: `${prefix}-*` }, { ignore: [404] })
    await client.close()
  })

  test('the real node accepts the alias fields on the events mapping; the correlation queries find an event through them', async () => {
    await client.indices.putMapping({ index, body: { properties: aliasMappings() } as never })
    const mapping = (await client.indices.getMapping({ index })).body as Record<
      string,
      { mappings: { properties: Record<string, unknown> } }
    >
    expect(mapping[index]!.mappings.properties.finding_code).toEqual({ type: 'alias', path: 'audit.finding_codes' })
    const [event] = applyStages(createTransformStages(loadTransformsConfig()), [passthrough()]).events
    expect(event!.audit.finding_codes).toContain('unregistered_egress')
    await client.index({ index, id: event!.event.id, body: event as never, refresh: true })
    const count = async (query: string) =>
      ((await client.count({ index, body: { query: { query_string: { query } } } })).body as { count: number }).count
    const egress = correlationDefinitions(config()).find((d) => d.name.includes('egress'))!
    const envoyQuery = (egress.body.correlate as { query: string }[])[0]!.query
    expect(await count(envoyQuery)).toBe(1)
    expect(await count('finding_code:authz_denied')).toBe(0)
    expect(await count(`upstream_cluster:PassthroughCluster AND src_ip:"${event!.source!.ip}"`)).toBe(1)
  })

  test.skipIf(hasSecurityAnalytics)('without the plugin, provisioning refuses with EA_PLUGIN_MISSING and writes nothing', async () => {
    const err = await provisionSecurityAnalytics(client, config()).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(EnvoyAuditError)
    expect((err as EnvoyAuditError).code).toBe('EA_PLUGIN_MISSING')
  })

  test.skipIf(!hasSecurityAnalytics)('with the plugin, provisioning creates everything and a second run changes nothing', async () => {
    const first = await provisionSecurityAnalytics(client, config())
    expect(first.filter((s) => s.action === 'created').length).toBeGreaterThan(config().rules.length)
    const second = await provisionSecurityAnalytics(client, config())
    expect(second.filter((s) => s.action === 'created' || s.action === 'updated')).toEqual([])
  })
})

describeOpenSearch('the baseline rules on the real node', () => {
  const { frontend, cart, payments } = MESH
  let planted: Planted
  const learning = { since: at(-24 * 60), until: at(60) }
  const events = () => {
    const calls = toEvents([...callLines(cart, payments, at(-60)), ...callLines(frontend, cart, at(-50))])
    const egress = toEvents(callLines(cart, payments, at(-40)))
      .filter((e) => e.mesh?.reporter !== 'destination')
      .map((e) => ({
        ...e,
        event: { ...e.event, id: `${e.event.id}-egress` },
        mesh: { ...e.mesh!, upstream_cluster: 'PassthroughCluster', source: { ...e.mesh!.source, workload: 'cart' } },
      }))
    // Refused: teaches nothing.
    const denied = toEvents(callLines(frontend, payments, at(-30), { denied: true }))
    return [...calls, ...egress, ...denied]
  }

  beforeAll(async () => {
    planted = await plantIndices('baseline')
    await planted.write(events())
  }, 60_000)
  afterAll(async () => {
    await planted?.drop()
  })

  test('the lists are learnt from the events the product indexed, through the events alias (accepted traffic only)', async () => {
    const lists = await learnBaselineFromOpenSearch(planted.client, planted.eventsAlias, learning, { sensitiveNamespaces: ['payments'] })
    expect(Object.fromEntries(lists)).toEqual({
      sensitive_namespaces: ['payments'],
      sensitive_namespace_callers: [spiffe(cart)],
      egress_sources: ['cart'],
    })
  })

  test.skipIf(hasSecurityAnalytics)('(the rules themselves need the plugin, absent on this node: skipped)', () => {
    process.stderr.write(
      `security-analytics-real: the baseline rules' provisioning skipped, ${SECURITY_ANALYTICS_PLUGIN} is not installed\n`,
    )
  })

  test.skipIf(!hasSecurityAnalytics)(
    'with the plugin: both baseline rules go in with their lists; a second run changes nothing',
    async () => {
      const prefix = planted.prefix
      const config = (): SecurityAnalyticsConfig => ({
        ...SECURITY_ANALYTICS_DEFAULTS,
        logType: prefix,
        eventsIndexPattern: `${planted.eventsAlias}-*`,
        rules: loadSigmaRules(),
        vpcFlowIndexPattern: `${prefix}-vpc-flow*`,
        cloudTrailIndexPattern: `${prefix}-cloudtrail*`,
        baseline: {
          rules: loadSigmaRules(baselineRulesDir()),
          eventsIndex: planted.eventsAlias,
          ...learning,
          sensitiveNamespaces: ['payments'],
        },
      })
      const first = await provisionSecurityAnalytics(planted.client, config())
      expect(
        first
          .filter((s) => s.resource.includes('new_edge_into_sensitive_namespace') || s.resource.includes('first_egress'))
          .map((s) => s.action),
      ).toEqual(['created', 'created'])
      const second = await provisionSecurityAnalytics(planted.client, config())
      expect(second.filter((s) => s.action === 'created' || s.action === 'updated')).toEqual([])
    },
  )
})
