/**
 * `envoy-audit demo-produce --brokers HOST:PORT --topic envoy-logs`: publishes the simulated mesh
 * traffic (the `demo` generator: a small shop mesh with planted incidents) to a Kafka topic, as the
 * collectors would: Fluent Bit JSON records and raw CRI lines, keyed by pod so each pod's lines stay
 * in order on one partition. It feeds the docker-compose stack; `--start now` (the default) shifts
 * the simulated window to end now, so dashboards and monitors looking at recent time see it.
 */
import type { Command } from 'commander'
import { CompressionTypes, type Kafka } from 'kafkajs'
import { createKafkaClient } from '../connections/kafka.js'
import { EnvoyAuditError } from '../errors.js'
import { generateMeshTraffic, MESH_TRAFFIC_DEFAULTS } from '../demo/mesh-traffic.js'

interface DemoProduceOptions {
  brokers?: string
  topic: string
  seed: string
  sessions: string
  minutes: string
  start: string
  batch: string
  clientId: string
  noise: boolean
  createTopic?: string
}

export interface DemoProduceResult {
  messages: number
  bytes: number
  incidents: number
  window: { start: string; end: string }
  elapsedMs: number
}

function integer(name: string, value: string, min: number, max: number): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < min || n > max)
    throw new EnvoyAuditError('EA_USAGE', `${name} must be an integer from ${min} to ${max}, got "${value}"`)
  return n
}

export interface ProduceMeshTrafficOptions {
  brokers: string[]
  topic: string
  seed: number
  sessions: number
  durationMinutes: number
  /** ISO 8601 start of the simulated window, or 'now' for a window that ends now. */
  start: string
  batchSize: number
  clientId: string
  noise: boolean
  now?: number
  /** kafkajs retries while connecting and producing; default 10 (about a minute for a starting broker). */
  retries?: number
  /** Create the topic with this many partitions unless it exists. */
  createTopicPartitions?: number
}

/** Creates the topic unless it exists; the broker's default replication factor applies. */
async function ensureTopic(kafka: Kafka, topic: string, partitions: number): Promise<void> {
  const admin = kafka.admin()
  try {
    await admin.connect()
    await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true })
  } catch (err) {
    throw new EnvoyAuditError('EA_SOURCE_UNAVAILABLE', `creating topic ${topic}: ${(err as Error).message}`, { cause: err })
  } finally {
    await admin.disconnect().catch(() => undefined)
  }
}

/** Generates the traffic and publishes it; resolves when every message is acknowledged (acks=-1). */
export async function produceMeshTraffic(o: ProduceMeshTrafficOptions): Promise<DemoProduceResult> {
  const t0 = Date.now()
  const start = o.start === 'now' ? new Date((o.now ?? Date.now()) - o.durationMinutes * 60_000).toISOString() : o.start
  if (!Number.isFinite(Date.parse(start)))
    throw new EnvoyAuditError('EA_USAGE', `--start must be an ISO 8601 time or "now", got "${o.start}"`)
  const traffic = generateMeshTraffic({ seed: o.seed, sessions: o.sessions, durationMinutes: o.durationMinutes, start, noise: o.noise })
  const kafka = await createKafkaClient(
    {
      clientId: o.clientId,
      brokers: o.brokers,
      // The broker may still be starting: keep trying for about a minute before giving up.
      retry: { retries: o.retries ?? 10, initialMs: 300, maxMs: 10_000 },
      // Failures end the command with a typed error; kafkajs' retry lines would only be noise.
      log: 'off',
    },
    {},
    'demo-produce',
    'demo-producer',
  )
  if (o.createTopicPartitions !== undefined) await ensureTopic(kafka, o.topic, o.createTopicPartitions)
  const producer = kafka.producer({ allowAutoTopicCreation: false })
  let bytes = 0
  try {
    await producer.connect()
  } catch (err) {
    throw new EnvoyAuditError('EA_SOURCE_UNAVAILABLE', `Kafka brokers ${o.brokers.join(',')} unreachable: ${(err as Error).message}`, {
      cause: err,
    })
  }
  try {
    for (let i = 0; i < traffic.lines.length; i += o.batchSize) {
      const messages = traffic.lines.slice(i, i + o.batchSize).map((l) => {
        bytes += Buffer.byteLength(l.text)
        return { key: `${l.namespace}/${l.pod}`, value: l.text, timestamp: String(l.writtenMs) }
      })
      await producer.send({ topic: o.topic, acks: -1, compression: CompressionTypes.GZIP, messages })
    }
  } catch (err) {
    if (
      /does not host this topic-partition/.test(String((err as Error).message) + String((err as { cause?: Error }).cause?.message ?? ''))
    ) {
      throw new EnvoyAuditError(
        'EA_USAGE',
        `topic ${o.topic} does not exist on ${o.brokers.join(',')}: create it, or pass --create-topic <partitions>`,
        { cause: err },
      )
    }
    throw err
  } finally {
    await producer.disconnect()
  }
  return { messages: traffic.lines.length, bytes, incidents: traffic.incidents.length, window: traffic.window, elapsedMs: Date.now() - t0 }
}

export function registerDemoProduce(program: Command): void {
  program
    .command('demo-produce')
    .description('publish the simulated mesh traffic (with planted incidents) to a Kafka topic, as Fluent Bit and a CRI forwarder would')
    .option('--brokers <list>', 'comma-separated host:port list (or KAFKA_BROKERS)')
    .option('--topic <name>', 'topic to publish to', 'envoy-logs')
    .option('--seed <n>', 'PRNG seed: the same seed gives the same lines', String(MESH_TRAFFIC_DEFAULTS.seed))
    .option('--sessions <n>', 'user sessions to simulate', String(MESH_TRAFFIC_DEFAULTS.sessions))
    .option('--minutes <n>', 'length of the simulated window', String(MESH_TRAFFIC_DEFAULTS.durationMinutes))
    .option('--start <time>', 'start of the simulated window (ISO 8601), or "now" for a window ending now', 'now')
    .option('--batch <n>', 'messages per produce request', '500')
    .option('--client-id <id>', 'Kafka client id', 'envoy-audit-demo-producer')
    .option('--no-noise', 'leave out the non-access-log lines a real istio-proxy stream carries')
    .option(
      '--create-topic <partitions>',
      'create the topic with this many partitions first, if it does not exist (replication factor: the broker default)',
    )
    .action(async (opts: DemoProduceOptions) => {
      const list = opts.brokers ?? process.env.KAFKA_BROKERS
      if (list === undefined || list.trim() === '')
        throw new EnvoyAuditError('EA_USAGE', '--brokers <host:port,...> (or KAFKA_BROKERS) is required')
      const brokers = list
        .split(',')
        .map((b) => b.trim())
        .filter((b) => b !== '')
      for (const b of brokers) if (!/^[^\s:]+:\d{1,5}$/.test(b)) throw new EnvoyAuditError('EA_USAGE', `--brokers: "${b}" is not host:port`)
      if (!/^[A-Za-z0-9._-]{1,249}$/.test(opts.topic))
        throw new EnvoyAuditError('EA_USAGE', `--topic: "${opts.topic}" is not a valid topic name`)
      const r = await produceMeshTraffic({
        brokers,
        topic: opts.topic,
        seed: integer('--seed', opts.seed, 0, 2 ** 32 - 1),
        sessions: integer('--sessions', opts.sessions, 0, 1_000_000),
        durationMinutes: integer('--minutes', opts.minutes, 2, 10_080),
        start: opts.start,
        batchSize: integer('--batch', opts.batch, 1, 100_000),
        clientId: opts.clientId,
        noise: opts.noise,
        ...(opts.createTopic === undefined ? {} : { createTopicPartitions: integer('--create-topic', opts.createTopic, 1, 10_000) }),
      })
      process.stdout.write(
        `published ${r.messages} lines (${r.bytes} bytes, ${r.incidents} planted incidents) to ${opts.topic} in ${r.elapsedMs} ms; window ${r.window.start} .. ${r.window.end}\n`,
      )
    })
}
