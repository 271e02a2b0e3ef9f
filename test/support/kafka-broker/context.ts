import type { Faults } from './faults.js'
import type { GroupCoordinator } from './group-coordinator.js'
import type { LogStore } from './log-store.js'
import type { Reader, Writer } from './wire.js'

export interface BrokerOptions {
  /** 0 (default) picks an ephemeral port. */
  port?: number
  host?: string
  /** Create unknown topics on Metadata requests, like Kafka's default. Default true. */
  autoCreateTopics?: boolean
  /** Partitions for auto-created topics and CreateTopics with numPartitions -1. Default 1. */
  defaultPartitions?: number
  /** Cap on how long a Fetch long-polls, whatever the client asks for. Default: no cap. */
  maxFetchWaitMs?: number
  /**
   * group.min.session.timeout.ms / group.max.session.timeout.ms: a JoinGroup outside them is refused
   * with INVALID_SESSION_TIMEOUT, as Kafka does. Default Kafka's, 6,000 and 1,800,000 ms; tests that
   * want sub-second evictions lower the minimum explicitly.
   */
  groupMinSessionTimeoutMs?: number
  groupMaxSessionTimeoutMs?: number
  /** How often dead group members are looked for. Default 100 ms. */
  sessionSweepMs?: number
  /** Require SASL authentication before any other API (PLAIN, SCRAM-SHA-256/512). */
  sasl?: { users: Record<string, string> }
  /** Serve TLS with this PEM key/cert; with clientCa, clients must present a certificate it signed. */
  tls?: { key: string; cert: string; clientCa?: string }
}

export interface BrokerState {
  opts: BrokerOptions
  host: string
  port: number
  store: LogStore
  groups: GroupCoordinator
  faults: Faults
  protocolErrors: Error[]
}

/** Per-connection state shared by the handlers of one socket. */
export interface ConnectionState {
  closed: AbortSignal
  authenticated: boolean
  saslMechanism?: string
  saslStep?: unknown
}

export interface RequestContext {
  broker: BrokerState
  conn: ConnectionState
  apiVersion: number
  clientId: string
  /** Error code injected by faults.failNext for this request, if any. */
  forcedError: number | undefined
}

/** Returns the response body, or null when the request expects no response (acks=0). */
export type Handler = (r: Reader, ctx: RequestContext) => Writer | null | Promise<Writer | null>
