/**
 * Which findings become alerts: a deterministic function of (events, state, now, config) with no I/O,
 * no clock and no randomness, so the policy is testable without sockets and the same code runs
 * whatever the outputs are. Delivery lives in webhook.ts and kafka-output.ts.
 */
import { createHash } from 'node:crypto'
import type { AuditEvent, Finding } from '../generated/types.js'
import { ALERT_SEVERITIES, type AlertingConfig, type AlertSeverity } from './config.js'

/** The JSON document an alert output delivers (webhook body, Kafka message value). */
export interface Alert {
  schema: 'envoy-audit.alert/v1'
  /** hash(code, source identity, destination, time bucket): equal for duplicates across replicas and replays. */
  dedupe_key: string
  '@timestamp': string
  finding: Finding
  event_id: string
  source: { identity: string; spiffe_id?: string; ip?: string; namespace?: string }
  destination: { name: string; namespace?: string; port?: number }
  kubernetes_namespace?: string
  http_status?: number
  upstream_cluster?: string
  /** Alerts for this (finding, source, destination) the rate limiter held back since the last one sent. */
  suppressed_before: number
}

interface BucketState {
  tokens: number
  /** Wall-clock ms of the last refill. */
  at: number
  suppressed: number
}

/**
 * Limiter and dedupe memory, owned by the caller and updated in place by selectAlerts (copying up to
 * 2 x maxKeys entries per batch cost 4x throughput at 50k keys). Maps keep insertion order, which is
 * what the size bound evicts by (least recently used first).
 */
export interface AlertState {
  readonly buckets: Map<string, BucketState>
  /** Dedupe key → wall-clock ms after which it may be forgotten. */
  readonly seen: Map<string, number>
}

export interface SelectStats {
  findings: number
  belowSeverity: number
  notSelectedCode: number
  duplicate: number
  rateLimited: number
  evicted: number
}

export interface SelectResult {
  alerts: Alert[]
  state: AlertState
  stats: SelectStats
}

export type SelectConfig = Pick<AlertingConfig, 'minSeverity' | 'codes' | 'dedupeWindowSeconds' | 'rateLimit'>

export function emptyAlertState(): AlertState {
  return { buckets: new Map(), seen: new Map() }
}

/** A deep copy, for callers that need to keep a state as it was (tests, what-if evaluation). */
export function cloneAlertState(state: AlertState): AlertState {
  return {
    buckets: new Map([...state.buckets].map(([k, b]) => [k, { ...b }])),
    seen: new Map(state.seen),
  }
}

const RANK: Readonly<Record<AlertSeverity, number>> = Object.freeze(
  Object.fromEntries(ALERT_SEVERITIES.map((s, i) => [s, i])) as Record<AlertSeverity, number>,
)

/** Who sent it: the cryptographic identity when there is one, because IPs are reused by pods. */
export function sourceIdentity(e: AuditEvent): string {
  const s = e.mesh?.source
  if (s?.spiffe_id !== undefined && s.spiffe_id !== '') return s.spiffe_id
  if (s?.namespace !== undefined && s.service_account !== undefined) return `${s.namespace}/${s.service_account}`
  if (e.source?.ip !== undefined) return e.source.ip
  if (e.source?.address !== undefined) return e.source.address
  return 'unknown'
}

/** Where it went: service, then external host names (egress), then address, then the Envoy cluster. */
export function destinationName(e: AuditEvent): string {
  return (
    e.mesh?.destination?.service ??
    e.destination?.domain ??
    e.url?.domain ??
    e.mesh?.destination?.spiffe_id ??
    e.destination?.address ??
    e.destination?.ip ??
    e.mesh?.upstream_cluster ??
    'unknown'
  )
}

export function dedupeKey(code: string, source: string, destination: string, bucket: number): string {
  // NUL separators: no field value can forge a boundary (they are not valid in any of these fields).
  return createHash('sha256').update(`${code}\0${source}\0${destination}\0${bucket}`).digest('base64url').slice(0, 32)
}

function eventTimeMs(e: AuditEvent, now: number): number {
  const t = Date.parse(e['@timestamp'])
  return Number.isFinite(t) ? t : now
}

function buildAlert(e: AuditEvent, f: Finding, key: string, src: string, dst: string, suppressed: number): Alert {
  const a: Alert = {
    schema: 'envoy-audit.alert/v1',
    dedupe_key: key,
    '@timestamp': e['@timestamp'],
    finding: { code: f.code, severity: f.severity, controls: [...f.controls], message: f.message },
    event_id: e.event.id,
    source: { identity: src },
    destination: { name: dst },
    suppressed_before: suppressed,
  }
  if (f.policy !== undefined) a.finding.policy = f.policy
  if (e.mesh?.source?.spiffe_id !== undefined) a.source.spiffe_id = e.mesh.source.spiffe_id
  if (e.source?.ip !== undefined) a.source.ip = e.source.ip
  if (e.mesh?.source?.namespace !== undefined) a.source.namespace = e.mesh.source.namespace
  if (e.mesh?.destination?.namespace !== undefined) a.destination.namespace = e.mesh.destination.namespace
  const port = e.mesh?.destination?.port ?? e.destination?.port
  if (port !== undefined) a.destination.port = port
  if (e.kubernetes?.namespace !== undefined) a.kubernetes_namespace = e.kubernetes.namespace
  if (e.http?.response?.status_code !== undefined) a.http_status = e.http.response.status_code
  if (e.mesh?.upstream_cluster !== undefined) a.upstream_cluster = e.mesh.upstream_cluster
  return a
}

/**
 * Picks the alerts for one batch. A finding alerts when its severity reaches minSeverity, its code is
 * selected, its dedupe key has not been seen, and the token bucket of its (code, source, destination)
 * has a token. Tokens refill on wall-clock `now`, not event time: a replay of old logs must not be
 * able to refill a bucket by jumping timestamps.
 */
export function selectAlerts(events: readonly AuditEvent[], state: AlertState, now: number, config: SelectConfig): SelectResult {
  const { buckets, seen } = state
  const stats: SelectStats = { findings: 0, belowSeverity: 0, notSelectedCode: 0, duplicate: 0, rateLimited: 0, evicted: 0 }
  const alerts: Alert[] = []
  const minRank = RANK[config.minSeverity]
  const codes = config.codes.length > 0 ? new Set(config.codes) : undefined
  const windowMs = config.dedupeWindowSeconds * 1000
  const perMs = config.rateLimit.perMinute / 60_000
  const burst = config.rateLimit.burst

  // Forget dedupe keys past their window (wall clock); keys are appended in time order, so stop early.
  for (const [k, until] of seen) {
    if (until > now) break
    seen.delete(k)
  }

  for (const e of events) {
    const findings = e.audit?.findings
    if (findings === undefined || findings.length === 0) continue
    let src: string | undefined
    let dst: string | undefined
    for (const f of findings) {
      stats.findings++
      const rank = RANK[f.severity as AlertSeverity]
      if (rank === undefined || rank < minRank) {
        stats.belowSeverity++
        continue
      }
      if (codes !== undefined && !codes.has(f.code)) {
        stats.notSelectedCode++
        continue
      }
      src ??= sourceIdentity(e)
      dst ??= destinationName(e)
      const key = dedupeKey(f.code, src, dst, Math.floor(eventTimeMs(e, now) / windowMs))
      if (seen.has(key)) {
        stats.duplicate++
        continue
      }
      const limiterKey = `${f.code}\0${src}\0${dst}`
      const prev = buckets.get(limiterKey)
      const elapsed = prev === undefined ? 0 : Math.max(0, now - prev.at)
      const tokens = prev === undefined ? burst : Math.min(burst, prev.tokens + elapsed * perMs)
      const suppressed = prev?.suppressed ?? 0
      buckets.delete(limiterKey) // re-insert: most recently used moves to the end
      if (tokens < 1) {
        stats.rateLimited++
        buckets.set(limiterKey, { tokens, at: now, suppressed: suppressed + 1 })
        continue
      }
      buckets.set(limiterKey, { tokens: tokens - 1, at: now, suppressed: 0 })
      seen.set(key, now + 2 * windowMs)
      alerts.push(buildAlert(e, f, key, src, dst, suppressed))
    }
  }

  const max = config.rateLimit.maxKeys
  for (const map of [buckets, seen] as Map<string, unknown>[]) {
    for (const k of map.keys()) {
      if (map.size <= max) break
      map.delete(k)
      stats.evicted++
    }
  }
  return { alerts, state, stats }
}
