/**
 * Compiles a rule's detection section into a predicate over canonical events. The subset the rules
 * under detections/sigma use (Sigma specification, Detection and the modifiers appendix):
 *  - a search identifier is a map (its fields joined by AND) or a list of maps (OR);
 *  - a field's list of values is an OR, or an AND with `|all`;
 *  - values: strings with `*`/`?` wildcards and `\` escapes, compared case-insensitively; numbers,
 *    booleans, and null (the field is absent);
 *  - modifiers: contains, startswith, endswith, all, re (JavaScript RegExp, case-sensitive), cidr,
 *    exists, gt, gte, lt, lte;
 *  - `expand`: a `%name%` value is replaced by the named placeholder's list of values (the
 *    specification's placeholders, which backends fill from lists the SOC keeps; here from a baseline,
 *    src/sigma/baseline.ts); a placeholder without a list leaves the rule unevaluated, never guessed;
 *  - an event field holding a list matches when any element does;
 *  - `timeframe` (s, m, h, d) only with an aggregation.
 * Keyword lists (full-text search), other modifiers, placeholders and field names outside RULE_FIELDS
 * are refused with a typed error naming the rule, so a rule never silently means something else here
 * than in the cluster.
 */
import { BlockList, isIP } from 'node:net'
import type { AuditEvent } from '../generated/types.js'
import { EnvoyAuditError } from '../errors.js'
import { compare, parseCondition, type Aggregation, type ConditionNode } from './condition.js'
import { isRuleField, ruleFieldValue, type RuleField } from './fields.js'
import type { SigmaRule } from './rule.js'

export type EventPredicate = (event: AuditEvent) => boolean

export interface CompiledDetection {
  matches: EventPredicate
  aggregation?: Omit<Aggregation, 'field' | 'by'> & { field?: RuleField; by?: RuleField }
  /** Sliding window of the aggregation, milliseconds; undefined aggregates over all events given. */
  timeframeMs?: number
  /** Placeholders (`|expand`) the rule names, and those of them no list was given for. */
  placeholders: string[]
  missing: string[]
}

/** Placeholder name → its values, for `|expand`. */
export type Placeholders = ReadonlyMap<string, readonly string[]>

interface Expansion {
  lists: Placeholders
  used: Set<string>
  missing: Set<string>
}

const MODIFIERS = new Set(['contains', 'startswith', 'endswith', 'all', 're', 'cidr', 'exists', 'gt', 'gte', 'lt', 'lte', 'expand'])
const PLACEHOLDER = /^%([A-Za-z0-9_.-]+)%$/

function unsupported(rule: SigmaRule, message: string): EnvoyAuditError {
  return new EnvoyAuditError('EA_SIGMA_UNSUPPORTED', `${rule.source}: ${message}`)
}

function invalid(rule: SigmaRule, message: string): EnvoyAuditError {
  return new EnvoyAuditError('EA_SIGMA_INVALID', `${rule.source}: ${message}`)
}

function ruleField(rule: SigmaRule, name: string): RuleField {
  if (!isRuleField(name)) throw invalid(rule, `field ${JSON.stringify(name)} is not one of the log type's fields (src/sigma/fields.ts)`)
  return name
}

/** A Sigma string with wildcards as an anchored, case-insensitive RegExp. */
function wildcardRegExp(value: string, prefix: boolean, suffix: boolean): RegExp {
  let out = ''
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!
    if (c === '\\' && i + 1 < value.length && '*?\\'.includes(value[i + 1]!)) {
      out += value[++i]!.replace(/[\\*?]/, (x) => `\\${x}`)
    } else if (c === '*') out += '.*'
    else if (c === '?') out += '.'
    else out += c.replace(/[.+^${}()|[\]\\]/g, '\\$&')
  }
  return new RegExp(`^${prefix ? '.*' : ''}${out}${suffix ? '.*' : ''}$`, 'is')
}

type ValueTest = (v: unknown) => boolean

function scalarTest(rule: SigmaRule, field: string, value: unknown, mods: string[]): ValueTest {
  const has = (m: string): boolean => mods.includes(m)
  if (has('exists')) {
    if (typeof value !== 'boolean') throw invalid(rule, `${field}|exists takes true or false`)
    return () => true // handled by the caller, which sees absence
  }
  for (const op of ['gt', 'gte', 'lt', 'lte'] as const) {
    if (!has(op)) continue
    if (typeof value !== 'number') throw invalid(rule, `${field}|${op} takes a number`)
    const cmp = { gt: '>', gte: '>=', lt: '<', lte: '<=' }[op] as '>' | '>=' | '<' | '<='
    return (v) => typeof v === 'number' && compare(v, cmp, value)
  }
  if (has('re')) {
    if (typeof value !== 'string') throw invalid(rule, `${field}|re takes a string`)
    let re: RegExp
    try {
      re = new RegExp(value)
    } catch (err) {
      throw invalid(rule, `${field}|re: ${err instanceof Error ? err.message : String(err)}`)
    }
    return (v) => typeof v === 'string' && re.test(v)
  }
  if (has('cidr')) {
    if (typeof value !== 'string' || !value.includes('/')) throw invalid(rule, `${field}|cidr takes a network/prefix`)
    const [net, bits] = value.split('/') as [string, string]
    const family = isIP(net)
    if (family === 0 || !/^\d+$/.test(bits)) throw invalid(rule, `${field}|cidr: not a network: ${value}`)
    const list = new BlockList()
    list.addSubnet(net, Number(bits), family === 4 ? 'ipv4' : 'ipv6')
    return (v) => typeof v === 'string' && isIP(v) !== 0 && list.check(v, isIP(v) === 4 ? 'ipv4' : 'ipv6')
  }
  if (value === null) return (v) => v === undefined || v === null
  if (typeof value === 'boolean') return (v) => v === value
  if (typeof value === 'number') return (v) => v === value || (typeof v === 'string' && v === String(value))
  if (typeof value !== 'string') throw invalid(rule, `${field}: a value is a string, number, boolean or null`)
  const re = wildcardRegExp(value, has('contains') || has('endswith'), has('contains') || has('startswith'))
  return (v) => (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') && re.test(String(v))
}

function fieldPredicate(rule: SigmaRule, key: string, raw: unknown, expansion: Expansion): EventPredicate {
  const [name, ...mods] = key.split('|') as [string, ...string[]]
  for (const m of mods) if (!MODIFIERS.has(m)) throw unsupported(rule, `modifier ${JSON.stringify(m)} on ${name}`)
  if (mods.filter((m) => ['contains', 'startswith', 'endswith', 're', 'cidr', 'gt', 'gte', 'lt', 'lte', 'exists'].includes(m)).length > 1)
    throw unsupported(rule, `${key}: more than one value modifier`)
  const field = ruleField(rule, name)
  let values: unknown[] = Array.isArray(raw) ? raw : [raw]
  if (values.length === 0) throw invalid(rule, `${key}: empty value list`)
  if (mods.includes('expand')) {
    if (mods.includes('all') || mods.includes('exists')) throw unsupported(rule, `${key}: expand with all or exists`)
    values = values.flatMap((v) => {
      const m = typeof v === 'string' ? PLACEHOLDER.exec(v) : null
      if (m === null) throw invalid(rule, `${key}: expand takes %placeholder% values`)
      expansion.used.add(m[1]!)
      const list = expansion.lists.get(m[1]!)
      if (list === undefined) expansion.missing.add(m[1]!)
      return list ?? []
    })
    // An empty list matches nothing (no value is in it).
    if (values.length === 0) return () => false
  }
  if (mods.includes('all') && values.length < 2) throw invalid(rule, `${key}: |all needs a list of two or more values`)
  if (mods.includes('exists')) {
    const want = raw === true
    return (e) => {
      const v = ruleFieldValue(e, field)
      return (v !== undefined && v !== null) === want
    }
  }
  const tests = values.map((v) => scalarTest(rule, key, v, mods))
  const elementMatches = (t: ValueTest, v: unknown): boolean => (Array.isArray(v) ? v.some(t) : t(v))
  const nullTest = values.some((v) => v === null)
  return (e) => {
    const v = ruleFieldValue(e, field)
    if (Array.isArray(v) && v.length === 0 && nullTest) return true
    return mods.includes('all') ? tests.every((t) => elementMatches(t, v)) : tests.some((t) => elementMatches(t, v))
  }
}

function searchPredicate(rule: SigmaRule, name: string, body: unknown, expansion: Expansion): EventPredicate {
  if (Array.isArray(body)) {
    if (body.every((b) => b !== null && typeof b === 'object' && !Array.isArray(b))) {
      const alternatives = body.map((b, i) => searchPredicate(rule, `${name}[${i}]`, b, expansion))
      return (e) => alternatives.some((p) => p(e))
    }
    throw unsupported(rule, `search identifier ${name}: keyword lists (full-text search) are not evaluated`)
  }
  if (body === null || typeof body !== 'object') throw invalid(rule, `search identifier ${name} must be a map or a list of maps`)
  const parts = Object.entries(body as Record<string, unknown>).map(([k, v]) => fieldPredicate(rule, k, v, expansion))
  if (parts.length === 0) throw invalid(rule, `search identifier ${name} is empty`)
  return (e) => parts.every((p) => p(e))
}

const DURATION = /^(\d+)(s|m|h|d)$/

function timeframeMs(rule: SigmaRule, value: unknown): number {
  const m = typeof value === 'string' ? DURATION.exec(value) : null
  if (m === null) throw invalid(rule, `timeframe must be a number and s, m, h or d: ${String(value)}`)
  return Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 's' | 'm' | 'h' | 'd']
}

function globRegExp(pattern: string): RegExp {
  return new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\?]/g, '\\$&').replaceAll('*', '.*')}$`)
}

export function compileDetection(rule: SigmaRule, placeholders: Placeholders = new Map()): CompiledDetection {
  const searches = new Map<string, EventPredicate>()
  const expansion: Expansion = { lists: placeholders, used: new Set(), missing: new Set() }
  for (const [name, body] of Object.entries(rule.detection)) {
    if (name === 'condition' || name === 'timeframe') continue
    searches.set(name, searchPredicate(rule, name, body, expansion))
  }
  const used = { placeholders: [...expansion.used].sort(), missing: [...expansion.missing].sort() }
  if (searches.size === 0) throw invalid(rule, 'detection has no search identifier')
  const conditions = Array.isArray(rule.detection.condition) ? rule.detection.condition : [rule.detection.condition]
  if (conditions.length === 0 || conditions.some((c) => typeof c !== 'string'))
    throw invalid(rule, 'condition must be a string or list of strings')
  const parsed = (conditions as string[]).map((c) => parseCondition(c, rule.source))
  const aggregations = parsed.filter((p) => p.aggregation !== undefined)
  if (aggregations.length > 0 && parsed.length > 1) throw unsupported(rule, 'an aggregation in a list of conditions')

  const build = (node: ConditionNode): EventPredicate => {
    switch (node.kind) {
      case 'id': {
        const p = searches.get(node.name)
        if (p === undefined) throw invalid(rule, `condition names ${node.name}, which the detection does not define`)
        return p
      }
      case 'of': {
        const re = globRegExp(node.pattern === 'them' ? '*' : node.pattern)
        const picked = [...searches.entries()].filter(([n]) => re.test(n)).map(([, p]) => p)
        if (picked.length === 0) throw invalid(rule, `${node.pattern} matches no search identifier`)
        return node.quantifier === 'all' ? (e) => picked.every((p) => p(e)) : (e) => picked.some((p) => p(e))
      }
      case 'not': {
        const p = build(node.arg)
        return (e) => !p(e)
      }
      case 'and': {
        const ps = node.args.map(build)
        return (e) => ps.every((p) => p(e))
      }
      case 'or': {
        const ps = node.args.map(build)
        return (e) => ps.some((p) => p(e))
      }
    }
  }
  const predicates = parsed.map((p) => build(p.expr))
  const matches: EventPredicate = predicates.length === 1 ? predicates[0]! : (e) => predicates.some((p) => p(e))
  const agg = aggregations[0]?.aggregation
  if (rule.detection.timeframe !== undefined && agg === undefined) throw unsupported(rule, 'timeframe without an aggregation')
  if (agg === undefined) return { matches, ...used }
  const { field, by, ...rest } = agg
  return {
    matches,
    ...used,
    aggregation: {
      ...rest,
      ...(field !== undefined ? { field: ruleField(rule, field) } : {}),
      ...(by !== undefined ? { by: ruleField(rule, by) } : {}),
    },
    ...(rule.detection.timeframe !== undefined ? { timeframeMs: timeframeMs(rule, rule.detection.timeframe) } : {}),
  }
}
