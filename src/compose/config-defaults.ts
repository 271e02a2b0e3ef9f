/**
 * What `envoy-audit config defaults` prints: every option of the run config with its default, walked
 * from the zod schema itself so a new option appears without anyone remembering to add it here.
 *
 * Options without a default cannot be printed as values without changing what the file means, so they
 * are printed commented out, with a working example: the optional sections (source.kafka,
 * sink.opensearch, the alert outputs) as whole blocks whose required fields are marked, and single
 * options as one line. The output therefore parses to exactly the defaults, and removing one `# ` in
 * front of a block gives a section that validates (test/cli/config.test.ts does both). Lines starting
 * with `##` are notes, never options. No secret is ever printed as an example: the config names where
 * secrets live (environment variables, files).
 */
import { stringify } from 'yaml'
import type { z } from 'zod'
import { configDefaults, configSchema } from './config.js'

/** Example values of the options that have no default, by option path. */
const EXAMPLES: Record<string, unknown> = {
  'source.kafka': { brokers: ['kafka-0.kafka:9092'], topics: ['istio-access-logs'] },
  'source.kafka.tls.caFile': '/etc/envoy-audit/kafka-ca.pem',
  'source.kafka.tls.certFile': '/etc/envoy-audit/kafka-client.pem',
  'source.kafka.tls.keyFile': '/etc/envoy-audit/kafka-client-key.pem',
  'source.kafka.tls.keyPassphraseEnv': 'KAFKA_KEY_PASSPHRASE',
  'source.kafka.tls.servername': 'kafka.example.internal',
  'source.kafka.sasl': { mechanism: 'scram-sha-512', username: 'envoy-audit', passwordEnv: 'KAFKA_PASSWORD' },
  'source.kafka.clusters': { 'istio-access-logs': 'prod-east' },
  'source.otlp': { grpc: { enabled: true, host: '127.0.0.1', port: 4317 }, http: { enabled: true, host: '127.0.0.1', port: 4318 } },
  'source.otlp.tls': {
    certFile: '/etc/envoy-audit/otlp/tls.crt',
    keyFile: '/etc/envoy-audit/otlp/tls.key',
    clientCaFile: '/etc/envoy-audit/otlp/client-ca.crt',
  },
  'parser.fieldMap': 'istio',
  'parser.cluster': 'prod-east',
  'parser.textFormat': '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE%',
  'policy.mesh': 'mesh.yaml',
  'policy.workloads': 'workloads.yaml',
  'integrity.keyFile': '/run/secrets/envoy-audit-checkpoint-key',
  'sink.opensearch': { connection: { node: 'https://opensearch:9200' } },
  'sink.opensearch.connection.caFile': '/etc/envoy-audit/opensearch-ca.pem',
  'sink.opensearch.connection.certFile': '/etc/envoy-audit/opensearch-client.pem',
  'sink.opensearch.connection.keyFile': '/etc/envoy-audit/opensearch-client-key.pem',
  'sink.opensearch.connection.awsRegion': 'us-east-1',
  'sink.embedded.callTables': true,
  'sink.embedded.layout': 'segments',
  'sink.embedded.checkpointThreshold': '64MB',
  'alerting.webhook': { url: 'https://alerts.example.internal/envoy-audit' },
  'alerting.webhook.bearerTokenEnv': 'ALERT_WEBHOOK_TOKEN',
  'alerting.webhook.tls.caFile': '/etc/envoy-audit/webhook-ca.pem',
  // tls given (as its default) so the block shows it like source.kafka's: its default has to be applied after the deprecated ssl is read.
  'alerting.kafka': { brokers: ['kafka-0.kafka:9092'], topic: 'envoy-audit-alerts', tls: { enabled: false } },
  'alerting.kafka.tls.caFile': '/etc/envoy-audit/kafka-ca.pem',
  'alerting.kafka.tls.certFile': '/etc/envoy-audit/kafka-client.pem',
  'alerting.kafka.tls.keyFile': '/etc/envoy-audit/kafka-client-key.pem',
  'alerting.kafka.tls.keyPassphraseEnv': 'KAFKA_KEY_PASSPHRASE',
  'alerting.kafka.tls.servername': 'kafka.example.internal',
  'alerting.kafka.sasl': { mechanism: 'scram-sha-512', username: 'envoy-audit-alerts', passwordEnv: 'KAFKA_ALERTS_PASSWORD' },
}

/** Options printed as a note instead of an example: a literal value here would be a secret or a conflict. */
const NOTES: Record<string, string> = {
  'sink.opensearch.connection.username':
    'username, password: basic auth; keep both out of this file and set OPENSEARCH_USERNAME and OPENSEARCH_PASSWORD',
  'sink.opensearch.connection.password': '',
  'source.kafka.sasl.passwordFile': 'passwordFile: /run/secrets/kafka-password  (a mounted secret, instead of passwordEnv)',
  'alerting.kafka.sasl.passwordFile': 'passwordFile: /run/secrets/kafka-alerts-password  (a mounted secret, instead of passwordEnv)',
  // The deprecated name of alerting.kafka.tls: still read, never printed.
  'alerting.kafka.ssl': '',
}

/** Why an optional section is there, on the line that opens it. */
const SECTION_HELP: Record<string, string> = {
  'source.kafka': 'needed when source.kind is kafka',
  'source.otlp': 'used when source.kind is otlp (every field has a default)',
  'sink.opensearch': 'needed when sink.kind is opensearch (run `envoy-audit setup` first)',
  'alerting.webhook': 'an alert output (with alerting.enabled)',
  'alerting.kafka': 'an alert output (with alerting.enabled)',
  'source.kafka.sasl': 'SASL PLAIN or SCRAM; pair it with tls',
  'alerting.kafka.sasl': 'SASL PLAIN or SCRAM; pair it with tls',
}

type Schema = z.ZodType
interface Def {
  type: string
  shape?: Record<string, Schema>
  innerType?: Schema
  in?: Schema
}

const defOf = (s: Schema): Def => (s as unknown as { _zod: { def: Def } })._zod.def
const WRAPPERS = new Set(['default', 'optional', 'nullable', 'readonly', 'catch', 'prefault'])

function unwrap(s: Schema): Schema {
  let cur = s
  for (;;) {
    const d = defOf(cur)
    if (WRAPPERS.has(d.type) && d.innerType !== undefined) cur = d.innerType
    else if (d.type === 'pipe' && d.in !== undefined) cur = d.in
    else return cur
  }
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v)

function valueLines(key: string, value: unknown): string[] {
  return stringify({ [key]: value }, { lineWidth: 0 })
    .trimEnd()
    .split('\n')
}

/**
 * The lines of one object level. `value` holds what is set (defaults, or an example); absent options are
 * printed commented. Indentation is two spaces per level, comments keep it after the `# `.
 */
function render(schema: Schema, value: Record<string, unknown>, path: string): string[] {
  const shape = defOf(unwrap(schema)).shape ?? {}
  const out: string[] = []
  for (const [key, child] of Object.entries(shape)) {
    const at = path === '' ? key : `${path}.${key}`
    const inner = unwrap(child)
    const innerIsObject = defOf(inner).type === 'object'
    const wrapper = defOf(child).type
    const v = value[key]
    if (v !== undefined) {
      const required = wrapper !== 'default' && wrapper !== 'optional'
      if (innerIsObject && isPlainObject(v)) {
        const sub = render(inner, v, at)
        const live = sub.some((l) => !l.trimStart().startsWith('#'))
        out.push(`${key}:${live ? '' : ' {}'}${required ? '  # required' : ''}`, ...sub.map((l) => `  ${l}`))
      } else {
        const lines = valueLines(key, v)
        if (required) lines[0] = `${lines[0]}  # required`
        out.push(...lines)
      }
      continue
    }
    if (NOTES[at] !== undefined) {
      if (NOTES[at] !== '') out.push(`## ${NOTES[at]}`)
      continue
    }
    const example = EXAMPLES[at]
    if (example === undefined) {
      // An option added without an example still shows; test/cli/config.test.ts asks for one.
      out.push(`## ${key}: optional, no default`)
      continue
    }
    if (innerIsObject) {
      const filled = inner.parse(example) as Record<string, unknown>
      const help = SECTION_HELP[at]
      out.push(`# ${key}:  # optional${help === undefined ? '' : `: ${help}`}`, ...render(inner, filled, at).map((l) => `#   ${l}`))
    } else {
      const lines = valueLines(key, example)
      lines[0] = `${lines[0]}  # optional, no default`
      out.push(...lines.map((l) => `# ${l}`))
    }
  }
  return out
}

const HEADER = [
  '## envoy-audit run configuration: every option, with its default (envoy-audit config defaults).',
  '## Options without a default are commented out with an example: remove the "# " in front of a block',
  '## (and fill in the fields marked required) to use it. Lines starting with "##" are notes.',
  '## Secrets never go in this file: OPENSEARCH_USERNAME/OPENSEARCH_PASSWORD, passwordEnv or passwordFile,',
  '## bearerTokenEnv, keyPassphraseEnv and integrity.keyFile name where they live.',
]

export function defaultsYaml(): string {
  const defaults = configDefaults() as unknown as Record<string, unknown>
  return `${[...HEADER, ...render(configSchema, defaults, '')].join('\n')}\n`
}
