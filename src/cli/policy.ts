/**
 * `envoy-audit policy eval|check|lint|recommend`: Istio security policy as code, offline.
 * Policies are read once per run (files or directories of YAML/JSON, multi-document or `kind: List`).
 */
import { createReadStream, readFileSync, writeFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import type { Command } from 'commander'
import { EnvoyAuditError } from '../errors.js'
import type { AuditEvent } from '../generated/types.js'
import { checkEvent, type CheckStats } from '../policy/check.js'
import { compilePolicies } from '../policy/evaluator.js'
import { loadInventory, type Inventory } from '../policy/workload-inventory.js'
import { lintPolicies, type LintFinding, type LintSeverity } from '../policy/lint.js'
import { assertNoIssues, loadPolicies } from '../policy/loader.js'
import { DEFAULT_MESH_CONFIG, loadMeshConfig, type MeshConfig } from '../policy/mesh-config.js'
import { DistinctFlows, flowsFromEvents, recommendationYaml, recommendPolicies } from '../policy/recommend.js'
import { parseRequest } from '../policy/request.js'
import { GuessedWorkloads } from '../policy/guessed-workloads.js'
import { DEFAULT_STORE_PATH } from '../store/duckdb-store.js'
import { policiesOption, refusePolicyPathsAsInputs } from './pipeline-options.js'
import { describeRead, limitOption, openStoreRead, type StoreRead, storeEvents } from './policy-store.js'
import { readerMemoryLimit, readerMemoryOption } from './reader-memory.js'

interface Common {
  policies?: string[]
  mesh?: string
  workloads?: string
  json?: boolean
}

const SEVERITIES: LintSeverity[] = ['error', 'high', 'medium', 'low', 'info']

function mesh(opts: Common): MeshConfig {
  return opts.mesh === undefined ? DEFAULT_MESH_CONFIG : loadMeshConfig(opts.mesh)
}

function inventory(opts: Common): Inventory | undefined {
  return opts.workloads === undefined ? undefined : loadInventory(opts.workloads)
}

function requirePolicies(opts: Common): string[] {
  if (opts.policies === undefined || opts.policies.length === 0) throw new EnvoyAuditError('EA_USAGE', '--policies PATH... is required')
  return opts.policies
}

function readText(file: string): string {
  try {
    return file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8')
  } catch (err) {
    throw new EnvoyAuditError('EA_IO', `cannot read ${file}: ${(err as Error).message}`, { cause: err })
  }
}

/** Streams NDJSON canonical events (as `envoy-audit parse` writes them); bad lines are counted, not fatal. */
async function* eventsFrom(files: string[], bad: { count: number }): AsyncGenerator<AuditEvent> {
  for (const file of files) {
    const input = file === '-' ? process.stdin : createReadStream(file, { encoding: 'utf8' })
    input.on('error', () => undefined)
    const rl = createInterface({ input, crlfDelay: Infinity })
    try {
      for await (const line of rl) {
        if (line.trim() === '') continue
        try {
          const v = JSON.parse(line) as AuditEvent
          if (typeof v === 'object' && v !== null && typeof v.event === 'object' && v.event !== null) yield v
          else bad.count++
        } catch {
          bad.count++
        }
      }
    } catch (err) {
      throw new EnvoyAuditError('EA_IO', `cannot read ${file}: ${(err as Error).message}`, { cause: err })
    }
  }
}

/** Store events first (paged, all of them unless --limit), then each file, streamed: memory stays per batch, not per run. */
async function* allEvents(files: string[], store: StoreRead | undefined, bad: { count: number }): AsyncGenerator<AuditEvent[]> {
  if (store !== undefined) yield* storeEvents(store)
  let batch: AuditEvent[] = []
  for await (const e of eventsFrom(files, bad)) {
    batch.push(e)
    if (batch.length >= 1000) {
      yield batch
      batch = []
    }
  }
  if (batch.length > 0) yield batch
}

export function registerPolicy(program: Command): void {
  const policy = program
    .command('policy')
    .description('Istio AuthorizationPolicy/PeerAuthentication as code: evaluate, check logs, lint, recommend')

  policy
    .command('eval')
    .description('decide requests offline against Istio policies (CUSTOM → DENY → ALLOW, mTLS and JWT layers)')
    .addOption(policiesOption('policy YAML/JSON file or directory'))
    .option('--mesh <file>', 'mesh config (MeshConfig YAML or the istio ConfigMap)')
    .option('--request <file>', 'one request JSON (- for stdin)')
    .option('--requests <file>', 'NDJSON requests, one per line (- for stdin)')
    .option('--json', 'NDJSON output')
    .addHelpText(
      'after',
      '\nRequest: {"source":{"principal":"cluster.local/ns/a/sa/b","ip":"10.0.0.1"},"destination":{"namespace":"ns","labels":{"app":"x"},"port":8080},\n  "protocol":"http","mtls":true,"http":{"method":"GET","path":"/api","host":"x","headers":{}},"jwt":null}\n',
    )
    .action((opts: Common & { request?: string; requests?: string }) => {
      if ((opts.request === undefined) === (opts.requests === undefined))
        throw new EnvoyAuditError('EA_USAGE', 'give exactly one of --request FILE or --requests FILE.jsonl')
      const set = loadPolicies(requirePolicies(opts))
      assertNoIssues(set)
      const ev = compilePolicies(set, mesh(opts))
      const inputs: Array<{ line: number; text: string }> =
        opts.request !== undefined
          ? [{ line: 1, text: readText(opts.request) }]
          : readText(opts.requests!)
              .split('\n')
              .map((text, i) => ({ line: i + 1, text }))
              .filter((l) => l.text.trim() !== '')
      const out: string[] = []
      let failed = 0
      for (const { line, text } of inputs) {
        try {
          const d = ev.evaluate(parseRequest(JSON.parse(text), `request line ${line}`))
          out.push(
            opts.json === true
              ? JSON.stringify(d)
              : `${d.verdict} ${d.layer}${d.policies.length > 0 ? ` [${d.policies.join(', ')}]` : ''}${d.dryRun === null ? '' : ` dry-run:${d.dryRun}`} — ${d.reason}`,
          )
        } catch (err) {
          failed++
          const msg = err instanceof Error ? err.message : String(err)
          out.push(opts.json === true ? JSON.stringify({ line, error: msg }) : `ERROR line ${line}: ${msg}`)
        }
      }
      process.stdout.write(out.join('\n') + '\n')
      if (failed > 0) process.exitCode = 2
    })

  policy
    .command('check')
    .description(
      'report policy_violation findings: allowed in logs but denied by policy (gap), or the reverse (drift); ' +
        'from sidecar, gateway, and ambient ztunnel (inbound) and waypoint lines',
    )
    .argument('[files...]', 'NDJSON canonical events from `envoy-audit parse` (- for stdin)')
    .addOption(policiesOption('policy YAML/JSON file or directory'))
    .option('--mesh <file>', 'mesh config')
    .option(
      '--workloads <file>',
      'workload inventory (labels, IPs) for events without envelope labels; without it they are guessed (app=<name>) and listed',
    )
    .option('--store <path>', `read events from the DuckDB store (default file ${DEFAULT_STORE_PATH}): all of them, newest first, in pages`)
    .option('--limit <n>', 'read only the newest N events from the store (default: all)')
    .addOption(readerMemoryOption())
    .option('--json', 'NDJSON findings on stdout, summary on stderr')
    .action(async (files: string[], opts: Common & { store?: string; limit?: string; memoryLimit?: string }) => {
      const limit = limitOption(opts.limit)
      if (files.length === 0 && opts.store === undefined) throw new EnvoyAuditError('EA_USAGE', 'give event files or --store PATH')
      refusePolicyPathsAsInputs(files, 'an NDJSON events file')
      const set = loadPolicies(requirePolicies(opts))
      assertNoIssues(set)
      const inv = inventory(opts)
      const guessed = inv === undefined ? new GuessedWorkloads() : undefined
      const ctx = {
        set,
        evaluator: compilePolicies(set, mesh(opts)),
        ...(inv === undefined ? {} : { inventory: inv }),
        ...(guessed === undefined ? {} : { guessed }),
      }
      const bad = { count: 0 }
      const stats: CheckStats = { events: 0, checked: 0, agree: 0, gaps: 0, drift: 0, skipped: {} }
      const read = opts.store === undefined ? undefined : await openStoreRead(opts.store, limit, readerMemoryLimit(opts.memoryLimit))
      for await (const batch of allEvents(files, read, bad)) {
        const lines: string[] = []
        for (const e of batch) {
          const r = checkEvent(e, ctx, stats)
          if (r === null) continue
          lines.push(
            opts.json === true
              ? JSON.stringify({ kind: r.kind, eventId: r.eventId, '@timestamp': r.timestamp, finding: r.finding, decision: r.decision })
              : `${r.timestamp} ${r.kind.toUpperCase()} ${r.finding.severity} ${r.finding.message} [event ${r.eventId}]`,
          )
        }
        if (lines.length > 0) process.stdout.write(lines.join('\n') + '\n')
      }
      const storeRead = read === undefined ? {} : { store: { path: read.path, events: read.total, read: read.read } }
      const guessedSummary = guessed === undefined ? {} : { guessedWorkloads: guessed.list() }
      if (opts.json === true)
        process.stderr.write(`${JSON.stringify({ summary: { ...stats, unreadableLines: bad.count, ...storeRead, ...guessedSummary } })}\n`)
      else
        process.stdout.write(
          `checked ${stats.checked} of ${stats.events} events${read === undefined ? '' : ` (${describeRead(read)})`}: ${stats.agree} agree, ${stats.gaps} enforcement gaps, ${stats.drift} drift; skipped ${JSON.stringify(stats.skipped)}${bad.count > 0 ? `; ${bad.count} unreadable lines` : ''}\n` +
            guessedLines(guessed),
        )
      if (read !== undefined && read.read < read.total)
        process.stderr.write(`envoy-audit policy check: read ${describeRead(read)}; older events were not checked\n`)
    })

  policy
    .command('lint')
    .description('flag the documented AuthorizationPolicy/PeerAuthentication mistakes (codes POL001-POL020)')
    .addOption(policiesOption('policy YAML/JSON file or directory'))
    .option('--mesh <file>', 'mesh config')
    .option('--workloads <file>', 'workload inventory: enables selector/namespace/service-account/port checks')
    .option('--fail-on <severity>', `exit 1 when a finding is at least this severe (${SEVERITIES.join('|')}|none)`, 'high')
    .option('--json', 'NDJSON output')
    .action((opts: Common & { failOn: string }) => {
      if (opts.failOn !== 'none' && !SEVERITIES.includes(opts.failOn as LintSeverity))
        throw new EnvoyAuditError('EA_USAGE', `--fail-on must be one of ${SEVERITIES.join(', ')}, none`)
      const set = loadPolicies(requirePolicies(opts))
      const inv = inventory(opts)
      const findings = lintPolicies(set, { mesh: mesh(opts), ...(inv === undefined ? {} : { inventory: inv }) })
      process.stdout.write(
        opts.json === true ? findings.map((f) => JSON.stringify(f)).join('\n') + (findings.length > 0 ? '\n' : '') : formatLint(findings),
      )
      const threshold = opts.failOn === 'none' ? -1 : SEVERITIES.indexOf(opts.failOn as LintSeverity)
      if (findings.some((f) => SEVERITIES.indexOf(f.severity) <= threshold)) process.exitCode = 1
    })

  policy
    .command('recommend')
    .description('least-privilege ALLOW policies (and STRICT PeerAuthentication) from observed mTLS traffic, as YAML')
    .argument('[files...]', 'NDJSON canonical events (- for stdin)')
    .option('--store <path>', 'read events from the DuckDB store: all of them, newest first, in pages')
    .option('--limit <n>', 'read only the newest N events from the store (default: all)')
    .addOption(readerMemoryOption())
    .option('--namespace <ns>', 'only workloads in this namespace')
    .option('--mesh <file>', 'mesh config (path normalization mode)')
    .option(
      '--workloads <file>',
      'workload inventory (labels, IPs) for events without envelope labels; without it they are guessed (app=<name>) and listed',
    )
    .option(
      '--include-flagged',
      'also allow flows whose events carry high/critical, invalid-identity or denial findings (excluded by default, listed in the YAML)',
    )
    .option('-o, --output <file>', 'write the YAML here instead of stdout')
    .addHelpText(
      'after',
      '\nOnly legitimate traffic is learnt: a flow whose events carry a high or critical finding (foreign trust domain, plaintext,\n' +
        'enforcement gap), an invalid peer identity or a denial is not allowed; each such flow is listed in a comment block of the\n' +
        'YAML with its findings and event count. --include-flagged allows them anyway, and the block says so.\n',
    )
    .action(
      async (
        files: string[],
        opts: Common & {
          store?: string
          limit?: string
          namespace?: string
          output?: string
          includeFlagged?: boolean
          memoryLimit?: string
        },
      ) => {
        const limit = limitOption(opts.limit)
        if (files.length === 0 && opts.store === undefined) throw new EnvoyAuditError('EA_USAGE', 'give event files or --store PATH')
        const bad = { count: 0 }
        const inv = inventory(opts)
        const guessed = inv === undefined ? new GuessedWorkloads() : undefined
        // Distinct flows only: a busy store repeats the same few thousand, and memory must not grow per event.
        const flows = new DistinctFlows()
        const unattributed: Record<string, number> = {}
        const read = opts.store === undefined ? undefined : await openStoreRead(opts.store, limit, readerMemoryLimit(opts.memoryLimit))
        for await (const batch of allEvents(files, read, bad)) {
          const r = flowsFromEvents(batch, { inventory: inv, guessed })
          flows.add(r.flows)
          for (const [k, n] of Object.entries(r.unattributed)) unattributed[k] = (unattributed[k] ?? 0) + n
        }
        const rec = recommendPolicies(flows.values(), mesh(opts), {
          ...(opts.namespace === undefined ? {} : { namespace: opts.namespace }),
          includeFlagged: opts.includeFlagged === true,
        })
        for (const [why, n] of Object.entries(unattributed)) rec.notes.push(`${n} inbound events not used: ${why}`)
        if (bad.count > 0) rec.notes.push(`${bad.count} unreadable input lines`)
        if (guessed !== undefined && guessed.size > 0) {
          rec.notes.push('GUESSED workloads (no --workloads; check each app label before applying, or pass --workloads):')
          for (const g of guessed.describe()) rec.notes.push(`  ${g}`)
        }
        if (read !== undefined) {
          rec.notes.unshift(`learnt from ${describeRead(read)}`)
          if (read.read < read.total)
            process.stderr.write(
              `envoy-audit policy recommend: read ${describeRead(read)}; traffic only in older events is not allowed by these policies\n`,
            )
        }
        const yaml = recommendationYaml(rec)
        if (opts.output !== undefined) {
          try {
            writeFileSync(opts.output, yaml)
          } catch (err) {
            throw new EnvoyAuditError('EA_IO', `cannot write ${opts.output}: ${(err as Error).message}`, { cause: err })
          }
        } else process.stdout.write(yaml)
      },
    )
}

/** The check summary's lines naming each guessed workload (none with --workloads). */
function guessedLines(guessed: GuessedWorkloads | undefined): string {
  if (guessed === undefined || guessed.size === 0) return ''
  const head = `guessed ${guessed.size} workload(s) from the events (no --workloads; verdicts on them assume these labels):`
  return [head, ...guessed.describe().map((g) => `  ${g}`)].join('\n') + '\n'
}

function formatLint(findings: LintFinding[]): string {
  if (findings.length === 0) return 'no findings\n'
  const lines = findings.map(
    (f) =>
      `${f.severity.toUpperCase().padEnd(6)} ${f.code} ${f.name}\n  ${f.object} (${f.file}) ${f.field}\n  ${f.message}\n  fix: ${f.fix}`,
  )
  return `${lines.join('\n')}\n${findings.length} finding${findings.length === 1 ? '' : 's'}\n`
}
