/**
 * The OpenSearch sink under faults, end to end: `envoy-audit run` (its own process, default sink and
 * integrity settings) consuming from the test Kafka broker into the OpenSearch test server, both in
 * child processes, the server's faults driven by this process (fault-server.ts). Two measurements,
 * read from the group's committed offsets (what the source may commit: stored AND ledgered):
 *
 * - recovery: a steady producer (BENCH_FAULTS_RATE lines/s), then a sink outage of
 *   BENCH_FAULTS_OUTAGE_SECONDS (30): the server refusing connections, or answering every bulk request
 *   503. Prints the time from the end of the outage to the first commit that moves, and to the commit
 *   that covers everything produced before the outage ended (the backlog drained).
 * - throughput: a backlog of BENCH_FAULTS_RECORDS (60k) demo mesh lines consumed with 0% and then 30%
 *   of bulk items answered 429 (a fresh server and group each), events/s from the first document indexed
 *   to the last offset committed (or what was committed after BENCH_FAULTS_TPUT_SECONDS, 120); the 0% run
 *   is the baseline of the same run. Repeated BENCH_FAULTS_REPS times (2), alternating.
 *
 * `npm run bench -- sink-faults` (about 5 minutes), or BENCH_FAULTS_ONLY=recovery|throughput.
 * The test servers are the project's own, not Kafka or OpenSearch.
 *
 * BENCH_FAULTS_KINDS=restart (or BENCH_FAULTS_REAL_OPENSEARCH=1, all three) runs the recovery against
 * the real OpenSearch node `npm run services:up` recorded in EA_SERVICES_DIR: the node is killed
 * (SIGKILL), stays down for the outage and is started again; the times count from the moment its
 * cluster health is no longer red (every primary shard active again). Give it a node of its own
 * (EA_SERVICES_DIR, EA_OPENSEARCH_PORT; docs/guarantees.md, Drills): it is stopped.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface, type Interface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { Kafka, logLevel, type Admin, type Producer } from 'kafkajs'
import { generateMeshTraffic } from '../../src/demo/mesh-traffic.js'
import { startService, type ServiceProcess } from '../helpers/service-process.js'
import { servicesOptions, startOpenSearch, stopService } from '../services/services.js'
import { startChildServer } from './servers.js'
import { emit } from './util.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const PARTITIONS = 4
const OUTAGE_S = Number(process.env.BENCH_FAULTS_OUTAGE_SECONDS ?? 30)
const RATE = Number(process.env.BENCH_FAULTS_RATE ?? 500)
const RECORDS = Number(process.env.BENCH_FAULTS_RECORDS ?? 60_000)
const REPS = Number(process.env.BENCH_FAULTS_REPS ?? 2)
const ONLY = process.env.BENCH_FAULTS_ONLY
const ITEM_RATE = Number(process.env.BENCH_FAULTS_ITEM_RATE ?? 0.3)
const TPUT_S = Number(process.env.BENCH_FAULTS_TPUT_SECONDS ?? 120)
const REAL = process.env.BENCH_FAULTS_REAL_OPENSEARCH === '1'
/** Recovery runs: BENCH_FAULTS_KINDS=refused,503,restart (restart: the real node). */
const KINDS = (process.env.BENCH_FAULTS_KINDS ?? (REAL ? 'refused,503,restart' : 'refused,503')).split(',') as (
  'refused' | '503' | 'restart'
)[]

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** The fault server child: one command, one answer. */
class FaultServer {
  private constructor(
    readonly port: number,
    private readonly child: ChildProcess,
    private readonly lines: AsyncIterator<string>,
  ) {}

  static async start(): Promise<FaultServer> {
    const child = spawn(process.execPath, ['--import', 'tsx', `${ROOT}test/bench/fault-server.ts`], {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'inherit'],
    })
    const rl: Interface = createInterface({ input: child.stdout! })
    const lines = rl[Symbol.asyncIterator]()
    const first = await lines.next()
    if (first.done === true) throw new Error('fault server exited before listening')
    return new FaultServer((JSON.parse(first.value) as { port: number }).port, child, lines)
  }

  async send(command: Record<string, unknown>): Promise<Record<string, unknown>> {
    this.child.stdin!.write(JSON.stringify(command) + '\n')
    const r = await this.lines.next()
    if (r.done === true) throw new Error('fault server exited')
    return JSON.parse(r.value) as Record<string, unknown>
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return
    const exited = new Promise((r) => this.child.once('exit', r))
    this.child.stdin!.end()
    await exited
  }
}

async function committed(admin: Admin, groupId: string, topic: string): Promise<number[]> {
  const out = new Array<number>(PARTITIONS).fill(0)
  try {
    const [t] = await admin.fetchOffsets({ groupId, topics: [topic] })
    for (const p of t?.partitions ?? []) out[p.partition] = Math.max(0, Number(p.offset))
  } catch {
    // the group does not exist yet
  }
  return out
}

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0)

function serviceConfig(brokers: string[], node: string, topic: string, groupId: string, dir: string): Record<string, unknown> {
  return {
    source: { kind: 'kafka', kafka: { brokers, topics: [topic], groupId, fromBeginning: true, maxWaitTimeMs: 100 } },
    sink: { kind: 'opensearch', opensearch: { connection: { node }, sink: {}, requireSetup: false } },
    deadLetter: { kind: 'file', path: join(dir, `dlq-${groupId}.ndjson`) },
    service: { enabled: false },
    log: { level: 'error' },
  }
}

async function stopMember(svc: ServiceProcess): Promise<void> {
  if (svc.child.exitCode === null) svc.child.kill('SIGKILL')
  await svc.exited
}

/** Sends RATE lines/s over the partitions until stopped; `produced[p]` is what each partition holds. */
function steadyProducer(producer: Producer, topic: string, lines: string[]): { produced: number[]; stop: () => Promise<void> } {
  const produced = new Array<number>(PARTITIONS).fill(0)
  let running = true
  let n = 0
  const loop = (async () => {
    while (running) {
      const t0 = Date.now()
      const messages = []
      for (let i = 0; i < RATE / 10; i++, n++) messages.push({ value: lines[n % lines.length]!, partition: n % PARTITIONS })
      await producer.send({ topic, messages })
      for (const m of messages) produced[m.partition]!++
      await sleep(Math.max(0, 100 - (Date.now() - t0)))
    }
  })()
  return { produced, stop: async () => ((running = false), await loop) }
}

/** The real node: killed and started again; `end()` resolves when its primary shards are active again. */
function realNode(): { url: string; outage: () => Promise<void>; end: () => Promise<void> } {
  const o = servicesOptions(process.env, () => undefined)
  const url = `http://127.0.0.1:${o.opensearchPort}`
  let started: Promise<unknown> = Promise.resolve()
  return {
    url,
    outage: async () => void (await stopService(o, 'opensearch', { signal: 'SIGKILL' })),
    end: async () => {
      started = startOpenSearch(o)
      started.catch(() => undefined)
      // Back = every primary shard active again (a node that answers HTTP may still be recovering them,
      // and a bulk request waits for its shard meanwhile).
      for (;;) {
        const status = await fetch(`${url}/_cluster/health`, { signal: AbortSignal.timeout(500) }).then(
          async (r) => (r.ok ? ((await r.json()) as { status?: string }).status : undefined),
          () => undefined,
        )
        if (status === 'green' || status === 'yellow') return
        await sleep(50)
      }
    },
  }
}

async function recoveryRun(
  kind: 'refused' | '503' | 'restart',
  rep: number,
  ctx: { brokers: string[]; admin: Admin; producer: Producer; lines: string[]; dir: string },
): Promise<Record<string, number>> {
  const topic = `steady-${kind}-${rep}-${Date.now()}`
  const groupId = `faults-${topic}`
  await ctx.admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }] })
  const os = kind === 'restart' ? undefined : await FaultServer.start()
  const node = kind === 'restart' ? realNode() : undefined
  const svc = startService(
    serviceConfig(ctx.brokers, node?.url ?? `http://127.0.0.1:${os!.port}`, topic, groupId, ctx.dir),
    join(ctx.dir, `${groupId}.yaml`),
  )
  const prod = steadyProducer(ctx.producer, topic, ctx.lines)
  try {
    const deadline = Date.now() + 60_000
    while (sum(await committed(ctx.admin, groupId, topic)) === 0) {
      if (Date.now() > deadline || svc.child.exitCode !== null) throw new Error(`no commit before the outage: ${svc.stderr().slice(-2000)}`)
      await sleep(100)
    }
    await sleep(5_000)
    if (node !== undefined) await node.outage()
    else await os!.send(kind === 'refused' ? { op: 'refuse' } : { op: 'requests', status: 503 })
    await sleep(OUTAGE_S * 1000)
    if (node !== undefined) await node.end()
    else await os!.send(kind === 'refused' ? { op: 'resume' } : { op: 'clear' })
    const ended = Date.now()
    const atEnd = await committed(ctx.admin, groupId, topic)
    const target = [...prod.produced]
    let firstCommitMs = -1
    let drainedMs = -1
    while (Date.now() - ended < 180_000) {
      const c = await committed(ctx.admin, groupId, topic)
      if (firstCommitMs < 0 && c.some((o, p) => o > atEnd[p]!)) firstCommitMs = Date.now() - ended
      if (c.every((o, p) => o >= target[p]!)) {
        drainedMs = Date.now() - ended
        break
      }
      await sleep(50)
    }
    return { firstCommitMs, drainedMs, backlogAtEnd: sum(target) - sum(atEnd) }
  } finally {
    await prod.stop()
    await stopMember(svc)
    await os?.stop()
  }
}

async function throughputRun(
  itemRate: number,
  rep: number,
  ctx: { brokers: string[]; admin: Admin; dir: string },
): Promise<Record<string, number>> {
  const groupId = `faults-tput-${itemRate}-${rep}`
  const os = await FaultServer.start()
  if (itemRate > 0) await os.send({ op: 'items', status: 429, rate: itemRate })
  const svc = startService(
    serviceConfig(ctx.brokers, `http://127.0.0.1:${os.port}`, 'backlog', groupId, ctx.dir),
    join(ctx.dir, `${groupId}.yaml`),
  )
  try {
    // From the first document indexed (process start-up excluded) to the last offset committed, or
    // what was committed when BENCH_FAULTS_TPUT_SECONDS ran out.
    let first = 0
    let n = 0
    const started = Date.now()
    for (;;) {
      if (first === 0 && Number((await os.send({ op: 'stats' })).docs) > 0) first = Date.now()
      n = sum(await committed(ctx.admin, groupId, 'backlog'))
      if (n >= RECORDS) break
      if (first === 0 && Date.now() - started > 120_000) throw new Error(`nothing indexed in 120 s: ${svc.stderr().slice(-2000)}`)
      if (first > 0 && Date.now() - first > TPUT_S * 1000) break
      if (svc.child.exitCode !== null) throw new Error(`envoy-audit run exited: ${svc.stderr().slice(-2000)}`)
      await sleep(100)
    }
    const seconds = (Date.now() - first) / 1000
    const stats = await os.send({ op: 'stats' })
    return {
      eventsPerSec: Math.round(n / Math.max(0.001, seconds)),
      committed: n,
      seconds: Number(seconds.toFixed(1)),
      bulkRequests: Number(stats.bulkRequests),
    }
  } finally {
    await stopMember(svc)
    await os.stop()
  }
}

export async function main(): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), 'ea-bench-faults-'))
  const broker = await startChildServer('test/support/kafka-broker/cli.ts', [
    '--partitions',
    String(PARTITIONS),
    '--max-fetch-wait-ms',
    '100',
  ])
  const brokers = [`127.0.0.1:${broker.port}`]
  const kafka = new Kafka({ brokers, logLevel: logLevel.NOTHING })
  const admin = kafka.admin()
  const producer = kafka.producer()
  const results: Record<string, unknown> = {
    bench: 'sink-faults',
    outageSeconds: OUTAGE_S,
    steadyRate: RATE,
    records: RECORDS,
    itemRate: ITEM_RATE,
  }
  try {
    await admin.connect()
    await producer.connect()
    const lines = generateMeshTraffic({ seed: 7, sessions: 4000, noise: false }).lines.map((l) => l.text)
    if (ONLY === undefined || ONLY === 'recovery') {
      for (const kind of KINDS) {
        const runs = []
        for (let rep = 0; rep < REPS; rep++) {
          const r = await recoveryRun(kind, rep, { brokers, admin, producer, lines, dir })
          process.stderr.write(`sink-faults: recovery ${kind} #${rep}: ${JSON.stringify(r)}\n`)
          runs.push(r)
        }
        results[`recovery_${kind}_firstCommitMs`] = runs.map((r) => r.firstCommitMs)
        results[`recovery_${kind}_drainedMs`] = runs.map((r) => r.drainedMs)
      }
    }
    if (ONLY === undefined || ONLY === 'throughput') {
      for (let i = 0; i < RECORDS; i += 2000) {
        const messages = []
        for (let j = i; j < Math.min(RECORDS, i + 2000); j++) messages.push({ value: lines[j % lines.length]!, partition: j % PARTITIONS })
        await producer.send({ topic: 'backlog', messages })
      }
      const base: number[] = []
      const faulty: number[] = []
      for (let rep = 0; rep < REPS; rep++) {
        for (const rate of [0, ITEM_RATE]) {
          const r = await throughputRun(rate, rep, { brokers, admin, dir })
          process.stderr.write(`sink-faults: throughput ${rate * 100}% item 429 #${rep}: ${JSON.stringify(r)}\n`)
          ;(rate === 0 ? base : faulty).push(r.eventsPerSec!)
        }
      }
      results.eventsPerSecNoFaults = base
      results.eventsPerSecItem429 = faulty
      results.item429ThroughputRatio = base.map((b, i) => Number((faulty[i]! / b).toFixed(3)))
    }
  } finally {
    await producer.disconnect().catch(() => undefined)
    await admin.disconnect().catch(() => undefined)
    await broker.stop()
  }
  emit(results)
  return results
}

if (import.meta.url === `file://${process.argv[1]}`) await main()
