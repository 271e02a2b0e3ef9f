/**
 * The real-server drills' judgements must be able to fail: planted books on the real servers, with an
 * early commit, a lost record, a junk record never dead-lettered, a duplicate in a second index behind
 * the same alias pattern and a stray document, and each one counted for what it is.
 */
import { randomUUID } from 'node:crypto'
import { Kafka, logLevel } from 'kafkajs'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { describeKafkaAndOpenSearch, kafkaBrokers, opensearchUrl } from '../helpers/real-servers.js'
import { deriveEventId } from '../../src/pipeline/event-id.js'
import { IndexBooks, TopicReader, highWatermarks, type DeadLetterRecord, type SourceRecord } from './real-books.js'
import { Books, finalBooks } from './real-checks.js'
import { dlqKey, headerText } from './dlq-headers.js'
import { textHash } from './real-traffic.js'

describeKafkaAndOpenSearch('real-server drill books', () => {
  const name = `ea-books-${randomUUID().slice(0, 8)}`
  const topic = name
  const dlqTopic = `${name}-dlq`
  const groupId = `${name}-group`
  const url = opensearchUrl ?? ''
  const kafka = new Kafka({ brokers: kafkaBrokers, logLevel: logLevel.NOTHING })
  const admin = kafka.admin()
  const lines = ['good 0', 'good 1', 'junk 2', 'good 3', 'good 4', 'junk 5'].map((l) => `[drill books] ${name} ${l}`)
  const junk = new Set([textHash(lines[2]!), textHash(lines[5]!)])
  // The planted lines are no Envoy lines: their "ids" are the rule for a bare line (its content alone).
  const id = (offset: number): string => deriveEventId(lines[offset]!)
  const source = new TopicReader<SourceRecord>(kafka, topic, `${name}-reader`, (_partition, _offset, value) => {
    const hash = textHash(value)
    return { hash, expect: junk.has(hash) ? 'dead' : deriveEventId(value.toString()) }
  })
  const dlq = new TopicReader<DeadLetterRecord>(kafka, dlqTopic, `${name}-dlq-reader`, (_p, _o, _v, headers) => ({
    key: dlqKey({ headers }),
    reason: headerText(headers['envoy-audit.reason']),
  }))
  const index = new IndexBooks(url, `${name}-events`)
  const books = new Books(admin, topic, dlqTopic, groupId, source, dlq, index, () => undefined)

  const put = async (idx: string, doc: unknown): Promise<void> => {
    const res = await fetch(`${url}/${idx}/_doc?refresh=true`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(doc),
    })
    if (!res.ok) throw new Error(`${idx}: HTTP ${res.status} ${await res.text()}`)
  }

  beforeAll(async () => {
    await admin.connect()
    await admin.createTopics({
      waitForLeaders: true,
      topics: [
        { topic, numPartitions: 1 },
        { topic: dlqTopic, numPartitions: 1 },
      ],
    })
    const producer = kafka.producer()
    await producer.connect()
    await producer.send({ topic, messages: lines.map((value) => ({ value, partition: 0 })) })
    // Only junk 2 is dead-lettered; junk 5 is not.
    await producer.send({
      topic: dlqTopic,
      messages: [
        {
          value: lines[2]!,
          headers: {
            'envoy-audit.source.partition': '0',
            'envoy-audit.source.offset': '2',
            'envoy-audit.reason': 'EA_PARSE_NOT_ACCESS_LOG: planted',
          },
        },
      ],
    })
    await producer.disconnect()
    // Indexed: good 0 and good 1; good 3 lost; good 4 twice, in two indices behind the pattern; one stray document.
    await put(`${name}-events-a`, { event: { id: id(0) } })
    await put(`${name}-events-a`, { event: { id: id(1) } })
    await put(`${name}-events-a`, { event: { id: id(4) } })
    await put(`${name}-events-b`, { event: { id: id(4) } })
    await put(`${name}-events-b`, { event: { id: 'not-from-this-topic' } })
    await Promise.all([source.start(), dlq.start()])
  }, 60_000)

  afterAll(async () => {
    await Promise.all([source.stop(), dlq.stop()])
    await admin.deleteGroups([`${name}-reader`, `${name}-dlq-reader`, groupId]).catch(() => undefined)
    await admin.deleteTopics({ topics: [topic, dlqTopic] }).catch(() => undefined)
    await fetch(`${url}/${name}-events-a,${name}-events-b`, { method: 'DELETE' })
    await admin.disconnect()
  })

  test('a commit over acknowledged records passes; one past a record neither indexed nor dead-lettered is an early commit', async () => {
    await source.caughtUp(await highWatermarks(admin, topic), 30_000)
    await admin.setOffsets({ groupId, topic, partitions: [{ partition: 0, offset: '3' }] })
    await books.checkCommits('planted 3')
    expect(books.commits).toMatchObject({ rounds: 1, skipped: 0, commitsChecked: 1, earlyCommits: 0 })

    await admin.setOffsets({ groupId, topic, partitions: [{ partition: 0, offset: '5' }] })
    await books.checkCommits('planted 5')
    expect(books.commits).toMatchObject({ rounds: 2, commitsChecked: 1, earlyCommits: 1 })
    expect(books.commits.examples[0]).toContain(`offset 3 (${id(3)})`)
    // The same early commit seen again is not counted twice.
    await books.checkCommits('planted 5 again')
    expect(books.commits.earlyCommits).toBe(1)
  }, 60_000)

  test('the final books count the lost, the duplicated, the stray and the dead letters', async () => {
    const f = await finalBooks(books)
    expect(f).toMatchObject({
      recordsInTopic: 6,
      validRecords: 4,
      junkRecords: 2,
      eventsIndexed: 5,
      distinctEventIds: 4,
      duplicates: 1,
      duplicatedIdsByTerms: 1,
      lost: 2,
      unexpectedInIndex: 1,
      deadLetters: 1,
      deadLetterCopies: 1,
      goodLinesDeadLettered: 0,
      eventsIndexedViaAliasName: null,
    })
    expect(f.lostExamples).toEqual([`0/3 ${id(3)} neither indexed nor dead-lettered`, '0/5 junk, not dead-lettered'])
    expect(await books.drained(1000)).toBe(false)
  }, 60_000)
})
