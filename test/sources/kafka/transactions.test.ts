// Transactions on the real broker: the source reads committed data only (kafkajs' default isolation
// level, READ_COMMITTED, which the source relies on): aborted records and the control records that
// mark a commit or an abort never become events, and nothing past an open transaction (the last
// stable offset) is delivered until it ends.
import { expect, test } from 'vitest'
import { cleanupAfterEach } from '../../helpers/cleanups.js'
import { describeKafka } from '../../helpers/real-servers.js'
import { createKafkaSource } from '../../../src/sources/kafka/kafka-source.js'
import { startKafkaBroker } from '../../support/kafka-broker/index.js'
import { quietKafka } from '../../support/kafka-broker/test-helpers.js'
import { ControlledPipeline, waitFor } from './helpers.js'
import { realAdmin, realKafka, realSourceConfig, tempTopic, uniqueName } from './real-kafka.js'

const cleanups = cleanupAfterEach()
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describeKafka('transactions', () => {
  test('aborted records and control records never become events; nothing past an open transaction is delivered until it commits', async () => {
    const admin = await realAdmin(cleanups)
    const topic = await tempTopic(admin, cleanups, 'txn')
    const kafka = realKafka()
    const tx = kafka.producer({ transactionalId: uniqueName('txn-producer'), idempotent: true, maxInFlightRequests: 1 })
    await tx.connect()
    cleanups.push(() => tx.disconnect())
    const plain = kafka.producer()
    await plain.connect()
    cleanups.push(() => plain.disconnect())
    const values = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => ({ value: `${prefix}${i}` }))

    const committed = await tx.transaction()
    await committed.send({ topic, messages: values('c', 5) })
    await committed.commit()
    const aborted = await tx.transaction()
    await aborted.send({ topic, messages: values('a', 5) })
    await aborted.abort()
    // The coordinator writes the abort marker after abort() returns: until it is there (offset 11, the
    // last stable offset then 12), a record from another producer could land before it.
    await waitFor(async () => (await admin.fetchTopicOffsets(topic))[0]?.high === '12', 10_000, 'the abort marker')
    await plain.send({ topic, messages: values('p', 2) })
    const open = await tx.transaction()
    await open.send({ topic, messages: values('o', 3) })
    await plain.send({ topic, messages: values('q', 2) }) // behind the open transaction's first record

    const pipeline = new ControlledPipeline()
    const source = createKafkaSource(realSourceConfig([topic], `${topic}-g`))
    cleanups.push(() => source.close())
    await source.start()
    await source.run(pipeline.handler)
    await waitFor(() => pipeline.acked.length >= 7, 30_000, 'committed and plain records')
    await sleep(1_500)
    const seen = () => pipeline.acked.map((r) => r.value.toString())
    // c0-c4 at offsets 0-4, the commit marker at 5, a0-a4 at 6-10, the abort marker at 11, p0-p1 at 12-13.
    expect(seen()).toEqual(['c0', 'c1', 'c2', 'c3', 'c4', 'p0', 'p1'])
    expect(pipeline.acked.map((r) => Number(r.coords.offset))).toEqual([0, 1, 2, 3, 4, 12, 13])
    // The open transaction holds back everything from its first record (offset 14, the last stable
    // offset, which is also the end kafkajs' READ_COMMITTED ListOffsets reports), q0-q1 included.
    expect(await admin.fetchTopicOffsets(topic)).toEqual([expect.objectContaining({ partition: 0, high: '14' })])

    await open.commit()
    await waitFor(() => pipeline.acked.length >= 12, 30_000, 'records of the committed transaction and after it')
    await sleep(500)
    expect(seen()).toEqual(['c0', 'c1', 'c2', 'c3', 'c4', 'p0', 'p1', 'o0', 'o1', 'o2', 'q0', 'q1'])
    // Committed up to the last data record; the trailing marker (offset 19) is skipped on the next read.
    expect(await admin.fetchTopicOffsets(topic)).toEqual([expect.objectContaining({ partition: 0, high: '20' })])
    await waitFor(() => source.stats().committed[`${topic}/0`] === 19, 10_000, 'commit')
  }, 90_000)
})

test('test broker: a transactional producer is refused clearly (transactions are not modelled; the real broker tests them)', async () => {
  const broker = await startKafkaBroker()
  cleanups.push(() => broker.close())
  broker.createTopic('logs', 1)
  const tx = quietKafka(broker.brokers).producer({ transactionalId: 'tx', idempotent: true, maxInFlightRequests: 1 })
  cleanups.push(() => tx.disconnect())
  await tx.connect()
  await expect(tx.transaction()).rejects.toThrow()
  expect(broker.protocolErrors().map((e) => e.message)).toEqual([
    expect.stringMatching(/^InitProducerId v0: transactions are not modelled by the test broker/),
  ])
})
