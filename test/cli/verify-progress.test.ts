import { PassThrough } from 'node:stream'
import { describe, expect, test } from 'vitest'
import { startVerifyProgress, verifyProgressLine } from '../../src/cli/verify-progress.js'

describe('verify progress lines', () => {
  test('rows done of the total with the rate over the phase; a match that has not returned rows yet says how long it has taken', () => {
    expect(verifyProgressLine({ phase: 'events', done: 250_000, total: 1_000_000 }, 50_000, 70_000)).toBe(
      'envoy-audit verify: events: 250,000 of 1,000,000 rows checked (5,000/s), 1m 10s elapsed',
    )
    expect(verifyProgressLine({ phase: 'matching', done: 0, total: undefined }, 30_000, 90_000)).toBe(
      'envoy-audit verify: matching events, ledger entries and findings by id (30s), 1m 30s elapsed',
    )
  })

  test('written from a timer, with the latest state, until stopped; 0 seconds writes nothing', async () => {
    const out = new PassThrough()
    let text = ''
    out.on('data', (d: Buffer) => (text += d.toString()))
    const p = startVerifyProgress(0.02, out)
    p.update({ phase: 'ledger', done: 10, total: 20 })
    await new Promise((r) => setTimeout(r, 100))
    p.stop()
    const seen = text
    expect(seen).toMatch(/^envoy-audit verify: ledger: 10 of 20 rows checked/)
    await new Promise((r) => setTimeout(r, 60))
    expect(text).toBe(seen)
    const none = startVerifyProgress(0, out)
    none.update({ phase: 'ledger', done: 1, total: 1 })
    await new Promise((r) => setTimeout(r, 60))
    none.stop()
    expect(text).toBe(seen)
  })
})
