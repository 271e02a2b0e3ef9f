/**
 * kafkajs' own log lines reach the service's real pino logger (not a test double): a logger copied with
 * object spread loses pino's prototype, and the first kafkajs warning through it threw inside kafkajs,
 * which crashed the consumer for good (seen in the real-rebalance drill when a second member joined).
 */
import { PassThrough } from 'node:stream'
import { expect, test } from 'vitest'
import { cleanupAfterEach } from '../../helpers/cleanups.js'
import { createLogger } from '../../../src/service/logger.js'
import { createKafkaSource } from '../../../src/sources/kafka/kafka-source.js'
import { ErrorCode, startKafkaBroker } from '../../support/kafka-broker/index.js'
import { quietKafka, shortSessions } from '../../support/kafka-broker/test-helpers.js'
import { ControlledPipeline, sourceConfig, waitFor } from './helpers.js'

const cleanups = cleanupAfterEach()

test("kafkajs warnings and errors go through the service's pino logger, and the consumer keeps running", async () => {
  const broker = await startKafkaBroker(shortSessions)
  cleanups.push(() => broker.close())
  broker.createTopic('logs', 1)
  const out = new PassThrough()
  let logged = ''
  out.on('data', (d: Buffer) => (logged += d.toString()))
  const source = createKafkaSource(sourceConfig(broker), { logger: createLogger({ level: 'debug', destination: out }) })
  cleanups.push(() => source.close())
  const pipeline = new ControlledPipeline()
  await source.start()
  await source.run(pipeline.handler)
  // Retriable fetch errors: kafkajs logs them (ERROR/WARN) through the source's log creator.
  broker.faults.failNext('Fetch', ErrorCode.NOT_LEADER_FOR_PARTITION, 2)
  const producer = quietKafka(broker.brokers).producer()
  await producer.connect()
  cleanups.push(() => producer.disconnect())
  await producer.send({ topic: 'logs', messages: [{ value: 'one' }, { value: 'two' }] })
  await waitFor(() => pipeline.acked.length === 2, 15_000, 'both records delivered after the fetch errors')
  // A second member joins the group: kafkajs warns about the rebalance through the same logger.
  const other = quietKafka(broker.brokers).consumer({
    groupId: 'envoy-audit-test',
    sessionTimeout: 3_000,
    heartbeatInterval: 100,
    rebalanceTimeout: 3_000,
  })
  await other.connect()
  cleanups.push(() => other.disconnect())
  await other.subscribe({ topic: 'logs', fromBeginning: true })
  await other.run({ eachMessage: async () => undefined })
  await waitFor(() => logged.includes('"level":40'), 15_000, 'a kafkajs warning')
  await waitFor(() => source.stats().rebalances >= 1, 15_000, 'the source went through the rebalance')
  const kafkajsLines = logged
    .split('\n')
    .filter((l) => l.includes('"kafkajs"'))
    .map((l) => JSON.parse(l) as { component: string; level: number })
  expect(kafkajsLines.length).toBeGreaterThan(0)
  expect(kafkajsLines.every((l) => l.component === 'kafka-source' && l.level >= 40)).toBe(true)
  expect(new Set(kafkajsLines.map((l) => l.level))).toEqual(new Set([40, 50]))
  expect(logged).not.toMatch(/consumer crashed/)
  await expect(
    Promise.race([
      source.stopped.then(
        () => 'stopped',
        () => 'crashed',
      ),
      new Promise((r) => setTimeout(() => r('running'), 500)),
    ]),
  ).resolves.toBe('running')
})
