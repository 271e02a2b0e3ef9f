/**
 * `envoy-audit setup --opensearch URL`: installs the ISM policy, the index templates (with the read
 * aliases) and the first period indices, and creates the integrity ledger indices. Without the Index
 * Management plugin it does everything else, says that retention is not enforced, and exits non-zero
 * unless --without-ism accepts that.
 * The connection options are exported for the other commands that talk to OpenSearch (ingest, report,
 * hunt). Passwords are never taken on the command line (they would show in `ps` and shell history):
 * they come from OPENSEARCH_PASSWORD or a file.
 */
import { readFileSync } from 'node:fs'
import type { Command } from 'commander'
import { EnvoyAuditError } from '../errors.js'
import { loadConnectionConfig, type ConnectionConfig } from '../sinks/opensearch/config.js'
import { createOpenSearchClient } from '../sinks/opensearch/client.js'
import { loadLifecycleConfig } from '../lifecycle/config.js'
import { ISM_MISSING, runSetup } from '../lifecycle/setup.js'
import { DEFAULT_INTEGRITY_PREFIX, ensureIntegrityIndices } from '../integrity/opensearch-indices.js'

export interface OpenSearchCliOptions {
  opensearch?: string
  username?: string
  passwordFile?: string
  ca?: string
  cert?: string
  key?: string
  insecure?: boolean
  awsRegion?: string
  awsService?: string
  gzip?: boolean
}

export function addOpenSearchOptions(cmd: Command): Command {
  return cmd
    .option('--opensearch <url>', 'OpenSearch URL, e.g. https://opensearch:9200 (or OPENSEARCH_URL)')
    .option('--username <name>', 'basic-auth user (or OPENSEARCH_USERNAME); the password comes from OPENSEARCH_PASSWORD or --password-file')
    .option('--password-file <file>', 'file holding the basic-auth password')
    .option('--ca <file>', 'PEM CA bundle to verify the server certificate')
    .option('--cert <file>', 'PEM client certificate (client-certificate auth)')
    .option('--key <file>', 'PEM client key')
    .option('--insecure', 'do NOT verify the server certificate (test clusters only)')
    .option('--aws-region <region>', 'sign requests with AWS SigV4 (credentials from AWS_* environment variables)')
    .option('--aws-service <service>', 'es (managed domains) or aoss (serverless)', 'es')
    .option('--gzip', 'gzip request bodies')
}

/** Builds the validated connection config from CLI options and the environment. */
export function connectionFromOptions(opts: OpenSearchCliOptions, env: NodeJS.ProcessEnv = process.env): ConnectionConfig {
  // An empty variable counts as unset (`FOO= cmd` is a common way to clear one).
  const fromEnv = (name: string) => (env[name] === '' ? undefined : env[name])
  const node = opts.opensearch ?? fromEnv('OPENSEARCH_URL')
  if (node === undefined) throw new EnvoyAuditError('EA_USAGE', '--opensearch <url> (or OPENSEARCH_URL) is required')
  const username = opts.username ?? fromEnv('OPENSEARCH_USERNAME')
  let password = fromEnv('OPENSEARCH_PASSWORD')
  if (opts.passwordFile !== undefined) {
    try {
      password = readFileSync(opts.passwordFile, 'utf8').replace(/\r?\n$/, '')
    } catch (err) {
      throw new EnvoyAuditError('EA_IO', `--password-file: cannot read ${opts.passwordFile}: ${(err as Error).message}`)
    }
  }
  if (username === undefined) password = undefined
  else if (password === undefined) throw new EnvoyAuditError('EA_USAGE', 'a username needs OPENSEARCH_PASSWORD or --password-file')
  const config = loadConnectionConfig({
    node,
    username,
    password,
    caFile: opts.ca,
    certFile: opts.cert,
    keyFile: opts.key,
    insecure: opts.insecure === true,
    awsRegion: opts.awsRegion,
    awsService: opts.awsService ?? 'es',
    compression: opts.gzip === true,
  })
  if (config.insecure) process.stderr.write('envoy-audit: WARNING: --insecure: the OpenSearch server certificate is NOT verified\n')
  return config
}

interface SetupOptions extends OpenSearchCliOptions {
  eventsAlias: string
  findingsAlias: string
  policy: string
  shards: string
  replicas: string
  warmDays: string
  retentionDays: string
  indexPeriod: string
  withoutIsm?: boolean
  snapshotRepository?: string
  integrityPrefix: string
  json?: boolean
  withAlerting?: boolean
  dashboards?: string
}

function int(value: string, option: string): number {
  const n = Number(value)
  if (!Number.isInteger(n)) throw new EnvoyAuditError('EA_USAGE', `${option}: not an integer: ${value}`)
  return n
}

export function registerSetup(program: Command): void {
  const cmd = program
    .command('setup')
    .description('install the OpenSearch ISM retention policy, index templates and read aliases (idempotent)')
    .option('--events-alias <name>', 'alias for events (indices <alias>-<period>)', 'envoy-audit-events')
    .option('--findings-alias <name>', 'alias for findings (indices <alias>-<period>)', 'envoy-audit-findings')
    .option('--index-period <period>', 'hour, day or month: the period of event time one index holds (the sink\'s indexGranularity)', 'day')
    .option('--policy <id>', 'ISM policy id', 'envoy-audit-retention')
    .option('--shards <n>', 'primary shards per index', '1')
    .option('--replicas <n>', 'replicas per shard', '1')
    .option('--warm-days <n>', 'days after creation before an index turns read-only', '30')
    .option('--retention-days <n>', 'days every event is kept at least (AU-11/M-21-31: 365); its index is deleted one period later', '365')
    .option('--without-ism', 'accept a cluster without the Index Management plugin (retention is then NOT enforced)')
    .option('--snapshot-repository <name>', 'snapshot each index to this repository before delete (cold storage)')
    .option('--integrity-prefix <prefix>', 'integrity ledger indices <prefix>-ledger, -checkpoints, -heads (integrity.indexPrefix; not under ISM)', DEFAULT_INTEGRITY_PREFIX)
    .option('--json', 'print the steps as JSON')
    .option('--with-alerting', 'also create or update the Alerting monitors (dashboards/monitors), as `alerting provision` does')
    .option('--dashboards <url>', 'with --with-alerting: also import the Dashboards saved objects into this OpenSearch Dashboards URL')
  addOpenSearchOptions(cmd).action(async (opts: SetupOptions) => {
    const connection = connectionFromOptions(opts)
    const lifecycle = loadLifecycleConfig({
      eventsAlias: opts.eventsAlias,
      findingsAlias: opts.findingsAlias,
      policyId: opts.policy,
      shards: int(opts.shards, '--shards'),
      replicas: int(opts.replicas, '--replicas'),
      indexGranularity: opts.indexPeriod,
      warmAfterDays: int(opts.warmDays, '--warm-days'),
      deleteAfterDays: int(opts.retentionDays, '--retention-days'),
      snapshotRepository: opts.snapshotRepository,
    })
    const client = await createOpenSearchClient(connection, { maxRetries: 3 })
    try {
      const steps = [...(await runSetup(client, lifecycle)), ...(await ensureIntegrityIndices(client, opts.integrityPrefix, { shards: lifecycle.shards, replicas: lifecycle.replicas }))]
      if (opts.json === true) process.stdout.write(JSON.stringify({ steps }) + '\n')
      else for (const s of steps) process.stdout.write(`${s.action.padEnd(9)} ${s.resource}${s.detail !== undefined ? ` (${s.detail})` : ''}\n`)
      // AU-11: an audit store without retention fills its disks and never protects old records; a SOC
      // must choose that knowingly. Everything else is installed either way, so the pipeline can run.
      if (steps.some((s) => 'missing' in s && s.missing === 'ism')) {
        if (opts.withoutIsm !== true) throw new EnvoyAuditError('EA_RETENTION_UNENFORCED', `setup: ${ISM_MISSING}; or pass --without-ism to accept running without retention`)
        process.stderr.write(`envoy-audit: WARNING: ${ISM_MISSING}\n`)
      }
    } finally {
      await client.close()
    }
    if (opts.withAlerting === true) {
      const { provisionAlerting } = await import('./alerting.js')
      await provisionAlerting({
        ...opts,
        monitors: true,
        savedObjects: opts.dashboards !== undefined,
        eventsIndex: `${opts.eventsAlias}*`,
      })
    }
  })
}
