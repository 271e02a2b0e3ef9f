import { describe, expect, test } from 'vitest'
import { runCrashDrill } from '../support/crash-drill.js'

describe('crash drill (short): SIGKILL the service mid-stream, restart, verify', () => {
  test('every record is indexed exactly once or dead-lettered with a reason, and nothing else is indexed', async () => {
    const r = await runCrashDrill({ records: 3000, partitions: 3, kills: 3, minKillAfterMs: 1500, maxKillAfterMs: 3000, seed: 7 })
    expect(r.killsMidStream).toBeGreaterThanOrEqual(1)
    expect(r.unexpectedInIndex).toBe(0)
    expect(r.missing).toBe(0)
    expect(r.indexed).toBe(r.expectedIndexed)
    expect(r.expectedIndexed).toBe(2850)
    expect(r.deadLettered).toBe(150)
  }, 180_000)
})
