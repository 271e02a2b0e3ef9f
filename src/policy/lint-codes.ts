/**
 * The vocabulary of `policy lint`: its stable codes, severities, finding shape and options, shared by
 * lint.ts (AuthorizationPolicy checks) and lint-authn.ts (authentication checks).
 */
import type { MeshConfig } from './mesh-config.js'
import type { Inventory } from './workload-inventory.js'

export type LintSeverity = 'error' | 'high' | 'medium' | 'low' | 'info'

export interface LintFinding {
  code: string
  name: string
  severity: LintSeverity
  file: string
  object: string
  field: string
  message: string
  fix: string
}

export const LINT_CODES = {
  POL001: 'from-and-to-in-separate-rules',
  POL002: 'mtls-only-field-without-strict-mtls',
  POL003: 'http-only-field-on-tcp',
  POL004: 'negative-match-in-allow',
  POL005: 'deny-exact-path-without-normalization',
  POL006: 'host-match-pitfall',
  POL007: 'selector-matches-no-workload',
  POL008: 'policy-namespace',
  POL009: 'unknown-namespace-reference',
  POL010: 'principal-reference',
  POL011: 'invalid-http-method',
  POL012: 'rejected-by-istio-validation',
  POL013: 'ineffective-target',
  POL014: 'multiple-custom-providers',
  POL015: 'service-port-instead-of-container-port',
  POL016: 'request-principal-wildcard-constrains-sub',
  POL017: 'request-authentication-without-requirement',
  POL018: 'peer-authentication-precedence',
  POL019: 'mtls-mode-conflict',
  POL020: 'schema-error',
} as const

export type LintCode = keyof typeof LINT_CODES

export interface LintOptions {
  mesh: MeshConfig
  inventory?: Inventory
}

export type Emit = (
  code: LintCode,
  severity: LintSeverity,
  o: { file: string; kind: string; namespace: string; name: string },
  field: string,
  message: string,
  fix: string,
) => void
