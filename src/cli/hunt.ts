/**
 * `envoy-audit hunt --from IDENTITY --since TIME`: where could an attacker holding this workload's
 * identity have gone since then, along which calls, and what did they try that was denied.
 * See docs/hunt.md for the semantics (time-respecting paths, identity linking, new edges).
 */
import { type Command, Option } from 'commander'
import { EnvoyAuditError } from '../errors.js'
import { addStoreOptions, baselineFrom, intOption, openBackend, type StoreCliOptions, timeOption } from './hunt-store-options.js'
import { resolveIdentity } from '../hunt/node-id.js'
import { renderHuntDot, renderHuntMermaid, renderHuntText } from '../hunt/render.js'
import { huntPaths, type HuntResult } from '../hunt/search.js'
import { checkWindow } from '../report/window.js'
import { TIME_HELP } from '../hunt/time.js'

export const DEFAULT_MAX_DEPTH = 6
const MAX_DEPTH_LIMIT = 64

interface HuntCliOptions extends StoreCliOptions {
  from: string
  since: string
  until?: string
  maxDepth?: string
  includeDenied?: boolean
  json?: boolean
  format: 'table' | 'dot' | 'mermaid'
}

export function registerHunt(program: Command): void {
  const cmd = program
    .command('hunt')
    .description('lateral-movement search: identities reachable from IDENTITY through time-respecting call paths, with denied probes')
    .requiredOption('--from <identity>', 'SPIFFE ID, Istio principal td/ns/NS/sa/SA, namespace/serviceaccount, or a workload/service name')
    .requiredOption('--since <time>', `compromise time: ${TIME_HELP}`)
    .option('--until <time>', 'end of the analysis window (same forms as --since; default: end of data)')
    .option('--max-depth <n>', `most hops per path (default ${DEFAULT_MAX_DEPTH})`)
    .option('--include-denied', 'draw denied-only destinations (probes) as leaves too')
    .option('--json', 'machine-readable result on stdout')
    .addOption(new Option('--format <format>', 'human output').choices(['table', 'dot', 'mermaid']).default('table'))
  addStoreOptions(cmd).action(async (opts: HuntCliOptions) => {
    const now = Date.now()
    const since = timeOption(opts.since, '--since', now)!
    const until = timeOption(opts.until, '--until', now)
    if (until !== undefined && until <= since) throw new EnvoyAuditError('EA_USAGE', '--until must be after --since')
    const maxDepth = intOption(opts.maxDepth, '--max-depth', DEFAULT_MAX_DEPTH, MAX_DEPTH_LIMIT)
    const learnFrom = baselineFrom(since, opts.baseline)
    const { backend, inventory, summarize, close } = await openBackend(opts)
    try {
      const analysis = { since, ...(until === undefined ? {} : { until }) }
      const range = {
        ...analysis,
        ...(learnFrom === undefined ? {} : { baselineFrom: learnFrom }),
        ...(opts.cluster === undefined ? {} : { clusters: opts.cluster }),
      }
      const checked = await checkWindow(summarize, analysis, learnFrom === undefined ? undefined : { since: learnFrom, until: since })
      for (const w of checked.warnings) process.stderr.write(`envoy-audit hunt: warning: ${w}\n`)
      const window = { ...range, ...checked }
      let result: HuntResult
      if (checked.events === 0) {
        // Nothing to resolve the identity against: an empty answer that says why, not "matches no workload".
        result = { from: [], ...range, maxDepth, rounds: 0, truncated: false, reached: [], probedOnly: [], edges: [] }
      } else {
        await backend.prepare(range, inventory)
        const from = resolveIdentity(opts.from, await backend.nodes())
        result = await huntPaths(backend, { ...range, from, maxDepth })
      }
      const render = { includeDenied: opts.includeDenied === true }
      if (opts.json === true) process.stdout.write(`${JSON.stringify({ ...result, window })}\n`)
      else if (opts.format === 'dot') process.stdout.write(renderHuntDot(result, render))
      else if (opts.format === 'mermaid') process.stdout.write(renderHuntMermaid(result, render))
      else if (checked.events === 0) process.stdout.write('no events in the hunt window: nothing to search (see the warning on stderr)\n')
      else process.stdout.write(renderHuntText(result, render))
    } finally {
      await close()
    }
  })
}
