/**
 * Writes placeholder lists into a rule: `field|expand: '%name%'` becomes `field: [values]`, which any
 * Sigma backend reads, Security Analytics included (it has no placeholder support of its own; pySigma
 * does the same in a processing pipeline). Only the `|expand` keys of the detection change; the rest of
 * the file stays as written. The values are sorted, so the same lists give the same text, and setup
 * updates a deployed rule only when a list changed.
 */
import { isMap, isScalar, isSeq, parseDocument, Scalar, type Document, type YAMLMap } from 'yaml'
import { EnvoyAuditError } from '../errors.js'
import type { Placeholders } from './detection.js'
import type { LoadedRule } from './loader.js'
import { parseSigmaRule } from './rule.js'

/**
 * The value written for a list that is empty (nothing learnt): a Sigma list cannot be empty, and a value
 * no field holds matches nothing, as an empty list does in `rules test`.
 */
export const EMPTY_LIST_VALUE = 'envoy-audit: empty list'

const PLACEHOLDER = /^%([A-Za-z0-9_.-]+)%$/

export interface Expanded {
  /** The rule with its lists written in; absent when a list it names was not given. */
  rule?: LoadedRule
  /** Placeholders the rule names. */
  used: string[]
  /** Those of them no list was given for. */
  missing: string[]
}

function expandMap(doc: Document, map: YAMLMap, lists: Placeholders, used: Set<string>, missing: Set<string>): void {
  for (const pair of map.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : undefined
    if (key === undefined || !key.split('|').slice(1).includes('expand')) continue
    const raw = isSeq(pair.value) ? pair.value.items : [pair.value]
    const values: string[] = []
    for (const item of raw) {
      const m = isScalar(item) && typeof item.value === 'string' ? PLACEHOLDER.exec(item.value) : null
      if (m === null) throw new EnvoyAuditError('EA_SIGMA_INVALID', `${key}: expand takes %placeholder% values`)
      used.add(m[1]!)
      const list = lists.get(m[1]!)
      if (list === undefined) missing.add(m[1]!)
      else values.push(...list)
    }
    const sorted = [...new Set(values)].sort()
    pair.key = new Scalar(
      key
        .split('|')
        .filter((part) => part !== 'expand')
        .join('|'),
    )
    pair.value = doc.createNode(sorted.length === 0 ? [EMPTY_LIST_VALUE] : sorted)
  }
}

export function expandPlaceholders(rule: LoadedRule, lists: Placeholders): Expanded {
  const doc = parseDocument(rule.text)
  const detection = doc.get('detection', true)
  const used = new Set<string>()
  const missing = new Set<string>()
  if (isMap(detection)) {
    for (const pair of detection.items) {
      const selection = pair.value
      if (isMap(selection)) expandMap(doc, selection, lists, used, missing)
      else if (isSeq(selection)) for (const item of selection.items) if (isMap(item)) expandMap(doc, item, lists, used, missing)
    }
  }
  const out: Expanded = { used: [...used].sort(), missing: [...missing].sort() }
  if (missing.size > 0) return out
  const text = used.size === 0 ? rule.text : doc.toString({ lineWidth: 0 })
  out.rule = { ...parseSigmaRule(text, rule.source), group: rule.group }
  return out
}
