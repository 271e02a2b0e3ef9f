/**
 * What a file source is to its callers, read once or followed (file-source.ts, file-follow.ts): a Source
 * that also tells how far it has read.
 */
import type { Source } from '../pipeline/component.js'

export interface FileSourceProgress {
  /** Bytes read as stored (compressed bytes of a gzip file) over all inputs so far. */
  bytesRead: number
  /** Their total when every input has a known size (files, stdin redirected from a file), else undefined. */
  bytesTotal: number | undefined
}

export type FileSource = Source & {
  readonly linesRead: number
  /** Records read per input as named ('-' for stdin), for the per-file summary. */
  readonly recordsByFile: ReadonlyMap<string, number>
  progress(): FileSourceProgress
}
