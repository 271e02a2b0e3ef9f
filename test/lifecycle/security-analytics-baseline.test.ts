/**
 * setup installs the rules of detections/baseline with their placeholder lists learnt from the events
 * in the cluster (the plugin has no placeholders of its own), in a detector of their own, idempotently:
 * the same events give the same rule text (unchanged), a new caller changes the list (updated, forced),
 * and without --sensitive-namespace the new-caller rule is skipped and said so. Against the plugins
 * double and the OpenSearch test server behind one URL; the events go in through the product's sink.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import type { Client } from '@opensearch-project/opensearch'
import { TestOpenSearch } from '../support/opensearch-server/index.js'
import { startSiemPluginsServer, type SiemPluginsServer } from '../support/siem-plugins-server.js'
import { pluginsRouter } from '../support/plugins-router.js'
import { createOpenSearchClient, loadConnectionConfig } from '../../src/connections/opensearch.js'
import { provisionSecurityAnalytics } from '../../src/lifecycle/security-analytics.js'
import { SECURITY_ANALYTICS_DEFAULTS, type SecurityAnalyticsConfig } from '../../src/lifecycle/security-analytics-resources.js'
import { runSetup } from '../../src/lifecycle/setup.js'
import { loadLifecycleConfig } from '../../src/lifecycle/config.js'
import { OpenSearchStore } from '../../src/store/opensearch-store.js'
import { baselineRulesDir, loadSigmaRules } from '../../src/sigma/loader.js'
import { compileRules, evaluateRules } from '../../src/sigma/evaluate.js'
import { parseSigmaRule } from '../../src/sigma/rule.js'
import type { AuditEvent } from '../../src/schema/audit-event.js'
import { at, callLines, MESH, spiffe, toEvents } from '../hunt/scenario.js'

const { frontend, cart, payments, db } = MESH
const NEW_CALLER = 'new_edge_into_sensitive_namespace.yml'
const FIRST_EGRESS = 'first_egress_from_workload.yml'

/** cart's client line of a call, sent out of the mesh through PassthroughCluster instead. */
function egressFrom(events: AuditEvent[]): AuditEvent[] {
  return events
    .filter((e) => e.mesh?.reporter !== 'destination')
    .map((e) => ({
      ...e,
      event: { ...e.event, id: `${e.event.id}-egress` },
      mesh: { ...e.mesh!, upstream_cluster: 'PassthroughCluster', source: { ...e.mesh!.source, workload: 'cart' } },
    }))
}

describe('setup --with-security-analytics: the baseline rules', () => {
  let os: TestOpenSearch
  let plugins: SiemPluginsServer
  let front: { url: string; close(): Promise<void> }
  let client: Client
  const lifecycle = loadLifecycleConfig({ replicas: 0 })
  const config = (sensitive: string[]): SecurityAnalyticsConfig => ({
    ...SECURITY_ANALYTICS_DEFAULTS,
    eventsIndexPattern: `${lifecycle.eventsAlias}-*`,
    rules: loadSigmaRules(),
    baseline: {
      rules: loadSigmaRules(baselineRulesDir()),
      eventsIndex: lifecycle.eventsAlias,
      since: at(-7 * 24 * 60),
      until: at(60),
      sensitiveNamespaces: sensitive,
    },
  })
  const write = async (events: AuditEvent[]) => {
    const store = new OpenSearchStore({ client, sink: { flushIntervalMs: 1 } })
    await store.start()
    const { rejected } = await store.writeEvents(events)
    expect(rejected).toEqual([])
    await store.close()
  }
  const stored = (file: string) => {
    const id = loadSigmaRules(baselineRulesDir()).find((r) => r.source === file)!.id
    return [...plugins.securityAnalytics.rules.values()].find((r) => r.text.includes(id))
  }
  const baselineSteps = (steps: { resource: string; action: string; detail?: string }[]) =>
    steps
      .filter((s) => s.resource.includes(NEW_CALLER) || s.resource.includes(FIRST_EGRESS) || s.resource.endsWith('envoy-audit baseline'))
      .map((s) => [s.resource.replace('security analytics ', ''), s.action, ...(s.detail === undefined ? [] : [s.detail])])

  beforeAll(async () => {
    os = await TestOpenSearch.start()
    plugins = await startSiemPluginsServer({ indices: () => [...os.state.indices.keys()] })
    front = await pluginsRouter(os.url, plugins.url)
    client = await createOpenSearchClient(loadConnectionConfig({ node: front.url }), { maxRetries: 0 })
    await runSetup(client, lifecycle)
    // The learning window: cart and the gateway-facing frontend call payments; cart sends data out.
    const calls = toEvents([
      ...callLines(cart, payments, at(-60)),
      ...callLines(payments, db, at(-50)),
      ...callLines(frontend, cart, at(-40)),
    ])
    await write([...calls, ...egressFrom(toEvents(callLines(cart, payments, at(-30))))])
  }, 60_000)
  afterAll(async () => {
    await client.close()
    await front.close()
    await plugins.close()
    await os.close()
  })

  test('without --sensitive-namespace: the first-egress rule with its learnt list, the new-caller rule skipped', async () => {
    const steps = await provisionSecurityAnalytics(client, config([]))
    expect(baselineSteps(steps)).toEqual([
      [`rule ${NEW_CALLER}`, 'skipped', 'needs --sensitive-namespace'],
      [`rule ${FIRST_EGRESS}`, 'created'],
      ['detector envoy-audit baseline', 'created', '1 rules'],
    ])
    const text = stored(FIRST_EGRESS)!.text
    expect(text).not.toContain('|expand')
    expect(parseSigmaRule(text, FIRST_EGRESS).detection.known_source).toEqual({ src_workload: ['cart'] })
  })

  test('with it: the known callers of the namespace are the rule list; a second run changes nothing', async () => {
    const first = await provisionSecurityAnalytics(client, config(['payments']))
    expect(baselineSteps(first)).toEqual([
      [`rule ${FIRST_EGRESS}`, 'unchanged'],
      [`rule ${NEW_CALLER}`, 'created'],
      ['detector envoy-audit baseline', 'updated', '2 rules'],
    ])
    const rule = parseSigmaRule(stored(NEW_CALLER)!.text, NEW_CALLER)
    expect(rule.detection.into_sensitive).toMatchObject({ dst_namespace: ['payments'] })
    // Accepted calls into payments in the learning window: cart's (payments → db stays inside the namespace, also a caller).
    expect(rule.detection.known_caller).toEqual({ src_spiffe_id: [spiffe(cart), spiffe(payments)].sort() })
    const detector = [...plugins.securityAnalytics.detectors.values()].find((d) => d.detector.name === 'envoy-audit baseline')!
    const inputs = detector.detector.inputs as { detector_input: { custom_rules: unknown[] } }[]
    expect(inputs[0]!.detector_input.custom_rules).toHaveLength(2)

    const again = await provisionSecurityAnalytics(client, config(['payments']))
    expect(again.filter((s) => s.action === 'created' || s.action === 'updated')).toEqual([])

    // The deployed text is a rule envoy-audit evaluates too: frontend calling payments is new, cart is not.
    const deployed = { ...rule, group: 'baseline' }
    const probe = toEvents([...callLines(frontend, payments, at(10)), ...callLines(cart, payments, at(11))])
    const [result] = evaluateRules(compileRules([deployed]), probe)
    expect(result!.matches.flatMap((m) => m.events.map((e) => e.mesh?.source?.spiffe_id))).toEqual([spiffe(frontend)])
  })

  test('a new caller in the learning window updates the rule in place (forced), the rest unchanged', async () => {
    await write(toEvents(callLines(frontend, payments, at(-20))))
    const steps = await provisionSecurityAnalytics(client, config(['payments']))
    expect(baselineSteps(steps)).toEqual([
      [`rule ${FIRST_EGRESS}`, 'unchanged'],
      [`rule ${NEW_CALLER}`, 'updated'],
      ['detector envoy-audit baseline', 'unchanged'],
    ])
    expect(parseSigmaRule(stored(NEW_CALLER)!.text, NEW_CALLER).detection.known_caller).toEqual({
      src_spiffe_id: [spiffe(cart), spiffe(frontend), spiffe(payments)].sort(),
    })
    const update = plugins.requests.filter((r) => r.method === 'PUT' && r.path.includes('/rules/')).at(-1)!
    expect(update.query.get('forced')).toBe('true')
  })
})
