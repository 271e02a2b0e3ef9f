// Consumer session timeout against the brokers' group.min/max.session.timeout.ms (Kafka's defaults:
// 6,000 and 1,800,000 ms): the config refuses what a default broker refuses, and a broker that refuses
// at join (a stricter cluster) stops the source with a typed, non-retryable error at startup.
import { expect, test } from 'vitest'
import { cleanupAfterEach } from '../../helpers/cleanups.js'
import { describeKafka } from '../../helpers/real-servers.js'
import { loadKafkaSourceConfig } from '../../../src/sources/kafka/config.js'
import { createKafkaSource, type KafkaSource } from '../../../src/sources/kafka/kafka-source.js'
import { startKafkaBroker } from '../../support/kafka-broker/index.js'
import { ControlledPipeline, sourceConfig } from './helpers.js'
import { realAdmin, realSourceConfig, tempTopic } from './real-kafka.js'

const cleanups = cleanupAfterEach()
const minimal = { brokers: ['kafka:9092'], topics: ['envoy-logs'] }

test("config: sessionTimeoutMs must lie within the brokers' bounds, Kafka's defaults unless told otherwise", () => {
  expect(loadKafkaSourceConfig(minimal)).toMatchObject({
    sessionTimeoutMs: 30_000,
    brokerSessionTimeoutBounds: { minMs: 6_000, maxMs: 1_800_000 },
  })
  expect(() => loadKafkaSourceConfig({ ...minimal, sessionTimeoutMs: 5_999, heartbeatIntervalMs: 500 })).toThrow(
    /^source\.kafka\.sessionTimeoutMs: 5999 is below the brokers' group\.min\.session\.timeout\.ms \(6000/,
  )
  expect(() => loadKafkaSourceConfig({ ...minimal, sessionTimeoutMs: 1_800_000, brokerSessionTimeoutBounds: { maxMs: 300_000 } })).toThrow(
    /^source\.kafka\.sessionTimeoutMs: 1800000 is above the brokers' group\.max\.session\.timeout\.ms \(300000/,
  )
  expect(() => loadKafkaSourceConfig({ ...minimal, brokerSessionTimeoutBounds: { minMs: 10_000, maxMs: 9_000 } })).toThrow(
    /brokerSessionTimeoutBounds\.maxMs/,
  )
  // A cluster configured with a lower minimum is declared, and then a shorter timeout is accepted.
  expect(
    loadKafkaSourceConfig({ ...minimal, sessionTimeoutMs: 3_000, heartbeatIntervalMs: 500, brokerSessionTimeoutBounds: { minMs: 1_000 } }),
  ).toMatchObject({ sessionTimeoutMs: 3_000 })
})

/** Starts a source whose sessionTimeoutMs the broker will refuse; returns its startup error. */
async function refusedAtJoin(source: KafkaSource): Promise<unknown> {
  cleanups.push(() => source.close())
  await source.start()
  return await source.run(new ControlledPipeline().handler).then(
    () => undefined,
    (e: unknown) => e,
  )
}

const expectRefusal = (err: unknown, timeout: number): void => {
  expect(err).toMatchObject({
    code: 'EA_CONFIG_INVALID',
    retryable: false,
    message: expect.stringMatching(
      new RegExp(`^source\\.kafka\\.sessionTimeoutMs: the broker refused ${timeout} ms at join \\(INVALID_SESSION_TIMEOUT\\)`),
    ),
  })
}

test("test broker: enforces Kafka's default bounds at join, and the source stops at startup with a typed, non-retryable error", async () => {
  const broker = await startKafkaBroker()
  cleanups.push(() => broker.close())
  broker.createTopic('logs', 1)
  // The operator declared a laxer cluster than the broker really is.
  const source = createKafkaSource(sourceConfig(broker, { sessionTimeoutMs: 3_000 }))
  expectRefusal(await refusedAtJoin(source), 3_000)
  await expect(source.stopped).rejects.toMatchObject({ code: 'EA_CONFIG_INVALID', retryable: false })
  expect(broker.group('envoy-audit-test')?.members ?? []).toEqual([])
})

test('test broker: the bounds are configurable, like group.min/max.session.timeout.ms', async () => {
  const broker = await startKafkaBroker({ groupMinSessionTimeoutMs: 1_000, groupMaxSessionTimeoutMs: 2_000 })
  cleanups.push(() => broker.close())
  broker.createTopic('logs', 1)
  expectRefusal(await refusedAtJoin(createKafkaSource(sourceConfig(broker, { sessionTimeoutMs: 3_000 }))), 3_000)
  const ok = createKafkaSource(sourceConfig(broker, { groupId: 'ok', sessionTimeoutMs: 1_500 }))
  expect(await refusedAtJoin(ok)).toBeUndefined()
  expect(broker.group('ok')?.members).toHaveLength(1)
})

describeKafka('session timeout bounds', () => {
  test('a broker with default settings refuses 3,000 ms at join; the source stops at startup with a typed, non-retryable error', async () => {
    const admin = await realAdmin(cleanups)
    const topic = await tempTopic(admin, cleanups, 'session')
    const source = createKafkaSource(
      realSourceConfig([topic], `${topic}-g`, {
        sessionTimeoutMs: 3_000,
        heartbeatIntervalMs: 300,
        brokerSessionTimeoutBounds: { minMs: 1_000 },
      }),
    )
    expectRefusal(await refusedAtJoin(source), 3_000)
    await expect(source.stopped).rejects.toMatchObject({ code: 'EA_CONFIG_INVALID' })
  }, 60_000)

  test("6,000 ms, the broker's default minimum, is accepted", async () => {
    const admin = await realAdmin(cleanups)
    const topic = await tempTopic(admin, cleanups, 'session-ok')
    const source = createKafkaSource(realSourceConfig([topic], `${topic}-g`, { sessionTimeoutMs: 6_000 }))
    expect(await refusedAtJoin(source)).toBeUndefined()
    const group = await admin.describeGroups([`${topic}-g`])
    expect(group.groups[0]).toMatchObject({ state: 'Stable', members: [expect.anything()] })
  }, 60_000)
})
