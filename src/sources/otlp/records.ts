/**
 * One OTLP export request -> one raw record per log record, each a JSON envelope the parser already
 * unwraps: `{"log": <body>, "kubernetes": {...}, "time": ...}`.
 *
 * - The body is the Envoy line as Istio's `envoyOtelAls` provider sends it (the text of its
 *   `logFormat.text`, or Istio's default text format); a body that is a key/value list (a JSON access
 *   log) becomes that JSON object's text. A record without a body but with attributes (Istio's
 *   `logFormat.labels`, keyed by Istio's JSON names) becomes the JSON object of its attributes.
 * - Resource attributes (OpenTelemetry semantic conventions for Kubernetes: k8s.namespace.name,
 *   k8s.pod.name, k8s.container.name, k8s.node.name, k8s.cluster.name) fill the envelope's kubernetes
 *   section, as a Fluent Bit or Vector envelope would; so the event id and kubernetes.* come out the same.
 *   Missing ones are taken from the record's attributes `pod`, `namespace`, `cluster` (the labels of
 *   Istio's samples/open-telemetry/loki provider: %ENVIRONMENT(POD_NAME)% ...), then from Envoy's built-in
 *   `node_name` resource attribute, Istio's node id `<type>~<ip>~<pod>.<namespace>~<namespace>.svc.<domain>`.
 * - The record's time (time_unix_nano, else observed_time_unix_nano) is the envelope time: used only
 *   for a line that logs no start time of its own.
 *
 * A record whose body is neither becomes an envelope without a line, which the parser dead-letters
 * (EA_PARSE_ENVELOPE) with these bytes.
 */
import type { RawRecord, SourceCoords } from '../../pipeline/component.js'
import type { AnyValue, ExportLogsRequest, KeyValue, LogRecord } from './proto.js'

const KUBE_KEYS: readonly (readonly [string, string])[] = [
  ['k8s.namespace.name', 'namespace_name'],
  ['k8s.pod.name', 'pod_name'],
  ['k8s.container.name', 'container_name'],
  ['k8s.node.name', 'host'],
  ['k8s.cluster.name', 'cluster_name'],
]

// Istio's samples/open-telemetry/loki/iop.yaml labels: pod, namespace, cluster.
const LABEL_KEYS: readonly (readonly [string, string])[] = [
  ['pod', 'pod_name'],
  ['namespace', 'namespace_name'],
  ['cluster', 'cluster_name'],
]

// Istio's proxy node id: sidecar~10.244.0.25~sleep-5c9d7f9b6-xk2lp.default~default.svc.cluster.local
const NODE_ID = /^[a-z]+~[^~]*~([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.([a-z0-9]([-a-z0-9]*[a-z0-9])?)~/

function istioNode(v: unknown): { pod: string; namespace: string } | undefined {
  if (typeof v !== 'string' || v.length > 512) return undefined
  const m = NODE_ID.exec(v)
  return m === null ? undefined : { pod: m[1]!, namespace: m[3]! }
}

const MAX_DEPTH = 8

/** An OTLP AnyValue as plain JSON; keys through a null-prototype object so none can pollute one. */
function plain(v: AnyValue | undefined, depth = 0): unknown {
  if (v === undefined || v === null || depth > MAX_DEPTH) return null
  if (v.stringValue !== undefined) return v.stringValue
  if (v.boolValue !== undefined) return v.boolValue
  if (v.intValue !== undefined) {
    const n = Number(v.intValue)
    return Number.isSafeInteger(n) ? n : String(v.intValue)
  }
  if (v.doubleValue !== undefined) return v.doubleValue
  if (v.arrayValue !== undefined) return (v.arrayValue.values ?? []).map((x) => plain(x, depth + 1))
  if (v.kvlistValue !== undefined) return object(v.kvlistValue.values, depth + 1)
  if (v.bytesValue !== undefined) return v.bytesValue
  return null
}

function object(kvs: readonly KeyValue[] | undefined, depth = 0): Record<string, unknown> {
  const out = Object.create(null) as Record<string, unknown>
  for (const kv of kvs ?? []) if (typeof kv.key === 'string') out[kv.key] = plain(kv.value, depth)
  return out
}

function nanosToIso(v: string | number | undefined): string | undefined {
  if (v === undefined) return undefined
  const s = String(v)
  if (!/^\d{1,20}$/.test(s) || s === '0') return undefined
  const ms = Number(BigInt(s) / 1_000_000n)
  const d = new Date(ms)
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString()
}

function line(rec: LogRecord): string | undefined {
  const body = rec.body
  if (body?.stringValue !== undefined) return body.stringValue
  if (body?.kvlistValue !== undefined) return JSON.stringify(plain(body))
  if (body === undefined && (rec.attributes?.length ?? 0) > 0) return JSON.stringify(object(rec.attributes))
  return undefined
}

/** Every log record of the request, in order; coords from `base` with `line` = the record's 1-based position. */
export function recordsFromExport(req: ExportLogsRequest, base: SourceCoords): RawRecord[] {
  const out: RawRecord[] = []
  for (const rl of req.resourceLogs ?? []) {
    const resource = object(rl.resource?.attributes)
    const resourceKube: Record<string, string> = {}
    for (const [attr, key] of KUBE_KEYS) {
      const v = resource[attr]
      if (typeof v === 'string' && v.length > 0) resourceKube[key] = v
    }
    const node = istioNode(resource['node_name'])
    for (const sl of rl.scopeLogs ?? []) {
      for (const rec of sl.logRecords ?? []) {
        const envelope: Record<string, unknown> = {}
        const l = line(rec)
        if (l !== undefined) envelope['log'] = l
        const kube = { ...resourceKube }
        if ((rec.attributes?.length ?? 0) > 0) {
          const attrs = object(rec.attributes)
          for (const [attr, key] of LABEL_KEYS) {
            const v = attrs[attr]
            if (kube[key] === undefined && typeof v === 'string' && v.length > 0 && v !== '-') kube[key] = v
          }
        }
        if (node !== undefined) {
          kube['pod_name'] ??= node.pod
          kube['namespace_name'] ??= node.namespace
        }
        if (Object.keys(kube).length > 0) envelope['kubernetes'] = kube
        const time = nanosToIso(rec.timeUnixNano) ?? nanosToIso(rec.observedTimeUnixNano)
        if (time !== undefined) envelope['time'] = time
        out.push({ value: JSON.stringify(envelope), coords: { ...base, line: out.length + 1 } })
      }
    }
  }
  return out
}
