import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { parse as parseYaml } from 'yaml'
import type { z } from 'zod'
import { configDefaults, configSchema, validateConfig } from '../../src/compose/config.js'
import { runCli } from '../helpers/cli.js'

const dir = mkdtempSync(join(tmpdir(), 'ea-config-cli-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const file = (name: string, text: string): string => {
  const p = join(dir, name)
  writeFileSync(p, text)
  return p
}

/** Removes one level of `# ` (not `##` notes), as a user enabling a commented block does. */
const uncomment = (text: string): string =>
  text
    .split('\n')
    .map((l) => l.replace(/^(\s*)# (?!#)/, '$1'))
    .join('\n')

/** Every option path the schema declares (objects walked through their default/optional wrappers). */
function optionPaths(schema: z.ZodType, prefix = ''): string[] {
  let s = schema as unknown as { _zod: { def: { type: string; innerType?: unknown; in?: unknown; shape?: Record<string, z.ZodType> } } }
  for (;;) {
    if (['default', 'optional', 'nullable', 'prefault'].includes(s._zod.def.type)) s = s._zod.def.innerType as typeof s
    else if (s._zod.def.type === 'pipe')
      s = s._zod.def.in as typeof s // an object with a .transform(): its options are the input's
    else break
  }
  if (s._zod.def.type !== 'object') return [prefix]
  return Object.entries(s._zod.def.shape!).flatMap(([k, v]) => optionPaths(v, prefix === '' ? k : `${prefix}.${k}`))
}

const present = (obj: unknown, path: string): boolean => {
  let cur = obj
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object' || !(part in cur)) return false
    cur = (cur as Record<string, unknown>)[part]
  }
  return true
}

let printed = ''
beforeAll(async () => {
  const r = await runCli(['config', 'defaults'])
  expect([r.code, r.stderr]).toEqual([0, ''])
  printed = r.stdout
})

describe('envoy-audit config defaults', () => {
  test('parses to exactly the defaults, and shows the Kafka and OpenSearch sections as commented examples', () => {
    expect(JSON.parse(JSON.stringify(parseYaml(printed)))).toEqual(JSON.parse(JSON.stringify(configDefaults())))
    expect(printed).toMatch(
      /^source:\n  kind: stdin\n  # kafka:  # optional: needed when source\.kind is kafka\n  #   brokers:  # required\n  #     - kafka-0\.kafka:9092\n/m,
    )
    expect(printed).toMatch(/^sink:\n  kind: embedded\n  # opensearch:  # optional: needed when sink\.kind is opensearch/m)
    expect(printed).toContain('  #     node: https://opensearch:9200  # required\n')
  })

  test('each commented block validates once uncommented, and every option of the schema is printed (only credentials as notes)', () => {
    const once = parseYaml(uncomment(printed)) as Record<string, unknown>
    const c1 = validateConfig(once)
    expect(c1.source.kafka?.topics).toEqual(['istio-access-logs'])
    expect(c1.sink.opensearch?.connection.node).toBe('https://opensearch:9200')
    expect(c1.alerting.webhook?.url).toBeDefined()
    expect(c1.alerting.kafka?.topic).toBe('envoy-audit-alerts')
    // A second level (sasl, TLS files) inside those blocks.
    const twice = parseYaml(uncomment(uncomment(printed))) as Record<string, unknown>
    const c2 = validateConfig({ ...twice, source: { ...(twice.source as object), kind: 'kafka' } })
    expect(c2.source.kafka?.sasl).toEqual({ mechanism: 'scram-sha-512', username: 'envoy-audit', passwordEnv: 'KAFKA_PASSWORD' })
    // Credentials are notes; alerting.kafka.ssl is the deprecated name of alerting.kafka.tls (read, not printed).
    const notes = [
      'sink.opensearch.connection.username',
      'sink.opensearch.connection.password',
      'source.kafka.sasl.passwordFile',
      'alerting.kafka.sasl.passwordFile',
      ...['enabled', 'caFile', 'certFile', 'keyFile', 'keyPassphraseEnv', 'rejectUnauthorized', 'servername'].map(
        (k) => `alerting.kafka.ssl.${k}`,
      ),
    ]
    const missing = optionPaths(configSchema).filter((p) => !present(twice, p) && !notes.includes(p))
    expect(missing).toEqual([])
    expect(printed).toContain(
      '## username, password: basic auth; keep both out of this file and set OPENSEARCH_USERNAME and OPENSEARCH_PASSWORD',
    )
  })

  test('config validate accepts the printed defaults and prints them back', async () => {
    const r = await runCli(['config', 'validate', file('defaults.yaml', printed)])
    expect([r.code, r.stderr]).toEqual([0, ''])
    expect(JSON.parse(JSON.stringify(parseYaml(r.stdout)))).toEqual(JSON.parse(JSON.stringify(configDefaults())))
  })
})

describe('envoy-audit config validate', () => {
  test('reports every problem in one run, each with its option path; run --config names them all too', async () => {
    const bad = file(
      'multi.yaml',
      [
        'source:',
        '  kind: kafka',
        '  kafka:',
        '    brokers: [nohost]',
        '    topics: []',
        'sink:',
        '  opensearch:',
        '    connection: { node: "https://os:9200" }',
        '    sink: { flushBytes: 5 }',
        'service:',
        '  port: 99999',
        '',
      ].join('\n'),
    )
    const r = await runCli(['config', 'validate', bad])
    expect(r.code).toBe(2)
    expect(r.stdout).toBe('')
    expect(r.stderr).toBe(
      [
        `envoy-audit config validate: ${bad}: 4 problems`,
        '  source.kafka.brokers.0: broker must be host:port',
        '  source.kafka.topics: Too small: expected array to have >=1 items',
        '  sink.opensearch.sink.flushBytes: Too small: expected number to be >=1024',
        '  service.port: Too big: expected number to be <=65535',
        `envoy-audit: ${bad}: 4 problems (listed above) [EA_CONFIG_INVALID]`,
        '',
      ].join('\n'),
    )
    const run = await runCli(['run', '--config', bad])
    expect(run.code).toBe(2)
    for (const path of ['source.kafka.brokers.0', 'source.kafka.topics', 'sink.opensearch.sink.flushBytes', 'service.port'])
      expect(run.stderr).toContain(`${path}: `)
    const one = await runCli(['config', 'validate', file('one.yaml', 'service:\n  port: -1\n')])
    expect([one.code, one.stderr]).toEqual([
      2,
      `envoy-audit: ${join(dir, 'one.yaml')}: service.port: Too small: expected number to be >=0 [EA_CONFIG_INVALID]\n`,
    ])
  }, 90_000)

  test('never echoes a secret written in the file: masked in the output, each one warned about by its path', async () => {
    const secrets = file(
      'secrets.yaml',
      [
        'sink:',
        '  kind: opensearch',
        '  opensearch:',
        '    connection:',
        '      node: "https://admin:s3cr3t-in-url@os.example:9200/?token=t0k3n-in-query&x=1"',
        '      username: admin',
        '      password: hunter2-literal',
        'alerting:',
        '  webhook:',
        '    url: "https://alerts.example/hook?sig=sig-in-query"',
        '    headers: { Authorization: "Bearer bearer-in-header", X-Route: team-a }',
        '',
      ].join('\n'),
    )
    const r = await runCli(['config', 'validate', secrets])
    expect(r.code).toBe(0)
    for (const secret of ['s3cr3t-in-url', 't0k3n-in-query', 'hunter2-literal', 'sig-in-query', 'bearer-in-header']) {
      expect(r.stdout).not.toContain(secret)
      expect(r.stderr).not.toContain(secret)
    }
    const out = parseYaml(r.stdout) as {
      sink: { opensearch: { connection: Record<string, string> } }
      alerting: { webhook: { url: string; headers: Record<string, string> } }
    }
    expect(out.sink.opensearch.connection).toMatchObject({
      node: 'https://admin:[REDACTED]@os.example:9200/?token=[REDACTED]&x=1',
      username: 'admin',
      password: '[REDACTED]',
    })
    expect(out.alerting.webhook.headers).toEqual({ Authorization: '[REDACTED]', 'X-Route': 'team-a' })
    expect(out.alerting.webhook.url).toBe('https://alerts.example/hook?sig=[REDACTED]')
    const warned = r.stderr
      .trim()
      .split('\n')
      .map((l) => /warning: (\S+) holds a secret/.exec(l)?.[1])
    expect(warned).toEqual([
      'sink.opensearch.connection.node',
      'sink.opensearch.connection.node',
      'sink.opensearch.connection.password',
      'alerting.webhook.url',
      'alerting.webhook.headers.Authorization',
    ])
    expect(r.stderr).toContain('set OPENSEARCH_USERNAME and OPENSEARCH_PASSWORD')
    // Names of where a secret lives are not secrets: printed as they are, no warning.
    const pointers = file(
      'pointers.yaml',
      'source:\n  kind: kafka\n  kafka:\n    brokers: ["k:9092"]\n    topics: [t]\n    sasl: { mechanism: plain, username: u, passwordFile: /run/secrets/kafka }\n    tls: { enabled: true, keyFile: k.pem, certFile: c.pem, keyPassphraseEnv: KEY_PASS }\n',
    )
    const p = await runCli(['config', 'validate', pointers])
    expect([p.code, p.stderr]).toEqual([0, ''])
    expect(p.stdout).toContain('passwordFile: /run/secrets/kafka')
  })

  test('a YAML syntax error says where, never quotes the line (it may hold a password)', async () => {
    const broken = file(
      'broken.yaml',
      'sink:\n  opensearch:\n    connection:\n      node: https://os:9200\n      password: "hunter2-unclosed\n',
    )
    const dup = file('dup.yaml', 'sink:\n  opensearch:\n    connection:\n      password: hunter2-first\n      password: hunter2-second\n')
    for (const f of [broken, dup]) {
      const r = await runCli(['config', 'validate', f])
      expect(r.code).toBe(2)
      expect(r.stderr).toMatch(new RegExp(`^envoy-audit: ${f}: not valid YAML: .+ at line \\d+, column \\d+ \\[EA_CONFIG_INVALID\\]\\n$`))
      expect(r.stderr).not.toContain('hunter2')
    }
  })
})
