import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { afterEach, expect, test } from 'vitest'
import type { SASLOptions } from 'kafkajs'
import { ErrorCode, startKafkaBroker, type BrokerOptions, type KafkaTestBroker } from './index.js'
import { fastConsumer, quietKafka, shortSessions, waitFor } from './test-helpers.js'

const brokers: KafkaTestBroker[] = []
const cleanups: (() => Promise<unknown>)[] = []

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined)
  for (const b of brokers.splice(0)) {
    expect(b.protocolErrors()).toEqual([])
    await b.close()
  }
})

const start = async (opts: BrokerOptions = {}): Promise<KafkaTestBroker> => {
  const b = await startKafkaBroker({ ...shortSessions, ...opts })
  brokers.push(b)
  return b
}

test('injected Produce errors are retried by kafkajs and leave no data behind', async () => {
  const broker = await start()
  broker.createTopic('p', 1)
  const producer = quietKafka(broker.brokers).producer()
  await producer.connect()
  cleanups.push(() => producer.disconnect())
  broker.faults.failNext('Produce', ErrorCode.NOT_LEADER_FOR_PARTITION, 2)
  const [res] = await producer.send({ topic: 'p', messages: [{ value: 'once' }] })
  expect(res).toMatchObject({ errorCode: 0, baseOffset: '0' })
  expect(broker.requestCounts().Produce).toBe(3)
  expect((await broker.messages('p', 0)).map((m) => m.value?.toString())).toEqual(['once'])

  broker.faults.failNext('Produce', ErrorCode.MESSAGE_TOO_LARGE, 1)
  await expect(producer.send({ topic: 'p', messages: [{ value: 'bad' }] })).rejects.toThrow()
  expect(broker.highWatermark('p', 0)).toBe(1)
})

test('injected OffsetCommit errors: NOT_COORDINATOR is retried by kafkajs, REBALANCE_IN_PROGRESS reaches the caller', async () => {
  const broker = await start()
  broker.createTopic('c', 1)
  const consumer = quietKafka(broker.brokers).consumer(fastConsumer('g-c'))
  await consumer.connect()
  cleanups.push(() => consumer.disconnect())
  await consumer.subscribe({ topic: 'c' })
  await consumer.run({ autoCommit: false, eachBatch: async () => undefined })
  await waitFor(() => broker.group('g-c')?.state === 'Stable', 10_000, 'stable group')
  broker.faults.failNext('OffsetCommit', ErrorCode.REBALANCE_IN_PROGRESS, 1)
  await expect(consumer.commitOffsets([{ topic: 'c', partition: 0, offset: '3' }])).rejects.toThrow(/rebalanc/i)
  expect(broker.committedOffsets('g-c', 'c')).toEqual({})
  broker.faults.failNext('OffsetCommit', ErrorCode.NOT_COORDINATOR, 1)
  const commitsBefore = broker.requestCounts().OffsetCommit ?? 0
  await consumer.commitOffsets([{ topic: 'c', partition: 0, offset: '3' }])
  expect(broker.committedOffsets('g-c', 'c')).toEqual({ 0: 3 })
  expect((broker.requestCounts().OffsetCommit ?? 0) - commitsBefore).toBe(2)
})

test('refused connections and latency are survived; an idle consumer long-polls instead of spinning', async () => {
  const broker = await start()
  broker.faults.refuseConnections(400)
  const admin = quietKafka(broker.brokers).admin()
  const t0 = Date.now()
  await admin.connect()
  cleanups.push(() => admin.disconnect())
  expect(Date.now() - t0).toBeGreaterThanOrEqual(300)
  expect(await admin.createTopics({ topics: [{ topic: 'idle', numPartitions: 2 }] })).toBe(true)

  broker.faults.latency(250, 'ListOffsets')
  const t1 = Date.now()
  expect(await admin.fetchTopicOffsets('idle')).toHaveLength(2)
  expect(Date.now() - t1).toBeGreaterThanOrEqual(250)
  broker.faults.clear()

  const consumer = quietKafka(broker.brokers).consumer(fastConsumer('g-idle', { maxWaitTimeInMs: 300 }))
  await consumer.connect()
  cleanups.push(() => consumer.disconnect())
  await consumer.subscribe({ topic: 'idle' })
  await consumer.run({ eachBatch: async () => undefined })
  await waitFor(() => (broker.requestCounts().Fetch ?? 0) > 0, 10_000, 'first fetch')
  const before = broker.requestCounts().Fetch ?? 0
  await new Promise((r) => setTimeout(r, 1000))
  expect((broker.requestCounts().Fetch ?? 0) - before).toBeLessThanOrEqual(5)
})

// kafkajs caches its authenticator (with the password) on the sasl object it is given, so each
// client gets a fresh object.
test.each(['plain', 'scram-sha-256', 'scram-sha-512'] as const)(
  'SASL %s authenticates good credentials and rejects bad ones',
  async (mechanism) => {
    const sasl = (password: string) => ({ mechanism, username: 'alice', password }) as SASLOptions
    const broker = await start({ sasl: { users: { alice: 's3cret' } } })
    const good = quietKafka(broker.brokers, { sasl: sasl('s3cret') }).producer()
    await good.connect()
    cleanups.push(() => good.disconnect())
    await good.send({ topic: 'auth', messages: [{ value: 'ok' }] })
    expect((await broker.messages('auth', 0)).map((m) => m.value?.toString())).toEqual(['ok'])

    const bad = quietKafka(broker.brokers, { sasl: sasl('wrong'), retry: { retries: 0 } }).producer()
    await expect(bad.connect()).rejects.toThrow(/auth/i)
    const none = quietKafka(broker.brokers, { retry: { retries: 0 }, connectionTimeout: 500 }).admin()
    await expect(none.createTopics({ topics: [{ topic: 'x' }] })).rejects.toThrow()
  },
)

test('cli runs the broker in a child process and reports its port', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/kafka-broker/cli.ts', '--partitions', '2'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  cleanups.push(async () => {
    child.kill('SIGTERM')
    if (child.exitCode === null) await once(child, 'exit')
  })
  const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string]
  const { port } = JSON.parse(line) as { port: number }
  expect(port).toBeGreaterThan(0)
  const kafka = quietKafka([`127.0.0.1:${port}`])
  const producer = kafka.producer()
  await producer.connect()
  cleanups.push(() => producer.disconnect())
  await producer.send({ topic: 'oop', messages: [{ value: 'x', partition: 1 }] })
  const admin = kafka.admin()
  await admin.connect()
  cleanups.push(() => admin.disconnect())
  expect(await admin.fetchTopicOffsets('oop')).toEqual([
    { partition: 0, offset: '0', high: '0', low: '0' },
    { partition: 1, offset: '1', high: '1', low: '0' },
  ])
})
