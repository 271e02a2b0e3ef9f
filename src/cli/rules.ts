/**
 * `envoy-audit rules test`: runs the Sigma rules (the shipped ones, or a folder of a SOC's own) over
 * stored events, the way `setup --with-security-analytics` deploys them, so a detection engineer sees
 * what each rule would have raised before deploying it. Reads the embedded store (--store) or an NDJSON
 * file of canonical events as `parse` writes them (--events). The evaluator and its Sigma subset are
 * docs/siem.md's.
 */
import { readFileSync } from 'node:fs'
import type { Command } from 'commander'
import { EnvoyAuditError } from '../errors.js'
import type { AuditEvent } from '../generated/types.js'
import { DEFAULT_STORE_PATH, openDuckDbStore } from '../store/duckdb-store.js'
import { parseDuration, parseTime } from '../hunt/time.js'
import { baselineRulesDir, defaultRulesDir, loadSigmaRules } from '../sigma/loader.js'
import { baselinePlaceholders } from '../sigma/baseline.js'
import { compileRules, evaluateRules, type RuleResult } from '../sigma/evaluate.js'
import { clusterList } from './hunt-store-options.js'

interface RulesTestOptions {
  store?: string
  events?: string
  rules?: string
  since?: string
  until?: string
  limit: string
  show: string
  json?: boolean
  baseline: string
  sensitiveNamespace: string[]
  cluster?: string[]
}

const DEFAULT_LIMIT = 1_000_000

const before = (iso: string, ms: number): string => new Date(Date.parse(iso) - ms).toISOString()

function positive(value: string, option: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0) throw new EnvoyAuditError('EA_USAGE', `${option}: not a non-negative integer: ${value}`)
  return n
}

function readNdjson(path: string): AuditEvent[] {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new EnvoyAuditError('EA_IO', `--events: cannot read ${path}: ${(err as Error).message}`, { cause: err })
  }
  const out: AuditEvent[] = []
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return
    try {
      out.push(JSON.parse(line) as AuditEvent)
    } catch {
      throw new EnvoyAuditError('EA_USAGE', `--events: ${path}:${i + 1} is not a JSON event`)
    }
  })
  return out
}

/** As the store's --cluster: written by a proxy of one of them, or naming one as either end. */
function ofClusters(e: AuditEvent, clusters: readonly string[]): boolean {
  return [e.orchestrator?.cluster?.name, e.mesh?.source?.cluster, e.mesh?.destination?.cluster].some(
    (c) => c !== undefined && clusters.includes(c),
  )
}

// Log content is untrusted: control characters would let a crafted value rewrite the terminal.
// eslint-disable-next-line no-control-regex
const safe = (s: string): string => s.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?')

function who(e: AuditEvent): string {
  const src = e.mesh?.source?.spiffe_id ?? e.source?.ip ?? '-'
  const dst = e.mesh?.destination?.service ?? e.destination?.domain ?? e.destination?.address ?? '-'
  return safe(`${src} → ${dst}`)
}

function render(results: RuleResult[], show: number): string {
  const lines: string[] = []
  const width = Math.max(...results.map((r) => r.rule.source.length))
  for (const r of results) {
    const n = r.matches.length
    lines.push(`${r.rule.level.padEnd(13)} ${String(n).padStart(6)}  ${r.rule.source.padEnd(width)}  ${r.rule.title}`)
    if (r.skipped !== undefined) lines.push(`${' '.repeat(21)}not evaluated: ${r.skipped} (give --since: the learning window is before it)`)
    for (const m of r.matches.slice(0, show)) {
      const first = m.events[0]!
      const agg = m.group !== undefined ? `  [${safe(m.group)}: ${m.count} in ${m.events.length} events]` : ''
      lines.push(`${' '.repeat(21)}${first['@timestamp']}  ${who(first)}${agg}`)
    }
    if (n > show && show > 0) lines.push(`${' '.repeat(21)}… ${n - show} more`)
  }
  return lines.join('\n') + '\n'
}

export function registerRules(program: Command): void {
  const rules = program.command('rules').description('the Sigma detection rules (detections/sigma): run them over stored events')
  rules
    .command('test')
    .description('run every Sigma rule over stored events and list what each would raise (docs/siem.md)')
    .option('--store <path>', `DuckDB store file (default ${DEFAULT_STORE_PATH})`)
    .option('--events <file>', 'an NDJSON file of canonical events (as `parse` writes them) instead of the store')
    .option('--rules <dir>', 'a folder of Sigma rules (default: the rules shipped in detections/sigma)')
    .option('--since <time>', 'only events at or after this time (ISO 8601 or e.g. 24h, 7d)')
    .option('--until <time>', 'only events before this time')
    .option(
      '--cluster <name...>',
      'only events of this cluster: written by its proxies or naming it as either end, learning window too (repeatable, comma-separated)',
      clusterList,
    )
    .option('--limit <n>', 'at most this many events from the store, the newest first', String(DEFAULT_LIMIT))
    .option('--show <n>', 'matches shown per rule', '3')
    .option('--json', 'one JSON line per rule: file, id, level, matches, and the matched event ids')
    .option(
      '--baseline <duration>',
      'learning window before --since for detections/baseline (first egress of a workload, new caller into a sensitive namespace)',
      '7d',
    )
    .option(
      '--sensitive-namespace <ns...>',
      'namespaces tagged sensitive, for the new-caller rule (repeatable)',
      (v: string, prev: string[]) => [...prev, v],
      [] as string[],
    )
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  envoy-audit rules test --store .envoy-audit/audit.duckdb --since 7d',
        '  envoy-audit rules test --since 24h --cluster west',
        '  envoy-audit parse app.log > events.ndjson && envoy-audit rules test --events events.ndjson --rules ./my-rules',
        '',
      ].join('\n'),
    )
    .action(async (opts: RulesTestOptions) => {
      if (opts.store !== undefined && opts.events !== undefined) throw new EnvoyAuditError('EA_USAGE', '--store and --events are exclusive')
      const limit = positive(opts.limit, '--limit')
      const show = positive(opts.show, '--show')
      // Rules first: a broken rule file is reported before a large store is read.
      const ruleFiles =
        opts.rules !== undefined
          ? loadSigmaRules(opts.rules)
          : [...loadSigmaRules(defaultRulesDir()), ...loadSigmaRules(baselineRulesDir())]
      compileRules(ruleFiles)
      const since = opts.since === undefined ? undefined : parseTime(opts.since, '--since')
      const baselineMs = parseDuration(opts.baseline, '--baseline')
      const until = opts.until === undefined ? undefined : parseTime(opts.until, '--until')
      const clusters = opts.cluster === undefined || opts.cluster.length === 0 ? undefined : [...new Set(opts.cluster)]
      let events: AuditEvent[]
      let learning: AuditEvent[] | undefined
      let note = ''
      if (opts.events !== undefined) {
        const all = readNdjson(opts.events).filter((e) => clusters === undefined || ofClusters(e, clusters))
        events = all.filter((e) => (since === undefined || e['@timestamp'] >= since) && (until === undefined || e['@timestamp'] < until))
        if (since !== undefined) learning = all.filter((e) => e['@timestamp'] >= before(since, baselineMs) && e['@timestamp'] < since)
      } else {
        const store = await openDuckDbStore(opts.store ?? DEFAULT_STORE_PATH, { mustExist: true })
        try {
          const inClusters = clusters === undefined ? {} : { inClusters: clusters }
          events = await store.events({
            ...(since !== undefined ? { since } : {}),
            ...(until !== undefined ? { until } : {}),
            limit,
            ...inClusters,
          })
          if (since !== undefined) learning = await store.events({ since: before(since, baselineMs), until: since, limit, ...inClusters })
        } finally {
          await store.close()
        }
        if (events.length === limit) note = `only the newest ${limit} events were evaluated: narrow with --since/--until or raise --limit\n`
      }
      // The baseline rules' lists are learnt from the window before --since; without one they are not evaluated.
      const placeholders =
        learning === undefined ? undefined : baselinePlaceholders(learning, { sensitiveNamespaces: opts.sensitiveNamespace })
      const results = evaluateRules(compileRules(ruleFiles, placeholders), events)
      if (opts.json === true) {
        for (const r of results)
          process.stdout.write(
            JSON.stringify({
              file: r.rule.source,
              id: r.rule.id,
              title: r.rule.title,
              level: r.rule.level,
              matches: r.matches.length,
              events: r.matches.map((m) => m.events.map((e) => e.event.id)),
              ...(r.matches.some((m) => m.group !== undefined)
                ? { groups: r.matches.map((m) => ({ group: m.group, count: m.count })) }
                : {}),
              ...(r.skipped === undefined ? {} : { skipped: r.skipped }),
            }) + '\n',
          )
      } else {
        process.stdout.write(`${events.length} events, ${results.length} rules\n\n${render(results, show)}`)
      }
      if (note !== '') process.stderr.write(`envoy-audit: ${note}`)
    })
}
