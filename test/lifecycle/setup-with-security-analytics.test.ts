import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { TestOpenSearch } from '../support/opensearch-server/index.js'
import { startSiemPluginsServer, type SiemPluginsServer } from '../support/siem-plugins-server.js'
import { pluginsRouter } from '../support/plugins-router.js'
import { runCli } from '../helpers/cli.js'
import { loadSigmaRules } from '../../src/sigma/loader.js'

describe('envoy-audit setup --with-security-analytics (real CLI, child process, test doubles behind one URL)', () => {
  let os: TestOpenSearch
  let plugins: SiemPluginsServer
  let front: { url: string; close(): Promise<void> }
  const env = { OPENSEARCH_URL: '' }
  const rules = loadSigmaRules()

  beforeAll(async () => {
    os = await TestOpenSearch.start()
    plugins = await startSiemPluginsServer({ indices: () => [...os.state.indices.keys()] })
    front = await pluginsRouter(os.url, plugins.url)
  })
  afterAll(async () => {
    await front.close()
    await plugins.close()
    await os.close()
  })

  test('installs the index lifecycle, then the log type, mappings, rules, detectors; a second run changes nothing', async () => {
    const args = ['setup', '--opensearch', front.url, '--with-security-analytics', '--detector-interval', '10']
    const first = await runCli(args, { env })
    expect(first.stderr).toBe('')
    expect(first.code).toBe(0)
    // The events alias's first period index exists before the mappings are applied to it.
    expect(first.stdout).toMatch(/^created\s+read alias envoy-audit-events/m)
    expect(first.stdout).toMatch(/^created\s+security analytics log type envoy-audit$/m)
    expect(first.stdout).toMatch(/^created\s+security analytics field mappings on envoy-audit-events-\*/m)
    // The shipped rules, and of detections/baseline the first-egress rule (its list learnt from the events);
    // the new-caller rule needs --sensitive-namespace.
    expect(first.stdout.match(/^created\s+security analytics rule /gm)).toHaveLength(rules.length + 1)
    expect(first.stdout).toMatch(
      /^skipped\s+security analytics rule new_edge_into_sensitive_namespace.yml \(needs --sensitive-namespace\)$/m,
    )
    expect(first.stdout).toMatch(/^skipped\s+security analytics correlation rule .*no index matches vpc-flow\*/m)
    const detectors = [...plugins.securityAnalytics.detectors.values()].map((d) => d.detector)
    expect(detectors.map((d) => d.name).sort()).toEqual(
      [...new Set([...rules.map((r) => r.group), 'baseline'])].map((g) => `envoy-audit ${g}`).sort(),
    )
    for (const d of detectors) expect(d.schedule).toEqual({ period: { interval: 10, unit: 'MINUTES' } })
    const eventsIndex = [...os.state.indices.keys()].find((i) => i.startsWith('envoy-audit-events-'))!
    expect(Object.keys(plugins.securityAnalytics.mappings.get(eventsIndex)!)).toContain('finding_code')

    const second = await runCli(args, { env })
    expect(second.code).toBe(0)
    expect(second.stdout).not.toMatch(/^(created|updated)\s+/m)
    expect(second.stdout).toMatch(/^unchanged\s+security analytics detector envoy-audit behaviour$/m)
  }, 90_000)

  test('a bad rule file fails before anything is written; a bad log type name is a usage error', async () => {
    const before = plugins.requests.length + os.requests.length
    const bad = await runCli(['setup', '--opensearch', front.url, '--with-security-analytics', '--sigma-rules', 'test/fixtures'], { env })
    expect(bad.code).not.toBe(0)
    expect(bad.stderr).toMatch(/EA_SIGMA_INVALID|EA_SIGMA_UNSUPPORTED/)
    const name = await runCli(['setup', '--opensearch', front.url, '--with-security-analytics', '--log-type', 'Envoy Audit'], { env })
    expect(name.stderr).toContain('EA_USAGE')
    expect(plugins.requests.length + os.requests.length).toBe(before)
  }, 60_000)
})
