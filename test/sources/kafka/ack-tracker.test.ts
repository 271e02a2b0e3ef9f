import fc from 'fast-check'
import { expect, test } from 'vitest'
import { InFlightBudget, jitteredBackoff, PartitionTracker } from '../../../src/sources/kafka/ack-tracker.js'

test('the committable offset is always the end of the longest fully acknowledged prefix', () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ size: fc.integer({ min: 1, max: 20 }), gap: fc.integer({ min: 0, max: 3 }) }), { minLength: 1, maxLength: 40 }),
      fc.func(fc.integer()),
      (shape, orderKey) => {
        const t = new PartitionTracker('t', 0)
        let offset = 100
        const chunks = shape.map(({ size, gap }) => {
          offset += gap // offsets filtered out by kafkajs (control records) leave gaps
          const c = t.deliver(offset, offset + size - 1, size, size)
          offset += size
          return c
        })
        const order = chunks.map((c, i) => ({ c, k: orderKey(i) })).sort((a, b) => a.k - b.k)
        for (const { c } of order) {
          t.ack(c)
          const firstUnacked = chunks.findIndex((x) => !x.acked)
          const expected = firstUnacked === 0 ? undefined : chunks[(firstUnacked === -1 ? chunks.length : firstUnacked) - 1]!.last + 1
          expect(t.pendingCommit()).toBe(expected)
          if (firstUnacked > 0) expect(t.pendingCommit()!).toBeLessThanOrEqual(chunks[firstUnacked]!.first)
        }
        expect(t.unacked).toBe(0)
      },
    ),
  )
})

test('committed offsets are not re-committed and deliveries cannot go backwards', () => {
  const t = new PartitionTracker('t', 3)
  const a = t.deliver(0, 4, 5, 50)
  expect(t.isDelivered(4)).toBe(true)
  expect(t.isDelivered(5)).toBe(false)
  expect(() => t.deliver(3, 9, 7, 70)).toThrow(/delivered twice/)
  t.ack(a)
  expect(t.pendingCommit()).toBe(5)
  t.markCommitted(5)
  expect(t.pendingCommit()).toBeUndefined()
})

test('budget is full at either limit and drained only below half of both', () => {
  const b = new InFlightBudget(10, 1000)
  b.add(9, 100)
  expect(b.full).toBe(false)
  b.add(1, 10)
  expect(b.full).toBe(true)
  b.release(4, 10)
  expect([b.full, b.drained]).toEqual([false, false])
  b.release(1, 0)
  expect(b.drained).toBe(true)
  b.add(0, 995)
  expect(b.full).toBe(true)
})

test('backoff grows, is capped, and never collapses to zero', () => {
  expect(jitteredBackoff(0, 100, 1000, () => 0)).toBe(50)
  expect(jitteredBackoff(3, 100, 1000, () => 1)).toBe(800)
  expect(jitteredBackoff(50, 100, 1000, () => 0.5)).toBe(750)
})
