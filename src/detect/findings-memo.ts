/**
 * The detect stage's work, once per distinct input. The detectors read the identity tuple (whose key
 * the identity memo already built) plus a handful of per-request values: the RBAC details, the TLS
 * parameters, the upstream address, the status code, the AU-3 verdict. The same combination recurs on
 * most lines of a mesh, so the findings and what applyFindings derives from them (codes, controls,
 * severity) are kept per key, frozen, and set on the next event with that key: the same members, in
 * the same order, as the cold computation (test/detect/findings-memo.test.ts).
 *
 * The key extends the identity (by its outcome's id) with every other value a detector reads, each as the detector reads
 * it, length-prefixed so no two inputs share a key. An event that already carries findings (a stage
 * before this one wrote some) is computed cold.
 */
import type { AuditEvent, Finding } from '../generated/types.js'
import type { TransformsConfig } from '../config/transforms.js'
import type { IdentityContext } from '../enrich/identity.js'
import { str, ztunnelOf } from '../enrich/identity.js'
import { BoundedCache } from '../enrich/bounded-cache.js'
import { MAX_KEY_LENGTH, type IdentityOutcome } from '../enrich/identity-memo.js'
import { applyFindings, detectFindings } from './detectors.js'
import type { EventSeverity } from './catalogue.js'

export interface FindingsOutcome {
  readonly findings: readonly Finding[]
  readonly codes: readonly string[]
  readonly controls: readonly string[]
  readonly severity: EventSeverity
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function part(v: string | undefined): string {
  return v === undefined ? '~' : `${v.length}:${v}`
}

/**
 * The identity outcome's id followed by every other value the detectors read; undefined when not
 * cacheable. The id stands for the whole identity key (one id per cached identity outcome, never
 * reused), so this key stays short.
 */
export function findingsKey(event: AuditEvent, identity: IdentityOutcome, max: number): string | undefined {
  const audit = event.audit as unknown
  if (isRecord(audit) && audit.findings !== undefined && !(Array.isArray(audit.findings) && audit.findings.length === 0)) return undefined
  const envoy = isRecord(event.envoy) ? event.envoy : undefined
  const peer = envoy !== undefined && isRecord(envoy.peer) ? envoy.peer : undefined
  const tls = isRecord(event.tls) ? event.tls : undefined
  const mesh = isRecord(event.mesh) ? event.mesh : undefined
  const dest = mesh !== undefined && isRecord(mesh.destination) ? mesh.destination : undefined
  const flags = envoy?.response_flags
  const status = isRecord(event.http) && isRecord(event.http.response) ? event.http.response.status_code : undefined
  const au3 = isRecord(audit) && isRecord(audit.au3) ? audit.au3 : undefined
  const zt = ztunnelOf(event)
  return (
    identity.id +
    '|' +
    (mesh?.mtls === true ? 'T' : mesh?.mtls === false ? 'F' : mesh?.mtls === null ? 'N' : '~') +
    part(str(dest?.service, max)) +
    (isRecord(event.event) && event.event.action === 'denied' ? 'D' : '-') +
    part(zt === undefined ? undefined : str(zt.policy, max)) +
    (status === undefined ? '~' : typeof status === 'number' ? part(String(status)) : '?') +
    part(str(envoy?.response_code_details, max)) +
    part(str(envoy?.connection_termination_details, max)) +
    part(str(envoy?.rbac_policy, max)) +
    (Array.isArray(flags) && flags.includes('UAEX') ? 'U' : '-') +
    part(str(tls?.version, max)) +
    part(str(tls?.cipher, max)) +
    part(str(peer?.upstream_tls_version, max)) +
    part(str(peer?.upstream_tls_cipher, max)) +
    part(str(envoy?.upstream_transport_failure_reason, max)) +
    part(str(envoy?.upstream_host, max)) +
    part(str(envoy?.downstream_local_address, max)) +
    (au3 === undefined ? '~' : au3.complete !== false ? 'C' : Array.isArray(au3.missing) ? `I${part(au3.missing.join(', '))}` : '?')
  )
}

function freezeFinding(f: Finding): Finding {
  Object.freeze(f.controls)
  return Object.freeze(f)
}

/** detectFindings and applyFindings through a cache of outcomes per findings key. */
export function detectMemo(
  event: AuditEvent,
  ctx: IdentityContext,
  identity: IdentityOutcome | undefined,
  config: TransformsConfig,
  cache: BoundedCache<FindingsOutcome>,
): void {
  const key = identity === undefined || cache.maxEntries === 0 ? undefined : findingsKey(event, identity, config.maxFieldLength)
  if (key === undefined || key.length > MAX_KEY_LENGTH) {
    applyFindings(event, detectFindings(event, ctx, config))
    return
  }
  const hit = cache.get(key)
  if (hit !== undefined) {
    if (!isRecord(event.audit)) (event as { audit: AuditEvent['audit'] }).audit = {}
    const audit = event.audit
    audit.findings = hit.findings as Finding[]
    audit.finding_codes = hit.codes as string[]
    audit.controls = hit.controls as string[]
    audit.severity = hit.severity
    return
  }
  applyFindings(event, detectFindings(event, ctx, config))
  const audit = event.audit
  const outcome: FindingsOutcome = Object.freeze({
    findings: Object.freeze((audit.findings ?? []).map(freezeFinding)),
    codes: Object.freeze([...(audit.finding_codes ?? [])]),
    controls: Object.freeze([...(audit.controls ?? [])]),
    severity: audit.severity ?? 'none',
  })
  cache.set(key, outcome)
  // The event gets the frozen arrays too, so a hit and a miss leave events that behave alike.
  audit.findings = outcome.findings as Finding[]
  audit.finding_codes = outcome.codes as string[]
  audit.controls = outcome.controls as string[]
}
