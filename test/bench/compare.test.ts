import { describe, expect, test } from 'vitest'
import { compareSummaries, numericFields, pairs, parseHistory, type Summary } from './compare.js'

// Shapes as the benches print them (test/bench/util.ts emit): nested numbers, context fields.
const run = (commit: string, eventsPerSec: number, parse: number, load = 1): Summary => ({
  bench: 'transform-core',
  records: 100000,
  pipelineEventsPerSec: eventsPerSec,
  target: 0.6,
  usPerRecord: { parse, bulk: 10 },
  commit,
  loadAverage: load,
  node: 'v20',
  at: `2026-11-23T18:0${commit.length}:00Z`,
})

describe('bench history comparison', () => {
  test('numeric leaves are flattened by path; context fields and non-numbers are left out', () => {
    expect([...numericFields(run('abc', 12000, 13.5))]).toEqual([
      ['records', 100000],
      ['pipelineEventsPerSec', 12000],
      ['usPerRecord.parse', 13.5],
      ['usPerRecord.bulk', 10],
    ])
  })

  test('after/before per shared field', () => {
    const rows = compareSummaries(run('a', 10000, 20), { ...run('b', 15000, 10), extra: 1 })
    expect(rows.find((r) => r.field === 'pipelineEventsPerSec')).toEqual({
      field: 'pipelineEventsPerSec',
      before: 10000,
      after: 15000,
      ratio: 1.5,
    })
    expect(rows.find((r) => r.field === 'usPerRecord.parse')!.ratio).toBe(0.5)
    expect(rows.some((r) => r.field === 'extra')).toBe(false)
  })

  test('pairs: newest against the one before, or against a base commit; benches with one run are skipped', () => {
    const history = [run('c1', 1, 1), run('c2', 2, 2), { bench: 'memory', peakRssMb: 280 }, run('c3', 3, 3)]
    const latest = pairs(history)
    expect([...latest.keys()]).toEqual(['transform-core'])
    expect(latest.get('transform-core')!.map((s) => s.commit)).toEqual(['c2', 'c3'])
    expect(
      pairs(history, 'c1')
        .get('transform-core')!
        .map((s) => s.commit),
    ).toEqual(['c1', 'c3'])
    expect(pairs(history, 'nope').size).toBe(0)
  })

  test('history parsing keeps summary lines and skips noise and truncated lines', () => {
    const text = [
      'bench: transform-core',
      JSON.stringify(run('a', 1, 1)),
      '{"bench":"mem',
      'npm warn x',
      JSON.stringify({ no: 'bench' }),
    ].join('\n')
    expect(parseHistory(text).map((s) => s.commit)).toEqual(['a'])
  })
})
