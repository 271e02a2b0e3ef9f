import crypto, { createHash } from 'node:crypto'

/** Who emitted a record, as its envelope (Fluent Bit, Vector, kubectl/stern prefix) names it. */
export interface Workload {
  namespace?: string | undefined
  pod?: string | undefined
  container?: string | undefined
  /** The cluster the pod runs in, when a record names one. */
  cluster?: string | undefined
}

/**
 * Part of every id's hash input. Ids derived without it (before this version: source coordinates plus
 * the record's bytes) are different by construction; changing it changes every id, so it never changes.
 */
const EVENT_ID_DOMAIN = 'envoy-audit/event-id/v2'

/**
 * Deterministic event id from what the record says, not from where it was read: the access-log line
 * (envelope and CRI framing removed, before redaction) and the workload that emitted it. The same line
 * read from a rotated file, from stdin, or re-sent to Kafka at a new offset gets the same id, so the
 * sinks store it once. Two byte-identical lines from the same workload get one id, and that is meant:
 * Envoy stamps each line with its start time in milliseconds and usually a request id, so identical
 * bytes from one container are one record delivered twice (docs/guarantees.md, "Event ids").
 * 128 bits of SHA-256, base64url: 22 characters (OpenSearch allows 512 bytes of _id).
 */
export function deriveEventId(line: string, workload?: Workload): string {
  const head = EVENT_ID_DOMAIN + workloadKey(workload)
  const need = (head.length + line.length) * 3
  if (oneShot === undefined || need > MAX_SCRATCH) return sha256Base64url(head + line).slice(0, 22)
  if (need > scratch.length) scratch = Buffer.allocUnsafe(Math.max(need, scratch.length * 2))
  // The UTF-8 of the joined string, written in two parts: the head ends with a newline, so no
  // surrogate pair is split between them.
  let n = scratch.write(head, 0)
  n += scratch.write(line, n)
  return oneShot('sha256', scratch.subarray(0, n), 'base64url').slice(0, 22)
}

/**
 * One call for every event: crypto.hash (Node 20.12+) hashes without building a Hash object, which costs
 * more than the hashing itself for a line this size; the same bytes as the three update() calls.
 */
const oneShot = (crypto as { hash?: (algorithm: string, data: string | Uint8Array, encoding: 'base64url') => string }).hash
const sha256Base64url: (data: string) => string =
  oneShot !== undefined ? (data) => oneShot('sha256', data, 'base64url') : (data) => createHash('sha256').update(data).digest('base64url')

/**
 * Where the hash input is written as UTF-8 (one per thread; ids are derived synchronously). Hashing the
 * joined string instead makes V8 flatten it into a new heap string the size of the line for every
 * event: garbage that makes the scavenges, which copy a batch's live events, come more often. Longer
 * lines take the string.
 */
let scratch = Buffer.allocUnsafe(16 * 1024)
const MAX_SCRATCH = 1 << 20

/**
 * Length-prefixed (UTF-8 bytes), so no choice of names can make two workloads hash alike (`a` + `b/c` vs
 * `a/b` + `c`); an absent name is `-`.
 * Only the names that identify the emitting container: labels and the node change over a pod's life.
 */
export function workloadKey(w: Workload | undefined): string {
  const key = `\n${part(w?.namespace)}\n${part(w?.pod)}\n${part(w?.container)}\n`
  // Appended only when known, so every id derived without a cluster stays what it was. No line holds a
  // newline (the sources split on it), so a key with a cluster never reads like one without it.
  return w?.cluster === undefined ? key : `${key}${part(w.cluster)}\n`
}

// At module level: a closure made per call costs an allocation per event (and, under tsx, a __name call).
function part(v: string | undefined): string {
  return v === undefined ? '-' : `${Buffer.byteLength(v, 'utf8')}:${v}`
}
