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
  return sha256Base64url(EVENT_ID_DOMAIN + workloadKey(workload) + line).slice(0, 22)
}

/**
 * One call for every event: crypto.hash (Node 20.12+) hashes without building a Hash object, which costs
 * more than the hashing itself for a line this size; the same bytes as the three update() calls.
 */
const oneShot = (crypto as { hash?: (algorithm: string, data: string, encoding: 'base64url') => string }).hash
const sha256Base64url: (data: string) => string =
  oneShot !== undefined ? (data) => oneShot('sha256', data, 'base64url') : (data) => createHash('sha256').update(data).digest('base64url')

/**
 * Length-prefixed (UTF-8 bytes), so no choice of names can make two workloads hash alike (`a` + `b/c` vs
 * `a/b` + `c`); an absent name is `-`.
 * Only the names that identify the emitting container: labels and the node change over a pod's life.
 */
export function workloadKey(w: Workload | undefined): string {
  const part = (v: string | undefined): string => (v === undefined ? '-' : `${Buffer.byteLength(v, 'utf8')}:${v}`)
  const key = `\n${part(w?.namespace)}\n${part(w?.pod)}\n${part(w?.container)}\n`
  // Appended only when known, so every id derived without a cluster stays what it was. No line holds a
  // newline (the sources split on it), so a key with a cluster never reads like one without it.
  return w?.cluster === undefined ? key : `${key}${part(w.cluster)}\n`
}
