import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { expect, test } from 'vitest'
import { cleanupAfterEach } from '../../helpers/cleanups.js'
import { startKafkaBroker, type KafkaTestBroker } from '../../support/kafka-broker/index.js'
import { quietKafka, shortSessions } from '../../support/kafka-broker/test-helpers.js'
import { waitFor } from './helpers.js'

const cleanups = cleanupAfterEach()

async function spawnConsumer(broker: KafkaTestBroker, sinkFile: string): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'test/sources/kafka/crash-consumer.ts', JSON.stringify({ brokers: broker.brokers, sinkFile })],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  )
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await once(child, 'exit')
    }
  })
  await once(createInterface({ input: child.stdout! }), 'line')
  return child
}

test('SIGKILL mid-stream, restart: every produced record reaches the sink or the DLQ, with no gap', async () => {
  const broker = await startKafkaBroker(shortSessions)
  cleanups.push(() => broker.close())
  broker.createTopic('crash', 3)
  broker.createTopic('crash-dlq', 1)
  const sinkFile = join(mkdtempSync(join(tmpdir(), 'crash-')), 'sink.txt')
  const producer = quietKafka(broker.brokers).producer()
  await producer.connect()
  cleanups.push(() => producer.disconnect())
  const total = 3_000
  const isBad = (i: number) => i % 97 === 0
  const produceRange = async (from: number, to: number) => {
    for (let i = from; i < to; i += 100) {
      const messages = Array.from({ length: Math.min(100, to - i) }, (_, j) => ({
        partition: (i + j) % 3,
        value: isBad(i + j) ? `bad-${i + j}` : `ok-${i + j}`,
      }))
      await producer.send({ topic: 'crash', messages })
    }
  }
  const seen = () => (existsSync(sinkFile) ? readFileSync(sinkFile, 'utf8').split('\n').filter(Boolean) : [])

  await produceRange(0, 1_500)
  const first = await spawnConsumer(broker, sinkFile)
  await waitFor(() => seen().length >= 600, 20_000, 'first consumer made progress')
  first.kill('SIGKILL')
  await once(first, 'exit')
  const seenAtKill = seen().length
  // The second half arrives after the kill, so the restarted consumer has to resume past the
  // killed one's commits (producing it concurrently let a fast first consumer finish everything
  // before the kill landed, and the mid-stream assertion below failed under load).
  await produceRange(1_500, total)

  await spawnConsumer(broker, sinkFile)
  const expected = new Set<string>()
  for (let i = 0; i < total; i++) if (!isBad(i)) expected.add(`${i % 3}/${Math.floor(i / 3)}`)
  await waitFor(() => new Set(seen()).size >= expected.size, 20_000, 'every good record in the sink')
  expect(new Set(seen())).toEqual(expected)
  expect(seenAtKill).toBeLessThan(expected.size)

  const badCount = Array.from({ length: total }, (_, i) => i).filter(isBad).length
  await waitFor(
    async () => new Set((await broker.messages('crash-dlq', 0)).map((m) => m.value?.toString())).size >= badCount,
    10_000,
    'dead letters',
  )
  const dead = new Set((await broker.messages('crash-dlq', 0)).map((m) => m.value?.toString()))
  expect(dead).toEqual(
    new Set(
      Array.from({ length: total }, (_, i) => i)
        .filter(isBad)
        .map((i) => `bad-${i}`),
    ),
  )
  await waitFor(
    () => Object.values(broker.committedOffsets('crash-group', 'crash')).reduce((a, b) => a + b, 0) === total,
    10_000,
    'all committed',
  )
})
