import { describe, expect, test } from 'vitest'
import { EMPTY_LIST_VALUE, expandPlaceholders } from '../../src/sigma/expand.js'
import { baselineRulesDir, loadSigmaRules } from '../../src/sigma/loader.js'
import { compileRules, evaluateRules } from '../../src/sigma/evaluate.js'
import { at, callLines, MESH, spiffe, toEvents } from '../hunt/scenario.js'

const rules = loadSigmaRules(baselineRulesDir())
const rule = (file: string) => rules.find((r) => r.source === file)!
const NEW_CALLER = 'new_edge_into_sensitive_namespace.yml'

describe('expandPlaceholders: lists written into the rule for backends without placeholders', () => {
  test('each |expand key becomes a plain field with the sorted list; the rest of the rule is kept', () => {
    const lists = new Map([
      ['sensitive_namespaces', ['payments']],
      ['sensitive_namespace_callers', ['spiffe://b', 'spiffe://a', 'spiffe://a']],
    ])
    const out = expandPlaceholders(rule(NEW_CALLER), lists)
    expect([out.used, out.missing]).toEqual([['sensitive_namespace_callers', 'sensitive_namespaces'], []])
    const r = out.rule!
    expect(r.text).not.toContain('|expand')
    expect(r.detection).toEqual({
      into_sensitive: { reporter: 'destination', event_outcome: 'success', 'src_spiffe_id|exists': true, dst_namespace: ['payments'] },
      known_caller: { src_spiffe_id: ['spiffe://a', 'spiffe://b'] },
      condition: 'into_sensitive and not known_caller',
    })
    expect([r.id, r.title, r.level, r.tags, r.group]).toEqual([
      rule(NEW_CALLER).id,
      rule(NEW_CALLER).title,
      'high',
      rule(NEW_CALLER).tags,
      r.group,
    ])
    // Same lists, same text: what makes a second setup run 'unchanged'.
    expect(expandPlaceholders(rule(NEW_CALLER), new Map([...lists].reverse())).rule!.text).toBe(r.text)
  })

  test('the expanded rule selects what the placeholder rule selects with the same lists', () => {
    const { frontend, cart, payments } = MESH
    const lists = new Map([
      ['sensitive_namespaces', ['payments']],
      ['sensitive_namespace_callers', [spiffe(cart)]],
    ])
    const events = toEvents([...callLines(cart, payments, at(1)), ...callLines(frontend, payments, at(2))])
    const ids = (r: ReturnType<typeof evaluateRules>[number]) => r.matches.flatMap((m) => m.events.map((e) => e.event.id))
    const [withLists] = evaluateRules(compileRules([rule(NEW_CALLER)], lists), events)
    const [expanded] = evaluateRules(compileRules([expandPlaceholders(rule(NEW_CALLER), lists).rule!]), events)
    expect(ids(expanded!)).toEqual(ids(withLists!))
    expect(ids(expanded!)).toHaveLength(1)
  })

  test('an empty list is one value no event holds; a list not given leaves the rule out', () => {
    const egress = expandPlaceholders(rule('first_egress_from_workload.yml'), new Map([['egress_sources', []]]))
    expect(egress.rule!.detection.known_source).toEqual({ src_workload: [EMPTY_LIST_VALUE] })
    const missing = expandPlaceholders(rule(NEW_CALLER), new Map([['sensitive_namespace_callers', []]]))
    expect([missing.rule, missing.missing]).toEqual([undefined, ['sensitive_namespaces']])
  })
})
