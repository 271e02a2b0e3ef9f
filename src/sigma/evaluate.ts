/**
 * Runs Sigma rules over canonical events, as `rules test` and the rule tests do. A rule without an
 * aggregation matches event by event. A rule with `| count(...) by g <op> N` groups the matching events
 * by g (events without g are left out, as a terms aggregation leaves out documents without the field),
 * counts events (count()) or distinct values (count(field), as the Sigma 1.0 specification defines it)
 * and, with a timeframe, slides a window of that length over each group in time order: each run of
 * windows that satisfies the comparison is one alert holding the events of those windows.
 */
import type { AuditEvent } from '../generated/types.js'
import { compare } from './condition.js'
import { compileDetection, type CompiledDetection, type Placeholders } from './detection.js'
import { ruleFieldValue, type RuleField } from './fields.js'
import type { SigmaRule } from './rule.js'

export interface RuleMatch {
  events: AuditEvent[]
  /** The value of the group-by field (aggregations only). */
  group?: string
  /** The largest count seen in the alert's windows (aggregations only). */
  count?: number
}

export interface RuleResult {
  rule: SigmaRule
  matches: RuleMatch[]
  /** Events the detection (before any aggregation) selected. */
  selected: number
  /** Why the rule was not evaluated: the placeholder lists it needs and was not given. */
  skipped?: string
}

export interface CompiledRule {
  rule: SigmaRule
  detection: CompiledDetection
}

export function compileRules(rules: readonly SigmaRule[], placeholders?: Placeholders): CompiledRule[] {
  return rules.map((rule) => ({ rule, detection: compileDetection(rule, placeholders) }))
}

function timeOf(e: AuditEvent): number {
  const t = Date.parse(e['@timestamp'])
  return Number.isFinite(t) ? t : 0
}

function keyOf(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined
  if (Array.isArray(v)) return v.length === 0 ? undefined : v.map(String).join(',')
  return String(v)
}

/** Counts what the aggregation counts over a window kept incrementally. */
class WindowCount {
  private events = 0
  private readonly values = new Map<string, number>()
  constructor(private readonly field: RuleField | undefined) {}
  add(e: AuditEvent, sign: 1 | -1): void {
    if (this.field === undefined) {
      this.events += sign
      return
    }
    const v = keyOf(ruleFieldValue(e, this.field))
    if (v === undefined) return
    const n = (this.values.get(v) ?? 0) + sign
    if (n === 0) this.values.delete(v)
    else this.values.set(v, n)
  }
  get value(): number {
    return this.field === undefined ? this.events : this.values.size
  }
}

function aggregate(compiled: CompiledDetection, selected: AuditEvent[]): RuleMatch[] {
  const agg = compiled.aggregation!
  const groups = new Map<string, AuditEvent[]>()
  for (const e of selected) {
    const g = agg.by === undefined ? '' : keyOf(ruleFieldValue(e, agg.by))
    if (g === undefined) continue
    let list = groups.get(g)
    if (list === undefined) groups.set(g, (list = []))
    list.push(e)
  }
  const out: RuleMatch[] = []
  for (const [group, events] of groups) {
    const label = agg.by === undefined ? {} : { group }
    if (compiled.timeframeMs === undefined) {
      const w = new WindowCount(agg.field)
      for (const e of events) w.add(e, 1)
      if (compare(w.value, agg.op, agg.threshold)) out.push({ events, ...label, count: w.value })
      continue
    }
    const w = new WindowCount(agg.field)
    let left = 0
    let current: RuleMatch | undefined
    let currentEnd = -1
    for (let right = 0; right < events.length; right++) {
      w.add(events[right]!, 1)
      while (timeOf(events[right]!) - timeOf(events[left]!) > compiled.timeframeMs) w.add(events[left++]!, -1)
      if (!compare(w.value, agg.op, agg.threshold)) continue
      if (current !== undefined && left <= currentEnd) {
        current.events.push(...events.slice(currentEnd + 1, right + 1))
        current.count = Math.max(current.count ?? 0, w.value)
      } else {
        current = { events: events.slice(left, right + 1), ...label, count: w.value }
        out.push(current)
      }
      currentEnd = right
    }
  }
  return out
}

export function evaluateRules(rules: readonly CompiledRule[], events: readonly AuditEvent[]): RuleResult[] {
  const ordered = [...events].sort((a, b) => timeOf(a) - timeOf(b))
  return rules.map(({ rule, detection }) => {
    if (detection.missing.length > 0)
      return {
        rule,
        matches: [],
        selected: 0,
        skipped: `needs the placeholder list(s) ${detection.missing.map((m) => `%${m}%`).join(', ')}`,
      }
    const selected = ordered.filter(detection.matches)
    const matches = detection.aggregation === undefined ? selected.map((e) => ({ events: [e] })) : aggregate(detection, selected)
    return { rule, matches, selected: selected.length }
  })
}
