/**
 * Reaching the brokers at startup within `startupTimeoutMs`. Left to itself, kafkajs retries a refused
 * connection with its request backoff (8 retries, up to 30 s apart): `run` against an unreachable
 * cluster took 57-69 s to fail, and its retry timers kept the process alive after the error.
 *
 * So a component first runs a preflight: a throwaway admin client with short retries (at most 0.5 s
 * apart) connects, authenticates and reads the metadata of the topics the component needs. It either
 * succeeds, and the long-lived client connects to brokers known to answer, or the component fails at
 * once with a typed error naming each broker and what it answered. The brokers are handed to kafkajs
 * as a function that returns none once the attempt is over: kafkajs treats an empty broker list as
 * non-retriable, so no retry outlives the attempt by more than one short backoff.
 */
import net from 'node:net'
import tls from 'node:tls'
import type { Admin, ISocketFactory, KafkaConfig } from 'kafkajs'
import { EnvoyAuditError, type ErrorCode } from '../errors.js'
import { buildKafkaConfig, newKafka, silentLogger, type ClientDeps, type KafkaLogger } from './kafka.js'
import type { KafkaConnectionConfig } from './kafka-config.js'

/**
 * The brokers of one client and its sockets. `list` is kafkajs' `brokers` function: none once closed,
 * which ends its reconnects. `socketFactory` opens sockets as kafkajs' own does (TCP keep-alive, SNI
 * for host names) and keeps them, so that close() can fail a connect still pending: its timer
 * (connectionTimeoutMs) would otherwise hold the process after a failed start.
 */
export class BrokerList {
  private closed = false
  private readonly sockets = new Set<net.Socket>()
  /** `onCertificateError`: a TLS handshake failed in a way no retry can mend (isCertificateError). */
  constructor(
    private readonly brokers: readonly string[],
    private readonly onCertificateError?: (err: Error, broker: string) => void,
  ) {}

  readonly list = (): string[] => (this.closed ? [] : [...this.brokers])

  readonly socketFactory: ISocketFactory = ({ host, port, ssl, onConnect }) => {
    // Whatever path kafkajs' retry takes (a refused connect, a socket closed at once), its next attempt
    // ends here: kafkajs turns the throw into a connection error, asks `list` for a broker, gets none,
    // and gives up without scheduling another retry.
    if (this.closed) throw new Error('client closed')
    const socket = ssl
      ? tls.connect({ host, port, ...(net.isIP(host) === 0 ? { servername: host } : {}), ...ssl }, onConnect)
      : net.connect({ host, port }, onConnect)
    socket.setKeepAlive(true, 60_000)
    if (ssl && this.onCertificateError !== undefined) {
      socket.once('error', (err: NodeJS.ErrnoException) => {
        if (isCertificateError(err)) this.onCertificateError?.(err, `${host}:${port}`)
      })
    }
    this.sockets.add(socket)
    socket.once('close', () => this.sockets.delete(socket))
    return socket
  }

  close(): void {
    this.closed = true
    for (const s of this.sockets) if (s.connecting) s.destroy(new Error('startup attempt over'))
  }
}

/**
 * A TLS handshake that no retry can mend: the broker's certificate did not verify (untrusted, expired,
 * wrong host name), or the broker refused ours (a certificate alert).
 */
export function isCertificateError(err: NodeJS.ErrnoException): boolean {
  return /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|UNKNOWN_CA/.test(err.code ?? '')
}

/** What each broker last answered while connecting ("host:port" -> error message), from kafkajs' log. */
export class BrokerFailures {
  private readonly byBroker = new Map<string, string>()
  /** The last error kafkajs logged without a broker (e.g. "Closed connection"). */
  private lastOther: string | undefined

  /** A logger that records kafkajs' connection errors (they carry the broker) and passes everything on. */
  watch(logger: KafkaLogger, level: 'as-is' | 'debug'): KafkaLogger {
    const record = (obj: object, msg: string): void => {
      const broker = (obj as { broker?: unknown }).broker
      if (typeof broker === 'string' && broker !== '') this.byBroker.set(broker, msg)
      else if (msg !== '') this.lastOther = msg
    }
    const pass = (method: keyof KafkaLogger) => (obj: object, msg: string) => {
      record(obj, msg)
      logger[level === 'debug' ? 'debug' : method](obj, msg)
    }
    return { debug: pass('debug'), info: pass('info'), warn: pass('warn'), error: pass('error') }
  }

  /** e.g. `127.0.0.1:9099: Connection error: connect ECONNREFUSED 127.0.0.1:9099; 10.0.0.9:9092: not tried`. */
  describe(brokers: readonly string[]): string {
    return brokers.map((b) => `${b}: ${this.byBroker.get(b) ?? this.lastOther ?? 'no answer'}`).join('; ')
  }
}

export interface PreflightOptions {
  cfg: KafkaConnectionConfig
  deps: ClientDeps
  /** Config path of the connection, for messages: `source.kafka`, `deadLetter`. */
  prefix: string
  component: string
  /** Topics whose metadata must be readable (existence, authorization). */
  topics: readonly string[]
  /** The code of an unreachable cluster for this component (EA_SOURCE_UNAVAILABLE, EA_DLQ_UNAVAILABLE). */
  unavailable: ErrorCode
  /** How the component is named in messages: `kafka source`, `dead-letter topic writer`. */
  what: string
  /** Ends the attempt at once (a shutdown during start); preflight then rejects with the abort reason. */
  signal?: AbortSignal
}

const errorChain = (err: unknown): unknown[] => {
  const out: unknown[] = []
  for (let e = err; e !== undefined && e !== null && !out.includes(e) && out.length < 10; e = (e as { cause?: unknown }).cause) out.push(e)
  return out
}

const AUTH_TYPES = new Set([
  'SASL_AUTHENTICATION_FAILED',
  'TOPIC_AUTHORIZATION_FAILED',
  'GROUP_AUTHORIZATION_FAILED',
  'CLUSTER_AUTHORIZATION_FAILED',
  'ILLEGAL_SASL_STATE',
  'UNSUPPORTED_SASL_MECHANISM',
])

/** The credentials or an authorization were refused: a retry cannot help. */
export function isAuthFailure(err: unknown): boolean {
  return errorChain(err).some((e) => {
    const { name, type } = e as { name?: string; type?: string }
    return name === 'KafkaJSSASLAuthenticationError' || (type !== undefined && AUTH_TYPES.has(type))
  })
}

/** The `type` of the first kafkajs protocol error in the chain (e.g. UNKNOWN_TOPIC_OR_PARTITION). */
export function protocolErrorType(err: unknown): string | undefined {
  for (const e of errorChain(err)) {
    const type = (e as { type?: unknown }).type
    if (typeof type === 'string') return type
  }
  return undefined
}

/** Resolves with `work`, or rejects with 'timeout' once `ms` have passed; the timer never outlives it. */
export async function within<T>(ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StartupTimeout(ms)), ms)
  })
  try {
    return await Promise.race([work, timeout])
  } finally {
    clearTimeout(timer)
  }
}

export class CertificateError extends Error {
  constructor(
    readonly broker: string,
    cause: Error,
  ) {
    super(`the TLS handshake with ${broker} failed: ${cause.message} (${(cause as NodeJS.ErrnoException).code ?? 'no code'})`, { cause })
    this.name = 'CertificateError'
  }
}

export class StartupTimeout extends Error {
  constructor(readonly ms: number) {
    super(`no answer within ${ms} ms`)
    this.name = 'StartupTimeout'
  }
}

/**
 * The typed error for a start that failed or ran out of time: authentication refused (EA_SOURCE_AUTH),
 * or no broker reachable (the component's unavailable code), each broker named with what it answered.
 */
export function startupError(
  o: Pick<PreflightOptions, 'cfg' | 'prefix' | 'unavailable' | 'what'>,
  err: unknown,
  failures: BrokerFailures,
): EnvoyAuditError {
  const brokers = o.cfg.brokers
  if (err instanceof CertificateError) {
    return new EnvoyAuditError('EA_SOURCE_AUTH', `${o.what}: ${err.message} (${o.prefix}.tls: caFile, certFile, keyFile, servername)`, {
      cause: err,
    })
  }
  if (isAuthFailure(err)) {
    const user = o.cfg.sasl !== undefined ? ` for ${o.cfg.sasl.mechanism} user ${o.cfg.sasl.username}` : ''
    return new EnvoyAuditError(
      'EA_SOURCE_AUTH',
      `${o.what}: brokers ${brokers.join(',')} refused authentication or authorization${user}: ${(err as Error).message} (${o.prefix}.sasl)`,
      { cause: err },
    )
  }
  const why =
    err instanceof StartupTimeout
      ? `no broker answered within ${err.ms} ms (${o.prefix}.startupTimeoutMs)`
      : `cannot connect: ${(err as Error).message}`
  return new EnvoyAuditError(o.unavailable, `${o.what}: ${why}; ${failures.describe(brokers)}`, { cause: err })
}

/**
 * Connects a throwaway admin client within the budget and reads the topics' metadata. Throws the
 * typed startup error when the brokers cannot be reached or refuse the credentials; any other failure
 * (an unknown topic, say) is rethrown as kafkajs reported it, for the caller to name.
 */
export async function preflight(o: PreflightOptions): Promise<void> {
  const failures = new BrokerFailures()
  let refuse!: (err: Error) => void
  const refused = new Promise<never>((_, reject) => (refuse = reject))
  refused.catch(() => undefined)
  const brokers = new BrokerList(o.cfg.brokers, (err, broker) => refuse(new CertificateError(broker, err)))
  // The preflight's retries are expected noise: debug level, and summed up in the error if it fails.
  const logger = failures.watch(o.deps.logger ?? silentLogger, 'debug')
  const base = await buildKafkaConfig(o.cfg, { ...o.deps, logger }, o.prefix, o.component)
  const config: KafkaConfig = {
    ...base,
    clientId: `${o.cfg.clientId}-preflight`,
    brokers: brokers.list,
    socketFactory: brokers.socketFactory,
    // Enough attempts to fill the budget; close() ends them sooner.
    retry: { retries: Math.ceil(o.cfg.startupTimeoutMs / 100), initialRetryTime: 100, maxRetryTime: 500 },
  }
  const admin: Admin = newKafka(config, o.deps).admin()
  try {
    const work = (async () => {
      await admin.connect()
      if (o.topics.length > 0) await admin.fetchTopicMetadata({ topics: [...o.topics] })
    })()
    const aborted = new Promise<never>((_, reject) => {
      if (o.signal?.aborted === true) reject(o.signal.reason)
      o.signal?.addEventListener('abort', () => reject(o.signal!.reason), { once: true })
    })
    aborted.catch(() => undefined)
    await within(o.cfg.startupTimeoutMs, Promise.race([work, refused, aborted]))
  } catch (err) {
    if (o.signal?.aborted === true) throw err
    if (
      err instanceof StartupTimeout ||
      err instanceof CertificateError ||
      isAuthFailure(err) ||
      (err as { name?: string }).name === 'KafkaJSConnectionError' ||
      (err as { name?: string }).name === 'KafkaJSNumberOfRetriesExceeded'
    ) {
      throw startupError(o, err, failures)
    }
    throw err
  } finally {
    brokers.close()
    await admin.disconnect().catch(() => undefined)
  }
}
