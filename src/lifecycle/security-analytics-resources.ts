/**
 * What `setup --with-security-analytics` installs, as request bodies of the Security Analytics plugin's
 * REST API (docs.opensearch.org, security-analytics/api-tools: log type, mappings, rule, detector and
 * correlation engine APIs): the custom log type, its field mappings (alias fields from the rules' names
 * to the canonical event's), one detector per rule group, and the correlation rules that join
 * envoy-audit's findings with the VPC flow and CloudTrail findings of the same cluster.
 */
import { RULE_FIELDS } from '../sigma/fields.js'
import type { LoadedRule } from '../sigma/loader.js'
import type { BaselineRulesConfig } from './security-analytics-baseline.js'

export interface SecurityAnalyticsConfig {
  /** The custom log type (and detector_type, rule category); a–z, 0–9, - and _ only. */
  logType: string
  /** The index pattern the detectors read and the field mappings apply to (the events alias's period indices). */
  eventsIndexPattern: string
  rules: readonly LoadedRule[]
  /** Minutes between detector runs. */
  intervalMinutes: number
  /** Index patterns of the other log types to correlate with; a pattern that matches no index is skipped. */
  vpcFlowIndexPattern: string
  cloudTrailIndexPattern: string
  /** Milliseconds within which correlated findings must fall. */
  correlationWindowMs: number
  /**
   * Apply the field mappings even when every events index has them: set when this setup run replaced the
   * events index template, which drops the component template the plugin composes into it (so that
   * indices created later get the alias fields too).
   */
  reapplyMappings?: boolean
  /** The rules of detections/baseline and where to learn their lists; absent: not installed. */
  baseline?: BaselineRulesConfig
}

export const SECURITY_ANALYTICS_DEFAULTS = {
  logType: 'envoy-audit',
  intervalMinutes: 5,
  vpcFlowIndexPattern: 'vpc-flow*',
  cloudTrailIndexPattern: 'cloudtrail*',
  correlationWindowMs: 10 * 60_000,
} as const

export const LOG_TYPE_DESCRIPTION =
  'envoy-audit canonical events (Envoy/Istio access logs with SPIFFE identities, AU-3 and finding codes); rules in detections/sigma'

export function logTypeBody(c: SecurityAnalyticsConfig): Record<string, unknown> {
  // `category` is read by plugin versions that group custom log types (2.11 and later) and ignored before.
  return { name: c.logType, description: LOG_TYPE_DESCRIPTION, source: 'Custom', category: 'Network Activity' }
}

/** Alias fields: each rule field name points at the canonical event field that holds it. */
export function aliasMappings(): Record<string, { type: 'alias'; path: string }> {
  const out: Record<string, { type: 'alias'; path: string }> = {}
  for (const [name, path] of Object.entries(RULE_FIELDS)) out[name] = { type: 'alias', path }
  return out
}

export function mappingsBody(c: SecurityAnalyticsConfig): Record<string, unknown> {
  return { index_name: c.eventsIndexPattern, rule_topic: c.logType, partial: true, alias_mappings: { properties: aliasMappings() } }
}

export const detectorName = (group: string): string => `envoy-audit ${group}`

export function ruleGroups(rules: readonly LoadedRule[]): Map<string, LoadedRule[]> {
  const groups = new Map<string, LoadedRule[]>()
  for (const r of rules) {
    const list = groups.get(r.group) ?? []
    list.push(r)
    groups.set(r.group, list)
  }
  return groups
}

/** A detector over the events pattern with the group's rules (by their ids in the cluster) and one trigger. */
export function detectorBody(c: SecurityAnalyticsConfig, group: string, ruleDocIds: readonly string[]): Record<string, unknown> {
  return {
    type: 'detector',
    name: detectorName(group),
    detector_type: c.logType,
    enabled: true,
    schedule: { period: { interval: c.intervalMinutes, unit: 'MINUTES' } },
    inputs: [
      {
        detector_input: {
          description:
            group === 'baseline'
              ? 'envoy-audit baseline rules (detections/baseline, lists learnt from the events by setup)'
              : `envoy-audit ${group} rules (detections/sigma/${group})`,
          indices: [c.eventsIndexPattern],
          custom_rules: ruleDocIds.map((id) => ({ id })),
          pre_packaged_rules: [],
        },
      },
    ],
    // Alerts for high and critical rules; lower levels stay findings the SOC reviews (Sigma, Level).
    triggers: [
      {
        id: `envoy-audit-${group}-high`,
        name: `envoy-audit ${group} high`,
        severity: '2',
        types: [c.logType],
        ids: [],
        sev_levels: ['high', 'critical'],
        tags: [],
        actions: [],
      },
    ],
  }
}

export interface CorrelationDefinition {
  name: string
  /** The other log type's index pattern, which must match an index for the rule to be created. */
  otherIndexPattern: string
  body: Record<string, unknown>
}

/**
 * Findings of the two log types that fall within the window are correlated (the correlation engine
 * links findings, each side filtered by its query). The queries use the rule field names, which the
 * field mappings make real fields of the events indices.
 */
export function correlationDefinitions(c: SecurityAnalyticsConfig): CorrelationDefinition[] {
  const envoy = (query: string) => ({ index: c.eventsIndexPattern, category: c.logType, query })
  const rule = (name: string, other: { index: string; category: string; query: string }, envoyQuery: string): CorrelationDefinition => ({
    name,
    otherIndexPattern: other.index,
    body: { name, correlate: [envoy(envoyQuery), other], time_window: c.correlationWindowMs },
  })
  return [
    rule(
      'envoy-audit egress leaving the VPC',
      { index: c.vpcFlowIndexPattern, category: 'vpcflow', query: 'action:ACCEPT' },
      'finding_code:unregistered_egress OR finding_code:egress_blocked',
    ),
    rule(
      'envoy-audit foreign identity and AWS role use',
      { index: c.cloudTrailIndexPattern, category: 'cloudtrail', query: 'eventSource:sts.amazonaws.com' },
      'finding_code:foreign_trust_domain OR finding_code:invalid_peer_identity',
    ),
    rule(
      'envoy-audit mesh denials and AWS access denied',
      { index: c.cloudTrailIndexPattern, category: 'cloudtrail', query: 'errorCode:AccessDenied' },
      'finding_code:authz_denied OR finding_code:ext_authz_denied',
    ),
  ]
}
