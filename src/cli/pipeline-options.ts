/**
 * The options every command that runs the transform pipeline shares (`parse`, `ingest`), turned into
 * the config sections src/compose builds the parser and stages from. Config errors surface as
 * EA_CONFIG_INVALID naming the option, before any input is read.
 */
import { readFileSync, statSync } from 'node:fs'
import { type Command, Option } from 'commander'
import { parse as parseYaml } from 'yaml'
import { EnvoyAuditError } from '../errors.js'
import type { FormatName, ParserConfig } from '../parse/index.js'
import { policyConfigSchema } from '../policy/config.js'
import { parseConfig } from '../config/validate.js'
import { buildProcessing, type Processing, type ProcessingConfig } from '../compose/stages.js'

export const FORMATS: readonly FormatName[] = ['auto', 'istio-json', 'istio-text', 'envoy-text', 'custom-json', 'custom-text', 'ztunnel']
const FIELD_MAP_PRESETS = new Set(['istio', 'seed-000'])

export interface PipelineCliOptions {
  format: FormatName
  maxLineBytes?: string
  fieldMap?: string
  textFormat?: string
  cluster?: string
  trustDomain?: string
  trustDomainAlias?: string[]
  /** false with --no-redact. */
  redact?: boolean
  /** false with --no-original. */
  original?: boolean
  policies?: string[]
  mesh?: string
  workloads?: string
  /** auto, or a number of worker threads (transforms.workers). */
  workers?: string
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value]

/**
 * `--policies PATH`, repeatable: one path per flag. A variadic `<paths...>` took every word after it,
 * so `policy check --policies DIR events.ndjson` (as docs/policy.md writes it) read the events file as
 * a policy file and had no input left.
 */
export function policiesOption(help: string): Option {
  return new Option('--policies <path>', `${help}; repeat the flag for more than one`).argParser(collect)
}

/**
 * The mistake the old variadic flag invites (`--policies a.yaml b.yaml input`): a policy file or folder
 * among the inputs is refused instead of being read as log lines or events.
 */
export function refusePolicyPathsAsInputs(files: readonly string[], what: string): void {
  for (const f of files) {
    if (f === '-') continue
    let dir = false
    try {
      dir = statSync(f).isDirectory()
    } catch {
      // A missing input is the reader's error to report.
    }
    if (dir || /\.ya?ml$/i.test(f)) {
      throw new EnvoyAuditError(
        'EA_USAGE',
        `"${f}" looks like a policy ${dir ? 'folder' : 'file'}, not ${what}: --policies takes one path, repeat it for each (--policies a.yaml --policies b.yaml)`,
      )
    }
  }
}

export function addPipelineOptions(cmd: Command): Command {
  cmd.hook('preAction', (_, action) => {
    const files = action.processedArgs[0] as unknown
    if (action.opts<PipelineCliOptions>().policies !== undefined && Array.isArray(files))
      refusePolicyPathsAsInputs(files as string[], 'an access log')
  })
  return cmd
    .addOption(
      new Option('--format <format>', 'input format; auto detects per record (Envoy/Istio JSON and TEXT, ztunnel text and JSON)')
        .choices(FORMATS as string[])
        .default('auto'),
    )
    .option(
      '--field-map <preset|file>',
      'field map for custom JSON: a preset (istio, seed-000) or a YAML/JSON file {name?, fields: {canonical: jsonKey}}',
    )
    .option(
      '--text-format <format>',
      'the Envoy format string of a custom TEXT access log (with --format custom-text; tried first under auto)',
    )
    .option('--cluster <name>', 'the cluster these logs come from (orchestrator.cluster.name), for records whose envelope names none')
    .option('--max-line-bytes <n>', 'records longer than this are dead-lettered (default 65536)')
    .option('--trust-domain <td>', 'mesh trust domain (default cluster.local)')
    .option('--trust-domain-alias <td>', 'an accepted trust-domain alias; repeatable', collect)
    .option('--no-redact', 'store secrets in paths, query strings and logged headers unredacted (redaction is on by default)')
    .option(
      '--no-original',
      'store event.hash (SHA-256 of the line) instead of the line in event.original; dead letters keep the line (kept by default)',
    )
    .addOption(
      policiesOption('check inbound events against this Istio policy YAML/JSON file or directory as they pass (policy_violation findings)'),
    )
    .option('--mesh <file>', 'mesh config for --policies (MeshConfig YAML or the istio ConfigMap)')
    .option('--workloads <file>', 'workload inventory for --policies (labels, IPs), for events without envelope labels')
    .option(
      '--workers <auto|n>',
      'worker threads that parse and transform (0: main thread only; auto: the cores free at start, less one, at most 4)',
      '0',
    )
}

/** Policy options are named by their flag in errors (`--mesh: ...`). */
export const policyFlag = (key: string): string => `--${key}`

/**
 * The parser and stage sections the flags describe, for src/compose (which orders the stages). No
 * integrity hash unless `integrity` says so: parse writes NDJSON, only ingest keeps a ledger.
 */
export function processingConfigFromOptions(opts: PipelineCliOptions, integrity = false): ProcessingConfig {
  let maxLineBytes: number | undefined
  if (opts.maxLineBytes !== undefined) {
    maxLineBytes = Number(opts.maxLineBytes)
    if (!Number.isInteger(maxLineBytes))
      throw new EnvoyAuditError('EA_USAGE', `--max-line-bytes must be an integer, got "${opts.maxLineBytes}"`)
  }
  const policy = parseConfig(
    policyConfigSchema,
    {
      ...(opts.policies === undefined ? {} : { policies: opts.policies }),
      ...(opts.mesh === undefined ? {} : { mesh: opts.mesh }),
      ...(opts.workloads === undefined ? {} : { workloads: opts.workloads }),
    },
    '--policies',
  )
  return {
    parser: {
      format: opts.format,
      ...(maxLineBytes === undefined ? {} : { maxLineBytes }),
      ...(opts.fieldMap === undefined ? {} : { fieldMap: fieldMapOption(opts.fieldMap) }),
      ...(opts.textFormat === undefined ? {} : { textFormat: opts.textFormat }),
      ...(opts.cluster === undefined ? {} : { cluster: opts.cluster }),
      ...(opts.original === false ? { preserveOriginal: false } : {}),
    },
    transforms: {
      ...(opts.workers === undefined ? {} : { workers: workersOption(opts.workers) }),
      ...(opts.trustDomain === undefined ? {} : { trustDomain: opts.trustDomain }),
      ...(opts.trustDomainAlias === undefined ? {} : { trustDomainAliases: opts.trustDomainAlias }),
    },
    policy,
    redaction: { enabled: opts.redact !== false },
    integrity: { enabled: integrity },
  }
}

/** --workers: `auto` or a whole number (the bounds are checked with transforms.workers). */
function workersOption(value: string): 'auto' | number {
  if (value === 'auto') return value
  if (!/^\d{1,3}$/.test(value)) throw new EnvoyAuditError('EA_USAGE', `--workers must be auto or a whole number, got "${value}"`)
  return Number(value)
}

/** The parser and the ordered stages the flags describe, with the redaction stage's dead-letter hook. */
export function pipelineFromOptions(opts: PipelineCliOptions): Processing {
  return buildProcessing(processingConfigFromOptions(opts), { policyOption: policyFlag })
}

/** A preset name, or a file holding a user field map (validated by the parser config schema). */
function fieldMapOption(value: string): ParserConfig['fieldMap'] {
  if (FIELD_MAP_PRESETS.has(value)) return value as 'istio' | 'seed-000'
  let text: string
  try {
    text = readFileSync(value, 'utf8')
  } catch (err) {
    throw new EnvoyAuditError(
      'EA_USAGE',
      `--field-map: "${value}" is neither a preset (istio, seed-000) nor a readable file: ${(err as Error).message}`,
    )
  }
  try {
    return parseYaml(text) as ParserConfig['fieldMap']
  } catch (err) {
    throw new EnvoyAuditError('EA_CONFIG_INVALID', `--field-map ${value}: not valid YAML/JSON: ${(err as Error).message}`)
  }
}
