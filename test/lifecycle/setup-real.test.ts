/**
 * setup on the real node (no Index Management plugin there): the templates with the read alias are
 * accepted, a second run changes nothing, and a deployment of the earlier layout (a rolling write alias
 * over -000001) keeps its documents readable while the sink writes period indices.
 */
import { afterAll, beforeAll, expect, test } from 'vitest'
import { randomBytes } from 'node:crypto'
import type { Client } from '@opensearch-project/opensearch'
import { describeOpenSearch, opensearchPlugins, opensearchUrl as url } from '../helpers/real-servers.js'
import { createOpenSearchClient, loadConnectionConfig } from '../../src/connections/opensearch.js'
import { loadSinkConfig } from '../../src/sinks/opensearch/config.js'
import { OpenSearchSink } from '../../src/sinks/opensearch/sink.js'
import { loadLifecycleConfig } from '../../src/lifecycle/config.js'
import { runSetup } from '../../src/lifecycle/setup.js'
import { eventsTemplate, templateName } from '../../src/lifecycle/index-template.js'
import { runCli } from '../helpers/cli.js'
import { okEvent } from '../sinks/opensearch/fixtures.js'

describeOpenSearch('setup on a real node', () => {
  const prefix = `ea-setup-${randomBytes(4).toString('hex')}`
  const lifecycle = loadLifecycleConfig({
    eventsAlias: `${prefix}-events`,
    findingsAlias: `${prefix}-findings`,
    policyId: `${prefix}-retention`,
    replicas: 0,
  })
  let client: Client
  let ism = false

  beforeAll(async () => {
    client = await createOpenSearchClient(loadConnectionConfig({ node: url }), { maxRetries: 3 })
    ism = (await opensearchPlugins(url!)).has('opensearch-index-management')
  })

  afterAll(async () => {
    if (client === undefined) return
    await client.indices.delete({ index: `${prefix}-*` }, { ignore: [404] }).catch(() => undefined)
    for (const alias of [lifecycle.eventsAlias, lifecycle.findingsAlias])
      await client.indices.deleteIndexTemplate({ name: templateName(alias) }, { ignore: [404] }).catch(() => undefined)
    await client.transport
      .request({ method: 'DELETE', path: `/_plugins/_ism/policies/${lifecycle.policyId}` }, { ignore: [400, 404] })
      .catch(() => undefined)
    await client.close()
  })

  test('an earlier -000001 deployment: its documents stay readable through the alias, new writes go to period indices, a second run changes nothing', async () => {
    const alias = lifecycle.eventsAlias
    const legacy = eventsTemplate(lifecycle)
    await client.indices.putIndexTemplate({
      name: templateName(alias),
      body: {
        ...legacy,
        _meta: { ...legacy._meta, content_hash: 'earlier' },
        template: { settings: legacy.template.settings, mappings: legacy.template.mappings },
      } as never,
    })
    await client.indices.create({ index: `${alias}-000001`, body: { aliases: { [alias]: { is_write_index: true } } } })
    const earlier = okEvent(0)
    await client.bulk({
      refresh: 'true',
      body: `${JSON.stringify({ create: { _index: alias, _id: earlier.event.id } })}\n${JSON.stringify(earlier)}\n` as never,
    })

    const first = await runSetup(client, lifecycle)
    expect(first.map((s) => s.action)).toEqual([
      ism ? 'created' : 'skipped',
      'updated',
      'created',
      ism ? 'updated' : 'unchanged',
      'created',
    ])
    expect(first[3]!.detail).toContain(`earlier write index ${alias}-000001 stays readable through the alias`)
    // The alias the template now attaches makes a rollover of the old write index fail, as ISM's would: hence rollover_skip under ISM.
    await expect(client.indices.rollover({ alias })).rejects.toMatchObject({
      statusCode: 400,
      body: { error: { reason: expect.stringContaining('duplicated alias') } },
    })

    const sink = new OpenSearchSink({
      client,
      config: loadSinkConfig({ eventsAlias: alias, findingsAlias: lifecycle.findingsAlias, flushIntervalMs: 1 }),
    })
    await sink.start()
    expect((await sink.write([okEvent(1), okEvent(2)])).rejected).toEqual([])
    await sink.close()
    await client.indices.refresh({ index: alias })
    const hits = (await client.search({ index: alias, body: { size: 10, sort: [{ 'event.id': 'asc' }] } })).body.hits.hits.map(
      (h) => `${h._index}/${h._id}`,
    )
    expect(hits).toEqual([`${alias}-000001/ok-000000`, `${alias}-2020.11.25/ok-000001`, `${alias}-2020.11.25/ok-000002`])

    const second = await runSetup(client, lifecycle)
    expect(second.map((s) => s.action)).toEqual([ism ? 'unchanged' : 'skipped', 'unchanged', 'unchanged', 'unchanged', 'unchanged'])
  })

  test('the CLI exits 1 without the ISM plugin, saying retention is not enforced, and 0 with --without-ism', async () => {
    if (ism) return
    const args = [
      'setup',
      '--opensearch',
      url!,
      '--events-alias',
      lifecycle.eventsAlias,
      '--findings-alias',
      lifecycle.findingsAlias,
      '--policy',
      lifecycle.policyId,
      '--replicas',
      '0',
      '--integrity-prefix',
      `${prefix}-integrity`,
    ]
    const refused = await runCli(args)
    expect(refused.code).toBe(1)
    expect(refused.stderr).toContain('retention is NOT enforced')
    const accepted = await runCli([...args, '--without-ism'])
    expect(accepted.code).toBe(0)
    expect(accepted.stdout).toMatch(/^skipped\s+ism policy/)
  })
})
