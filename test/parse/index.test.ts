import { describe, expect, test } from 'vitest'
import { createParser } from '../../src/parse/index.js'

describe('CRI partial accounting', () => {
  test('records in = events + dead letters + net held partials, also when an assembled line overflows', () => {
    const parser = createParser({ maxLineBytes: 256 })
    const coords = (line: number) => ({ kind: 'file' as const, file: 'cri.log', line, offset: String(line * 1000) })
    const p = (line: number, body: string) => ({ value: `2024-05-01T10:00:00.000000001Z stdout P ${body}`, coords: coords(line) })
    const f = (line: number, body: string) => ({ value: `2024-05-01T10:00:00.000000002Z stdout F ${body}`, coords: coords(line) })
    const first = parser.parseBatch([p(1, 'x'.repeat(150))])
    expect(first.counts.partialsHeld).toBe(1)
    const second = parser.parseBatch([f(2, 'y'.repeat(150))])
    expect(second.deadLetters.map((d) => d.reason)).toEqual(['EA_PARSE_PARTIAL', 'EA_PARSE_PARTIAL'])
    expect(second.counts.partialsHeld).toBe(-1)
    const total = [first, second].reduce((n, b) => n + b.events.length + b.deadLetters.length + b.counts.partialsHeld, 0)
    expect(total).toBe(2)
  })
})
