/**
 * The configuration of `envoy-audit run --config FILE` (YAML). One zod schema composes the schema of
 * every component, next to which each component's options are documented; `configDefaults()` prints
 * the fully defaulted result (`envoy-audit config defaults` prints it with the optional sections as
 * commented examples, src/compose/config-defaults.ts). Validated once at startup and frozen;
 * every error names its option path, e.g. `sink.opensearch.flushBytes: Too small: expected number to be >=1024`.
 */
import { readFileSync } from 'node:fs'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'
import { EnvoyAuditError } from '../errors.js'
import { parserConfigSchema } from '../parse/index.js'
import { transformsConfigSchema } from '../config/transforms.js'
import { sinkConfigSchema } from '../sinks/opensearch/config.js'
import { connectionConfigSchema } from '../connections/opensearch.js'
import { duckDbStoreConfigSchema } from '../store/duckdb-store.js'
import { alertingConfigSchema } from '../alerting/config.js'
import { kafkaSourceConfigSchema } from '../sources/kafka/config.js'
import { otlpSourceConfigSchema } from '../sources/otlp/receiver.js'
import { loadConfigSection } from '../config/validate.js'
import { redactionConfigSchema } from '../redact/config.js'
import { integrityConfigSchema } from '../integrity/config.js'
import { policyConfigSchema } from '../policy/config.js'

/** The file source's options; the `run` config keeps read positions in a state file by default. */
export const fileSourceShape = {
  /** Files read in order (followed side by side with follow); '-' is stdin. Plain or gzip (by content). */
  paths: z.array(z.string().min(1)).min(1).default(['-']),
  batchRecords: z.number().int().min(1).max(100_000).default(2000),
  /** Longest time read lines wait for a full batch while the input is idle; 0: wait for a full batch or the end. */
  lingerMs: z.number().int().min(0).max(600_000).default(1000),
  /** Read the files as they grow, across rename and copytruncate rotations, like `tail -F` (docs/production.md, "Following files"). */
  follow: z.boolean().default(false),
  /** With follow: read positions, kept across restarts and saved only after the sink acknowledged the lines before them. */
  stateFile: z.string().min(1).default('.envoy-audit/file-positions.json'),
  /** With follow: where a file without a saved position starts (beginning: nothing written before the start is skipped). */
  startAt: z.enum(['beginning', 'end']).default('beginning'),
  /** With follow: how often an idle file is checked for new lines, rotation and truncation. */
  pollMs: z.number().int().min(10).max(60_000).default(250),
  /** With follow: how long a rotated-away file is still read after it last grew (its writer's late lines). */
  rotateWaitMs: z.number().int().min(0).max(600_000).default(5000),
}

const fileSourceSchema = z
  .object(fileSourceShape)
  .strict()
  .refine((f) => !f.follow || !f.paths.includes('-'), {
    message: "follow reads files by name: '-' (stdin) cannot be followed",
    path: ['paths'],
  })

/*
 * The source, sink and dead-letter sections keep the format users write: `kind` picks the variant and
 * each variant's options sit under its own key (source.kafka, sink.opensearch, ...), with the other
 * keys still accepted, so `config defaults` can print every section and still parse to the defaults.
 * A z.discriminatedUnion over that object (a pipe: the format first, then the variants) gives the
 * typed result: with sink.kind 'opensearch', sink.opensearch is known to be there.
 */
const needs = <T>(section: string, kind: string): z.ZodType<T, T> =>
  z.custom<T>((v) => v !== undefined, { message: `${section}.kind ${kind} needs a ${section}.${kind} section` })
// Already validated by the format: the variant only carries its type.
const present = <T>(): z.ZodType<T, T> => z.custom<T>(() => true)

type KafkaSection = z.output<typeof kafkaSourceConfigSchema>
type OtlpSection = z.output<typeof otlpSourceConfigSchema>
export type FileSourceSection = z.output<typeof fileSourceSchema>

const sourceFormat = z
  .object({
    kind: z.enum(['kafka', 'file', 'stdin', 'otlp']).default('stdin'),
    kafka: kafkaSourceConfigSchema.optional(),
    file: fileSourceSchema.default(fileSourceSchema.parse({})),
    /** An OTLP logs receiver (gRPC 4317, HTTP 4318): src/sources/otlp/receiver.ts. */
    otlp: otlpSourceConfigSchema.optional(),
  })
  .strict()

const otlpOpt = { otlp: present<OtlpSection>().optional() }
const sourceSchema = sourceFormat.pipe(
  z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('kafka'), kafka: needs<KafkaSection>('source', 'kafka'), file: present<FileSourceSection>(), ...otlpOpt }),
    z.object({ kind: z.literal('file'), kafka: present<KafkaSection>().optional(), file: present<FileSourceSection>(), ...otlpOpt }),
    z.object({ kind: z.literal('stdin'), kafka: present<KafkaSection>().optional(), file: present<FileSourceSection>(), ...otlpOpt }),
    z.object({
      kind: z.literal('otlp'),
      kafka: present<KafkaSection>().optional(),
      file: present<FileSourceSection>(),
      otlp: present<OtlpSection>().optional(),
    }),
  ]),
)

export const openSearchSectionSchema = z
  .object({
    connection: connectionConfigSchema,
    sink: sinkConfigSchema.default(sinkConfigSchema.parse({})),
    /** `run` refuses to start when setup's index templates are missing (EA_SINK_NOT_SET_UP); false only warns. */
    requireSetup: z.boolean().default(true),
  })
  .strict()
type OpenSearchSection = z.output<typeof openSearchSectionSchema>
type EmbeddedSection = z.output<typeof duckDbStoreConfigSchema>
export const ndjsonSinkSchema = z
  .object({
    path: z.string().min(1).default('-'),
    /** canonical: the audit event as stored; ocsf: OCSF 1.1.0 HTTP Activity / Network Activity (docs/ocsf.md). */
    format: z.enum(['canonical', 'ocsf']).default('canonical'),
  })
  .strict()
type NdjsonSection = z.output<typeof ndjsonSinkSchema>

const sinkFormat = z
  .object({
    kind: z.enum(['opensearch', 'embedded', 'ndjson']).default('embedded'),
    opensearch: openSearchSectionSchema.optional(),
    embedded: duckDbStoreConfigSchema.default(duckDbStoreConfigSchema.parse({})),
    ndjson: ndjsonSinkSchema.default({ path: '-', format: 'canonical' }),
  })
  .strict()

const sinkRest = { embedded: present<EmbeddedSection>(), ndjson: present<NdjsonSection>() }
const sinkSchema = sinkFormat.pipe(
  z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('opensearch'), opensearch: needs<OpenSearchSection>('sink', 'opensearch'), ...sinkRest }),
    z.object({ kind: z.literal('embedded'), opensearch: present<OpenSearchSection>().optional(), ...sinkRest }),
    z.object({ kind: z.literal('ndjson'), opensearch: present<OpenSearchSection>().optional(), ...sinkRest }),
  ]),
)

export const deadLetterShape = {
  topic: z.string().min(1).max(249).default('envoy-audit-dlq'),
  path: z.string().min(1).default('dead-letters.ndjson'),
  /** kafka: the codec of the dead-letter records (none, gzip, snappy, lz4, zstd). */
  compression: z.enum(['none', 'gzip', 'snappy', 'lz4', 'zstd']).default('gzip'),
  /** kafka: most record bytes per produce request, at or below the topic's max.message.bytes (src/sinks/kafka-dlq.ts). */
  maxBatchBytes: z.number().int().min(4_096).max(104_857_600).default(1_000_000),
}

const deadLetterFormat = z
  .object({
    /** kafka: a dead-letter topic on the source cluster; file: an NDJSON file. */
    kind: z.enum(['kafka', 'file']).default('file'),
    ...deadLetterShape,
  })
  .strict()

type DeadLetterFields = Omit<z.output<typeof deadLetterFormat>, 'kind'>
const deadLetterRest = {
  topic: present<string>(),
  path: present<string>(),
  compression: present<DeadLetterFields['compression']>(),
  maxBatchBytes: present<number>(),
}
const deadLetterSchema = deadLetterFormat.pipe(
  z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('kafka'), ...deadLetterRest }),
    z.object({ kind: z.literal('file'), ...deadLetterRest }),
  ]),
)

export type SourceSection = z.output<typeof sourceSchema>
export type SinkSection = z.output<typeof sinkSchema>
export type DeadLetterSection = z.output<typeof deadLetterSchema>

const serviceSchema = z
  .object({
    /** Serve /metrics, /healthz and /readyz. */
    enabled: z.boolean().default(true),
    host: z.string().min(1).default('0.0.0.0'),
    /** 0 picks a free port (logged at startup). */
    port: z.number().int().min(0).max(65_535).default(9464),
    /** Seconds a graceful shutdown may take before the process exits anyway. */
    shutdownTimeoutSeconds: z.number().int().min(1).max(3600).default(30),
    /** What /readyz requires (src/service/readiness.ts). */
    readiness: z
      .object({
        /** A source or sink failing for longer than this makes the service not ready; shorter outages do not flap the probe. */
        outageGraceSeconds: z.number().min(0).max(3600).default(30),
        /** A sink request open longer than this is unanswered; also the timeout of the idle probe. */
        sinkAnswerSeconds: z.number().min(0.1).max(600).default(10),
        /** An idle sink is pinged when nothing has answered for this long. */
        probeIntervalSeconds: z.number().min(0.1).max(600).default(5),
      })
      .strict()
      .default({ outageGraceSeconds: 30, sinkAnswerSeconds: 10, probeIntervalSeconds: 5 }),
  })
  .strict()

const logSchema = z.object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') }).strict()

export const configSchema = z
  .object({
    source: sourceSchema.default(sourceSchema.parse({})),
    parser: parserConfigSchema.default(parserConfigSchema.parse({})),
    transforms: transformsConfigSchema.default(transformsConfigSchema.parse({})),
    /** Live check of inbound events against the declared Istio policies (src/policy/config.ts); off without `policies`. */
    policy: policyConfigSchema.default(policyConfigSchema.parse({})),
    /** Secrets in paths, query strings, logged headers and dead letters (src/redact/config.ts). On by default. */
    redaction: redactionConfigSchema.default(redactionConfigSchema.parse({})),
    /** audit.hash on every event; hash-chain ledger and signed checkpoints in the embedded store (docs/integrity.md). */
    integrity: integrityConfigSchema.default(integrityConfigSchema.parse({})),
    sink: sinkSchema.default(sinkSchema.parse({})),
    deadLetter: deadLetterSchema.default(deadLetterSchema.parse({})),
    alerting: alertingConfigSchema.default(alertingConfigSchema.parse({})),
    service: serviceSchema.default(serviceSchema.parse({})),
    log: logSchema.default(logSchema.parse({})),
  })
  .strict()
  .refine((c) => c.deadLetter.kind !== 'kafka' || c.source.kind === 'kafka', {
    message: 'a kafka dead-letter topic needs a kafka source (it is written to the same cluster)',
    path: ['deadLetter', 'kind'],
  })

export type EnvoyAuditConfig = Readonly<z.output<typeof configSchema>>

/** Validates an already-parsed config object. */
export function validateConfig(input: unknown): EnvoyAuditConfig {
  return loadConfigSection(configSchema, input, '')
}

/** Reads, parses (YAML or JSON) and validates a config file. */
export function loadConfig(path: string): EnvoyAuditConfig {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new EnvoyAuditError('EA_IO', `cannot read config ${path}: ${(err as Error).message}`, { cause: err })
  }
  let doc: unknown
  try {
    doc = parseYaml(text, { prettyErrors: true, uniqueKeys: true })
  } catch (err) {
    throw new EnvoyAuditError('EA_CONFIG_INVALID', `${path}: not valid YAML: ${yamlProblem(err)}`, { cause: err })
  }
  try {
    return validateConfig(doc ?? {})
  } catch (err) {
    if (err instanceof EnvoyAuditError) throw new EnvoyAuditError(err.code, `${path}: ${err.message}`, { cause: err })
    throw err
  }
}

/** The parser's message quotes the offending lines, which can hold a password: say where, never what. */
function yamlProblem(err: unknown): string {
  const e = err as { message?: string; linePos?: { line: number; col: number }[] }
  const what = (e.message ?? String(err)).split(/ at line \d+, column \d+/)[0]!.trim()
  const at = e.linePos?.[0]
  return at === undefined ? what : `${what} at line ${at.line}, column ${at.col}`
}

/** The complete default configuration, for `envoy-audit config defaults`. */
export function configDefaults(): EnvoyAuditConfig {
  return validateConfig({})
}
