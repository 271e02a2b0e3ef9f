/**
 * Detections over one enriched event. Each detector reads the raw envoy.* signals plus what the
 * identity and AU-3 stages wrote (mesh.mtls, audit.au3) and returns zero or more findings. Facts
 * behind each rule: Envoy's response flags and RBAC filter (response_code_details), Istio's cluster
 * names and mTLS SNI (istio/istio pilot/pkg/model), as docs/au3-and-findings.md lists them.
 */
import type { AuditEvent, Finding } from '../generated/types.js'
import type { TransformsConfig } from '../config/transforms.js'
import { ecsTlsVersion, tlsVersionLabel, tlsVersionRank, type EcsTlsVersion } from '../schema/tls-version.js'
import { isFilterChainNotFound, type ClusterInfo } from '../enrich/signals.js'
import { isGateway, str, ztunnelOf, type IdentityContext } from '../enrich/identity.js'
import { parseSanList } from '../enrich/spiffe-id.js'
import { FINDING_CATALOGUE, makeFinding, severityRank, SEVERITY_ORDER, type EventSeverity } from './catalogue.js'

export type Detector = (event: AuditEvent, ctx: IdentityContext, config: TransformsConfig) => readonly Finding[]

// Most detectors find nothing on most events: one shared empty result instead of an array each time.
const NONE: readonly Finding[] = Object.freeze([])

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function flagsOf(event: AuditEvent): readonly unknown[] {
  const f = isRecord(event.envoy) ? event.envoy.response_flags : undefined
  return Array.isArray(f) ? f : []
}

// ztunnel enforces STRICT PeerAuthentication as a DENY policy Istio generates under this name
// (`explicitly denied by: istio-system/istio_converted_static_strict` in its access line).
const ZTUNNEL_STRICT_POLICY = /(?:^|\/)istio_converted_static_strict$/

/** ztunnel's authorization-policy rejection, and the policy it names: src/parse/ztunnel-event.ts wrote them. */
function ztunnelRejection(event: AuditEvent, max: number): { policy?: string; strict: boolean } | undefined {
  const zt = ztunnelOf(event)
  if (zt === undefined || event.event?.action !== 'denied') return undefined
  const policy = str(zt.policy, max)
  return policy === undefined ? { strict: false } : { policy, strict: ZTUNNEL_STRICT_POLICY.test(policy) }
}

const plaintextInbound: Detector = (event, ctx, config) => {
  if (ctx.direction !== 'inbound' || event.mesh?.mtls !== false || isFilterChainNotFound(event)) return NONE
  if (ztunnelRejection(event, config.maxFieldLength)?.strict === true) return NONE
  const what = event.mesh?.reporter === 'ztunnel' ? 'Inbound connection into an ambient pod without HBONE mTLS.' : undefined
  return [makeFinding('plaintext_inbound', what ?? 'Inbound request without mTLS: no peer certificate identity and no Istio mTLS SNI.')]
}

const plaintextRejected: Detector = (event, _ctx, config) => {
  if (ztunnelRejection(event, config.maxFieldLength)?.strict === true)
    return [makeFinding('plaintext_rejected', 'Plaintext connection refused by ztunnel under STRICT mTLS (istio_converted_static_strict).')]
  if (!isFilterChainNotFound(event) || isGateway(event)) return NONE
  return [
    makeFinding('plaintext_rejected', 'Connection matched no filter chain (NR filter_chain_not_found): plaintext refused by STRICT mTLS.'),
  ]
}

// Only a cluster name says Passthrough/BlackHole, and those clusters exist only on the outbound side.
function egress(kind: ClusterInfo['kind'] | undefined): 'passthrough' | 'blackhole' | undefined {
  return kind === 'passthrough' || kind === 'blackhole' ? kind : undefined
}

function destinationText(event: AuditEvent, max: number): string {
  const d = event.mesh?.destination
  const name = str(d?.service, max) ?? str(event.envoy?.requested_server_name, max) ?? str(event.envoy?.authority, max)
  const addr = str(event.envoy?.upstream_host, max) ?? str(event.envoy?.downstream_local_address, max)
  return (
    [name, addr]
      .filter((x) => x !== undefined)
      .join(' at ')
      .slice(0, 300) || 'an unknown destination'
  )
}

const unregisteredEgress: Detector = (event, ctx, config) => {
  if (egress(ctx.cluster?.kind) !== 'passthrough') return NONE
  return [makeFinding('unregistered_egress', `Egress through PassthroughCluster to ${destinationText(event, config.maxFieldLength)}.`)]
}

const egressBlocked: Detector = (event, ctx, config) => {
  if (egress(ctx.cluster?.kind) !== 'blackhole') return NONE
  return [makeFinding('egress_blocked', `Egress to ${destinationText(event, config.maxFieldLength)} blocked by BlackHoleCluster.`)]
}

// Envoy rbac utility.cc responseDetail(): `rbac_access_denied_matched_policy[<id>]`, `none` when no
// policy matched; older Envoy wrote plain `rbac_access_denied`. Spaces in ids become '_'.
const RBAC_DETAIL = /^rbac_access_denied(?:_matched_policy\[(.*)\])?$/
const ISTIO_POLICY_ID = /^ns\[[^\]]*\]-policy\[[^\]]*\]-rule\[[^\]]*\]$/

function rbacPolicy(detail: string | undefined): { denied: boolean; policy?: string } {
  if (detail === undefined || detail.length > 1024) return { denied: false }
  const m = RBAC_DETAIL.exec(detail)
  if (m === null) return { denied: false }
  return m[1] === undefined ? { denied: true } : { denied: true, policy: m[1] }
}

const authzDenied: Detector = (event, _ctx, config) => {
  const max = config.maxFieldLength
  const zt = ztunnelRejection(event, max)
  if (zt !== undefined) {
    if (zt.strict) return NONE
    const which = zt.policy === undefined ? 'no DENY policy named: no ALLOW policy matched' : `explicitly denied by ${zt.policy}`
    return [
      makeFinding('authz_denied', `TCP connection closed by ztunnel authorization policy (${which}).`, {
        ...(zt.policy === undefined ? {} : { severity: 'high' as const, policy: zt.policy }),
      }),
    ]
  }
  const envoy = isRecord(event.envoy) ? event.envoy : undefined
  const status = event.http?.response?.status_code
  const http = rbacPolicy(str(envoy?.response_code_details, max))
  const tcp = rbacPolicy(str(envoy?.connection_termination_details, max))
  // HTTP RBAC always answers 403; on the client side the same request is `403 via_upstream`, which
  // this regex does not match, so only the enforcing proxy's line is a finding.
  const httpDenied = http.denied && (status === 403 || status === undefined)
  if (!httpDenied && !tcp.denied) return NONE
  const policy = (httpDenied ? http.policy : tcp.policy) ?? str(envoy?.rbac_policy, max)
  const named = policy !== undefined && ISTIO_POLICY_ID.test(policy)
  const how = httpDenied ? 'HTTP 403' : 'TCP connection closed'
  const which = policy === undefined ? 'policy not logged' : policy === 'none' ? 'no ALLOW policy matched' : `matched ${policy}`
  return [
    makeFinding('authz_denied', `${how} by Envoy RBAC (${which}).`, {
      ...(named ? { severity: 'high' as const } : {}),
      ...(policy === undefined ? {} : { policy }),
    }),
  ]
}

const extAuthzDenied: Detector = (event) => {
  if (!flagsOf(event).includes('UAEX')) return NONE
  const status = event.http?.response?.status_code
  return [
    makeFinding('ext_authz_denied', `Denied by external authorization (UAEX${typeof status === 'number' ? `, HTTP ${status}` : ''}).`),
  ]
}

const weakTls: Detector = (event, _ctx, config) => {
  const max = config.maxFieldLength
  const tls = isRecord(event.tls) ? event.tls : undefined
  const peer = isRecord(event.envoy) && isRecord(event.envoy.peer) ? event.envoy.peer : undefined
  // tls.version is ECS ("1.2" with tls.version_protocol); events stored before it was may hold Envoy's TLSv1.2.
  const dsVersion = str(tls?.version, max)
  const dsProtocol = str(tls?.version_protocol, max)
  const dsCipher = str(tls?.cipher, max)
  const usVersion = str(peer?.upstream_tls_version, max)
  const usCipher = str(peer?.upstream_tls_cipher, max)
  if (dsVersion === undefined && dsCipher === undefined && usVersion === undefined && usCipher === undefined) return NONE
  // The upstream version is envoy.peer.upstream_tls_version as Envoy logged it (TLSv1.2).
  const hops: [string, EcsTlsVersion | undefined, string | undefined][] = [
    ['downstream', dsVersion === undefined ? undefined : ecsTlsVersion(dsVersion, dsProtocol), dsCipher],
    ['upstream', usVersion === undefined ? undefined : ecsTlsVersion(usVersion), usCipher],
  ]
  const minRank = tlsVersionRank(config.minTlsVersion)
  const reasons: string[] = []
  let versionWeak = false
  for (const [hop, version, cipher] of hops) {
    if (version !== undefined) {
      const r = tlsVersionRank(version)
      if (r !== -1 && r < minRank) {
        versionWeak = true
        reasons.push(`${hop} ${tlsVersionLabel(version)} below the minimum ${tlsVersionLabel(config.minTlsVersion)}`)
      }
    }
    if (cipher !== undefined && !config.fipsCipherSet.has(cipher.trim()))
      reasons.push(`${hop} cipher ${cipher.slice(0, 64)} not FIPS 140 approved`)
  }
  if (reasons.length === 0) return NONE
  return [makeFinding('weak_tls', `Weak TLS: ${reasons.join('; ')}.`, versionWeak ? { severity: 'high' } : undefined)]
}

const foreignTrustDomain: Detector = (_event, ctx, config) => {
  if (ctx.identities.every((id) => config.trustedDomains.has(id.trustDomain))) return NONE
  const foreign = [...new Set(ctx.identities.filter((id) => !config.trustedDomains.has(id.trustDomain)).map((id) => id.trustDomain))]
  const trusted = [...config.trustedDomains].join(', ')
  return [makeFinding('foreign_trust_domain', `Identity from trust domain ${foreign.slice(0, 4).join(', ')} outside ${trusted}.`)]
}

const invalidPeerIdentity: Detector = (event, _ctx, config) => {
  if (isGateway(event)) return NONE
  const peer = isRecord(event.envoy) && isRecord(event.envoy.peer) ? event.envoy.peer : undefined
  const bad: string[] = []
  for (const [hop, value] of [
    ['downstream', peer?.downstream_uri_san],
    ['upstream', peer?.upstream_uri_san],
  ] as const) {
    const list = parseSanList(str(value, config.maxFieldLength))
    const first = list.invalid[0]
    if (list.ids.length === 0 && first !== undefined) bad.push(`${hop} URI SAN is not a SPIFFE ID (${first.error})`)
  }
  return bad.length === 0 ? NONE : [makeFinding('invalid_peer_identity', `${bad.join('; ')}.`)]
}

// BoringSSL error strings as Envoy prints them: `TLS error: <code>:SSL routines:OPENSSL_internal:<REASON>`.
const TLS_FAILURE = /TLS[_ ]error|SSL routines|CERTIFICATE_VERIFY_FAILED|CERTIFICATE_EXPIRED/i

const upstreamTlsFailure: Detector = (event, _ctx, config) => {
  const reason = str(isRecord(event.envoy) ? event.envoy.upstream_transport_failure_reason : undefined, config.maxFieldLength)
  if (reason === undefined || !TLS_FAILURE.test(reason)) return NONE
  return [makeFinding('upstream_tls_failure', `Upstream TLS failed: ${reason.slice(0, 200)}.`)]
}

const au3Incomplete: Detector = (event, _ctx, config) => {
  const au3 = event.audit?.au3
  if (!config.au3Findings || au3 === undefined || au3.complete !== false) return NONE
  const missing = Array.isArray(au3.missing) ? au3.missing.join(', ') : 'unknown'
  return [makeFinding('au3_incomplete', `Audit record lacks AU-3 element(s): ${missing}.`)]
}

/** Every detector, in the order findings are listed on the event. */
export const DETECTORS: readonly (readonly [keyof typeof FINDING_CATALOGUE, Detector])[] = Object.freeze([
  ['plaintext_inbound', plaintextInbound],
  ['plaintext_rejected', plaintextRejected],
  ['unregistered_egress', unregisteredEgress],
  ['egress_blocked', egressBlocked],
  ['authz_denied', authzDenied],
  ['ext_authz_denied', extAuthzDenied],
  ['weak_tls', weakTls],
  ['foreign_trust_domain', foreignTrustDomain],
  ['invalid_peer_identity', invalidPeerIdentity],
  ['upstream_tls_failure', upstreamTlsFailure],
  ['au3_incomplete', au3Incomplete],
] as const)

export function detectFindings(event: AuditEvent, ctx: IdentityContext, config: TransformsConfig): Finding[] {
  const out: Finding[] = []
  for (let i = 0; i < DETECTORS.length; i++) {
    const found = (DETECTORS[i] as (typeof DETECTORS)[number])[1](event, ctx, config)
    for (let j = 0; j < found.length; j++) out.push(found[j] as Finding)
  }
  return out
}

/**
 * Writes findings on the event: keeps findings an earlier stage put there (deduplicated on
 * code+policy), then derives finding_codes, controls and the maximum severity ('none' when empty).
 */
export function applyFindings(event: AuditEvent, findings: readonly Finding[]): void {
  if (!isRecord(event.audit)) (event as { audit: AuditEvent['audit'] }).audit = {}
  const audit = event.audit
  if (findings.length === 0 && (audit.findings === undefined || (Array.isArray(audit.findings) && audit.findings.length === 0))) {
    audit.findings = []
    audit.finding_codes = []
    audit.controls = []
    audit.severity = 'none'
    return
  }
  const existing = Array.isArray(audit.findings) ? audit.findings.filter(isFinding) : []
  const seen = new Set(existing.map((x) => `${x.code}\u0000${x.policy ?? ''}`))
  const all = [...existing]
  for (const x of findings) {
    const key = `${x.code}\u0000${x.policy ?? ''}`
    if (!seen.has(key)) {
      seen.add(key)
      all.push(x)
    }
  }
  audit.findings = all
  audit.finding_codes = [...new Set(all.map((x) => x.code))]
  audit.controls = [...new Set(all.flatMap((x) => x.controls))].sort()
  let max: EventSeverity = 'none'
  for (const x of all) if (severityRank(x.severity) > severityRank(max)) max = x.severity
  audit.severity = SEVERITY_ORDER.includes(max) ? max : 'none'
}

function isFinding(v: unknown): v is Finding {
  return (
    isRecord(v) &&
    typeof v.code === 'string' &&
    typeof v.severity === 'string' &&
    Array.isArray(v.controls) &&
    typeof v.message === 'string'
  )
}
