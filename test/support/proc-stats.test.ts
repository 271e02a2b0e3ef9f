import { describe, expect, test } from 'vitest'
import { spawnSync } from 'node:child_process'
import { cpuSeconds, rssMb } from './proc-stats.js'

describe('proc-stats (used by the benchmarks and drills)', () => {
  test.skipIf(process.platform !== 'linux')(
    'reads this process: RSS in MiB near process.memoryUsage, CPU seconds that grow with work',
    () => {
      const rss = rssMb(process.pid)!
      expect(Math.abs(rss - process.memoryUsage().rss / 2 ** 20)).toBeLessThan(64)
      const before = cpuSeconds(process.pid)!
      // Spin until the kernel's own clock says 0.3 CPU s were spent: a wall-clock bound gives almost no CPU
      // time on a loaded machine, and the check below would fail for the machine, not for proc-stats.
      const start = process.cpuUsage()
      const spent = () => {
        const u = process.cpuUsage(start)
        return (u.user + u.system) / 1e6
      }
      let x = 0
      while (spent() < 0.3) for (let i = 0; i < 10_000; i++) x += Math.sqrt(x + 1)
      expect(x).toBeGreaterThan(0)
      expect(cpuSeconds(process.pid)! - before).toBeGreaterThan(0.1)
    },
  )

  test('a process that is gone gives undefined, not zero', () => {
    const child = spawnSync(process.execPath, ['-e', '0'])
    expect(child.status).toBe(0)
    expect(rssMb(child.pid)).toBeUndefined()
    expect(cpuSeconds(child.pid)).toBeUndefined()
    expect(rssMb(undefined)).toBeUndefined()
  })
})
