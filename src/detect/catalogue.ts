/**
 * The finding catalogue: stable codes (users query and alert on them, so they are never renamed),
 * the NIST 800-53 controls each one is evidence for, and the default severity with its reason.
 * docs/au3-and-findings.md renders this table (renderFindingsMarkdown).
 */
import type { AuditEvent, Finding } from '../generated/types.js'

export type Severity = Finding['severity']
export type EventSeverity = NonNullable<AuditEvent['audit']['severity']>

export interface FindingSpec {
  readonly controls: readonly string[]
  readonly severity: Severity
  readonly title: string
  /** Why this severity: what the line proves and what it does not. */
  readonly rationale: string
  /** What the line looks like in real logs. */
  readonly evidence: string
  /** The mesh refused the request or connection: reports count it as denied, hunt as no step taken. */
  readonly denial?: true
  /** Traffic leaving the mesh to a host outside the registry (the report's egress table). */
  readonly egress?: true
}

export const FINDING_CATALOGUE = {
  plaintext_inbound: {
    controls: ['SC-8'],
    severity: 'high',
    title: 'Plaintext request accepted by a mesh workload',
    rationale:
      'Data crossed the network unprotected and unauthenticated to a mesh workload (PERMISSIVE mode); identity-based policies cannot have matched it.',
    evidence: 'Inbound line (`inbound|port||` cluster) with no peer URI SAN and no Istio `outbound_.PORT_.SUBSET_.FQDN` SNI.',
  },
  plaintext_rejected: {
    controls: ['SC-8'],
    severity: 'low',
    title: 'Plaintext connection refused by STRICT mTLS',
    rationale: 'The control worked; the attempt still names a client that is not using mTLS (misconfigured workload, probe, or scan).',
    evidence: 'Listener line `"- - -" 0 NR filter_chain_not_found` on a sidecar (envoyproxy/ratelimit#296, istio/istio#51982).',
    denial: true,
  },
  unregistered_egress: {
    controls: ['SC-7', 'AC-4'],
    severity: 'medium',
    title: 'Egress to a destination outside the service registry',
    rationale:
      'ALLOW_ANY let traffic leave to a host no ServiceEntry declares: a boundary-protection blind spot, and a possible exfiltration path.',
    evidence: 'Outbound line with cluster `PassthroughCluster`.',
    egress: true,
  },
  egress_blocked: {
    controls: ['SC-7'],
    severity: 'low',
    title: 'Egress to an unregistered destination blocked',
    rationale: 'REGISTRY_ONLY blocked it, so the control worked; repeated attempts are worth a look.',
    evidence: 'Outbound line with cluster `BlackHoleCluster` (text lines also show flag `UH`).',
    denial: true,
    egress: true,
  },
  authz_denied: {
    controls: ['AC-3', 'AC-6'],
    severity: 'medium',
    title: 'Request or connection denied by an AuthorizationPolicy (Envoy RBAC)',
    rationale:
      'medium when no ALLOW policy matched (`none`, implicit deny); high when a named DENY rule matched, which means a request the policy author explicitly forbade was attempted.',
    evidence:
      'HTTP 403 with `rbac_access_denied_matched_policy[...]` in response_code_details, or the same string in connection_termination_details for TCP. RBAC sets no response flag; the client-side line shows only `403 via_upstream` and is not a finding.',
    denial: true,
  },
  ext_authz_denied: {
    controls: ['AC-3'],
    severity: 'medium',
    title: 'Request denied by external authorization (Istio CUSTOM action)',
    rationale: 'An access-control decision denied the request; the external authorizer holds the reason.',
    evidence: 'Response flag `UAEX`.',
    denial: true,
  },
  weak_tls: {
    controls: ['SC-8(1)', 'SC-13'],
    severity: 'medium',
    title: 'TLS below the minimum version or a cipher outside the FIPS 140 approved list',
    rationale:
      'high when the version is below the configured minimum (default TLS 1.2); medium when only the cipher is not FIPS approved (e.g. CHACHA20-POLY1305).',
    evidence:
      '`%DOWNSTREAM_TLS_VERSION%`/`%DOWNSTREAM_TLS_CIPHER%` or the upstream equivalents in a custom format (tls.version and tls.version_protocol as ECS writes them, e.g. 1.2 and tls; tls.cipher; envoy.peer.upstream_tls_* as Envoy logs them).',
  },
  foreign_trust_domain: {
    controls: ['IA-3', 'IA-9'],
    severity: 'high',
    title: 'Peer identity from a trust domain outside the configured trust domain and aliases',
    rationale: 'A workload authenticated with a certificate from another root of trust: federation nobody configured, or a rogue CA.',
    evidence: 'A SPIFFE ID in a peer or local URI SAN whose trust domain is not trustDomain or one of trustDomainAliases.',
  },
  invalid_peer_identity: {
    controls: ['IA-3'],
    severity: 'medium',
    title: 'A mesh peer presented a certificate whose URI SAN is not a valid SPIFFE ID',
    rationale:
      'Inside the mesh every workload certificate carries a SPIFFE ID; a malformed one points at a foreign or hand-made certificate. Not raised at gateways, where external clients may carry any URI SAN.',
    evidence: 'A value in envoy.peer.downstream_uri_san or upstream_uri_san with no entry that passes the SPIFFE ID specification.',
  },
  upstream_tls_failure: {
    controls: ['SC-8', 'IA-3'],
    severity: 'medium',
    title: 'TLS to the upstream failed (certificate verification or handshake)',
    rationale:
      'The proxy refused to talk to a peer it could not authenticate: the control worked, but the cause (expired or foreign certificate, man in the middle, mis-set DestinationRule) needs an owner.',
    evidence:
      '`%UPSTREAM_TRANSPORT_FAILURE_REASON%` such as `TLS error: 268435581:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED` (istio/istio#34920).',
  },
  new_edge: {
    controls: ['AC-4', 'SI-4'],
    severity: 'medium',
    title: 'A source identity called a destination it never called in the learning window',
    rationale:
      'New edges are the strongest lateral-movement signal in east-west traffic; most are deployments, some are an attacker pivoting. Raised by `envoy-audit flows --new-since` and shown by `hunt`, not per record.',
    evidence:
      'An edge (source identity → destination) in the analysis window with no call in the learning window before it (`--baseline`, default 7d).',
  },
  policy_violation: {
    controls: ['AC-3', 'AC-4', 'CM-6'],
    severity: 'high',
    title: 'Observed decision disagrees with the declared Istio policies',
    rationale:
      'high when the logs show a request allowed that the declared policy denies (enforcement gap: policy not applied, PERMISSIVE, missing sidecar; AC-3/AC-4, SC-8 for peer authentication); medium when the logs show a denial the declared policy allows (drift, CM-6). Raised by `envoy-audit policy check`, and live by `run`/`ingest`/`parse` with a policy set (`policy.policies`, `--policies`).',
    evidence:
      'An inbound event evaluated offline against the AuthorizationPolicy/PeerAuthentication set with a different verdict than the one logged.',
  },
  au3_incomplete: {
    controls: ['AU-3'],
    severity: 'low',
    title: 'Audit record does not establish every AU-3 element',
    rationale:
      'The record alone is weaker evidence; usually a log-format gap (identity is not in the Istio default format) rather than an incident.',
    evidence: '`audit.au3.missing` lists the elements.',
  },
} as const satisfies Record<string, FindingSpec>

export type FindingCode = keyof typeof FINDING_CATALOGUE

function codesWith(attribute: 'denial' | 'egress'): readonly FindingCode[] {
  const entries = Object.entries(FINDING_CATALOGUE) as [FindingCode, FindingSpec][]
  return Object.freeze(entries.filter(([, spec]) => spec[attribute] === true).map(([code]) => code))
}

/** Finding codes that mean the mesh refused the call (RBAC, ext_authz, the egress black hole, a STRICT listener). */
export const DENIAL_FINDING_CODES = codesWith('denial')

/** Finding codes of traffic to a host outside the service registry, passed or blocked. */
export const EGRESS_FINDING_CODES = codesWith('egress')

/**
 * Findings that mark traffic as not legitimate, so that nothing learnt from it may allow or normalise it:
 * `policy recommend` does not turn it into ALLOW rules and the `new_edge` baseline does not learn its
 * edges. That is every high or critical finding (foreign trust domain, plaintext accepted, an enforcement
 * gap), a peer certificate that is no valid SPIFFE ID, and every denial.
 */
export const FLAGGED_FINDING_CODES: readonly FindingCode[] = Object.freeze(
  (Object.entries(FINDING_CATALOGUE) as [FindingCode, FindingSpec][])
    .filter(
      ([code, spec]) =>
        spec.severity === 'high' || spec.severity === 'critical' || spec.denial === true || code === 'invalid_peer_identity',
    )
    .map(([code]) => code),
)

/** A finding that makes its event flagged traffic (see FLAGGED_FINDING_CODES); its own severity counts too. */
export function isFlaggedFinding(f: Pick<Finding, 'code' | 'severity'>): boolean {
  return f.severity === 'high' || f.severity === 'critical' || (FLAGGED_FINDING_CODES as readonly string[]).includes(f.code)
}

/**
 * Envoy response flags of a local reply that never reached the application: no route (NR), no healthy
 * upstream (UH), connect failure (UF), overflow (UO), no cluster (NC), retry limit (URX), downstream
 * protocol error (DPE). A call with one of them is no step an attacker took.
 */
export const UNREACHED_RESPONSE_FLAGS: readonly string[] = Object.freeze(['NR', 'UH', 'UF', 'UO', 'NC', 'URX', 'DPE'])

export const SEVERITY_ORDER: readonly EventSeverity[] = ['none', 'info', 'low', 'medium', 'high', 'critical']

export function severityRank(s: string | undefined): number {
  const i = SEVERITY_ORDER.indexOf(s as EventSeverity)
  return i === -1 ? 0 : i
}

export function makeFinding(code: FindingCode, message: string, extra?: { severity?: Severity; policy?: string }): Finding {
  const spec: FindingSpec = FINDING_CATALOGUE[code]
  const out: Finding = { code, severity: extra?.severity ?? spec.severity, controls: [...spec.controls], message }
  if (extra?.policy !== undefined) out.policy = extra.policy
  return out
}

export function renderFindingsMarkdown(): string {
  const lines = ['| code | controls | meaning | severity | seen in logs as |', '|---|---|---|---|---|']
  for (const [code, spec] of Object.entries(FINDING_CATALOGUE) as [string, FindingSpec][]) {
    const cells = [`\`${code}\``, spec.controls.join(', '), spec.title, `**${spec.severity}** (default). ${spec.rationale}`, spec.evidence]
    lines.push(`| ${cells.map(escapeCell).join(' | ')} |`)
  }
  return lines.join('\n') + '\n'
}

/** GitHub tables split on every unescaped '|', even inside code spans. */
function escapeCell(text: string): string {
  return text.replaceAll('|', '\\|')
}
