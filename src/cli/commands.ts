/**
 * Every subcommand, one entry each, in the order `--help` shows them. An entry holds what the
 * top-level help prints (name, term, description) and how to load the command's module: main.ts
 * imports only the module of the command named on the command line, so `--help`, `--version` and
 * a command that needs no database client do not pay for loading DuckDB, OpenSearch and kafkajs.
 * test/cli/commands.test.ts checks this table against the commands the modules register.
 */
import type { Command } from 'commander'

type Register = (program: Command) => void

export interface CommandEntry {
  name: string
  /** As the program's help lists it: commander's subcommandTerm of the registered command. */
  term: string
  description: string
  load: () => Promise<Register>
}

export const COMMANDS: readonly CommandEntry[] = [
  {
    name: 'parse',
    term: 'parse [options] [files...]',
    description: 'parse access logs into enriched canonical audit events (NDJSON on stdout); gzip input is read as is',
    load: async () => (await import('./parse.js')).registerParse,
  },
  {
    name: 'run',
    term: 'run [options]',
    description: 'run the service: source (kafka|file|stdin|otlp) → pipeline → sink (opensearch|embedded|ndjson), with metrics and health',
    load: async () => (await import('./run.js')).registerRun,
  },
  {
    name: 'config',
    term: 'config',
    description: 'inspect and validate service configuration',
    load: async () => (await import('./config.js')).registerConfig,
  },
  {
    name: 'ingest',
    term: 'ingest [options] [files...]',
    description: 'run the full pipeline (parse, AU-3, SPIFFE, detect) into the embedded DuckDB store; gzip input is read as is',
    load: async () => (await import('./ingest.js')).registerIngest,
  },
  {
    name: 'sql',
    term: 'sql [options] <query>',
    description:
      'read-only SQL over the embedded store, also while run or ingest writes it (tables: events, findings, edge_facts, ' +
      'and unless the store keeps none, calls, ' +
      'call_links, call_groups, call_link_groups; view: flows)',
    load: async () => (await import('./sql.js')).registerSql,
  },
  {
    name: 'report',
    term: 'report [options]',
    description:
      'write the audit evidence report (per cluster and overall: mTLS and AU-3 coverage, findings; denied flows, egress, ' +
      'service graph with the cluster of each identity) from the embedded store or OpenSearch; `--since 24h` is the daily ' +
      'ConMon review, `--cluster NAME` some clusters only',
    load: async () => (await import('./report.js')).registerReport,
  },
  {
    name: 'demo',
    term: 'demo [options]',
    description: 'simulate an Istio mesh with planted incidents, ingest its logs, and write the evidence report',
    load: async () => (await import('./demo.js')).registerDemo,
  },
  {
    name: 'setup',
    term: 'setup [options]',
    description: 'install the OpenSearch ISM retention policy, index templates and read aliases (idempotent)',
    load: async () => (await import('./setup.js')).registerSetup,
  },
  {
    name: 'rules',
    term: 'rules',
    description: 'the Sigma detection rules (detections/sigma): run them over stored events',
    load: async () => (await import('./rules.js')).registerRules,
  },
  {
    name: 'alerting',
    term: 'alerting',
    description: 'OpenSearch Alerting monitors and Dashboards saved objects for ConMon',
    load: async () => (await import('./alerting.js')).registerAlerting,
  },
  {
    name: 'demo-produce',
    term: 'demo-produce [options]',
    description: 'publish the simulated mesh traffic (with planted incidents) to a Kafka topic, as Fluent Bit and a CRI forwarder would',
    load: async () => (await import('./demo-produce.js')).registerDemoProduce,
  },
  {
    name: 'flows',
    term: 'flows [options]',
    description:
      'observed edges source identity → destination: counts, first/last seen, methods, status classes, mTLS share, findings, clusters',
    load: async () => (await import('./flows.js')).registerFlows,
  },
  {
    name: 'hunt',
    term: 'hunt [options]',
    description: 'lateral-movement search: identities reachable from IDENTITY through time-respecting call paths, with denied probes',
    load: async () => (await import('./hunt.js')).registerHunt,
  },
  {
    name: 'policy',
    term: 'policy',
    description: 'Istio AuthorizationPolicy/PeerAuthentication as code: evaluate, check logs, lint, recommend',
    load: async () => (await import('./policy.js')).registerPolicy,
  },
  {
    name: 'verify',
    term: 'verify [options]',
    description:
      'check the stored events against the integrity ledger: report deleted, modified and inserted events (exit 3 when tampered)',
    load: async () => (await import('./verify.js')).registerVerify,
  },
]

/** Stand-ins that only show in the program's help (name, term, description); see registerCommands. */
const stubs = new WeakSet<Command>()

/**
 * Registers the commands named in `load` (every command when omitted) from their modules, and a
 * stand-in for each other one so the program's help and its "unknown command" suggestions list them
 * all. A module may register more than its own command (run.ts also registers config): a name already
 * registered is skipped.
 */
export async function registerCommands(program: Command, load?: readonly string[]): Promise<void> {
  const loaded = await Promise.all(COMMANDS.map((e) => (load === undefined || load.includes(e.name) ? e.load() : undefined)))
  let stubbed = false
  COMMANDS.forEach((entry, i) => {
    if (program.commands.some((c) => c.name() === entry.name)) return
    const register = loaded[i]
    if (register !== undefined) {
      register(program)
      return
    }
    const stub = program.command(entry.name).description(entry.description)
    stub.action(() => {
      throw new Error(`internal: command ${entry.name} was not loaded`)
    })
    stubs.add(stub)
    stubbed = true
  })
  if (stubbed) {
    // Set after the real commands were added, so they (and their own subcommands) keep the default.
    const help = program.createHelp()
    const term = help.subcommandTerm.bind(help)
    program.configureHelp({
      subcommandTerm: (cmd) => (stubs.has(cmd) ? (COMMANDS.find((e) => e.name === cmd.name())?.term ?? term(cmd)) : term(cmd)),
    })
  }
}

/**
 * The command a command line runs: its first word that is not an option (the program itself takes no
 * option with a value), or the one after `help`. undefined when none is named or the word is unknown.
 */
export function commandNamed(args: readonly string[]): string | undefined {
  const words = args.filter((a) => !a.startsWith('-'))
  const name = words[0] === 'help' ? words[1] : words[0]
  return COMMANDS.some((e) => e.name === name) ? name : undefined
}
