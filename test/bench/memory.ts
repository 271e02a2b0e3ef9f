/**
 * Memory under a large backlog and a stalled sink: the test Kafka broker (child process) holds a
 * backlog of demo mesh lines, and every bulk request to the test OpenSearch server answers 503, so
 * the sink retries with backoff and nothing is ever acknowledged. What must bound envoy-audit's
 * memory is the Kafka source's in-flight budget (source.kafka.inFlight) pausing the partitions, not
 * the size of the backlog. Prints the peak RSS of the `run` process over the stall, and the baseline
 * of the same run: the same process idle on an empty topic. Target: peak ≤ 300 MB.
 *
 * The OpenSearch test server runs in this process (it only answers 503 here, so it costs nothing
 * that is measured), keeping one recorded request so it holds no bodies.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Kafka, logLevel } from 'kafkajs'
import { generateMeshTraffic } from '../../src/demo/mesh-traffic.js'
import { TestOpenSearch } from '../support/opensearch-server/index.js'
import { startService, type ServiceProcess } from '../helpers/service-process.js'
import { startChildServer, rssMb } from './servers.js'
import { emit } from './util.js'
import { buildDist } from '../helpers/build-dist.js'
import { REPO_ROOT } from '../helpers/cli.js'

const RECORDS = Number(process.env.BENCH_MEMORY_RECORDS ?? 200_000)
const STALL_SECONDS = Number(process.env.BENCH_MEMORY_SECONDS ?? 30)
const PARTITIONS = 4
/** Extra source.kafka options as JSON, to compare budgets: BENCH_MEMORY_SOURCE='{"inFlight":{"maxRecords":5000}}'. */
const SOURCE_OVERRIDES = JSON.parse(process.env.BENCH_MEMORY_SOURCE ?? '{}') as Record<string, unknown>
/** transforms.workers of the `run` process (auto, or a number): BENCH_MEMORY_WORKERS=2 holds the stall with two worker threads. */
const WORKERS =
  process.env.BENCH_MEMORY_WORKERS === undefined || process.env.BENCH_MEMORY_WORKERS === 'auto'
    ? 'auto'
    : Number(process.env.BENCH_MEMORY_WORKERS)

/** Peak and last RSS of a process, sampled every 200 ms for `seconds`. */
async function sample(proc: ServiceProcess, seconds: number): Promise<{ peak: number; last: number }> {
  let peak = 0
  let last = 0
  const until = Date.now() + seconds * 1000
  while (Date.now() < until) {
    if (proc.child.exitCode !== null) throw new Error(`envoy-audit run exited early: ${proc.stderr().slice(-2000)}`)
    last = rssMb(proc.child.pid ?? 0)
    peak = Math.max(peak, last)
    await new Promise((r) => setTimeout(r, 200))
  }
  return { peak, last }
}

async function stop(proc: ServiceProcess): Promise<void> {
  proc.child.kill('SIGKILL')
  await proc.exited
}

export async function main(): Promise<Record<string, unknown>> {
  // `run` starts from dist/ (test/helpers/cli.ts): built from the sources first, as the tests do.
  buildDist({ root: REPO_ROOT, src: `${REPO_ROOT}src`, outDir: `${REPO_ROOT}dist` })
  const dir = mkdtempSync(join(tmpdir(), 'ea-bench-mem-'))
  const broker = await startChildServer('test/support/kafka-broker/cli.ts', [
    '--partitions',
    String(PARTITIONS),
    '--max-fetch-wait-ms',
    '100',
  ])
  const brokers = [`127.0.0.1:${broker.port}`]
  const os = await TestOpenSearch.start({ maxRecorded: 1 })
  os.faults.failRequests(/^POST \/_bulk$/, 503, Number.MAX_SAFE_INTEGER)
  const config = (topic: string) => ({
    source: {
      kind: 'kafka',
      kafka: { brokers, topics: [topic], groupId: `bench-mem-${topic}`, fromBeginning: true, maxWaitTimeMs: 100, ...SOURCE_OVERRIDES },
    },
    sink: { kind: 'opensearch', opensearch: { connection: { node: `http://127.0.0.1:${os.port}` }, sink: {}, requireSetup: false } },
    deadLetter: { kind: 'file', path: join(dir, `dlq-${topic}.ndjson`) },
    transforms: { workers: WORKERS },
    service: { enabled: false },
    log: { level: 'error' },
  })
  const results: Record<string, unknown> = {
    bench: 'memory',
    records: RECORDS,
    stallSeconds: STALL_SECONDS,
    sourceOverrides: SOURCE_OVERRIDES,
    workers: WORKERS,
    target: 300,
  }
  try {
    const kafka = new Kafka({ brokers, logLevel: logLevel.NOTHING })
    const producer = kafka.producer()
    await producer.connect()
    const lines = generateMeshTraffic({ seed: 5, sessions: 4000, noise: false }).lines.map((l) => l.text)
    let backlogBytes = 0
    for (let i = 0; i < RECORDS; i += 2000) {
      const messages = []
      for (let j = i; j < Math.min(RECORDS, i + 2000); j++) {
        const value = lines[j % lines.length] as string
        backlogBytes += value.length
        messages.push({ value, partition: j % PARTITIONS })
      }
      await producer.send({ topic: 'backlog', messages })
    }
    // run refuses a topic that does not exist: the idle baseline's topic gets one record.
    await producer.send({ topic: 'idle', messages: [{ value: lines[0] as string }] })
    await producer.disconnect()
    results.backlogMb = Math.round(backlogBytes / 1024 / 1024)

    // Baseline: the same process consuming an empty topic (code, heap and clients, no records).
    const idle = startService(config('idle'), join(dir, 'idle.yaml'))
    results.idleRssMb = (await sample(idle, 8)).peak
    await stop(idle)

    const stalled = startService(config('backlog'), join(dir, 'backlog.yaml'))
    const { peak, last } = await sample(stalled, STALL_SECONDS)
    await stop(stalled)
    results.peakRssMb = peak
    results.lastRssMb = last
    // Proof that the pipeline reached the sink and was held there, not that it never started.
    results.bulkRequestsRefused = Number.MAX_SAFE_INTEGER - os.faults.pendingRequestFaults()
  } finally {
    await os.close()
    await broker.stop()
  }
  emit(results)
  return results
}

if (import.meta.url === `file://${process.argv[1]}`) await main()
