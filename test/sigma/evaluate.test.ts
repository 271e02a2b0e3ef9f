import { describe, expect, test } from 'vitest'
import type { AuditEvent } from '../../src/generated/types.js'
import { EnvoyAuditError } from '../../src/errors.js'
import { parseSigmaRule } from '../../src/sigma/rule.js'
import { compileRules, evaluateRules } from '../../src/sigma/evaluate.js'
import { makeEvent } from '../detect/fixtures.js'

const HEADER = `title: Test Rule
id: 0c5a3c3e-3b1b-4c1e-9a59-2a1f1f0a7d10
status: test
description: a rule under test
author: tests
date: 2026-12-06
level: medium
logsource:
    product: envoy-audit
`

function rule(detection: string) {
  return parseSigmaRule(`${HEADER}detection:\n${detection}`, 'test.yml')
}

function run(detection: string, events: AuditEvent[]) {
  return evaluateRules(compileRules([rule(detection)]), events)[0]!
}

const at = (minute: number, parts: Parameters<typeof makeEvent>[0]): AuditEvent =>
  makeEvent({ ...parts, '@timestamp': new Date(Date.UTC(2026, 0, 1, 0, 0, minute * 60)).toISOString() })

function errorCode(fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (err) {
    return err instanceof EnvoyAuditError ? err.code : 'not-ours'
  }
  return undefined
}

describe('field matching', () => {
  const events = [
    at(0, { url: { path: '/Admin/Users' }, source: { ip: '10.1.2.3' }, http: { response: { status_code: 403 } } }),
    at(1, { url: { path: '/api/cart' }, source: { ip: '192.0.2.7' }, http: { response: { status_code: 200 } } }),
    at(2, { url: { path: '/admin*literal' }, envoy: { format: 'x', response_flags: ['UH', 'UAEX'] } }),
  ]
  const ids = (r: ReturnType<typeof run>) => r.matches.map((m) => events.indexOf(m.events[0]!))

  test('plain strings are case-insensitive and anchored; wildcards and escapes', () => {
    expect(ids(run('    s:\n        url_path: /admin/users\n    condition: s', events))).toEqual([0])
    expect(ids(run('    s:\n        url_path: /admin\n    condition: s', events))).toEqual([])
    expect(ids(run("    s:\n        url_path: '/a*'\n    condition: s", events))).toEqual([0, 1, 2])
    expect(ids(run("    s:\n        url_path: '/admin\\*literal'\n    condition: s", events))).toEqual([2])
    expect(ids(run("    s:\n        url_path: '/api/car?'\n    condition: s", events))).toEqual([1])
  })

  test('contains, startswith, endswith, all, re, cidr, numbers, lists in events', () => {
    expect(ids(run('    s:\n        url_path|contains: USERS\n    condition: s', events))).toEqual([0])
    expect(ids(run('    s:\n        url_path|startswith: /api\n    condition: s', events))).toEqual([1])
    expect(ids(run('    s:\n        url_path|endswith: cart\n    condition: s', events))).toEqual([1])
    expect(ids(run('    s:\n        url_path|contains|all: [admin, users]\n    condition: s', events))).toEqual([0])
    expect(ids(run('    s:\n        url_path|contains: [admin, users]\n    condition: s', events))).toEqual([0, 2])
    expect(ids(run("    s:\n        url_path|re: '^/[A-Z]'\n    condition: s", events))).toEqual([0])
    expect(ids(run('    s:\n        src_ip|cidr: 10.0.0.0/8\n    condition: s', events))).toEqual([0])
    expect(ids(run('    s:\n        http_status: 403\n    condition: s', events))).toEqual([0])
    expect(ids(run('    s:\n        http_status|gte: 300\n    condition: s', events))).toEqual([0])
    expect(ids(run('    s:\n        response_flags: UAEX\n    condition: s', events))).toEqual([2])
    expect(ids(run('    s:\n        http_status: null\n    condition: s', events))).toEqual([2])
    expect(ids(run('    s:\n        http_status|exists: true\n    condition: s', events))).toEqual([0, 1])
  })

  test('conditions: and, or, not, brackets, 1 of / all of patterns and them', () => {
    const d = (cond: string) =>
      [
        '    sel_a:\n        url_path|startswith: /a',
        '    sel_b:\n        http_status: 403',
        '    filter:\n        src_ip: 192.0.2.7',
        `    condition: ${cond}`,
      ].join('\n')
    expect(ids(run(d('sel_a and not filter'), events))).toEqual([0, 2])
    expect(ids(run(d('all of sel_* and not filter'), events))).toEqual([0])
    expect(ids(run(d('1 of sel_*'), events))).toEqual([0, 1, 2])
    expect(ids(run(d('not (sel_b or filter)'), events))).toEqual([2])
    expect(ids(run(d('all of them'), events))).toEqual([])
    expect(ids(run(d('sel_b or filter and sel_a'), events))).toEqual([0, 1])
  })
})

describe('aggregations', () => {
  const denial = (minute: number, src: string, dst: string) =>
    at(minute, { audit: { finding_codes: ['authz_denied'] }, mesh: { source: { spiffe_id: src }, destination: { service: dst } } })
  const detection = (tf: string) =>
    `    denied:\n        finding_code: authz_denied\n    condition: denied | count(dst_service) by src_spiffe_id > 2\n    timeframe: ${tf}`

  test('count(field) counts distinct values per group inside the window', () => {
    const events = [
      denial(0, 'a', 'x'),
      denial(1, 'a', 'y'),
      denial(2, 'a', 'y'),
      denial(3, 'a', 'z'),
      denial(0, 'b', 'x'),
      denial(1, 'b', 'x'),
      denial(2, 'b', 'x'),
      denial(3, 'b', 'x'),
    ]
    const r = run(detection('5m'), events)
    expect(r.matches).toHaveLength(1)
    expect(r.matches[0]!.group).toBe('a')
    expect(r.matches[0]!.count).toBe(3)
    expect(r.matches[0]!.events).toHaveLength(4)
  })

  test('values further apart than the timeframe do not add up; without timeframe they do', () => {
    const events = [denial(0, 'a', 'x'), denial(6, 'a', 'y'), denial(12, 'a', 'z')]
    expect(run(detection('5m'), events).matches).toHaveLength(0)
    expect(run(detection('13m'), events).matches).toHaveLength(1)
    expect(
      run('    denied:\n        finding_code: authz_denied\n    condition: denied | count(dst_service) by src_spiffe_id > 2', events)
        .matches,
    ).toHaveLength(1)
  })

  test('count() counts events; one alert per run of satisfying windows', () => {
    const events = [0, 1, 2, 30, 31, 32].map((m) => denial(m, 'a', 'x'))
    const r = run(
      '    denied:\n        finding_code: authz_denied\n    condition: denied | count() by src_spiffe_id >= 3\n    timeframe: 5m',
      events,
    )
    expect(r.matches.map((m) => m.events.length)).toEqual([3, 3])
  })
})

describe('placeholders (|expand)', () => {
  const events = [at(0, { url: { path: '/a' } }), at(1, { url: { path: '/b' } }), at(2, { url: { path: '/c' } })]
  const det = "    s:\n        url_path|expand: '%paths%'\n    condition: not s"
  const paths = (r: ReturnType<typeof evaluateRules>[number]) => r.matches.map((m) => m.events[0]!.url?.path)

  test('a placeholder is replaced by its list; an empty list matches nothing', () => {
    expect(paths(evaluateRules(compileRules([rule(det)], new Map([['paths', ['/A', '/b']]])), events)[0]!)).toEqual(['/c'])
    expect(paths(evaluateRules(compileRules([rule(det)], new Map([['paths', []]])), events)[0]!)).toEqual(['/a', '/b', '/c'])
  })

  test('without its list the rule is not evaluated and says which list it needs', () => {
    const r = evaluateRules(compileRules([rule(det)]), events)[0]!
    expect([r.matches, r.skipped]).toEqual([[], 'needs the placeholder list(s) %paths%'])
  })

  test('expand takes %name% values only', () => {
    expect(errorCode(() => compileRules([rule("    s:\n        url_path|expand: '/a'\n    condition: s")]))).toBe('EA_SIGMA_INVALID')
  })
})

describe('typed errors for what is outside the subset', () => {
  test.each([
    ['keyword lists', '    keywords:\n        - evil\n    condition: keywords'],
    ['an unknown modifier', '    s:\n        url_path|base64: x\n    condition: s'],
    ['a near aggregation', '    s:\n        url_path: x\n    condition: near s'],
    ['sum()', '    s:\n        url_path: x\n    condition: s | sum(http_status) > 3'],
    ['timeframe without aggregation', '    s:\n        url_path: x\n    condition: s\n    timeframe: 5m'],
    ['a second pipe', '    s:\n        url_path: x\n    condition: s | count() > 1 | count() > 2'],
  ])('%s → EA_SIGMA_UNSUPPORTED', (_what, detection) => {
    expect(errorCode(() => compileRules([rule(detection)]))).toBe('EA_SIGMA_UNSUPPORTED')
  })

  test.each([
    ['a field outside the log type', '    s:\n        CommandLine: x\n    condition: s'],
    ['a condition naming an undefined identifier', '    s:\n        url_path: x\n    condition: t'],
    ['|all on one value', '    s:\n        url_path|all: x\n    condition: s'],
    ['a bad regular expression', "    s:\n        url_path|re: '('\n    condition: s"],
  ])('%s → EA_SIGMA_INVALID', (_what, detection) => {
    expect(errorCode(() => compileRules([rule(detection)]))).toBe('EA_SIGMA_INVALID')
  })

  test('metadata: missing required fields, bad id, level, date, tags', () => {
    const without = (key: string) =>
      HEADER.split('\n')
        .filter((l) => !l.startsWith(`${key}:`))
        .join('\n')
    const det = 'detection:\n    s:\n        url_path: x\n    condition: s\n'
    for (const key of ['title', 'id', 'status', 'description', 'author', 'date', 'level'])
      expect(
        errorCode(() => parseSigmaRule(without(key) + det, 'r.yml')),
        key,
      ).toBe('EA_SIGMA_INVALID')
    expect(errorCode(() => parseSigmaRule(HEADER.replace(/^id: .*$/m, 'id: 42') + det, 'r.yml'))).toBe('EA_SIGMA_INVALID')
    expect(errorCode(() => parseSigmaRule(HEADER.replace('level: medium', 'level: severe') + det, 'r.yml'))).toBe('EA_SIGMA_INVALID')
    expect(errorCode(() => parseSigmaRule(HEADER + 'tags:\n    - Attack T1046\n' + det, 'r.yml'))).toBe('EA_SIGMA_INVALID')
    expect(errorCode(() => parseSigmaRule(HEADER.replace(/logsource:\n.*\n/, ''), 'r.yml'))).toBe('EA_SIGMA_INVALID')
    expect(errorCode(() => parseSigmaRule(HEADER + det, 'r.yml'))).toBeUndefined()
  })
})
