/**
 * `envoy-audit flows`: the observed edges of the identity graph (source identity → destination) with
 * counts, first/last seen, methods, status classes, mTLS share and findings; `--new-since` adds the
 * `new_edge` baseline findings (edges absent from the learning window before it).
 */
import type { Command } from 'commander'
import { EnvoyAuditError } from '../errors.js'
import { addStoreOptions, baselineFrom, intOption, openBackend, type StoreCliOptions, timeOption } from './hunt-store-options.js'
import { newEdgeFindings } from '../hunt/baseline.js'
import { resolveIdentity } from '../hunt/node-id.js'
import { renderFlowsText } from '../hunt/render.js'
import { TIME_HELP } from '../hunt/time.js'
import { checkWindow } from '../report/window.js'

const EPOCH = '1970-01-01T00:00:00.000Z'
const DEFAULT_LIMIT = 1000

interface FlowsCliOptions extends StoreCliOptions {
  identity?: string
  namespace?: string
  finding?: string
  since?: string
  until?: string
  newSince?: string
  includeFlagged?: boolean
  limit?: string
  json?: boolean
}

export function registerFlows(program: Command): void {
  const cmd = program
    .command('flows')
    .description(
      'observed edges source identity → destination: counts, first/last seen, methods, status classes, mTLS share, findings, clusters',
    )
    .option('--identity <identity>', 'only edges from or to this identity (same forms as hunt --from)')
    .option('--namespace <ns>', 'only edges touching this namespace')
    .option('--finding <code>', 'only edges with this finding code (new_edge selects the baseline findings)')
    .option('--since <time>', `start of the window: ${TIME_HELP}`)
    .option('--until <time>', 'end of the window (same forms as --since)')
    .option(
      '--new-since <time>',
      'mark edges first seen at/after this time (same forms as --since) and absent in the --baseline window before it (new_edge)',
    )
    .option(
      '--include-flagged',
      'let the --new-since baseline learn edges with flagged traffic (foreign trust domain, denied, plaintext ...)',
    )
    .option('--limit <n>', `most edges to print (default ${DEFAULT_LIMIT})`)
    .option('--json', 'NDJSON: one edge per line')
  addStoreOptions(cmd).action(async (opts: FlowsCliOptions) => {
    const now = Date.now()
    const newSince = timeOption(opts.newSince, '--new-since', now)
    const since = timeOption(opts.since, '--since', now) ?? newSince
    const until = timeOption(opts.until, '--until', now)
    if (since !== undefined && until !== undefined && until <= since) throw new EnvoyAuditError('EA_USAGE', '--until must be after --since')
    if (newSince !== undefined && since !== undefined && newSince < since)
      throw new EnvoyAuditError('EA_USAGE', '--new-since must not be before --since')
    const limit = intOption(opts.limit, '--limit', DEFAULT_LIMIT, 1_000_000)
    const learnFrom = newSince === undefined ? undefined : (baselineFrom(newSince, opts.baseline) ?? newSince)
    const { backend, inventory, summarize, close } = await openBackend(opts)
    try {
      const windowStart = since ?? EPOCH
      const checked = await checkWindow(
        summarize,
        { ...(since === undefined ? {} : { since }), ...(until === undefined ? {} : { until }) },
        newSince !== undefined && learnFrom !== undefined && learnFrom < newSince ? { since: learnFrom, until: newSince } : undefined,
      )
      if (checked.warnings.length > 0) {
        // --json keeps stdout one edge per line, so the window goes to stderr, as JSON too.
        process.stderr.write(
          opts.json === true
            ? `${JSON.stringify({ window: { ...(since === undefined ? {} : { since }), ...(until === undefined ? {} : { until }), ...checked } })}\n`
            : checked.warnings.map((w) => `envoy-audit flows: warning: ${w}\n`).join(''),
        )
      }
      await backend.prepare(
        {
          since: learnFrom !== undefined && learnFrom < windowStart ? learnFrom : windowStart,
          ...(until === undefined ? {} : { until }),
          ...(opts.cluster === undefined ? {} : { clusters: opts.cluster }),
        },
        inventory,
      )
      const nodes = opts.identity === undefined ? undefined : resolveIdentity(opts.identity, await backend.nodes())
      const filter = { ...(nodes === undefined ? {} : { nodes }), ...(opts.namespace === undefined ? {} : { namespace: opts.namespace }) }
      const wantNew = opts.finding === 'new_edge'
      let edges = await backend.flows({
        ...filter,
        since: windowStart,
        ...(until === undefined ? {} : { until }),
        ...(opts.finding === undefined || wantNew ? {} : { finding: opts.finding }),
        limit: wantNew ? 1_000_000 : limit,
      })
      let fresh: ReturnType<typeof newEdgeFindings> = []
      if (newSince !== undefined && learnFrom !== undefined) {
        const current = await backend.flows({ ...filter, since: newSince, ...(until === undefined ? {} : { until }), limit: 1_000_000 })
        const baseline = learnFrom < newSince ? await backend.flows({ ...filter, since: learnFrom, until: newSince, limit: 1_000_000 }) : []
        fresh = newEdgeFindings(current, baseline, {
          since: newSince,
          baselineFrom: learnFrom,
          includeFlagged: opts.includeFlagged === true,
        })
      } else if (wantNew) {
        throw new EnvoyAuditError('EA_USAGE', '--finding new_edge needs --new-since')
      }
      if (wantNew) {
        const keep = new Set(fresh.map((f) => `${f.source}\u0000${f.destination}`))
        edges = edges.filter((e) => keep.has(`${e.source}\u0000${e.destination}`)).slice(0, limit)
      }
      if (opts.json === true) {
        const byPair = new Map(fresh.map((f) => [`${f.source}\u0000${f.destination}`, f.finding]))
        const out = edges.map((e) => {
          const f = byPair.get(`${e.source}\u0000${e.destination}`)
          return JSON.stringify(f === undefined ? e : { ...e, findings: [...e.findings, f.code].sort(), newEdge: f })
        })
        process.stdout.write(out.length === 0 ? '' : `${out.join('\n')}\n`)
      } else {
        process.stdout.write(renderFlowsText(edges, fresh))
      }
    } finally {
      await close()
    }
  })
}
