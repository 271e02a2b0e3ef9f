import { readFileSync } from 'node:fs'
import { describe, expect, test } from 'vitest'
import { createTransformMemo, createTransformStages } from '../../src/compose/transform-stages.js'
import { loadTransformsConfig } from '../../src/config/transforms.js'
import { createParser } from '../../src/parse/index.js'
import { applyStages } from '../../src/pipeline/transforms.js'
import type { AuditEvent } from '../../src/schema/audit-event.js'

const lines = readFileSync(new URL('../fixtures/envoy/mixed-real-world.log', import.meta.url), 'utf8')
  .split('\n')
  .filter((l) => l !== '')

function parsed(): AuditEvent[] {
  return createParser().parseBatch(lines.map((value, i) => ({ value, coords: { kind: 'file', file: 'f.log', line: i + 1 } }))).events
}

describe('findings memo', () => {
  test('repeated lines are served from the memo with the findings the cold computation gives', () => {
    const memo = createTransformMemo(4096)
    const stages = createTransformStages(loadTransformsConfig(), memo)
    const cold = applyStages(createTransformStages(loadTransformsConfig({ memoEntries: 0 })), parsed()).events
    applyStages(stages, parsed())
    const misses = memo.findings.misses
    const warm = applyStages(stages, parsed()).events
    expect(memo.findings.misses).toBe(misses)
    expect(memo.findings.hits).toBeGreaterThanOrEqual(warm.length)
    expect(warm.map((e) => e.audit)).toEqual(cold.map((e) => e.audit))
    // Cached findings are shared, so they are frozen: no event can change another's.
    const withFindings = warm.find((e) => (e.audit.findings ?? []).length > 0)!
    expect(Object.isFrozen(withFindings.audit.findings![0])).toBe(true)
  })

  test('an event that already carries findings is computed cold, and keeps them', () => {
    const memo = createTransformMemo(4096)
    const stages = createTransformStages(loadTransformsConfig(), memo)
    applyStages(stages, parsed())
    const events = parsed()
    const prior = { code: 'policy_violation', severity: 'high' as const, controls: ['AC-3'], message: 'earlier stage' }
    for (const e of events) e.audit.findings = [prior]
    const misses = memo.findings.misses
    const out = applyStages(stages, events).events
    expect(memo.findings.misses).toBe(misses)
    for (const e of out) expect(e.audit.findings![0]).toEqual(prior)
  })
})
