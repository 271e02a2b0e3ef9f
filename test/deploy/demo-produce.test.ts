import { describe, test, expect } from 'vitest'
import { produceMeshTraffic } from '../../src/cli/demo-produce.js'
import { generateMeshTraffic } from '../../src/demo/mesh-traffic.js'
import { startKafkaBroker } from '../support/kafka-broker/index.js'

describe('demo-produce (through kafkajs and the test broker)', () => {
  test('publishes every generated line, keyed by pod, in per-pod order, with a window ending now', async () => {
    const broker = await startKafkaBroker()
    broker.createTopic('envoy-logs', 3)
    try {
      const now = Date.parse('2026-11-23T12:00:00.000Z')
      const r = await produceMeshTraffic({
        brokers: broker.brokers,
        topic: 'envoy-logs',
        seed: 7,
        sessions: 20,
        durationMinutes: 5,
        start: 'now',
        batchSize: 50,
        clientId: 't',
        noise: true,
        now,
      })
      const expected = generateMeshTraffic({ seed: 7, sessions: 20, durationMinutes: 5, start: '2026-11-23T11:55:00.000Z', noise: true })
      expect(r.window).toEqual(expected.window)
      expect(r.messages).toBe(expected.lines.length)
      const got = (await Promise.all([0, 1, 2].map((p) => broker.messages('envoy-logs', p)))).flat()
      expect(got).toHaveLength(expected.lines.length)
      expect(got.map((m) => String(m.value)).sort()).toEqual(expected.lines.map((l) => l.text).sort())
      // One pod's lines stay on one partition, in write order.
      for (const p of [0, 1, 2]) {
        const msgs = await broker.messages('envoy-logs', p)
        const byKey = new Map<string, string[]>()
        for (const m of msgs) byKey.set(String(m.key), [...(byKey.get(String(m.key)) ?? []), String(m.value)])
        for (const [key, values] of byKey) {
          const want = expected.lines.filter((l) => `${l.namespace}/${l.pod}` === key).map((l) => l.text)
          expect(values).toEqual(want)
        }
      }
      expect(broker.protocolErrors()).toEqual([])
    } finally {
      await broker.close()
    }
  })

  test('unreachable brokers: a catalogued, retryable error', async () => {
    await expect(
      produceMeshTraffic({
        brokers: ['127.0.0.1:1'],
        topic: 't',
        seed: 1,
        sessions: 1,
        durationMinutes: 5,
        start: 'now',
        batchSize: 10,
        clientId: 't',
        noise: false,
        retries: 0,
      }),
    ).rejects.toMatchObject({ code: 'EA_SOURCE_UNAVAILABLE' })
  }, 30_000)
})
