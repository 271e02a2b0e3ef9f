/**
 * Exported chain heads: the anchors `verify --heads` checks a store against (AU-9(3)). A writer who can
 * rewrite the store can also truncate a stream's tail together with its checkpoints, or, holding the
 * key, rebuild a whole chain; heads exported earlier to a place that writer cannot reach (the SIEM, a WORM
 * bucket) still pin what each stream held then. Each head is signed like a checkpoint when a key is given,
 * so a heads file that travelled through other hands can be checked too.
 */
import { readFileSync } from 'node:fs'
import { z } from 'zod'
import { EnvoyAuditError } from '../errors.js'
import { checkpointMac } from './chain.js'
import type { IntegrityKey } from './config.js'
import type { CheckpointEntry, VerifyReport } from './verify-core.js'

export const HEADS_FORMAT = 'envoy-audit-heads/1'

const headSchema = z
  .object({
    stream: z.string().min(1),
    pos: z.string().regex(/^\d{1,20}$/, 'a decimal position'),
    count: z.number().int().min(0),
    head: z.string().regex(/^[0-9a-f]{64}$/, 'a SHA-256 hex chain value'),
    key_id: z.string().nullable(),
    mac: z
      .string()
      .regex(/^[0-9a-f]{64}$/)
      .nullable(),
  })
  .strict()

export const headsFileSchema = z
  .object({
    format: z.literal(HEADS_FORMAT),
    exportedAt: z.string(),
    source: z.string(),
    heads: z.array(headSchema),
  })
  .strict()

export type HeadsFile = z.output<typeof headsFileSchema>

/** The heads of a verified report, signed with the key when there is one. Pure. */
export function headsToExport(report: VerifyReport, key: IntegrityKey | undefined, source: string, now: Date): HeadsFile {
  return {
    format: HEADS_FORMAT,
    exportedAt: now.toISOString(),
    source,
    heads: report.heads.map((h) => ({
      stream: h.stream,
      pos: h.pos,
      count: h.count,
      head: h.head,
      key_id: key?.id ?? null,
      mac: key === undefined ? null : checkpointMac(key, { stream: h.stream, pos: h.pos, count: h.count, head: h.head }),
    })),
  }
}

/** Reads a heads file into the anchors checkChains takes; a file that is not one is a usage error naming it. */
export function readHeadsFile(path: string): CheckpointEntry[] {
  let parsed: unknown
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'))
  } catch (err) {
    throw new EnvoyAuditError('EA_USAGE', `--heads ${path}: not a readable JSON file (${err instanceof Error ? err.message : String(err)})`)
  }
  const r = headsFileSchema.safeParse(parsed)
  if (!r.success) {
    const first = r.error.issues[0]
    throw new EnvoyAuditError(
      'EA_USAGE',
      `--heads ${path}: not an exported heads file: ${first?.path.join('.') ?? ''} ${first?.message ?? ''}`,
    )
  }
  return anchorsFrom(r.data.heads)
}

/** Exported heads as the anchors checkChains takes (checked like head documents, labelled as exported). */
export function anchorsFrom(heads: HeadsFile['heads']): CheckpointEntry[] {
  return heads.map((h) => ({ ...h, origin: 'export' as const }))
}
