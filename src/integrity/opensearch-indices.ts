/**
 * The three OpenSearch indices of the integrity ledger (mappings: schemas/opensearch/integrity-indices.json):
 * `<prefix>-ledger` (blocks of ledger entries, one per stream and write round, `_id` = stream hash + `b` +
 * first position; the first releases wrote one document per event, `_id` = stream hash + position: both are
 * read, see opensearch-blocks.ts), `<prefix>-checkpoints` (signed heads, `_id` = stream hash + position) and `<prefix>-heads` (one document per logical stream, the commit
 * point writers advance with if_seq_no/if_primary_term). Plain indices, not rollover aliases and not under
 * ISM: the ledger must outlive the events it covers, and it is small (about 230 bytes per event).
 */
import { createHash } from 'node:crypto'
import type { Client } from '@opensearch-project/opensearch'
import indicesJson from '../../schemas/opensearch/integrity-indices.json' with { type: 'json' }
import { EnvoyAuditError } from '../errors.js'

export const DEFAULT_INTEGRITY_PREFIX = 'envoy-audit-integrity'

export type IntegrityIndexKind = 'ledger' | 'checkpoints' | 'heads'

export interface IntegrityIndices {
  ledger: string
  checkpoints: string
  heads: string
}

export function integrityIndices(prefix: string = DEFAULT_INTEGRITY_PREFIX): IntegrityIndices {
  return { ledger: `${prefix}-ledger`, checkpoints: `${prefix}-checkpoints`, heads: `${prefix}-heads` }
}

export function integrityMapping(kind: IntegrityIndexKind): Record<string, unknown> {
  return indicesJson.indices[kind].mappings as Record<string, unknown>
}

/**
 * Document ids are hashes of the stream name, not the name itself: a file path can be longer than the
 * 512 bytes an `_id` may hold, and a hash needs no escaping.
 */
function streamKey(stream: string): string {
  return createHash('sha256').update(stream).digest('hex').slice(0, 32)
}

export function entryId(stream: string, pos: string): string {
  return `${streamKey(stream)}:${pos}`
}

/** A block's id: its stream and first position, so a replay that writes the same block again gets a 409, not a copy. */
export function blockId(stream: string, firstPos: string): string {
  return `${streamKey(stream)}:b${firstPos}`
}

export function headId(logical: string): string {
  return streamKey(logical)
}

/** Positions go out as JSON numbers when exact (range queries and sorts then compare numerically), else as strings. */
export function posValue(pos: string | bigint): number | string {
  const n = Number(pos)
  return Number.isSafeInteger(n) ? n : String(pos)
}

export interface IndexStep {
  resource: string
  action: 'created' | 'updated' | 'unchanged'
  detail?: string
  /** The index lacks fields this version writes and this role may not add them. */
  incomplete?: true
}

function statusOf(err: unknown): number | undefined {
  const e = err as { statusCode?: number | null; meta?: { statusCode?: number | null } }
  const s = e.statusCode ?? e.meta?.statusCode
  return typeof s === 'number' ? s : undefined
}

/**
 * Creates the indices that are missing (idempotent; a concurrent creator's `resource_already_exists`
 * counts as done). An existing index made by an older version gets the fields it lacks (a put mapping,
 * which only adds: the ledger blocks of version 2 would otherwise be refused by the strict mapping);
 * nothing else about an existing index is changed.
 */
export async function ensureIntegrityIndices(
  client: Client,
  prefix: string,
  settings: { shards?: number; replicas?: number } = {},
): Promise<IndexStep[]> {
  const names = integrityIndices(prefix)
  const steps: IndexStep[] = []
  for (const kind of ['ledger', 'checkpoints', 'heads'] as const) {
    const index = names[kind]
    const resource = `integrity index ${index}`
    try {
      const exists = await client.indices.exists({ index })
      if (exists.body === true) {
        const missing = await missingFields(client, index, kind)
        if (missing.length === 0) steps.push({ resource, action: 'unchanged' })
        else if (await addFields(client, index, kind, missing))
          steps.push({ resource, action: 'updated', detail: `added ${missing.join(', ')}` })
        else
          steps.push({
            resource,
            action: 'unchanged',
            incomplete: true,
            detail: `lacks ${missing.join(', ')}: not allowed to add them (run envoy-audit setup as an administrator)`,
          })
        continue
      }
      const indexSettings: Record<string, unknown> = {}
      if (settings.shards !== undefined) indexSettings.number_of_shards = settings.shards
      if (settings.replicas !== undefined) indexSettings.number_of_replicas = settings.replicas
      await client.indices.create({ index, body: { settings: indexSettings, mappings: integrityMapping(kind) } as never })
      steps.push({ resource, action: 'created' })
    } catch (err) {
      const type = (err as { body?: { error?: { type?: string } } }).body?.error?.type
      if (statusOf(err) === 400 && type === 'resource_already_exists_exception') {
        steps.push({ resource, action: 'unchanged' })
        continue
      }
      const status = statusOf(err)
      const code = status === 401 || status === 403 ? 'EA_SINK_AUTH' : 'EA_SINK_UNAVAILABLE'
      throw new EnvoyAuditError(
        code,
        `creating ${resource} failed${status === undefined ? '' : ` (HTTP ${status})`}: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      )
    }
  }
  return steps
}

/**
 * The fields of our mapping that the existing index does not map. A role that may not read mappings
 * gets none: its writes then fail on the strict mapping with a message that says to run setup.
 */
async function missingFields(client: Client, index: string, kind: IntegrityIndexKind): Promise<string[]> {
  let body: Record<string, { mappings?: { properties?: Record<string, unknown> } }>
  try {
    body = (await client.indices.getMapping({ index })).body as typeof body
  } catch (err) {
    const status = statusOf(err)
    if (status === 401 || status === 403) return []
    throw err
  }
  const have = Object.values(body)[0]?.mappings?.properties ?? {}
  return Object.keys(integrityMapping(kind).properties as Record<string, unknown>).filter((f) => !Object.hasOwn(have, f))
}

/** Adds the missing fields; false when the role may not (its block writes are then refused by the strict mapping, with a message to run setup). */
async function addFields(client: Client, index: string, kind: IntegrityIndexKind, missing: string[]): Promise<boolean> {
  try {
    await client.indices.putMapping({
      index,
      body: { properties: pick(integrityMapping(kind).properties as Record<string, unknown>, missing) } as never,
    })
    return true
  } catch (err) {
    const status = statusOf(err)
    if (status === 401 || status === 403) return false
    throw err
  }
}

function pick(props: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const k of keys) out[k] = props[k]
  return out
}
