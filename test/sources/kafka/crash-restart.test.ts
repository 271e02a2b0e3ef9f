/**
 * A consumer that kafkajs stops for good on a coordinator it cannot find (what a stopped broker or a
 * coordinator move looks like): the source restarts it itself, says it is down meanwhile, and keeps
 * the offset guarantees. The test broker answers a heartbeat and the next coordinator lookups with
 * NOT_COORDINATOR: kafkajs rejoins, asks for the coordinator, is told "not me" by the only broker and
 * crashes with KafkaJSGroupCoordinatorNotFound and restart: false.
 */
import { expect, test } from 'vitest'
import { cleanupAfterEach } from '../../helpers/cleanups.js'
import { ErrorCode, startKafkaBroker, type KafkaTestBroker } from '../../support/kafka-broker/index.js'
import { shortSessions } from '../../support/kafka-broker/test-helpers.js'
import { ControlledPipeline, produce, startSource, waitFor } from './helpers.js'

const cleanups = cleanupAfterEach()

async function broker(): Promise<KafkaTestBroker> {
  const b = await startKafkaBroker(shortSessions)
  cleanups.push(() => b.close())
  b.createTopic('logs', 1)
  return b
}

/** Makes the member lose its coordinator: the next heartbeat and `lookups` coordinator lookups answer NOT_COORDINATOR. */
async function moveCoordinator(b: KafkaTestBroker, lookups: number): Promise<void> {
  // After the join's lookups (the consumer's and the offset-reset admin's), so that the faults meet the rejoin.
  await waitFor(() => (b.requestCounts().FindCoordinator ?? 0) >= 2, 10_000, 'the join settled')
  b.faults.failNext('FindCoordinator', ErrorCode.NOT_COORDINATOR, lookups)
  b.faults.failNext('Heartbeat', ErrorCode.NOT_COORDINATOR, 1)
}

test('a coordinator that cannot be found: the source restarts its consumer, is not healthy meanwhile, and loses nothing', async () => {
  const b = await broker()
  await produce(b, 'logs', { 0: 5 })
  const pipeline = new ControlledPipeline()
  const source = startSource(b, pipeline, { restart: { initialMs: 300, maxMs: 300 } })
  cleanups.push(() => source.close())
  let stoppedWith: unknown
  source.stopped.catch((err: unknown) => (stoppedWith = err))
  await source.begin()
  await waitFor(() => b.committedOffsets('envoy-audit-test', 'logs')[0] === 5, 10_000, 'the first records committed')
  expect(source.health().ok).toBe(true)

  // The next batch is held by the sink when the coordinator goes: it must not be committed by anyone.
  pipeline.policy = () => 'hold'
  await produce(b, 'logs', { 0: 3 }, 'late')
  await waitFor(() => pipeline.held().length === 1, 10_000, 'the late batch delivered and held')
  const stale = pipeline.held()[0]!
  await moveCoordinator(b, 2)
  await waitFor(() => source.stats().consumerRestarts >= 1, 15_000, 'a restart scheduled')
  const down = source.health()
  expect(down.ok).toBe(false)
  if (!down.ok) expect(down.reason).toMatch(/^kafka: consumer stopped \(Failed to find group coordinator\), restart \d+ in 0\.\d s$/)
  expect(stoppedWith).toBeUndefined()

  // Rejoined: the held batch comes again from the committed offset (at-least-once), nothing beyond 5 was committed meanwhile.
  await waitFor(() => pipeline.held().length === 2, 20_000, 'the late batch delivered again after the restart')
  expect(b.committedOffsets('envoy-audit-test', 'logs')[0]).toBe(5)
  expect(source.health().ok).toBe(true)
  expect(source.stats().consumerRestarts).toBe(2) // the first restart met the second "not me"
  expect(stoppedWith).toBeUndefined()
  // The stale delivery's ack belongs to the crashed generation: it commits nothing.
  stale.ack()
  await new Promise((r) => setTimeout(r, 300))
  expect(b.committedOffsets('envoy-audit-test', 'logs')[0]).toBe(5)
  pipeline.held()[0]!.ack()
  await waitFor(() => b.committedOffsets('envoy-audit-test', 'logs')[0] === 8, 10_000, 'the redelivered batch committed')

  // And it keeps consuming.
  pipeline.policy = () => 'ack'
  await produce(b, 'logs', { 0: 2 }, 'after')
  await waitFor(() => b.committedOffsets('envoy-audit-test', 'logs')[0] === 10, 10_000, 'records after the restart committed')
  expect(stoppedWith).toBeUndefined()
  await source.close()
  await expect(source.stopped).resolves.toBeUndefined()
}, 60_000)

test('close() during the restart backoff stops the source cleanly, without rejoining', async () => {
  const b = await broker()
  const pipeline = new ControlledPipeline()
  const source = startSource(b, pipeline, { restart: { initialMs: 60_000, maxMs: 60_000 } })
  await source.begin()
  await waitFor(() => source.health().ok, 10_000, 'joined')
  await moveCoordinator(b, 1)
  await waitFor(() => source.stats().consumerRestarts === 1, 15_000, 'a restart scheduled')
  const joinsBefore = b.requestCounts().JoinGroup ?? 0
  const t0 = Date.now()
  await source.close()
  expect(Date.now() - t0).toBeLessThan(10_000)
  await expect(source.stopped).resolves.toBeUndefined()
  expect(b.requestCounts().JoinGroup ?? 0).toBe(joinsBefore)
}, 30_000)
