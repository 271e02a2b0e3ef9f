import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { TestOpenSearch } from '../support/opensearch-server/index.js'
import { startSiemPluginsServer, type SiemPluginsServer } from '../support/siem-plugins-server.js'
import { runCli } from '../helpers/cli.js'
import { pluginsRouter } from '../support/plugins-router.js'

// `setup --with-alerting` talks to one URL for the index lifecycle and the Alerting plugin, as it would
// to a real cluster: the router sends the plugin paths to the plugins double, the rest to OpenSearch.
function router(os: TestOpenSearch, plugins: SiemPluginsServer): Promise<{ url: string; close(): Promise<void> }> {
  return pluginsRouter(os.url, plugins.url)
}

describe('envoy-audit setup --with-alerting (real CLI, child process, test doubles)', () => {
  let os: TestOpenSearch
  let plugins: SiemPluginsServer
  let front: { url: string; close(): Promise<void> }
  const env = { OPENSEARCH_USERNAME: 'admin', OPENSEARCH_PASSWORD: 'Adm1n!pw', OPENSEARCH_URL: '' }

  beforeAll(async () => {
    os = await TestOpenSearch.start()
    plugins = await startSiemPluginsServer({ auth: { username: 'admin', password: 'Adm1n!pw' } })
    front = await router(os, plugins)
  })
  afterAll(async () => {
    await front.close()
    await plugins.close()
    await os.close()
  })

  test('creates the templates, aliases and ISM policy, then the monitors and saved objects; a second run changes nothing', async () => {
    // The doubles speak http://: a password goes there only with --insecure.
    const args = ['setup', '--opensearch', front.url, '--username', 'admin', '--with-alerting', '--dashboards', front.url, '--insecure']
    const first = await runCli(args, { env })
    expect(first.stderr).not.toContain('Adm1n!pw')
    expect(first.code).toBe(0)
    expect(first.stdout).toMatch(/^created\s+/m)
    // The lifecycle half landed in the OpenSearch double...
    expect([...os.state.templates.keys()].some((k) => k.includes('envoy-audit'))).toBe(true)
    expect(os.state.policies.size).toBeGreaterThan(0)
    expect(os.state.aliases.has('envoy-audit-events')).toBe(true)
    // ...and the alerting half in the plugins double, every monitor pointed at the events alias.
    expect(plugins.monitors.size).toBe(5)
    for (const m of plugins.monitors.values()) expect(JSON.stringify(m.monitor)).toContain('envoy-audit-events*')
    expect(plugins.savedObjects.size).toBeGreaterThan(0)
    const monitorVersions = [...plugins.monitors.values()].map((m) => m.version)

    const second = await runCli(args, { env })
    expect(second.code).toBe(0)
    expect(second.stdout).not.toMatch(/^created\s+/m)
    expect(plugins.monitors.size).toBe(5)
    expect([...plugins.monitors.values()].map((m) => m.version)).toEqual(monitorVersions)
    expect(first.stdout + second.stdout).not.toContain('Adm1n!pw')
  }, 90_000)

  test('without --with-alerting no plugin API is called', async () => {
    const before = plugins.requests.length
    const r = await runCli(['setup', '--opensearch', front.url, '--username', 'admin', '--insecure'], { env })
    expect(r.code).toBe(0)
    expect(plugins.requests.length).toBe(before)
  }, 60_000)
})
