/**
 * The crash drill: the full Kafka → OpenSearch path against the test servers, with the service killed
 * by SIGKILL at random points and restarted. Afterwards every produced record must be in the index
 * exactly once (by its deterministic id) or in the dead-letter topic with a reason, and the index must
 * hold nothing else; and `envoy-audit verify --opensearch` must find the integrity ledger INTACT (every
 * event ledgered, one chain per partition, signed checkpoints valid) despite the kills. Used by
 * test/service/crash.test.ts (a few kills) and `npm run drill` (20+).
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Kafka, logLevel } from 'kafkajs'
import { startKafkaBroker } from './kafka-broker/index.js'
import { TestOpenSearch } from './opensearch-server/index.js'
import { startService, waitFor } from '../helpers/service-process.js'
import { runCli } from '../helpers/cli.js'
import { expectedEventId } from '../helpers/event-ids.js'
import { dlqKey, headerText } from '../drill/dlq-headers.js'

export interface DrillOptions {
  records: number
  partitions: number
  kills: number
  /** Random delay between the first acknowledgement of an incarnation and its kill, in ms. */
  minKillAfterMs: number
  maxKillAfterMs: number
  seed: number
  /** transforms.workers of the service (default: its own default, 0). */
  workers?: number
  log?: (line: string) => void
}

export interface DrillReport {
  produced: number
  expectedIndexed: number
  indexed: number
  unexpectedInIndex: number
  missing: number
  deadLettered: number
  deadLetterDuplicates: number
  kills: number
  killsMidStream: number
  /** The summary line of `envoy-audit verify --opensearch` after the drill (INTACT: ...). */
  integrity: string
  /** With `workers`: incarnations whose start-up line said they ran that many worker threads. */
  withWorkers?: number
}

const line = (i: number): string =>
  i % 20 === 19
    ? `2024-05-01T10:00:00.000000Z info sds SDS: PUSH resource=default ${i}`
    : `[2024-05-01T10:${String(Math.floor(i / 60) % 60).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}.000Z] "POST /orders/${i} HTTP/1.1" 201 - via_upstream - "-" ${i % 500} 42 7 6 "-" "go-http/1.1" "r-${i}" "orders.shop:8080" "10.0.0.7:8080" inbound|8080|| 127.0.0.6:4000 10.0.0.7:8080 10.0.2.${i % 200}:4${i % 1000} outbound_.8080_._.orders.shop.svc.cluster.local default`

function prng(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export async function runCrashDrill(opts: DrillOptions): Promise<DrillReport> {
  const log = opts.log ?? (() => undefined)
  const random = prng(opts.seed)
  const dir = mkdtempSync(join(tmpdir(), 'ea-drill-'))
  const keyFile = join(dir, 'integrity.key')
  writeFileSync(keyFile, `drill-key-${opts.seed}-0123456789abcdef\n`)
  const broker = await startKafkaBroker({ maxFetchWaitMs: 200, groupMinSessionTimeoutMs: 1_000 })
  const os = await TestOpenSearch.start()
  try {
    broker.createTopic('envoy', opts.partitions)
    broker.createTopic('envoy-dlq', 1)
    const kafka = new Kafka({ brokers: broker.brokers, logLevel: logLevel.NOTHING })
    const producer = kafka.producer()
    await producer.connect()
    for (let from = 0; from < opts.records; from += 1000) {
      const messages = []
      for (let i = from; i < Math.min(opts.records, from + 1000); i++) messages.push({ value: line(i), partition: i % opts.partitions })
      await producer.send({ topic: 'envoy', messages })
    }
    await producer.disconnect()

    const config = {
      source: {
        kind: 'kafka',
        kafka: {
          brokers: broker.brokers,
          topics: ['envoy'],
          groupId: 'ea-drill',
          fromBeginning: true,
          maxWaitTimeMs: 100,
          commitIntervalMs: 50,
          // A killed member must leave the group quickly for the restart to get its partitions.
          sessionTimeoutMs: 3000,
          brokerSessionTimeoutBounds: { minMs: 1000 }, // the broker above allows it
          heartbeatIntervalMs: 300,
          rebalanceTimeoutMs: 3000,
          batchMaxRecords: 100,
        },
      },
      // No setup on the test server: this drill is about delivery, so run is told to start without its templates.
      sink: {
        kind: 'opensearch',
        opensearch: {
          connection: { node: os.url },
          sink: { flushIntervalMs: 10, retry: { initialMs: 10, maxMs: 200 } },
          requireSetup: false,
        },
      },
      deadLetter: { kind: 'kafka', topic: 'envoy-dlq' },
      integrity: { keyFile, requireKey: true },
      service: { enabled: false },
      // With workers: info, for the start-up line that says how many worker threads the service runs.
      log: { level: opts.workers === undefined ? 'warn' : 'info' },
      ...(opts.workers === undefined ? {} : { transforms: { workers: opts.workers } }),
    }
    let withWorkers = 0
    const countWorkers = (stderr: string): void => {
      if (opts.workers !== undefined && stderr.includes(`"workers":${opts.workers}`)) withWorkers++
    }

    const acked = async (): Promise<number> =>
      os.docs('envoy-audit-events*').length + new Set((await broker.messages('envoy-dlq', 0)).map(dlqKey)).size
    let killsMidStream = 0
    for (let k = 0; k < opts.kills; k++) {
      const svc = startService(config, join(dir, `drill-${k}.yaml`))
      // Kill only once this incarnation is doing work: a kill during start-up tests nothing.
      const base = await acked()
      await waitFor(async () => (await acked()) > base || base >= opts.records, 60_000, 'progress after restart')
      const delay = opts.minKillAfterMs + Math.floor(random() * (opts.maxKillAfterMs - opts.minKillAfterMs))
      await new Promise((r) => setTimeout(r, delay))
      const before = await acked()
      svc.child.kill('SIGKILL')
      await svc.exited
      countWorkers(svc.stderr())
      // Requests the dead process had already sent may still land; let them, so the next
      // incarnation's progress is its own.
      await new Promise((r) => setTimeout(r, 300))
      if (before > base && before < opts.records) killsMidStream++
      log(`kill ${k + 1}/${opts.kills} ${delay} ms into processing: ${before}/${opts.records} acknowledged`)
    }
    const final = startService(config, join(dir, 'drill-final.yaml'))
    await waitFor(async () => (await acked()) >= opts.records, 120_000, 'every record acknowledged after the last restart')
    final.child.kill('SIGTERM')
    await final.exited
    countWorkers(final.stderr())

    // Verify: the expected id of every good record, the source coordinates of every junk one.
    const expectedIds = new Set<string>()
    const expectedDead = new Set<string>()
    for (let p = 0; p < opts.partitions; p++) {
      for (const m of await broker.messages('envoy', p)) {
        const value = m.value as Buffer
        if (value.toString().includes(' info sds ')) expectedDead.add(`${p}/${m.offset}`)
        else expectedIds.add(expectedEventId(value) ?? 'no event')
      }
    }
    const indexedIds = os.docs('envoy-audit-events*').map((d) => d._id)
    const indexedSet = new Set(indexedIds)
    const dlq = await broker.messages('envoy-dlq', 0)
    const dead = new Set(dlq.map(dlqKey))
    const withReason = dlq.every((m) => headerText(m.headers['envoy-audit.reason']).startsWith('EA_'))
    // Tamper evidence survived the kills: replays recognised, no event unledgered, every MAC valid.
    const verified = await runCli(['verify', '--opensearch', os.url, '--key-file', keyFile], {
      env: { OPENSEARCH_USERNAME: '', OPENSEARCH_PASSWORD: '' },
      timeoutMs: 300_000,
    })
    const integrity = verified.stdout.split('\n')[0] ?? ''
    if (verified.code !== 0 || !integrity.startsWith('INTACT')) {
      throw new Error(
        `verify --opensearch after the drill: exit ` +
          `${String(verified.code)}\n${verified.stdout.slice(0, 3000)}\n${verified.stderr.slice(0, 2000)}`,
      )
    }
    log(`verify: ${integrity}`)
    return {
      produced: opts.records,
      expectedIndexed: expectedIds.size,
      indexed: indexedSet.size,
      unexpectedInIndex: indexedIds.filter((id) => !expectedIds.has(id)).length,
      missing: [...expectedIds].filter((id) => !indexedSet.has(id)).length + [...expectedDead].filter((k) => !dead.has(k)).length,
      deadLettered: withReason ? dead.size : -1,
      deadLetterDuplicates: dlq.length - dead.size,
      kills: opts.kills,
      killsMidStream,
      integrity,
      ...(opts.workers === undefined ? {} : { withWorkers }),
    }
  } finally {
    await os.close()
    await broker.close()
  }
}

// Shared with the outage and real-server drills; kept in a module of its own so that those need not load the test servers.
export { dlqKey, headerText } from '../drill/dlq-headers.js'
