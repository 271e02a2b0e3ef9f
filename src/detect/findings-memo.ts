/**
 * The detect stage's work, once per distinct input. The detectors read the identity tuple (whose key
 * the identity memo already built) plus a handful of per-request values: the RBAC details, the TLS
 * parameters, the upstream address, the status code, the AU-3 verdict. The same combination recurs on
 * most lines of a mesh, so the findings and what applyFindings derives from them (codes, controls,
 * severity) are kept per key, frozen, and set on the next event with that key: the same members, in
 * the same order, as the cold computation (test/detect/findings-memo.test.ts).
 *
 * The key extends the identity (by its outcome's id) with every other value a detector reads, each as
 * the detector reads it, as a tuple compared value by value (src/enrich/bounded-cache.ts). An event that already carries findings (a stage
 * before this one wrote some) is computed cold.
 */
import type { AuditEvent, Finding } from '../generated/types.js'
import type { TransformsConfig } from '../config/transforms.js'
import type { IdentityContext } from '../enrich/identity.js'
import { str, ztunnelOf } from '../enrich/identity.js'
import { BoundedCache } from '../enrich/bounded-cache.js'
import { keyFits, type IdentityOutcome } from '../enrich/identity-memo.js'
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

/** The longest key findingsKey writes. */
export const FINDINGS_KEY_PARTS = 20

/**
 * Writes the identity outcome's id and every other value the detectors read into `parts` and returns
 * the key's length, or 0 when the event is not cacheable. The id stands for the whole identity key
 * (one id per cached identity outcome, never reused), so the key stays short.
 */
export function findingsKey(event: AuditEvent, identity: IdentityOutcome, max: number, parts: unknown[]): number {
  const audit = event.audit as unknown
  if (isRecord(audit) && audit.findings !== undefined && !(Array.isArray(audit.findings) && audit.findings.length === 0)) return 0
  const au3 = isRecord(audit) ? audit.au3 : undefined
  // The stage shares one frozen verdict per combination (validate/au3.ts): that object is the key.
  if (au3 !== undefined && !Object.isFrozen(au3)) return 0
  const envoy = isRecord(event.envoy) ? event.envoy : undefined
  const peer = envoy !== undefined && isRecord(envoy.peer) ? envoy.peer : undefined
  const tls = isRecord(event.tls) ? event.tls : undefined
  const mesh = isRecord(event.mesh) ? event.mesh : undefined
  const dest = mesh !== undefined && isRecord(mesh.destination) ? mesh.destination : undefined
  const flags = envoy?.response_flags
  const status = isRecord(event.http) && isRecord(event.http.response) ? event.http.response.status_code : undefined
  const zt = ztunnelOf(event)
  const mtls = mesh?.mtls
  parts[0] = identity.id
  parts[1] = mtls === true || mtls === false || mtls === null ? mtls : undefined
  parts[2] = str(dest?.service, max)
  parts[3] = isRecord(event.event) && event.event.action === 'denied'
  parts[4] = zt === undefined ? undefined : str(zt.policy, max)
  parts[5] = status === undefined || typeof status === 'number' ? status : '?'
  parts[6] = str(envoy?.response_code_details, max)
  parts[7] = str(envoy?.connection_termination_details, max)
  parts[8] = str(envoy?.rbac_policy, max)
  parts[9] = Array.isArray(flags) && flags.includes('UAEX')
  parts[10] = str(tls?.version, max)
  parts[11] = str(tls?.cipher, max)
  parts[12] = str(peer?.upstream_tls_version, max)
  parts[13] = str(peer?.upstream_tls_cipher, max)
  parts[14] = str(envoy?.upstream_transport_failure_reason, max)
  parts[15] = str(envoy?.upstream_host, max)
  parts[16] = str(envoy?.downstream_local_address, max)
  parts[17] = au3
  return keyFits(parts, 18) ? 18 : 0
}

function freezeFinding(f: Finding): Finding {
  Object.freeze(f.controls)
  return Object.freeze(f)
}

// One key at a time per thread: the stages are synchronous, so one scratch array serves every lookup.
const PARTS: unknown[] = new Array(FINDINGS_KEY_PARTS)

/** detectFindings and applyFindings through a cache of outcomes per findings key. */
export function detectMemo(
  event: AuditEvent,
  ctx: IdentityContext,
  identity: IdentityOutcome | undefined,
  config: TransformsConfig,
  cache: BoundedCache<FindingsOutcome>,
): void {
  const n = identity === undefined || cache.maxEntries === 0 ? 0 : findingsKey(event, identity, config.maxFieldLength, PARTS)
  if (n === 0) {
    applyFindings(event, detectFindings(event, ctx, config))
    return
  }
  const hit = cache.get(PARTS, n)
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
  cache.set(PARTS, n, outcome)
  // The event gets the frozen arrays too, so a hit and a miss leave events that behave alike.
  audit.findings = outcome.findings as Finding[]
  audit.finding_codes = outcome.codes as string[]
  audit.controls = outcome.controls as string[]
}
