/**
 * What `hunt` and `flows` share on the command line: picking the store (--store PATH or --opensearch
 * URL, never both), the learning window for new edges, and the inventory. The OpenSearch connection
 * options are those of every OpenSearch command (opensearch-options.ts: passwords from the environment
 * or a file, TLS verified).
 */
import type { Command } from 'commander'
import { EnvoyAuditError } from '../errors.js'
import { DEFAULT_STORE_PATH, openStoreForReading } from '../store/duckdb-store.js'
import { createOpenSearchClient } from '../connections/opensearch.js'
import { OpenSearchStore } from '../store/opensearch-store.js'
import type { Summarize } from '../report/window.js'
import { addOpenSearchOptions, connectionFromOptions, type OpenSearchCliOptions } from './opensearch-options.js'
import type { HuntBackend, InventoryEntry } from '../hunt/backend.js'
import { DuckDbHuntBackend } from '../hunt/duckdb-backend.js'
import { OpenSearchHuntBackend } from '../hunt/opensearch-backend.js'
import { loadInventory } from '../hunt/service-identities.js'
import { parseDuration, parseTime } from '../hunt/time.js'
import { readerMemoryLimit, readerMemoryOption } from './reader-memory.js'

export interface StoreCliOptions extends OpenSearchCliOptions {
  store?: string
  index?: string
  inventory?: string
  baseline?: string
  cluster?: string[]
  memoryLimit?: string
}

/** Default learning window before --since for deciding that an edge is new. */
export const DEFAULT_BASELINE = '7d'
export const DEFAULT_EVENTS_INDEX = 'envoy-audit-events'

export function addStoreOptions(cmd: Command): Command {
  cmd
    .option('--store <path>', `DuckDB store file (default ${DEFAULT_STORE_PATH})`)
    .option('--index <alias>', 'OpenSearch events alias to search', DEFAULT_EVENTS_INDEX)
    .option('--inventory <file>', 'inventory (YAML/JSON, the --workloads file of policy): the identities that serve services')
    .option(
      '--baseline <duration>',
      `learning window before --since; an edge not seen in it is NEW (e.g. 7d, 0 to disable)`,
      DEFAULT_BASELINE,
    )
    .option(
      '--cluster <name...>',
      'only calls of this cluster: written by its proxies or naming it as either end (repeatable)',
      clusterList,
    )
  cmd.addOption(readerMemoryOption())
  return addOpenSearchOptions(cmd)
}

/** `--cluster` of every command that takes it: repeatable, and each value a comma-separated list. */
export const clusterList = (v: string, prev: string[] | undefined): string[] => [...(prev ?? []), ...v.split(',').filter((c) => c !== '')]

export interface OpenedBackend {
  backend: HuntBackend
  inventory: InventoryEntry[]
  /** Events and first/last @timestamp of a range of the same events, to say what an empty window missed. */
  summarize: Summarize
  close(): Promise<void>
}

export async function openBackend(opts: StoreCliOptions): Promise<OpenedBackend> {
  if (opts.store !== undefined && opts.opensearch !== undefined)
    throw new EnvoyAuditError('EA_USAGE', '--store and --opensearch are exclusive')
  const inventory = opts.inventory === undefined ? [] : loadInventory(opts.inventory)
  if (opts.opensearch !== undefined) {
    const client = await createOpenSearchClient(connectionFromOptions(opts), { maxRetries: 2 })
    const index = opts.index ?? DEFAULT_EVENTS_INDEX
    const backend = new OpenSearchHuntBackend(client, { index })
    const store = new OpenSearchStore({ client, config: { eventsIndex: index } })
    return { backend, inventory, summarize: (r) => store.summary(r), close: async () => backend.close().finally(() => client.close()) }
  }
  const store = await openStoreForReading(opts.store ?? DEFAULT_STORE_PATH, { memoryLimit: readerMemoryLimit(opts.memoryLimit) })
  if (store.callTables && !store.callTablesCurrent)
    process.stderr.write(
      'envoy-audit: warning: the call tables were built by an older version: calls are matched from the stored events ' +
        'instead (slower) until a writer opens the store once (e.g. `envoy-audit ingest --store PATH /dev/null`), which rebuilds them\n',
    )
  // A store kept without the per-call tables (callTables: false) is hunted by matching calls at query time.
  const backend = new DuckDbHuntBackend(store, { source: store.callTablesCurrent ? 'calls' : 'events' })
  return { backend, inventory, summarize: (r) => store.summary(r), close: async () => backend.close().finally(() => store.close()) }
}

/** The learning window start: --baseline before `since`, or undefined when disabled with 0. */
export function baselineFrom(since: string, baseline: string | undefined): string | undefined {
  const text = baseline ?? DEFAULT_BASELINE
  if (text === '0') return undefined
  return new Date(Date.parse(since) - parseDuration(text, '--baseline')).toISOString()
}

export function timeOption(value: string | undefined, option: string, now?: number): string | undefined {
  return value === undefined ? undefined : parseTime(value, option, now)
}

/** Positive integer option with a named bound. */
export function intOption(value: string | undefined, option: string, def: number, max: number): number {
  if (value === undefined) return def
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1 || n > max)
    throw new EnvoyAuditError('EA_USAGE', `${option} must be an integer from 1 to ${max}, got "${value}"`)
  return n
}
