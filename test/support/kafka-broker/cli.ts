// Runs the test broker in its own process (benchmarks, crash tests):
//   tsx test/support/kafka-broker/cli.ts [--port N] [--partitions N] [--max-fetch-wait-ms N]
// Prints {"port":N} on stdout once listening; exits on SIGTERM/SIGINT or when a piped stdin closes.
import { fstatSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { startKafkaBroker } from './index.js'

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    partitions: { type: 'string', default: '1' },
    'max-fetch-wait-ms': { type: 'string' },
    'no-auto-create': { type: 'boolean', default: false },
  },
})

const maxWait = values['max-fetch-wait-ms']
const broker = await startKafkaBroker({
  port: Number(values.port),
  defaultPartitions: Number(values.partitions),
  autoCreateTopics: !values['no-auto-create'],
  ...(maxWait !== undefined ? { maxFetchWaitMs: Number(maxWait) } : {}),
})
process.stdout.write(`${JSON.stringify({ port: broker.port })}\n`)

const stop = async (): Promise<void> => {
  await broker.close()
  process.exit(0)
}
process.once('SIGTERM', () => void stop())
process.once('SIGINT', () => void stop())
// A parent that dies without signalling us must not leave an orphaned broker behind; only
// watched when stdin is a pipe, since /dev/null would end at once.
const stdin = fstatSync(0)
if (stdin.isFIFO() || stdin.isSocket()) {
  process.stdin.on('end', () => void stop())
  process.stdin.resume()
}
