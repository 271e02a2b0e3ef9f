/**
 * The Kafka source's start within source.kafka.startupTimeoutMs (src/connections/kafka-startup.ts): an
 * unreachable cluster fails within the budget, naming each broker and what it answered, and leaves no
 * kafkajs retry running; a missing topic and refused credentials fail at once with their own codes.
 */
import net from 'node:net'
import { expect, test } from 'vitest'
import { cleanupAfterEach } from '../../helpers/cleanups.js'
import { describeKafka, kafkaBrokers } from '../../helpers/real-servers.js'
import { createKafkaSource } from '../../../src/sources/kafka/kafka-source.js'
import { loadKafkaSourceConfig } from '../../../src/sources/kafka/config.js'
import { startKafkaBroker } from '../../support/kafka-broker/index.js'
import { shortSessions } from '../../support/kafka-broker/test-helpers.js'
import { sourceConfig } from './helpers.js'
import { uniqueName } from './real-kafka.js'

const cleanups = cleanupAfterEach()

/** A port that accepts connections and closes each at once (a proxy with no backend), counting them. */
async function slamming(): Promise<{ address: string; connections: () => number }> {
  let connections = 0
  const server = net.createServer((s) => {
    connections++
    s.destroy()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return { address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`, connections: () => connections }
}

async function closedPort(): Promise<string> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as net.AddressInfo).port
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return `127.0.0.1:${port}`
}

test('no broker answers: start() fails within startupTimeoutMs naming each broker, and kafkajs stops retrying', async () => {
  const refused = await closedPort()
  const proxy = await slamming()
  const cfg = loadKafkaSourceConfig({
    brokers: [refused, proxy.address],
    topics: ['logs'],
    startupTimeoutMs: 1_500,
    connectionTimeoutMs: 500,
  })
  const source = createKafkaSource(cfg)
  cleanups.push(() => source.close())
  const t0 = Date.now()
  const err = (await source.start().catch((e: unknown) => e)) as Error & { code: string }
  const took = Date.now() - t0
  expect(err.code).toBe('EA_SOURCE_UNAVAILABLE')
  expect(err.message).toContain('no broker answered within 1500 ms (source.kafka.startupTimeoutMs)')
  expect(err.message).toContain(`${refused}: Connection error: connect ECONNREFUSED ${refused}`)
  expect(err.message).toContain(`${proxy.address}: `)
  // kafkajs' own retries (retry.retries 8, up to 30 s apart) would have taken about a minute.
  expect(took).toBeGreaterThanOrEqual(1_400)
  expect(took).toBeLessThan(3_500)
  // Nothing keeps reconnecting once start() has failed.
  await new Promise((r) => setTimeout(r, 700))
  const after = proxy.connections()
  expect(after).toBeGreaterThan(0)
  await new Promise((r) => setTimeout(r, 1_500))
  expect(proxy.connections()).toBe(after)
}, 20_000)

test('a topic that does not exist fails start() at once with the option path (test broker)', async () => {
  const b = await startKafkaBroker({ ...shortSessions, autoCreateTopics: false })
  cleanups.push(() => b.close())
  const source = createKafkaSource(sourceConfig(b, { topics: ['no-such-topic'] }))
  cleanups.push(() => source.close())
  const t0 = Date.now()
  await expect(source.start()).rejects.toMatchObject({
    code: 'EA_CONFIG_INVALID',
    message: expect.stringMatching(/^source\.kafka\.topics: no-such-topic: a topic does not exist/),
  })
  expect(Date.now() - t0).toBeLessThan(5_000)
})

test('refused SASL credentials fail start() at once, not retryable, naming the user and never the password', async () => {
  const b = await startKafkaBroker({ ...shortSessions, sasl: { users: { 'envoy-audit': 'right-pw-1' } } })
  cleanups.push(() => b.close())
  b.createTopic('logs', 1)
  const sasl = { mechanism: 'plain', username: 'envoy-audit', passwordEnv: 'KAFKA_PW' } as const
  const source = createKafkaSource(sourceConfig(b, { sasl, startupTimeoutMs: 60_000 }), { env: { KAFKA_PW: 'wrong-pw-2' } })
  cleanups.push(() => source.close())
  const t0 = Date.now()
  const err = (await source.start().catch((e: unknown) => e)) as Error & { code: string; retryable: boolean }
  expect(err).toMatchObject({ code: 'EA_SOURCE_AUTH', retryable: false })
  expect(err.message).toMatch(/refused authentication or authorization for plain user envoy-audit: SASL PLAIN authentication failed/)
  expect(err.message).not.toContain('wrong-pw-2')
  expect(Date.now() - t0).toBeLessThan(5_000)
})

describeKafka('Kafka source start on the real broker', () => {
  test('a topic that does not exist fails start() at once with the option path, and is not created', async () => {
    const topic = uniqueName('missing')
    const source = createKafkaSource(loadKafkaSourceConfig({ brokers: kafkaBrokers, topics: [topic], groupId: uniqueName('group') }))
    cleanups.push(() => source.close())
    const t0 = Date.now()
    await expect(source.start()).rejects.toMatchObject({
      code: 'EA_CONFIG_INVALID',
      message: expect.stringContaining(`source.kafka.topics: ${topic}: a topic does not exist`),
    })
    expect(Date.now() - t0).toBeLessThan(5_000)
    const { Kafka, logLevel } = await import('kafkajs')
    const admin = new Kafka({ brokers: kafkaBrokers, logLevel: logLevel.NOTHING }).admin()
    await admin.connect()
    try {
      expect(await admin.listTopics()).not.toContain(topic)
    } finally {
      await admin.disconnect()
    }
  })

  test('a reachable broker and an existing topic start in well under the budget', async () => {
    const { realAdmin, tempTopic } = await import('./real-kafka.js')
    const admin = await realAdmin(cleanups)
    const topic = await tempTopic(admin, cleanups, 'startup')
    const source = createKafkaSource(loadKafkaSourceConfig({ brokers: kafkaBrokers, topics: [topic], groupId: uniqueName('group') }))
    cleanups.push(() => source.close())
    const t0 = Date.now()
    await source.start()
    expect(Date.now() - t0).toBeLessThan(5_000)
  })
})
