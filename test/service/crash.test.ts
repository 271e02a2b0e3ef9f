import { describe, expect, test } from 'vitest'
import { runCrashDrill } from '../support/crash-drill.js'

describe('crash drill (short): SIGKILL the service mid-stream, restart, verify', () => {
  test('every record is indexed exactly once or dead-lettered with a reason, and nothing else is indexed', async () => {
    const r = await runCrashDrill({ records: 30000, partitions: 3, kills: 3, minKillAfterMs: 0, maxKillAfterMs: 300, seed: 7 })
    expect(r.killsMidStream).toBe(3)
    expect(r.unexpectedInIndex).toBe(0)
    expect(r.missing).toBe(0)
    expect(r.indexed).toBe(r.expectedIndexed)
    expect(r.expectedIndexed).toBe(28500)
    expect(r.deadLettered).toBe(1500)
  }, 180_000)
})
