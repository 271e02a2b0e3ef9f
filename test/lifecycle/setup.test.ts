import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import { Client } from '@opensearch-project/opensearch'
import { runSetup } from '../../src/lifecycle/setup.js'
import { loadLifecycleConfig } from '../../src/lifecycle/config.js'
import { eventsTemplate } from '../../src/lifecycle/index-template.js'
import { ismPolicy } from '../../src/lifecycle/ism-policy.js'
import { OpenSearchSink } from '../../src/sinks/opensearch/sink.js'
import { loadSinkConfig } from '../../src/sinks/opensearch/config.js'
import { EnvoyAuditError } from '../../src/errors.js'
import { TestOpenSearch } from '../support/opensearch-server/index.js'
import { deniedEvent, okEvent } from '../sinks/opensearch/fixtures.js'

let srv: TestOpenSearch
let client: Client

beforeEach(async () => {
  srv = await TestOpenSearch.start()
  client = new Client({ node: srv.url })
})

afterEach(async () => {
  await client.close()
  await srv.close()
})

/** Requests that change state (anything but GET/HEAD). */
const writes = () => srv.requests.filter((r) => r.method !== 'GET' && r.method !== 'HEAD')

describe('setup', () => {
  test('first run creates policy, both templates (with the read alias) and the first period index behind each alias', async () => {
    const steps = await runSetup(client, loadLifecycleConfig(), Date.parse('2026-03-01T10:00:00Z'))
    expect(steps.map((s) => [s.resource, s.action])).toEqual([
      ['ism policy envoy-audit-retention', 'created'],
      ['index template envoy-audit-events-template', 'created'],
      ['index template envoy-audit-findings-template', 'created'],
      ['read alias envoy-audit-events', 'created'],
      ['read alias envoy-audit-findings', 'created'],
    ])
    expect([...srv.state.aliases.get('envoy-audit-events')!]).toEqual([['envoy-audit-events-2026.03.01', {}]])
    const index = srv.state.indices.get('envoy-audit-events-2026.03.01')!
    expect(index.mappings).toEqual(eventsTemplate(loadLifecycleConfig()).template.mappings)
    expect(Object.keys(index.settings).filter((k) => k.includes('index_state_management'))).toEqual([])
    expect(srv.state.templates.get('envoy-audit-events-template')!.version).toBe(1)
  })

  test('a second run changes nothing and sends no writes', async () => {
    await runSetup(client, loadLifecycleConfig())
    const before = writes().length
    const steps = await runSetup(client, loadLifecycleConfig())
    expect(steps.every((s) => s.action === 'unchanged')).toBe(true)
    expect(writes().length).toBe(before)
  })

  test('a changed retention re-PUTs the ISM policy with if_seq_no/if_primary_term (a plain re-PUT would be 409)', async () => {
    await runSetup(client, loadLifecycleConfig())
    const plain = await client.transport
      .request({ method: 'PUT', path: '/_plugins/_ism/policies/envoy-audit-retention', body: { policy: { states: [] } } })
      .catch((e: { statusCode: number }) => e.statusCode)
    expect(plain).toBe(409)
    const steps = await runSetup(client, loadLifecycleConfig({ deleteAfterDays: 900, snapshotRepository: 'audit-cold' }))
    expect(steps[0]).toMatchObject({ action: 'updated' })
    const put = srv.requests.filter((r) => r.method === 'PUT' && r.path.startsWith('/_plugins/_ism')).at(-1)!
    expect(put.query.if_seq_no).toBeDefined()
    expect(put.query.if_primary_term).toBe('1')
    const stored = srv.state.policies.get('envoy-audit-retention')!
    expect(stored.version).toBe(2)
    const states = (stored.policy.states as { name: string }[]).map((s) => s.name)
    expect(states).toEqual(['hot', 'warm', 'archive', 'delete'])
    expect(JSON.stringify(stored.policy)).toContain('"min_index_age":"901d"')
    expect(JSON.stringify(stored.policy)).not.toContain('rollover')
  })

  test('an older installed template is replaced; a newer one is left alone', async () => {
    await runSetup(client, loadLifecycleConfig())
    const t = srv.state.templates.get('envoy-audit-events-template')!
    srv.state.templates.set('envoy-audit-events-template', { ...t, version: 0 })
    let steps = await runSetup(client, loadLifecycleConfig())
    expect(steps[1]).toMatchObject({ action: 'updated' })
    expect(srv.state.templates.get('envoy-audit-events-template')!.version).toBe(1)
    srv.state.templates.set('envoy-audit-events-template', { ...t, version: 7 })
    steps = await runSetup(client, loadLifecycleConfig())
    expect(steps[1]).toMatchObject({ action: 'skipped' })
    expect(srv.state.templates.get('envoy-audit-events-template')!.version).toBe(7)
  })

  test('same version with different content (shards) is updated', async () => {
    await runSetup(client, loadLifecycleConfig())
    const steps = await runSetup(client, loadLifecycleConfig({ shards: 3 }))
    expect(steps[1]).toMatchObject({ action: 'updated' })
    expect(
      (srv.state.templates.get('envoy-audit-events-template')!.template as { settings: { number_of_shards: number } }).settings
        .number_of_shards,
    ).toBe(3)
  })

  test('an alias name taken by a concrete index is reported, not papered over', async () => {
    srv.state.createIndex('envoy-audit-events')
    const err = await runSetup(client, loadLifecycleConfig()).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(EnvoyAuditError)
    expect((err as EnvoyAuditError).message).toContain('concrete index')
  })

  test('request failures become EnvoyAuditError with the HTTP status', async () => {
    srv.faults.failRequests(/_index_template/, 403, 5)
    const err = await runSetup(client, loadLifecycleConfig()).catch((e: unknown) => e)
    expect((err as EnvoyAuditError).code).toBe('EA_SINK_AUTH')
    expect((err as EnvoyAuditError).message).toContain('HTTP 403')
  })

  test('after setup, the strict mapping accepts every serialized fixture event and rejects a malformed one', async () => {
    await runSetup(client, loadLifecycleConfig())
    const sink = new OpenSearchSink({ client, config: loadSinkConfig({ flushIntervalMs: 1 }) })
    await sink.start()
    const good = [okEvent(1), deniedEvent(2), okEvent(3)]
    const bad = okEvent(4)
    bad.source = { ip: 'not-an-ip' }
    const result = await sink.write([...good, bad])
    await sink.close()
    expect(result.rejected.map((r) => [r.event.event.id, r.code])).toEqual([['ok-000004', 'EA_SINK_MAPPING']])
    expect(result.rejected[0]!.message).toContain('mapper_parsing_exception')
    expect(srv.docs('envoy-audit-events-2020.11.25')).toHaveLength(3)
    expect(srv.docs('envoy-audit-findings-2020.11.25')).toHaveLength(1)
    // Every period index joined the read alias through the template.
    expect(srv.docs('envoy-audit-events')).toHaveLength(3)
  })

  test('an earlier write-alias deployment (-000001) is migrated in place: reads keep its documents, writes go to period indices, rollover is skipped', async () => {
    // The earlier layout: a template without the alias, -000001 as the alias's write index, events written through the alias.
    const legacy = eventsTemplate(loadLifecycleConfig())
    srv.state.templates.set('envoy-audit-events-template', {
      ...legacy,
      _meta: { ...legacy._meta, content_hash: 'earlier' },
      template: { settings: legacy.template.settings, mappings: legacy.template.mappings },
    })
    srv.state.createIndex('envoy-audit-events-000001', { aliases: { 'envoy-audit-events': { is_write_index: true } } })
    await client.bulk({
      body: `${JSON.stringify({ create: { _index: 'envoy-audit-events', _id: 'ok-000000' } })}\n${JSON.stringify(okEvent(0))}\n` as never,
    })
    const first = await runSetup(client, loadLifecycleConfig())
    expect(first.map((s) => [s.resource, s.action])).toEqual([
      ['ism policy envoy-audit-retention', 'created'],
      ['index template envoy-audit-events-template', 'updated'],
      ['index template envoy-audit-findings-template', 'created'],
      ['read alias envoy-audit-events', 'updated'],
      ['read alias envoy-audit-findings', 'created'],
    ])
    expect(first[3]!.detail).toContain('earlier write index envoy-audit-events-000001 stays readable through the alias')
    const old = srv.state.indices.get('envoy-audit-events-000001')!
    expect(old.settings['index.plugins.index_state_management.rollover_skip']).toBe(true)
    expect(srv.state.managed.get('envoy-audit-events-000001')).toBe('envoy-audit-retention')
    // Its successor would get the alias from the template too: a rollover of the old alias is refused as on the real node.
    await expect(client.indices.rollover({ alias: 'envoy-audit-events' })).rejects.toMatchObject({ statusCode: 400 })
    const sink = new OpenSearchSink({ client, config: loadSinkConfig({ flushIntervalMs: 1 }) })
    await sink.start()
    expect((await sink.write([okEvent(0), okEvent(1)])).rejected).toEqual([])
    await sink.close()
    await client.indices.refresh({ index: 'envoy-audit-events' })
    const ids = (await client.search({ index: 'envoy-audit-events', body: { size: 10 } })).body.hits.hits
      .map((h) => `${h._index}/${h._id}`)
      .sort()
    // ok-000000 written before the migration is read from the old index, and written again into its period index:
    // a replay that crosses the migration is the one duplicate this layout change cannot avoid.
    expect(ids).toEqual([
      'envoy-audit-events-000001/ok-000000',
      'envoy-audit-events-2020.11.25/ok-000000',
      'envoy-audit-events-2020.11.25/ok-000001',
    ])
    const before = writes().length
    const again = await runSetup(client, loadLifecycleConfig())
    expect(again.map((s) => s.action)).toEqual(['unchanged', 'unchanged', 'unchanged', 'unchanged', 'unchanged'])
    expect(writes().length).toBe(before)
  })

  test('period indices written before setup (no alias, dynamic mapping) are reported, not adopted', async () => {
    srv.state.createIndex('envoy-audit-events-2020.11.25')
    const err = await runSetup(client, loadLifecycleConfig()).catch((e: unknown) => e)
    expect((err as EnvoyAuditError).message).toContain('envoy-audit-events-2020.11.25 were written before setup')
  })

  test('the policy ages indices from creation: read-only after warmAfterDays, deleted retention plus one period later; a warm age shorter than a period is refused', () => {
    const policy = JSON.stringify(ismPolicy(loadLifecycleConfig({ indexGranularity: 'month', warmAfterDays: 40, deleteAfterDays: 400 })))
    expect(policy).toContain('"min_index_age":"40d"')
    expect(policy).toContain('"min_index_age":"431d"')
    expect(JSON.stringify(ismPolicy(loadLifecycleConfig({ indexGranularity: 'hour' })))).toContain('"min_index_age":"8761h"')
    expect(() => loadLifecycleConfig({ indexGranularity: 'month' })).toThrow(/warmAfterDays: must be at least the index period plus 2 days/)
  })
})
