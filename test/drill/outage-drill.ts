/**
 * The outage drill: `envoy-audit run` over the test Kafka broker and OpenSearch test server while the
 * dependencies fail, one after the other, each for `phaseMs`, with fresh records produced at the start
 * of every phase so there is always work in flight:
 *
 *   503      every bulk request answered 503, and 40% of items 429 when one gets through
 *   refused  OpenSearch not listening (connection refused), and (`drop`) Kafka client connections dropped twice
 *   dlq      every Produce to the dead-letter topic failing (the DLQ unavailable)
 *   recovery everything healthy again
 *
 * Throughout, every 250 ms: no partition's committed offset may pass a record that is neither indexed
 * nor dead-lettered (nothing committed early), and the service's RSS is sampled from /proc. At the end
 * every record must be indexed by its deterministic id or dead-lettered, nothing else indexed, and the
 * committed offsets at the end of every partition (full recovery). An event counts as acknowledged
 * only once it is indexed AND in the integrity ledger (the sink acknowledges after both), and
 * `envoy-audit verify --opensearch` must find the ledger INTACT at the end. Used by
 * test/service/outage.test.ts (short phases) and `npm run drill` (long ones).
 */
import { dlqKey } from '../support/crash-drill.js'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Kafka, logLevel } from 'kafkajs'
import { startKafkaBroker, type KafkaTestBroker } from '../support/kafka-broker/index.js'
import { TestOpenSearch, failByRate } from '../support/opensearch-server/index.js'
import { startService, waitFor } from '../helpers/service-process.js'
import { runCli } from '../helpers/cli.js'
import { expectedEventId } from '../helpers/event-ids.js'
import { decodeLedgerDoc } from '../../src/integrity/opensearch-blocks.js'
import { rssMb } from '../support/proc-stats.js'

export interface OutageOptions {
  /** Records produced in total, spread over the four phases. */
  records: number
  partitions: number
  phaseMs: number
  /** Fault phases to run (default all, in this order); skipped ones still produce their records. */
  phases?: readonly ('503' | 'refused' | 'drop' | 'dlq')[]
  /** The service's log level (default error). */
  serviceLogLevel?: string
  log?: (line: string) => void
}

export interface OutageReport {
  produced: number
  expectedIndexed: number
  indexed: number
  unexpectedInIndex: number
  missing: number
  deadLettered: number
  /** Times a committed offset was seen past an unacknowledged record. */
  earlyCommits: number
  commitChecks: number
  /** Acknowledged records at the end of each fault phase (progress made while degraded). */
  ackedAfter: Record<string, number>
  /** Committed offsets at the end equal the high watermarks. */
  fullyCommitted: boolean
  recoveryMs: number
  rssMaxMb: number
  rssMedianMb: number
  exitCode: number | string
  /** The service's last log lines (error level), for a failing run. */
  stderrTail: string
  /** The service's final `envoy-audit run: read N records: ...` line, wherever it stands in stderr. */
  summary: string
  /** The summary line of `envoy-audit verify --opensearch` at the end (INTACT: ...). */
  integrity: string
}

const JUNK_EVERY = 20
const line = (i: number): string =>
  i % JUNK_EVERY === JUNK_EVERY - 1
    ? `2024-05-01T10:00:00.000000Z info ads ADS: PUSH request for node ${i}`
    : `[2024-05-01T11:${String(Math.floor(i / 60) % 60).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}.000Z] "GET /inventory/${i}?token=t${i} HTTP/1.1" 200 - via_upstream - "-" 0 ${i % 900} 4 3 "-" "go-http/1.1" "o-${i}" "inventory.shop:8080" "10.0.0.8:8080" inbound|8080|| 127.0.0.6:4000 10.0.0.8:8080 10.0.3.${i % 200}:5${i % 1000} outbound_.8080_._.inventory.shop.svc.cluster.local default`

export async function runOutageDrill(opts: OutageOptions): Promise<OutageReport> {
  const log = opts.log ?? (() => undefined)
  const dir = mkdtempSync(join(tmpdir(), 'ea-outage-'))
  const broker = await startKafkaBroker({ maxFetchWaitMs: 200 })
  // Below the ephemeral port range: while it is stopped, a reconnecting client could otherwise
  // connect to itself on that port (TCP simultaneous open) and keep it from being listened on again.
  const os = await TestOpenSearch.start({ port: 21_000 + (process.pid % 9_000) })
  const producer = new Kafka({ brokers: broker.brokers, logLevel: logLevel.NOTHING }).producer()
  let produced = 0
  const produce = async (n: number): Promise<void> => {
    const messages = []
    for (let i = produced; i < Math.min(opts.records, produced + n); i++) messages.push({ value: line(i), partition: i % opts.partitions })
    produced += messages.length
    for (let k = 0; k < messages.length; k += 1000) await producer.send({ topic: 'envoy', messages: messages.slice(k, k + 1000) })
  }
  try {
    broker.createTopic('envoy', opts.partitions)
    broker.createTopic('envoy-dlq', 1)
    await producer.connect()
    const config = {
      source: {
        kind: 'kafka',
        kafka: {
          brokers: broker.brokers,
          topics: ['envoy'],
          groupId: 'ea-outage',
          fromBeginning: true,
          maxWaitTimeMs: 100,
          commitIntervalMs: 50,
          sessionTimeoutMs: 6000,
          heartbeatIntervalMs: 500,
          batchMaxRecords: 200,
        },
      },
      // No setup on the test server: this drill is about delivery, so run is told to start without its templates.
      sink: {
        kind: 'opensearch',
        opensearch: {
          connection: { node: os.url, requestTimeoutMs: 2000 },
          sink: { flushIntervalMs: 10, retry: { initialMs: 20, maxMs: 500 } },
          requireSetup: false,
        },
      },
      deadLetter: { kind: 'kafka', topic: 'envoy-dlq' },
      // Short: a stop that hangs should cost the drill seconds, not half a minute.
      service: { enabled: false, shutdownTimeoutSeconds: 5 },
      log: { level: opts.serviceLogLevel ?? 'error' },
    }
    const svc = startService(config, join(dir, 'outage.yaml'))
    const expected = new Map<string, string>() // `${partition}/${offset}` → event id, or 'dead'
    const acked = new Set<string>()
    let indexedIds = new Set<string>()
    let dead = new Set<string>()
    const refresh = async (): Promise<void> => {
      for (let p = 0; p < opts.partitions; p++) {
        for (const m of await broker.messages('envoy', p)) {
          const k = `${p}/${m.offset}`
          if (expected.has(k)) continue
          const value = m.value as Buffer
          expected.set(k, value.toString().includes(' info ads ') ? 'dead' : (expectedEventId(value) ?? 'dead'))
        }
      }
      // The ledger first: an event ledgered is always indexed already, so reading it first never credits too much.
      const ledgered = new Set(
        os.docs('envoy-audit-integrity-ledger').flatMap((d) => decodeLedgerDoc(d._id, d._source)?.entries.map((e) => e.event_id) ?? []),
      )
      indexedIds = new Set(os.docs('envoy-audit-events*').map((d) => d._id))
      dead = new Set((await broker.messages('envoy-dlq', 0)).map(dlqKey))
      for (const [k, v] of expected) if (!acked.has(k) && (v === 'dead' ? dead.has(k) : indexedIds.has(v) && ledgered.has(v))) acked.add(k)
    }
    let earlyCommits = 0
    let commitChecks = 0
    const rss: number[] = []
    let checking = false
    const check = async (): Promise<void> => {
      if (checking) return
      checking = true
      try {
        const r = rssMb(svc.child.pid)
        if (r !== undefined) rss.push(r)
        // Read the commits before the acknowledgements: those only grow, so a race can only hide a
        // violation that the next round sees, never invent one.
        const committed = broker.committedOffsets('ea-outage', 'envoy')
        await refresh()
        for (const [p, c] of Object.entries(committed)) {
          commitChecks++
          for (let o = 0; o < c; o++) {
            if (!acked.has(`${p}/${o}`)) {
              earlyCommits++
              log(`EARLY COMMIT: partition ${p} committed ${c} but offset ${o} is not acknowledged`)
              break
            }
          }
        }
      } finally {
        checking = false
      }
    }
    const timer = setInterval(() => void check(), 250)
    const perPhase = Math.ceil(opts.records / 4)
    const ackedAfter: Record<string, number> = {}
    const on = (p: '503' | 'refused' | 'drop' | 'dlq'): boolean => opts.phases === undefined || opts.phases.includes(p)
    try {
      await produce(perPhase)
      await waitFor(async () => (await refresh(), acked.size > 0), 30_000, 'first acknowledgement')

      log('phase 503: bulk requests answered 503, items 429')
      if (on('503')) {
        os.faults.failRequests(/_bulk/, 503, 1_000_000)
        os.faults.item = failByRate(429, 0.4, 'outage')
      }
      await produce(perPhase)
      await sleep(opts.phaseMs)
      os.faults.clear()
      ackedAfter['503'] = acked.size

      log('phase refused: OpenSearch down, Kafka connections dropped')
      if (on('refused')) await os.stopListening()
      if (on('drop')) broker.faults.dropConnections()
      await produce(perPhase)
      await sleep(opts.phaseMs / 2)
      if (on('drop')) broker.faults.dropConnections()
      await sleep(opts.phaseMs / 2)
      await os.resume()
      ackedAfter.refused = acked.size

      log('phase dlq: dead-letter produce failing')
      // Produced first: the fault hits every Produce, the drill's own included.
      await produce(opts.records)
      if (on('dlq')) broker.faults.failNext('Produce', 6 /* NOT_LEADER_FOR_PARTITION */, 100_000)
      await sleep(opts.phaseMs)
      broker.faults.clear()
      ackedAfter.dlq = acked.size

      log('recovery')
      const started = Date.now()
      await waitFor(async () => (await refresh(), acked.size >= produced), 300_000, 'every record acknowledged after recovery')
      const recoveryMs = Date.now() - started
      await waitFor(() => fullyCommitted(broker, opts.partitions), 30_000, 'offsets committed to the end').catch(() => undefined)
      await check()
      const committedAll = fullyCommitted(broker, opts.partitions)
      svc.child.kill('SIGTERM')
      const exitCode = await svc.exited
      const verified = await runCli(['verify', '--opensearch', os.url], {
        env: { OPENSEARCH_USERNAME: '', OPENSEARCH_PASSWORD: '', ENVOY_AUDIT_INTEGRITY_KEY: '' },
        timeoutMs: 300_000,
      })
      const integrity = verified.stdout.split('\n')[0] ?? ''
      if (verified.code !== 0 || !integrity.startsWith('INTACT')) {
        throw new Error(
          `verify --opensearch after the outage drill: exit ` +
            `${String(verified.code)}\n${verified.stdout.slice(0, 3000)}\n${verified.stderr.slice(0, 2000)}`,
        )
      }
      log(`verify: ${integrity}`)
      const expectedIds = [...expected.values()].filter((v) => v !== 'dead')
      const docs = os.docs('envoy-audit-events*').map((d) => d._id)
      const sorted = [...rss].sort((a, b) => a - b)
      return {
        produced,
        expectedIndexed: expectedIds.length,
        indexed: indexedIds.size,
        unexpectedInIndex: docs.filter((id) => !expectedIds.includes(id)).length,
        missing: [...expected].filter(([k, v]) => (v === 'dead' ? !dead.has(k) : !indexedIds.has(v))).length,
        deadLettered: dead.size,
        earlyCommits,
        commitChecks,
        ackedAfter,
        fullyCommitted: committedAll,
        recoveryMs,
        rssMaxMb: Math.round(sorted.at(-1) ?? 0),
        rssMedianMb: Math.round(sorted[Math.floor(sorted.length / 2)] ?? 0),
        exitCode,
        stderrTail: svc.stderr().slice(-3000),
        summary: /^envoy-audit run: .*$/m.exec(svc.stderr())?.[0] ?? '',
        integrity,
      }
    } finally {
      clearInterval(timer)
      if (svc.child.exitCode === null) svc.child.kill('SIGKILL')
    }
  } finally {
    await producer.disconnect().catch(() => undefined)
    await os.close()
    await broker.close()
  }
}

function fullyCommitted(broker: KafkaTestBroker, partitions: number): boolean {
  const committed = broker.committedOffsets('ea-outage', 'envoy')
  for (let p = 0; p < partitions; p++) if (committed[p] !== broker.highWatermark('envoy', p)) return false
  return true
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
