import type { KubeMeta } from './fields.js'
import { isUnsafeKey } from './json.js'
import { normaliseTimestamp } from './timestamp.js'

/*
 * Envelopes that wrap an Envoy line on its way to Kafka (reference envoy-istio-log-formats.md e.1-e.4):
 *
 * Docker json-file      {"log":"[2022-...] \"GET / HTTP/1.1\" 200 ...\n","stream":"stdout","time":"..."}
 * Fluent Bit + k8s      {"@timestamp":1662641465.656,"time":"...","stream":"stdout","_p":"F","log":"<line>",
 *                        "kubernetes":{"pod_name":"...","namespace_name":"...","container_name":"istio-proxy",
 *                        "labels":{...},"host":"node-1",...}}
 *   merge_log on         the Envoy JSON keys sit at the record root next to "kubernetes" (log may be kept)
 *   merge_log_key k      the Envoy JSON keys sit under record[k]
 *   legacy cri parser    the line is under "message" instead of "log"
 * Vector kubernetes_logs {"message":"<line>","source_type":"kubernetes_logs","kubernetes":{"pod_name":"...",
 *                        "pod_namespace":"...","container_name":"...","pod_labels":{...},"pod_node_name":"..."}}
 * Filebeat / Fluentd     `message` or `log`, with kubernetes.{namespace, pod.name, container.name, node.name,
 *                        labels} (Filebeat, ECS style) or the Fluent Bit key names (Fluentd metadata filter)
 * Copied logs            `[pod/productpage-v1-5d9b4/istio-proxy] `, `[ubuntu istio-proxy] `,
 *                        `default/shell-7854df9c5-9zfnp[istio-proxy]: `, `istio-proxy `, stern's
 *                        `<pod> <container> ` (optionally ANSI-coloured) in front of the line.
 */

const MAX_LABELS = 128
const MAX_LABEL_LEN = 1024

/** Kubernetes metadata from a Fluent Bit or Vector `kubernetes` object. Untrusted: copied key by key. */
export function kubeFromEnvelope(env: Record<string, unknown>): KubeMeta | undefined {
  const k = env['kubernetes']
  if (k === null || typeof k !== 'object' || Array.isArray(k)) return undefined
  const o = k as Record<string, unknown>
  const meta: KubeMeta = {}
  const ns = strField(o, 'namespace_name') ?? strField(o, 'pod_namespace') ?? strField(o, 'namespace')
  if (ns !== undefined) meta.namespace = ns
  // Filebeat/Elastic Agent nest ECS-style: kubernetes.pod.name, kubernetes.container.name, kubernetes.node.name.
  const pod = strField(o, 'pod_name') ?? strField(o, 'pod') ?? nestedName(o, 'pod')
  if (pod !== undefined) meta.pod = pod
  const container = strField(o, 'container_name') ?? strField(o, 'container') ?? nestedName(o, 'container')
  if (container !== undefined) meta.container = container
  const node = strField(o, 'host') ?? strField(o, 'pod_node_name') ?? strField(o, 'node_name') ?? nestedName(o, 'node')
  if (node !== undefined) meta.node = node
  const labels = labelsOf(Object.hasOwn(o, 'labels') ? o['labels'] : Object.hasOwn(o, 'pod_labels') ? o['pod_labels'] : undefined)
  if (labels !== undefined) meta.labels = labels
  const cluster = clusterOfEnvelope(env, o)
  if (cluster !== undefined) meta.cluster = cluster
  return meta
}

/**
 * The cluster a collector names: a key it adds to every record (`cluster_name`, `cluster`, Fluent Bit's
 * record_modifier or Vector's remap), ECS `orchestrator.cluster.name`, or `kubernetes.cluster_name`.
 */
function clusterOfEnvelope(env: Record<string, unknown>, kube: Record<string, unknown>): string | undefined {
  const orchestrator = Object.hasOwn(env, 'orchestrator') ? env['orchestrator'] : undefined
  const cluster =
    orchestrator !== null && typeof orchestrator === 'object' && !Array.isArray(orchestrator)
      ? nestedName(orchestrator as Record<string, unknown>, 'cluster')
      : undefined
  return cluster ?? strField(env, 'cluster_name') ?? strField(env, 'cluster') ?? strField(kube, 'cluster_name')
}

function nestedName(o: Record<string, unknown>, key: string): string | undefined {
  const v = Object.hasOwn(o, key) ? o[key] : undefined
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? strField(v as Record<string, unknown>, 'name') : undefined
}

function strField(o: Record<string, unknown>, key: string): string | undefined {
  if (!Object.hasOwn(o, key)) return undefined
  const v = o[key]
  return typeof v === 'string' && v.length > 0 && v.length <= 512 ? v : undefined
}

/**
 * A null-prototype copy holding only string values, without `__proto__`/`constructor`/`prototype`
 * keys (never valid Kubernetes label keys anyway), so a later Object.assign cannot be turned against us.
 */
function labelsOf(v: unknown): Record<string, string> | undefined {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined
  const out = Object.create(null) as Record<string, string>
  let n = 0
  for (const key of Object.keys(v)) {
    if (isUnsafeKey(key) || key.length > 317) continue
    const val = (v as Record<string, unknown>)[key]
    if (typeof val !== 'string' || val.length > MAX_LABEL_LEN) continue
    out[key] = val
    if (++n >= MAX_LABELS) break
  }
  return n > 0 ? out : undefined
}

/** The Envoy line an envelope carries: Fluent Bit/Docker `log`, Vector/legacy-cri `message`. */
export function envelopeLine(env: Record<string, unknown>): string | undefined {
  const log = Object.hasOwn(env, 'log') ? env['log'] : undefined
  if (typeof log === 'string') return log
  const msg = Object.hasOwn(env, 'message') ? env['message'] : undefined
  if (typeof msg === 'string') return msg
  return undefined
}

/**
 * The time an envelope gives its record, normalised: Docker json-file and Fluent Bit's CRI parser
 * `time` (the runtime's write time), Vector `timestamp`, Fluent Bit's Kafka `@timestamp` (epoch double
 * or ISO 8601) and `date`. Used only for a line that logs no start time of its own.
 */
export function envelopeTime(env: Record<string, unknown>): string | undefined {
  for (const key of ['time', 'timestamp', '@timestamp', 'date']) {
    if (!Object.hasOwn(env, key)) continue
    const v = env[key]
    const t = typeof v === 'string' || typeof v === 'number' ? normaliseTimestamp(v) : undefined
    if (t !== undefined) return t
  }
  return undefined
}

/**
 * The CRI partial tag a collector kept without the CRI framing: Fluent Bit's cri multiline parser
 * writes it as `_p`, the legacy `cri` parser as `logtag` (P: continued in the next record, F: final).
 */
export function partialTag(env: Record<string, unknown>): 'P' | 'F' | undefined {
  const v = Object.hasOwn(env, '_p') ? env['_p'] : Object.hasOwn(env, 'logtag') ? env['logtag'] : undefined
  if (typeof v !== 'string' || v.length === 0) return undefined
  return v.charCodeAt(0) === 80 /* P */ ? 'P' : v.charCodeAt(0) === 70 /* F */ ? 'F' : undefined
}

/** The envelope's `stream` (stdout/stderr), which keeps the two streams' partial lines apart. */
export function envelopeStream(env: Record<string, unknown>): string {
  const v = Object.hasOwn(env, 'stream') ? env['stream'] : undefined
  return typeof v === 'string' && v.length > 0 && v.length <= 16 ? v : 'stdout'
}

/** Fluent Bit merge_log_key: the first top-level object value holding `timeKey`. */
export function nestedAccessLog(env: Record<string, unknown>, timeKey: string): Record<string, unknown> | undefined {
  for (const key of Object.keys(env)) {
    if (key === 'kubernetes' || isUnsafeKey(key)) continue
    const v = env[key]
    if (v !== null && typeof v === 'object' && !Array.isArray(v) && Object.hasOwn(v, timeKey)) return v as Record<string, unknown>
  }
  return undefined
}

export interface Prefixed {
  line: string
  kube: KubeMeta | undefined
}

// ESC [ ... m colour sequences that stern adds.
// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/g

/**
 * Strips a kubectl/stern prefix in front of an access-log line. Returns undefined when the line does not
 * contain an access-log start (`[<digit>` + `] "`, or `{"`) after a short prefix of at most three words.
 */
export function stripPrefix(line: string): Prefixed | undefined {
  const clean = line.indexOf('\u001b') >= 0 ? line.replace(ANSI, '') : line
  const limit = Math.min(clean.length, 320)
  let start = -1
  for (let i = 1; i < limit; i++) {
    const c = clean.charCodeAt(i)
    if (c === 123 /* { */ && clean.charCodeAt(i + 1) === 34 && isBoundary(clean, i)) {
      start = i
      break
    }
    if (c === 91 /* [ */ && isDigit(clean.charCodeAt(i + 1)) && isBoundary(clean, i)) {
      start = i
      break
    }
  }
  if (start < 0) return undefined
  const prefix = clean.slice(0, start).trim()
  const words = prefix.split(/\s+/)
  if (prefix.length === 0 || words.length > 3) return undefined
  return { line: clean.slice(start), kube: kubeFromPrefix(prefix, words) }
}

function isBoundary(s: string, i: number): boolean {
  const p = s.charCodeAt(i - 1)
  return p === 32 || p === 9 || p === 93 /* ] */ || p === 58 /* : */
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57
}

const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/

function kubeFromPrefix(prefix: string, words: string[]): KubeMeta | undefined {
  let p = prefix.endsWith(':') ? prefix.slice(0, -1) : prefix
  // kubectl logs --prefix: [pod/<pod>/<container>]
  if (p.startsWith('[pod/') && p.endsWith(']')) {
    const parts = p.slice(5, -1).split('/')
    if (parts.length === 2) return meta(undefined, parts[0], parts[1])
  }
  // <ns>/<pod>[<container>]
  const br = p.indexOf('[')
  if (br > 0 && p.endsWith(']') && words.length === 1) {
    const container = p.slice(br + 1, -1)
    const left = p.slice(0, br)
    const slash = left.indexOf('/')
    return slash > 0 ? meta(left.slice(0, slash), left.slice(slash + 1), container) : meta(undefined, left, container)
  }
  if (p.startsWith('[') && p.endsWith(']')) p = p.slice(1, -1)
  const w = p.split(/\s+/)
  if (w.length === 2) return meta(undefined, w[0], w[1]) // stern / `[pod container]`
  if (w.length === 3) return meta(w[0], w[1], w[2]) // stern with namespace
  if (w.length === 1 && w[0] === 'istio-proxy') return meta(undefined, undefined, 'istio-proxy')
  return undefined
}

/** All given parts must be valid Kubernetes names, or this is not a kubectl/stern prefix at all. */
function meta(ns: string | undefined, pod: string | undefined, container: string | undefined): KubeMeta | undefined {
  const m: KubeMeta = {}
  for (const [key, v] of [
    ['namespace', ns],
    ['pod', pod],
    ['container', container],
  ] as const) {
    if (v === undefined) continue
    if (!NAME.test(v)) return undefined
    m[key] = v
  }
  return m.pod === undefined && m.container === undefined ? undefined : m
}
