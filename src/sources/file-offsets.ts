/**
 * Read positions of followed files, kept across restarts in a small JSON file. A position is the byte
 * offset of the first line not yet acknowledged: it is saved only after the pipeline acknowledged every
 * line before it (stored or dead-lettered), like a Kafka offset commit, so a crash repeats at most the
 * lines acknowledged since the last save (their event ids are the same, so nothing is stored twice) and
 * never skips one.
 *
 * A position belongs to a file's identity (device and inode), not its name: after a rename rotation the
 * old file keeps its position under its new name. The first bytes' hash (a fingerprint) tells a file
 * from a later one that reuses the inode, and a truncated file (copytruncate) from the one that was read.
 */
import { createHash } from 'node:crypto'
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs'
import { dirname } from 'node:path'
import { z } from 'zod'
import { EnvoyAuditError } from '../errors.js'

/** Bytes from the start of a file that identify its content. */
export const FINGERPRINT_BYTES = 256

export interface FilePosition {
  /** The path the file was followed under (the configured path, or the name it had when drained after a rotation). */
  path: string
  dev: number
  ino: number
  /** Byte offset of the first line not yet acknowledged. */
  offset: number
  /** Lines before offset: the next record's 1-based line is line + 1. */
  line: number
  /** sha256 (hex) of the first fingerprintBytes bytes. */
  fingerprint: string
  fingerprintBytes: number
  /** The file was renamed away from `path` (rotated): it is read to its end, then forgotten. */
  rotated?: boolean
}

const stateSchema = z.object({
  version: z.literal(1),
  files: z.array(
    z.object({
      path: z.string(),
      dev: z.number(),
      ino: z.number(),
      offset: z.number().int().min(0),
      line: z.number().int().min(0),
      fingerprint: z.string(),
      fingerprintBytes: z.number().int().min(0),
      rotated: z.boolean().optional(),
    }),
  ),
})

export function fingerprintOf(head: Buffer): { fingerprint: string; fingerprintBytes: number } {
  const bytes = head.subarray(0, FINGERPRINT_BYTES)
  return { fingerprint: createHash('sha256').update(bytes).digest('hex'), fingerprintBytes: bytes.length }
}

export const identityKey = (p: { dev: number; ino: number }): string => `${p.dev}:${p.ino}`

export class FileOffsets {
  private readonly positions = new Map<string, FilePosition>()

  /** Reads the state file; a missing file is an empty state, an unreadable one an EA_CONFIG_INVALID naming it. */
  constructor(readonly path: string | undefined) {
    if (path === undefined) return
    let text: string
    try {
      text = readFileSync(path, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
      throw new EnvoyAuditError('EA_IO', `cannot read the file positions ${path}: ${(err as Error).message}`, { cause: err })
    }
    let parsed: z.infer<typeof stateSchema>
    try {
      parsed = stateSchema.parse(JSON.parse(text))
    } catch (err) {
      throw new EnvoyAuditError(
        'EA_CONFIG_INVALID',
        `${path} does not hold file positions (delete it to read every followed file from its start): ${(err as Error).message}`,
        { cause: err },
      )
    }
    for (const p of parsed.files) this.positions.set(identityKey(p), { ...p })
  }

  all(): FilePosition[] {
    return [...this.positions.values()]
  }

  get(identity: { dev: number; ino: number }): FilePosition | undefined {
    return this.positions.get(identityKey(identity))
  }

  set(p: FilePosition): void {
    this.positions.set(identityKey(p), p)
  }

  delete(identity: { dev: number; ino: number }): void {
    this.positions.delete(identityKey(identity))
  }

  /**
   * Writes the state atomically (a temporary file, fsync, rename), so a crash leaves the previous state or
   * the new one, never a torn file. No-op without a path.
   */
  save(): void {
    if (this.path === undefined) return
    const body = JSON.stringify({ version: 1, files: this.all() }) + '\n'
    const tmp = `${this.path}.tmp`
    try {
      mkdirSync(dirname(this.path), { recursive: true })
      const fd = openSync(tmp, 'w')
      try {
        writeSync(fd, body)
        fsyncSync(fd)
      } finally {
        closeSync(fd)
      }
      renameSync(tmp, this.path)
    } catch (err) {
      throw new EnvoyAuditError('EA_IO', `cannot write the file positions ${this.path}: ${(err as Error).message}`, { cause: err })
    }
  }
}
