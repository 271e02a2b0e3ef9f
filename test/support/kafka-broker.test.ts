import { afterEach, beforeEach, expect, test } from 'vitest'
import { CompressionTypes, type Consumer, type EachBatchPayload, type Producer } from 'kafkajs'
import { startKafkaBroker, type KafkaTestBroker } from './kafka-broker/index.js'
import { fastConsumer, quietKafka, shortSessions, trackAssignment, waitFor } from './kafka-broker/test-helpers.js'

let broker: KafkaTestBroker
const cleanups: (() => Promise<unknown>)[] = []

beforeEach(async () => {
  broker = await startKafkaBroker(shortSessions)
})

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined)
  expect(broker.protocolErrors()).toEqual([])
  await broker.close()
})

const producerFor = async (opts: Parameters<ReturnType<typeof quietKafka>['producer']>[0] = {}): Promise<Producer> => {
  const p = quietKafka(broker.brokers).producer(opts)
  await p.connect()
  cleanups.push(() => p.disconnect())
  return p
}

interface Seen {
  partition: number
  offset: number
  key: string | undefined
  value: string
  headers: Record<string, string>
}

// eachBatch + manual commit, the way the pipeline's source consumes.
async function consume(groupId: string, topic: string, seen: Seen[], extra = {}): Promise<Consumer> {
  const c = quietKafka(broker.brokers).consumer(fastConsumer(groupId, extra))
  await c.connect()
  cleanups.push(() => c.disconnect())
  await c.subscribe({ topic, fromBeginning: true })
  await c.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset }: EachBatchPayload) => {
      for (const m of batch.messages) {
        const headers = Object.fromEntries(Object.entries(m.headers ?? {}).map(([k, v]) => [k, String(v)]))
        seen.push({ partition: batch.partition, offset: Number(m.offset), key: m.key?.toString(), value: m.value!.toString(), headers })
        resolveOffset(m.offset)
      }
      if (batch.messages.length > 0) {
        const next = String(Number(batch.lastOffset()) + 1)
        await c.commitOffsets([{ topic, partition: batch.partition, offset: next }])
      }
    },
  })
  return c
}

test('produce and consume round trip keeps keys, values, headers and per-partition offsets', async () => {
  broker.createTopic('rt', 3)
  const producer = await producerFor()
  for (let i = 0; i < 30; i++) {
    await producer.send({ topic: 'rt', messages: [{ key: `k${i}`, value: `v${i}`, partition: i % 3, headers: { n: String(i) } }] })
  }
  const seen: Seen[] = []
  await consume('g-rt', 'rt', seen)
  await waitFor(() => seen.length >= 30, 10_000, '30 messages')
  expect(seen).toHaveLength(30)
  for (const s of seen) {
    const i = Number(s.value.slice(1))
    expect(s).toEqual({ partition: i % 3, offset: Math.floor(i / 3), key: `k${i}`, value: `v${i}`, headers: { n: String(i) } })
  }
  await waitFor(() => broker.committedOffsets('g-rt', 'rt')[2] === 10, 5000, 'commits')
  expect(broker.committedOffsets('g-rt', 'rt')).toEqual({ 0: 10, 1: 10, 2: 10 })
  const stored = await broker.messages('rt', 1)
  expect(stored.map((m) => [m.offset, m.value?.toString()])).toEqual(Array.from({ length: 10 }, (_, j) => [j, `v${j * 3 + 1}`]))
})

test('gzip-compressed batches are stored as sent and decode on both sides', async () => {
  broker.createTopic('gz', 1)
  const producer = await producerFor()
  const values = Array.from({ length: 200 }, (_, i) => JSON.stringify({ i, pad: 'x'.repeat(100) }))
  await producer.send({ topic: 'gz', compression: CompressionTypes.GZIP, messages: values.map((value) => ({ value })) })
  await producer.send({ topic: 'gz', compression: CompressionTypes.GZIP, messages: [{ value: 'tail' }] })
  expect(broker.highWatermark('gz', 0)).toBe(201)
  const stored = await broker.messages('gz', 0)
  expect(stored.map((m) => m.value?.toString())).toEqual([...values, 'tail'])
  const seen: Seen[] = []
  await consume('g-gz', 'gz', seen)
  await waitFor(() => seen.length >= 201, 10_000, '201 messages')
  expect(seen.map((s) => s.value)).toEqual([...values, 'tail'])
  expect(seen.map((s) => s.offset)).toEqual(Array.from({ length: 201 }, (_, i) => i))
})

test('two consumers in a group split partitions and rebalance when one leaves', async () => {
  broker.createTopic('grp', 4)
  const kafka = quietKafka(broker.brokers)
  const run = async () => {
    const c = kafka.consumer(fastConsumer('g-two'))
    const a = trackAssignment(c, 'grp')
    await c.connect()
    await c.subscribe({ topic: 'grp' })
    await c.run({ eachBatch: async () => undefined })
    return { c, a }
  }
  const first = await run()
  cleanups.push(() => first.c.disconnect())
  await waitFor(() => first.a.partitions().length === 4, 10_000, 'first consumer owns all')
  const second = await run()
  await waitFor(() => first.a.partitions().length === 2 && second.a.partitions().length === 2, 10_000, 'split')
  expect([...first.a.partitions(), ...second.a.partitions()].sort()).toEqual([0, 1, 2, 3])
  expect(broker.group('g-two')?.members).toHaveLength(2)
  await second.c.disconnect()
  await waitFor(() => first.a.partitions().length === 4, 10_000, 'first consumer regains all after leave')
  expect(broker.group('g-two')).toMatchObject({ state: 'Stable', members: [expect.anything()] })
})

test('a member that stops heartbeating is evicted after its session timeout', async () => {
  broker.createTopic('dead', 2)
  const kafka = quietKafka(broker.brokers)
  const alive = kafka.consumer(fastConsumer('g-dead'))
  const aliveAssign = trackAssignment(alive, 'dead')
  await alive.connect()
  cleanups.push(() => alive.disconnect())
  await alive.subscribe({ topic: 'dead', fromBeginning: true })
  await alive.run({ eachBatch: async () => undefined })
  await waitFor(() => aliveAssign.partitions().length === 2, 10_000, 'alive owns both')

  // kafkajs only heartbeats between batches, so a handler that never returns is a dead member.
  const sessionTimeout = 800
  let release!: () => void
  const stuck = new Promise<void>((r) => (release = r))
  let stuckAt = 0
  const zombie = kafka.consumer(fastConsumer('g-dead', { sessionTimeout }))
  let zombieId = ''
  zombie.on(zombie.events.GROUP_JOIN, (e) => (zombieId = e.payload.memberId))
  const zombieAssign = trackAssignment(zombie, 'dead')
  await zombie.connect()
  await zombie.subscribe({ topic: 'dead', fromBeginning: true })
  await zombie.run({
    eachBatch: () => {
      stuckAt ||= Date.now()
      return stuck
    },
  })
  await waitFor(() => zombieAssign.partitions().length === 1, 10_000, 'zombie gets a partition')
  const producer = await producerFor()
  await producer.send({
    topic: 'dead',
    messages: [
      { value: 'a', partition: 0 },
      { value: 'b', partition: 1 },
    ],
  })

  await waitFor(() => aliveAssign.partitions().length === 2 && broker.group('g-dead')?.members.length === 1, 10_000, 'eviction')
  const evictedAfter = Date.now() - stuckAt
  // Evicted by the session timeout (not a leave, not the 3 s rebalance timeout), once the broker had
  // heard nothing for longer than that member's own 800 ms (the others use 3,000 ms), and not much later.
  const departures = broker.departures('g-dead')
  expect(departures).toHaveLength(1)
  expect(departures[0]).toMatchObject({ memberId: zombieId, reason: 'session-timeout', sessionTimeoutMs: sessionTimeout })
  expect(departures[0]!.silentMs).toBeGreaterThan(sessionTimeout)
  expect(departures[0]!.silentMs).toBeLessThan(sessionTimeout + 500)
  // The last heartbeat was at most one heartbeat interval (100 ms) before the handler got stuck.
  expect(evictedAfter).toBeGreaterThanOrEqual(sessionTimeout - 150)
  expect(evictedAfter).toBeLessThan(3_000)
  const stopping = zombie.disconnect()
  release()
  await stopping
})

test('committed offsets survive a consumer restart and are visible to admin.fetchOffsets', async () => {
  broker.createTopic('resume', 1)
  const producer = await producerFor()
  await producer.send({ topic: 'resume', messages: Array.from({ length: 5 }, (_, i) => ({ value: `m${i}` })) })
  const seen: Seen[] = []
  const c1 = await consume('g-resume', 'resume', seen)
  await waitFor(() => broker.committedOffsets('g-resume', 'resume')[0] === 5, 10_000, 'commit of 5')
  await c1.disconnect()

  await producer.send({ topic: 'resume', messages: [{ value: 'm5' }, { value: 'm6' }] })
  const admin = quietKafka(broker.brokers).admin()
  await admin.connect()
  cleanups.push(() => admin.disconnect())
  expect(await admin.fetchOffsets({ groupId: 'g-resume', topics: ['resume'] })).toEqual([
    { topic: 'resume', partitions: [{ partition: 0, offset: '5', metadata: null }] },
  ])
  expect(await admin.fetchTopicOffsets('resume')).toEqual([{ partition: 0, offset: '7', high: '7', low: '0' }])

  const after: Seen[] = []
  await consume('g-resume', 'resume', after)
  await waitFor(() => after.length >= 2, 10_000, 'resumed messages')
  expect(after.map((s) => [s.offset, s.value])).toEqual([
    [5, 'm5'],
    [6, 'm6'],
  ])
})

test('kafkajs reconnects after the broker drops every connection mid-stream', async () => {
  broker.createTopic('drop', 2)
  const producer = await producerFor()
  const seen: Seen[] = []
  await consume('g-drop', 'drop', seen)
  await producer.send({ topic: 'drop', messages: Array.from({ length: 20 }, (_, i) => ({ value: `a${i}`, partition: i % 2 })) })
  await waitFor(() => seen.length >= 20, 10_000, 'first half')
  broker.faults.dropConnections()
  await producer.send({ topic: 'drop', messages: Array.from({ length: 20 }, (_, i) => ({ value: `b${i}`, partition: i % 2 })) })
  await waitFor(() => new Set(seen.map((s) => s.value)).size >= 40, 15_000, 'second half after drop')
  expect(new Set(seen.map((s) => s.value))).toEqual(new Set([...Array(20).keys()].flatMap((i) => [`a${i}`, `b${i}`])))
})
