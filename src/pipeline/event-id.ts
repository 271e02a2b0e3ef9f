import { createHash } from 'node:crypto'
import type { SourceCoords } from './component.js'

/** Stable text form of source coordinates, e.g. `kafka:envoy/3/1042` or `file:/var/log/a.log:17@2048`. */
export function coordsKey(c: SourceCoords): string {
  if (c.kind === 'kafka') return `kafka:${c.topic ?? ''}/${c.partition ?? ''}/${c.offset ?? ''}`
  return `${c.kind ?? 'file'}:${c.file ?? ''}:${c.line ?? ''}@${c.offset ?? ''}`
}

/**
 * Deterministic event id: the same record read again (replay after a crash, re-ingesting a file) gets
 * the same id, so the sinks deduplicate on it. The raw bytes are part of the hash so that coordinates
 * that get reused (a recreated topic, a rotated file with the same name) do not collide.
 * 128 bits of SHA-256, base64url: 22 characters.
 */
export function deriveEventId(coords: SourceCoords, raw: Buffer | string): string {
  return createHash('sha256').update(coordsKey(coords)).update('\0').update(raw).digest('base64url').slice(0, 22)
}
