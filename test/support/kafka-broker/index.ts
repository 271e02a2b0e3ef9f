import net from 'node:net'
import tls from 'node:tls'
import { setTimeout as sleep } from 'node:timers/promises'
import type { BrokerOptions, BrokerState, ConnectionState, Handler } from './context.js'
import * as data from './data-handlers.js'
import { Faults, type FaultControls } from './faults.js'
import { GroupCoordinator, type Departure, type GroupSnapshot } from './group-coordinator.js'
import * as group from './group-handlers.js'
import { LogStore, type BrokerMessage, type TopicConfig } from './log-store.js'
import { saslAuthenticate, saslHandshake } from './sasl.js'
import { ApiKey, apiNameOf, Reader, Writer, type ApiName } from './wire.js'

export type { BrokerOptions } from './context.js'
export type { BrokerMessage, TopicConfig } from './log-store.js'
export type { FaultControls } from './faults.js'
export type { Departure, GroupSnapshot } from './group-coordinator.js'
export { ErrorCode } from './wire.js'
export type { ApiName } from './wire.js'

export interface KafkaTestBroker {
  port: number
  brokers: string[]
  createTopic(name: string, partitions: number, config?: TopicConfig): void
  /** Committed offset (next offset to consume) per partition; partitions never committed are absent. */
  committedOffsets(groupId: string, topic: string): Record<number, number>
  /** Every record in the partition, decoded (gzip included) as a kafkajs consumer would see it. */
  messages(topic: string, partition: number): Promise<BrokerMessage[]>
  highWatermark(topic: string, partition: number): number | undefined
  group(groupId: string): GroupSnapshot | undefined
  /** Members that left the group, in order, with the reason (leave, session or rebalance timeout). */
  departures(groupId: string): Departure[]
  /** How many requests of each API the broker has received. */
  requestCounts(): Partial<Record<ApiName, number>>
  /** Requests the broker failed to handle (its own bugs); tests should expect none. */
  protocolErrors(): Error[]
  faults: FaultControls
  close(): Promise<void>
}

const HANDLERS = new Map<number, Handler>([
  [ApiKey.ApiVersions, data.apiVersions],
  [ApiKey.Metadata, data.metadata],
  [ApiKey.Produce, data.produce],
  [ApiKey.Fetch, data.fetch],
  [ApiKey.ListOffsets, data.listOffsets],
  [ApiKey.CreateTopics, data.createTopics],
  [ApiKey.DeleteTopics, data.deleteTopics],
  [ApiKey.InitProducerId, data.initProducerId],
  [ApiKey.DeleteRecords, data.deleteRecords],
  [ApiKey.CreatePartitions, data.createPartitions],
  [ApiKey.FindCoordinator, group.findCoordinator],
  [ApiKey.JoinGroup, group.joinGroup],
  [ApiKey.SyncGroup, group.syncGroup],
  [ApiKey.Heartbeat, group.heartbeat],
  [ApiKey.LeaveGroup, group.leaveGroup],
  [ApiKey.OffsetCommit, group.offsetCommit],
  [ApiKey.OffsetFetch, group.offsetFetch],
  [ApiKey.DescribeGroups, group.describeGroups],
  [ApiKey.SaslHandshake, saslHandshake],
  [ApiKey.SaslAuthenticate, saslAuthenticate],
])

const PRE_AUTH_APIS = new Set<number>([ApiKey.ApiVersions, ApiKey.SaslHandshake, ApiKey.SaslAuthenticate])
const MAX_FRAME = 256 * 1024 * 1024

export async function startKafkaBroker(opts: BrokerOptions = {}): Promise<KafkaTestBroker> {
  const host = opts.host ?? '127.0.0.1'
  const faults = new Faults()
  const state: BrokerState = {
    opts,
    host,
    port: 0,
    store: new LogStore(),
    groups: new GroupCoordinator(opts.sessionSweepMs),
    faults,
    protocolErrors: [],
  }
  const sockets = new Set<net.Socket>()
  const counts: Partial<Record<ApiName, number>> = {}

  const onSocket = (socket: net.Socket): void => {
    if (faults.refusing()) return void socket.destroy()
    sockets.add(socket)
    socket.setNoDelay(true)
    serveConnection(socket, state, counts)
    socket.on('close', () => sockets.delete(socket))
  }
  const server = opts.tls
    ? tls.createServer(
        {
          key: opts.tls.key,
          cert: opts.tls.cert,
          ...(opts.tls.clientCa !== undefined ? { ca: opts.tls.clientCa, requestCert: true, rejectUnauthorized: true } : {}),
        },
        onSocket,
      )
    : net.createServer(onSocket)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port ?? 0, host, () => resolve())
  })
  state.port = (server.address() as net.AddressInfo).port

  const dropConnections = (): void => {
    for (const s of sockets) s.destroy()
  }

  return {
    port: state.port,
    brokers: [`${host}:${state.port}`],
    createTopic(name, partitions, config) {
      if (!state.store.createTopic(name, partitions, config)) throw new Error(`topic ${name} already exists`)
    },
    committedOffsets: (groupId, topic) => state.groups.committedForTopic(groupId, topic),
    messages: (topic, partition) => state.store.messages(topic, partition),
    highWatermark: (topic, partition) => state.store.highWatermark(topic, partition),
    group: (groupId) => state.groups.snapshot(groupId),
    departures: (groupId) => state.groups.departures(groupId),
    requestCounts: () => ({ ...counts }),
    protocolErrors: () => [...state.protocolErrors],
    faults: {
      dropConnections,
      refuseConnections(ms) {
        faults.refuseUntil = Date.now() + ms
      },
      failNext: (api, code, times) => faults.failNext(api, code, times),
      latency: (ms, api) => faults.latency(ms, api),
      clear: () => faults.clear(),
    },
    async close() {
      state.groups.close()
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      dropConnections()
      await closed
    },
  }
}

function serveConnection(socket: net.Socket, state: BrokerState, counts: Partial<Record<ApiName, number>>): void {
  const abort = new AbortController()
  const conn: ConnectionState = { closed: abort.signal, authenticated: !state.opts.sasl }
  let pending: Buffer = Buffer.alloc(0)
  // Chunks of a large frame are only joined once it is complete (no quadratic re-copying).
  let parts: Buffer[] = []
  let partsLength = 0
  let needed = 0
  // Responses on one connection go out in request order, as a real broker does.
  let chain: Promise<void> = Promise.resolve()

  socket.on('close', () => abort.abort())
  socket.on('error', () => socket.destroy())
  socket.on('data', (chunk: Buffer) => {
    if (needed > 0) {
      parts.push(chunk)
      partsLength += chunk.length
      if (partsLength < needed) return
      pending = Buffer.concat(parts, partsLength)
      parts = []
      partsLength = 0
      needed = 0
    } else pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
    while (pending.length >= 4) {
      const size = pending.readInt32BE(0)
      if (size < 0 || size > MAX_FRAME) return void socket.destroy()
      if (pending.length < 4 + size) {
        needed = 4 + size
        parts = [pending]
        partsLength = pending.length
        pending = Buffer.alloc(0)
        break
      }
      const frame = pending.subarray(4, 4 + size)
      pending = pending.subarray(4 + size)
      chain = chain.then(() => handleFrame(frame, socket, state, conn, counts))
    }
  })
}

async function handleFrame(
  frame: Buffer,
  socket: net.Socket,
  state: BrokerState,
  conn: ConnectionState,
  counts: Partial<Record<ApiName, number>>,
): Promise<void> {
  if (conn.closed.aborted) return
  const r = new Reader(frame)
  const apiKey = r.int16()
  const apiVersion = r.int16()
  const correlationId = r.int32()
  const clientId = r.nullableString() ?? ''
  const handler = HANDLERS.get(apiKey)
  const name = apiNameOf(apiKey)
  // Like Kafka, an unknown API or a request before SASL completes closes the connection.
  if (!handler || !name || (!conn.authenticated && !PRE_AUTH_APIS.has(apiKey))) return void socket.destroy()
  counts[name] = (counts[name] ?? 0) + 1
  const delay = state.faults.delayFor(name)
  if (delay > 0) await sleep(delay)
  const forcedError = apiKey === ApiKey.ApiVersions ? undefined : state.faults.takeError(name)
  let body: Writer | null
  try {
    body = await handler(r, { broker: state, conn, apiVersion, clientId, forcedError })
  } catch (err) {
    // A request we cannot handle is a broker bug or an unsupported client: record it so
    // tests can assert on it, and close the connection as Kafka does.
    state.protocolErrors.push(new Error(`${name} v${apiVersion}: ${(err as Error).message}`))
    return void socket.destroy()
  }
  if (body === null || conn.closed.aborted) return
  const payload = body.toBuffer()
  const header = Buffer.allocUnsafe(8)
  header.writeInt32BE(payload.length + 4, 0)
  header.writeInt32BE(correlationId, 4)
  socket.cork()
  socket.write(header)
  socket.write(payload)
  socket.uncork()
}
