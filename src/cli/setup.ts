/**
 * `envoy-audit setup --opensearch URL`: installs the ISM policy, the index templates (with the read
 * aliases) and the first period indices, and creates the integrity ledger indices. Without the Index
 * Management plugin it does everything else, says that retention is not enforced, and exits non-zero
 * unless --without-ism accepts that. With --with-security-analytics it also installs the Security
 * Analytics log type, field mappings, Sigma rules, detectors and correlation rules (docs/siem.md). The
 * connection options are those of every OpenSearch command (opensearch-options.ts).
 */
import type { Command } from 'commander'
import { EnvoyAuditError } from '../errors.js'
import { createOpenSearchClient } from '../connections/opensearch.js'
import { addOpenSearchOptions, connectionFromOptions, type OpenSearchCliOptions } from './opensearch-options.js'
import { loadLifecycleConfig } from '../lifecycle/config.js'
import { ISM_MISSING, runSetup } from '../lifecycle/setup.js'
import { DEFAULT_INTEGRITY_PREFIX, ensureIntegrityIndices } from '../integrity/opensearch-indices.js'
import type { SetupStep } from '../lifecycle/setup.js'
import { templateName } from '../lifecycle/index-template.js'
import { provisionSecurityAnalytics } from '../lifecycle/security-analytics.js'
import { SECURITY_ANALYTICS_DEFAULTS } from '../lifecycle/security-analytics-resources.js'
import { baselineRulesDir, defaultRulesDir, loadSigmaRules } from '../sigma/loader.js'
import { parseDuration } from '../hunt/time.js'
import { compileRules } from '../sigma/evaluate.js'

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
  withSecurityAnalytics?: boolean
  sigmaRules?: string
  logType: string
  detectorInterval: string
  correlateVpcFlow: string
  correlateCloudtrail: string
  baselineRules: boolean
  baseline: string
  sensitiveNamespace: string[]
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
    .option('--index-period <period>', "hour, day or month: the period of event time one index holds (the sink's indexGranularity)", 'day')
    .option('--policy <id>', 'ISM policy id', 'envoy-audit-retention')
    .option('--shards <n>', 'primary shards per index', '1')
    .option('--replicas <n>', 'replicas per shard', '1')
    .option('--warm-days <n>', 'days after creation before an index turns read-only', '30')
    .option('--retention-days <n>', 'days every event is kept at least (AU-11/M-21-31: 365); its index is deleted one period later', '365')
    .option('--without-ism', 'accept a cluster without the Index Management plugin (retention is then NOT enforced)')
    .option('--snapshot-repository <name>', 'snapshot each index to this repository before delete (cold storage)')
    .option(
      '--integrity-prefix <prefix>',
      'integrity ledger indices <prefix>-ledger, -checkpoints, -heads (integrity.indexPrefix; not under ISM)',
      DEFAULT_INTEGRITY_PREFIX,
    )
    .option('--json', 'print the steps as JSON')
    .option('--with-alerting', 'also create or update the Alerting monitors (dashboards/monitors), as `alerting provision` does')
    .option('--dashboards <url>', 'with --with-alerting: also import the Dashboards saved objects into this OpenSearch Dashboards URL')
    .option(
      '--with-security-analytics',
      'also install the Security Analytics log type, field mappings, Sigma rules, one detector per rule group ' +
        'and the correlation rules (docs/siem.md)',
    )
    .option(
      '--sigma-rules <dir>',
      'with --with-security-analytics: the Sigma rules folder (default: the rules shipped in detections/sigma)',
    )
    .option('--log-type <name>', 'with --with-security-analytics: the custom log type name', SECURITY_ANALYTICS_DEFAULTS.logType)
    .option(
      '--detector-interval <minutes>',
      'with --with-security-analytics: minutes between detector runs',
      String(SECURITY_ANALYTICS_DEFAULTS.intervalMinutes),
    )
    .option(
      '--correlate-vpc-flow <pattern>',
      'with --with-security-analytics: VPC flow log indices to correlate with (skipped when none match)',
      SECURITY_ANALYTICS_DEFAULTS.vpcFlowIndexPattern,
    )
    .option(
      '--correlate-cloudtrail <pattern>',
      'with --with-security-analytics: CloudTrail indices to correlate with (skipped when none match)',
      SECURITY_ANALYTICS_DEFAULTS.cloudTrailIndexPattern,
    )
    .option(
      '--no-baseline-rules',
      'with --with-security-analytics: leave out the rules of detections/baseline (first egress, new caller into a sensitive namespace)',
    )
    .option(
      '--baseline <duration>',
      "with --with-security-analytics: the learning window before now the baseline rules' lists are learnt from",
      '7d',
    )
    .option(
      '--sensitive-namespace <ns...>',
      'with --with-security-analytics: namespaces tagged sensitive, for the new-caller rule (repeatable)',
      (v: string, prev: string[]) => [...prev, v],
      [] as string[],
    )
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
    // The rules are read and compiled before anything is written: a broken rule file fails setup up front.
    if (!/^[a-z0-9_-]+$/.test(opts.logType)) throw new EnvoyAuditError('EA_USAGE', `--log-type: a-z, 0-9, - and _ only: ${opts.logType}`)
    const interval = int(opts.detectorInterval, '--detector-interval')
    if (interval < 1) throw new EnvoyAuditError('EA_USAGE', `--detector-interval: at least 1 minute: ${interval}`)
    const rules = opts.withSecurityAnalytics === true ? loadSigmaRules(opts.sigmaRules ?? defaultRulesDir()) : []
    compileRules(rules)
    const withBaseline = opts.withSecurityAnalytics === true && opts.baselineRules
    const learnMs = parseDuration(opts.baseline, '--baseline')
    const baselineFiles = withBaseline ? loadSigmaRules(baselineRulesDir()) : []
    compileRules(baselineFiles)
    const client = await createOpenSearchClient(connection, { maxRetries: 3 })
    try {
      const steps: SetupStep[] = [
        ...(await runSetup(client, lifecycle)),
        ...(await ensureIntegrityIndices(client, opts.integrityPrefix, { shards: lifecycle.shards, replicas: lifecycle.replicas })),
      ]
      const print = (list: SetupStep[]) => {
        if (opts.json !== true)
          for (const s of list)
            process.stdout.write(`${s.action.padEnd(9)} ${s.resource}${s.detail !== undefined ? ` (${s.detail})` : ''}\n`)
      }
      print(steps)
      if (opts.withSecurityAnalytics === true) {
        const sa = await provisionSecurityAnalytics(client, {
          logType: opts.logType,
          eventsIndexPattern: `${opts.eventsAlias}-*`,
          rules,
          intervalMinutes: interval,
          vpcFlowIndexPattern: opts.correlateVpcFlow,
          cloudTrailIndexPattern: opts.correlateCloudtrail,
          correlationWindowMs: SECURITY_ANALYTICS_DEFAULTS.correlationWindowMs,
          ...(withBaseline
            ? {
                baseline: {
                  rules: baselineFiles,
                  eventsIndex: opts.eventsAlias,
                  since: new Date(Date.now() - learnMs).toISOString(),
                  until: new Date().toISOString(),
                  sensitiveNamespaces: opts.sensitiveNamespace,
                },
              }
            : {}),
          reapplyMappings: steps.some(
            (s) => s.resource === `index template ${templateName(opts.eventsAlias)}` && (s.action === 'created' || s.action === 'updated'),
          ),
        })
        print(sa)
        steps.push(...sa)
      }
      if (opts.json === true) process.stdout.write(JSON.stringify({ steps }) + '\n')
      // AU-11: an audit store without retention fills its disks and never protects old records; a SOC
      // must choose that knowingly. Everything else is installed either way, so the pipeline can run.
      if (steps.some((s) => 'missing' in s && s.missing === 'ism')) {
        if (opts.withoutIsm !== true)
          throw new EnvoyAuditError(
            'EA_RETENTION_UNENFORCED',
            `setup: ${ISM_MISSING}; or pass --without-ism to accept running without retention`,
          )
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
