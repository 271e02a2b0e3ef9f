/**
 * The rules of detections/baseline in Security Analytics. They name placeholder lists (docs/siem.md,
 * "The Sigma subset"), which the plugin cannot fill, so setup learns the lists from the events of the
 * learning window (the `--baseline` before now) and writes them into each rule (expand.ts); the rules
 * run in a detector of their own, `envoy-audit baseline`. A list changes as the mesh does: each setup
 * run learns it again and updates the rule only when it changed, so running setup on a schedule keeps
 * the rules current. A rule whose configured list is not given (no `--sensitive-namespace`) is skipped
 * and said so.
 */
import type { Client } from '@opensearch-project/opensearch'
import { learnBaselineFromOpenSearch } from './baseline-opensearch.js'
import { expandPlaceholders } from '../sigma/expand.js'
import type { LoadedRule } from '../sigma/loader.js'
import type { SetupStep } from './setup.js'

/** The detector group of the baseline rules. */
export const BASELINE_GROUP = 'baseline'

export interface BaselineRulesConfig {
  /** The rule files of detections/baseline, as read (placeholders unexpanded). */
  rules: readonly LoadedRule[]
  /** The events alias the lists are learnt from. */
  eventsIndex: string
  /** The learning window [since, until). */
  since: string
  until: string
  /** Namespaces tagged sensitive; empty: the rules that need them are skipped. */
  sensitiveNamespaces: readonly string[]
}

export async function baselineRules(client: Client, c: BaselineRulesConfig): Promise<{ rules: LoadedRule[]; steps: SetupStep[] }> {
  const learnt = await learnBaselineFromOpenSearch(
    client,
    c.eventsIndex,
    { since: c.since, until: c.until },
    { sensitiveNamespaces: c.sensitiveNamespaces },
  )
  // Configured, not learnt: without namespaces the list is absent, so its rule is skipped, not run over nothing.
  const lists = new Map(learnt)
  if (c.sensitiveNamespaces.length === 0) lists.delete('sensitive_namespaces')
  const rules: LoadedRule[] = []
  const steps: SetupStep[] = []
  for (const rule of c.rules) {
    const expanded = expandPlaceholders({ ...rule, group: BASELINE_GROUP }, lists)
    if (expanded.rule === undefined) {
      steps.push({
        resource: `security analytics rule ${rule.source}`,
        action: 'skipped',
        detail: expanded.missing.includes('sensitive_namespaces')
          ? 'needs --sensitive-namespace'
          : `no list for ${expanded.missing.join(', ')}`,
      })
      continue
    }
    rules.push(expanded.rule)
  }
  return { rules, steps }
}
