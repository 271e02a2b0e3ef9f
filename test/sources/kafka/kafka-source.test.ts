import { beforeEach, expect, test } from 'vitest'
import { cleanupAfterEach } from '../../helpers/cleanups.js'
import { startKafkaBroker, type KafkaTestBroker } from '../../support/kafka-broker/index.js'
import { shortSessions } from '../../support/kafka-broker/test-helpers.js'
import { allKeys, ControlledPipeline, produce, startSource, waitFor } from './helpers.js'

let broker: KafkaTestBroker

beforeEach(async () => {
  broker = await startKafkaBroker(shortSessions)
})

const cleanups = cleanupAfterEach(async () => {
  expect(broker.protocolErrors()).toEqual([])
  await broker.close()
})

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const track = <T extends { close(): Promise<unknown> }>(x: T): T => {
  cleanups.push(() => x.close())
  return x
}

test('commits only the contiguous acknowledged prefix when the sink acks out of order', async () => {
  broker.createTopic('logs', 1)
  await produce(broker, 'logs', { 0: 30 })
  const pipeline = new ControlledPipeline()
  pipeline.policy = () => 'hold'
  const source = track(startSource(broker, pipeline, { batchMaxRecords: 5 }))
  await source.begin()
  await waitFor(() => pipeline.calls.length === 6, 10_000, 'six held batches')
  const byFirst = (first: number) => pipeline.calls.find((c) => c.first === first)!
  expect(pipeline.calls.map((c) => c.first).sort((a, b) => a - b)).toEqual([0, 5, 10, 15, 20, 25])

  for (const first of [25, 20, 10]) byFirst(first).ack()
  await sleep(300)
  expect(broker.committedOffsets('envoy-audit-test', 'logs')).toEqual({})

  byFirst(0).ack()
  await waitFor(() => broker.committedOffsets('envoy-audit-test', 'logs')[0] === 5, 5_000, 'commit 5')
  await sleep(200)
  expect(broker.committedOffsets('envoy-audit-test', 'logs')).toEqual({ 0: 5 })

  byFirst(5).ack()
  await waitFor(() => broker.committedOffsets('envoy-audit-test', 'logs')[0] === 15, 5_000, 'commit 15 (10-14 was already acked)')
  byFirst(15).ack()
  await waitFor(() => broker.committedOffsets('envoy-audit-test', 'logs')[0] === 30, 5_000, 'commit 30')

  const records = pipeline.acked.sort((a, b) => Number(a.coords.offset) - Number(b.coords.offset))
  expect(records).toHaveLength(30)
  records.forEach((r, i) => {
    expect(r.value.toString()).toBe(`r-0-${i}`)
    expect(r.coords).toEqual({ kind: 'kafka', topic: 'logs', partition: 0, offset: String(i) })
    expect({ ...r.headers }).toEqual({ trace: `t${i}` })
  })
  expect(source.stats().committed).toEqual({ 'logs/0': 30 })
})

test('a stalled sink pauses partitions within the in-flight budget, commits nothing early, and recovers', async () => {
  broker.createTopic('logs', 2)
  await produce(broker, 'logs', { 0: 50, 1: 50 })
  const pipeline = new ControlledPipeline()
  pipeline.policy = () => 'hold'
  const source = track(startSource(broker, pipeline, { batchMaxRecords: 5, inFlight: { maxRecords: 10, maxBytes: 1 << 20 } }))
  await source.begin()
  await waitFor(() => source.stats().paused.length === 2, 10_000, 'both partitions paused')
  const heldRecords = () => pipeline.held().reduce((n, c) => n + c.records.length, 0)
  expect(heldRecords()).toBeLessThanOrEqual(10)

  // Paused, the consumer stays in the group without refetching or re-delivering in a loop.
  const calls = pipeline.calls.length
  const fetches = broker.requestCounts().Fetch ?? 0
  const heartbeats = broker.requestCounts().Heartbeat ?? 0
  await sleep(1_000)
  expect(pipeline.calls.length).toBe(calls)
  expect((broker.requestCounts().Fetch ?? 0) - fetches).toBeLessThanOrEqual(3)
  expect((broker.requestCounts().Heartbeat ?? 0) - heartbeats).toBeGreaterThan(2)
  expect(broker.group('envoy-audit-test')?.state).toBe('Stable')
  expect(broker.committedOffsets('envoy-audit-test', 'logs')).toEqual({})

  pipeline.policy = () => 'ack'
  for (const c of pipeline.held()) c.ack()
  await waitFor(
    () => {
      const c = broker.committedOffsets('envoy-audit-test', 'logs')
      return c[0] === 50 && c[1] === 50
    },
    10_000,
    'everything committed after recovery',
  )
  expect(pipeline.acked).toHaveLength(100)
  expect(pipeline.ackedKeys()).toEqual(allKeys({ 0: 50, 1: 50 }))
  expect(source.stats()).toMatchObject({ paused: [], inFlightRecords: 0 })
  expect(source.stats().pauses).toBeGreaterThanOrEqual(2)
})

test('a batch whose ack fails is re-delivered with backoff and holds back commits of later acked batches', async () => {
  broker.createTopic('logs', 1)
  await produce(broker, 'logs', { 0: 20 })
  const pipeline = new ControlledPipeline()
  let sinkDown = true
  pipeline.policy = (records) => (sinkDown && records[0]!.coords.offset === '0' ? 'fail' : 'ack')
  const source = track(startSource(broker, pipeline, { batchMaxRecords: 5, backoff: { initialMs: 50, maxMs: 200 } }))
  await source.begin()
  await waitFor(() => source.stats().redeliveries >= 3, 10_000, 'several re-deliveries')
  await waitFor(() => pipeline.ackedKeys().size === 15, 5_000, 'later batches acked')
  const attempts = () => pipeline.calls.filter((c) => c.first === 0).length
  const before = attempts()
  await sleep(600)
  // Backoff between attempts is at least half its ceiling (25, 50, 100, then 100 ms): no hot loop.
  expect(attempts() - before).toBeLessThanOrEqual(7)
  expect(broker.committedOffsets('envoy-audit-test', 'logs')).toEqual({})

  sinkDown = false
  await waitFor(() => broker.committedOffsets('envoy-audit-test', 'logs')[0] === 20, 5_000, 'commit after recovery')
  expect(pipeline.ackedKeys()).toEqual(allKeys({ 0: 20 }))
  const redelivered = pipeline.calls.filter((c) => c.first === 0).map((c) => c.records.map((r) => r.value.toString()))
  expect(new Set(redelivered.map((v) => v.join()))).toEqual(new Set(['r-0-0,r-0-1,r-0-2,r-0-3,r-0-4']))
})

test('close drains in-flight acks, commits them, and leaves the group; unacked work is not committed', async () => {
  broker.createTopic('logs', 1)
  await produce(broker, 'logs', { 0: 10 })
  const pipeline = new ControlledPipeline()
  pipeline.policy = () => 'hold'
  const source = startSource(broker, pipeline, { batchMaxRecords: 5, commitIntervalMs: 60_000, drainTimeoutMs: 800 })
  await source.begin()
  await waitFor(() => pipeline.calls.length === 2, 10_000, 'two held batches')
  const closing = source.close()
  await sleep(100)
  pipeline.calls.find((c) => c.first === 0)!.ack()
  const t0 = Date.now()
  await closing
  expect(Date.now() - t0).toBeGreaterThanOrEqual(500) // waited for the second batch until the drain timeout
  expect(broker.committedOffsets('envoy-audit-test', 'logs')).toEqual({ 0: 5 })
  expect(broker.group('envoy-audit-test')?.members).toEqual([])
  await expect(source.stopped).resolves.toBeUndefined()
})

test('revoke mid-batch: acked offsets are committed before the partition moves, the rest is replayed by the new owner', async () => {
  broker.createTopic('logs', 2)
  await produce(broker, 'logs', { 0: 20, 1: 20 })
  // A acks the first 10 records of each partition and holds the rest; its periodic commit is far
  // away, so only the revoke path can commit.
  const a = new ControlledPipeline()
  a.policy = (records) => (Number(records[0]!.coords.offset) < 10 ? 'ack' : 'hold')
  const sourceA = track(startSource(broker, a, { batchMaxRecords: 5, commitIntervalMs: 60_000 }))
  await sourceA.begin()
  await waitFor(() => a.calls.length === 8, 10_000, 'A got every batch')
  expect(broker.committedOffsets('envoy-audit-test', 'logs')).toEqual({})

  const b = new ControlledPipeline()
  b.policy = () => 'hold'
  const sourceB = track(startSource(broker, b, { batchMaxRecords: 5, commitIntervalMs: 60_000 }))
  await sourceB.begin()
  await waitFor(() => sourceA.stats().assigned.length === 1 && sourceB.stats().assigned.length === 1, 10_000, 'split')
  expect(broker.committedOffsets('envoy-audit-test', 'logs')).toEqual({ 0: 10, 1: 10 })

  // Each owner replays its partition from the committed offset; A's old held batches are now stale.
  const [bPartition] = sourceB.stats().assigned
  await waitFor(() => b.calls.length === 2, 10_000, 'B replays from offset 10')
  expect(b.calls.map((c) => `${c.partition}/${c.first}`).sort()).toEqual([
    `${bPartition!.split('/')[1]}/10`,
    `${bPartition!.split('/')[1]}/15`,
  ])
  for (const c of a.calls.filter((c) => !c.settled)) c.ack()
  await sleep(200)
  await sourceA.close()
  expect(broker.committedOffsets('envoy-audit-test', 'logs')).toMatchObject({ [bPartition!.split('/')[1]!]: 10 })

  b.policy = () => 'ack'
  for (const c of b.held()) c.ack()
  await waitFor(() => sourceB.stats().assigned.length === 2, 10_000, 'B owns both after A left')
  await waitFor(
    () => {
      const c = broker.committedOffsets('envoy-audit-test', 'logs')
      return c[0] === 20 && c[1] === 20
    },
    10_000,
    'all committed',
  )
  const union = new Set([...a.ackedKeys(), ...b.ackedKeys()])
  expect(union).toEqual(allKeys({ 0: 20, 1: 20 }))
})

test('two sources in one group split the partitions, each record is acked once, and one takes over when the other leaves', async () => {
  broker.createTopic('logs', 4)
  const a = new ControlledPipeline()
  const b = new ControlledPipeline()
  const sourceA = track(startSource(broker, a))
  await sourceA.begin()
  const sourceB = track(startSource(broker, b))
  await sourceB.begin()
  await waitFor(() => sourceA.stats().assigned.length === 2 && sourceB.stats().assigned.length === 2, 10_000, 'two each')
  expect([...sourceA.stats().assigned, ...sourceB.stats().assigned].sort()).toEqual(['logs/0', 'logs/1', 'logs/2', 'logs/3'])

  await produce(broker, 'logs', { 0: 25, 1: 25, 2: 25, 3: 25 })
  await waitFor(() => a.acked.length + b.acked.length === 100, 10_000, '100 acked')
  const partitionsOf = (p: ControlledPipeline) => new Set(p.acked.map((r) => `logs/${r.coords.partition}`))
  expect(partitionsOf(a)).toEqual(new Set(sourceA.stats().assigned))
  expect(partitionsOf(b)).toEqual(new Set(sourceB.stats().assigned))
  await waitFor(() => Object.values(broker.committedOffsets('envoy-audit-test', 'logs')).every((o) => o === 25), 5_000, 'commits')

  await sourceB.close()
  await waitFor(() => sourceA.stats().assigned.length === 4, 10_000, 'A owns all four')
  await produce(broker, 'logs', { 0: 5, 1: 5, 2: 5, 3: 5 }, 'late')
  await waitFor(
    () => Object.values(broker.committedOffsets('envoy-audit-test', 'logs')).filter((o) => o === 30).length === 4,
    10_000,
    'late commits',
  )
  expect(new Set([...a.ackedKeys(), ...b.ackedKeys()])).toEqual(allKeys({ 0: 30, 1: 30, 2: 30, 3: 30 }))
  expect(a.acked.length + b.acked.length).toBe(120)
})
