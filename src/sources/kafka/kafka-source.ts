/**
 * Kafka source: a kafkajs consumer group member (eachBatch, autoCommit off) that hands records to the
 * pipeline without waiting for one batch before fetching the next, and commits an offset only once
 * every earlier record of that partition is acknowledged (see ack-tracker.ts).
 *
 * - Backpressure: records delivered but not acknowledged are bounded (records and bytes). At the
 *   bound the partition is paused (the member stays in the group and keeps heartbeating) and resumed
 *   once half the budget has drained. A batch whose acknowledgement fails is re-delivered after a
 *   capped, jittered backoff; nothing after it is committed meanwhile, and nothing is refetched in a loop.
 * - Crash: kafkajs stops the consumer for good on some errors that pass once the brokers are back
 *   (no broker names a group coordinator while they are down or the coordinator moves). The source
 *   restarts it itself after a capped, jittered backoff (cfg.restart), as often as it takes; acks of
 *   the crashed generation commit nothing, and the rejoined member replays from the committed offset.
 *   Other errors (refused session timeout, undecodable batch, authorization) stop the source.
 * - Rebalance: acknowledged offsets are committed before rejoining when the rebalance is seen inside
 *   a batch, and as soon as it is announced otherwise; then trackers start afresh for the new
 *   assignment, acks for the old one are dropped, and the new owner replays from the committed offset.
 * - close(): stop fetching (pause all, stay in the group), wait for in-flight acks up to
 *   drainTimeoutMs, commit explicit offsets (commitOffsets() without arguments commits nothing when
 *   autoCommit is off), then leave the group and disconnect.
 * - Transactions: read committed only (aborted records and control markers are dropped by kafkajs);
 *   nothing past an open transaction (the last stable offset) is delivered until it ends.
 * - Decompression: all five codecs Kafka has (none, gzip, snappy, lz4, zstd) decode; snappy, lz4 and
 *   zstd are registered with kafkajs by codecs.ts, in the frame formats the Java client writes.
 */
import type { Admin, Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs'
import { EnvoyAuditError, errorCodeOf } from '../../errors.js'
import type { BatchHandler, RawRecord, Source } from '../../pipeline/component.js'
import { InFlightBudget, jitteredBackoff, PartitionTracker, type Chunk } from './ack-tracker.js'
import { buildKafkaConfig, newKafka, silentLogger, type ClientDeps } from '../../connections/kafka.js'
import { registerKafkaCodecs } from './codecs.js'
import { fatalSourceError, restartableCrash } from './fatal-errors.js'
import { BrokerFailures, BrokerList, preflight, protocolErrorType, startupError, within } from '../../connections/kafka-startup.js'
import type { KafkaSourceConfig } from './config.js'
import { OffsetResetWatch, type OffsetResetStats } from './offset-reset.js'
import { GroupMembership, type MembershipHealth } from './membership.js'
import { CommittedLag } from './committed-lag.js'
import { headersToStrings, RateLimitedLog } from './util.js'

export interface KafkaSourceStats extends OffsetResetStats {
  inFlightRecords: number
  inFlightBytes: number
  paused: string[]
  assigned: string[]
  /** Last committed offset per "topic/partition" (this member's commits). */
  committed: Record<string, number>
  /** Records between the last fetched batch and the high watermark, per "topic/partition" (0 once fetched, acknowledged or not). */
  lag: Record<string, number>
  /** Seconds since the oldest batch still unacknowledged was handed to the pipeline (0: none). */
  oldestUnackedSeconds: number
  commits: number
  commitFailures: number
  rebalances: number
  pauses: number
  redeliveries: number
  /** Consumers the source restarted after kafkajs stopped them for good (fatal-errors.ts restartableCrash). */
  consumerRestarts: number
}

export interface KafkaSourceDeps extends ClientDeps {
  random?: () => number
}

export interface KafkaSource extends Source {
  stats(): KafkaSourceStats
  /** Group membership, for /readyz (membership.ts). */
  health(): MembershipHealth
  /** Log end minus committed offset, and the log end, per owned "topic/partition" (committed-lag.ts). */
  committedLag(waitMs: number): Promise<{ lag: Record<string, number>; logEnd: Record<string, number> }>
  /** Settles when the source has stopped: resolves after close(), rejects if the consumer crashed for good. */
  readonly stopped: Promise<void>
}

const key = (topic: string, partition: number): string => `${topic}/${partition}`

export function createKafkaSource(cfg: KafkaSourceConfig, deps: KafkaSourceDeps = {}): KafkaSource {
  registerKafkaCodecs()
  const logger = deps.logger ?? silentLogger
  const random = deps.random ?? Math.random
  const budget = new InFlightBudget(cfg.inFlight.maxRecords, cfg.inFlight.maxBytes)
  const failureLog = new RateLimitedLog(logger, 5_000)
  const stats = { commits: 0, commitFailures: 0, rebalances: 0, pauses: 0, redeliveries: 0, consumerRestarts: 0 }
  const lag = new Map<string, number>()
  const committed = new Map<string, number>()
  const inFlight = new Set<Promise<void>>()
  /** When each in-flight batch was handed to the pipeline (the age of the oldest unacknowledged record). */
  const deliveredAt = new Map<Promise<void>, number>()
  // A member that misses heartbeats for a session timeout has been dropped by the group anyway.
  const membership = new GroupMembership(cfg.groupId, cfg.sessionTimeoutMs)
  const paused = new Map<string, { topic: string; partition: number }>()
  const sleepers = new Set<() => void>()
  /** Aborts a start still reaching the brokers when close() comes first. */
  const starting = new AbortController()

  let consumer: Consumer | undefined
  let kafka: Kafka | undefined
  let admin: Promise<Admin> | undefined
  // Kept apart from `admin` so that a client whose connect failed is still disconnected.
  let adminClient: Admin | undefined
  let brokerList: BrokerList | undefined
  let handler: BatchHandler | undefined
  let trackers = new Map<string, PartitionTracker>()
  let assigned: string[] = []
  let running = false
  let closing = false
  let closePromise: Promise<void> | undefined
  let commitTimer: NodeJS.Timeout | undefined
  let resumeTimer: NodeJS.Timeout | undefined
  let committing: Promise<void> | undefined
  let commitAgain = false
  // Between a rebalance announcement and the new assignment, commits would carry whatever generation
  // kafkajs holds at send time, possibly for partitions already given away: hold them.
  let frozen = false
  let fatal: EnvoyAuditError | undefined
  let joins = 0
  let restartTimer: NodeJS.Timeout | undefined
  /** Restarts since the last successful join (the backoff's exponent). */
  let restartAttempt = 0
  /** A restart's connect in flight: close() waits for it, so it does not open a cluster after the disconnect. */
  let reconnecting: Promise<void> | undefined

  let settleStopped!: (err?: Error) => void
  const stopped = new Promise<void>((resolve, reject) => {
    settleStopped = (err) => (err ? reject(err) : resolve())
  })
  stopped.catch(() => undefined) // observed through the property; never an unhandled rejection

  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer)
        sleepers.delete(wake)
        resolve()
      }
      const timer = setTimeout(wake, ms)
      sleepers.add(wake)
    })

  /** The admin client on the same cluster, connected on first use (offset resets, committed lag). */
  const connectedAdmin = (): Promise<Admin> =>
    (admin ??= (async () => {
      const a = (adminClient ??= kafka!.admin())
      await a.connect()
      return a
    })())
  const resets = new OffsetResetWatch({
    groupId: cfg.groupId,
    fromBeginning: cfg.fromBeginning,
    logger,
    admin: connectedAdmin,
    position: (topic, partition) => trackers.get(key(topic, partition))?.position,
  })
  const lagReader = new CommittedLag({
    admin: connectedAdmin,
    groupId: cfg.groupId,
    topics: cfg.topics,
    fromBeginning: cfg.fromBeginning,
    assigned: () => assigned,
    minIntervalMs: 5_000,
  })
  // kafkajs reports the reset only in its log; our logger sees every entry first.
  const kafkajsLogger = resets.watchLog((topic, partition) => {
    // Reading restarts elsewhere (possibly lower, after a truncation): a fresh tracker, and acks still
    // arriving for the old position no longer move commits.
    trackers.delete(key(topic, partition))
  })

  const trackerFor = (topic: string, partition: number): PartitionTracker => {
    const k = key(topic, partition)
    let t = trackers.get(k)
    if (!t) trackers.set(k, (t = new PartitionTracker(topic, partition)))
    return t
  }

  function scheduleCommit(): void {
    if (commitTimer !== undefined || closing) return
    commitTimer = setTimeout(() => {
      commitTimer = undefined
      void commitNow()
    }, cfg.commitIntervalMs)
  }

  /** Commits every partition's safe offset; one commit in flight at a time, re-run if acks arrived meanwhile. */
  function commitNow(): Promise<void> {
    if (committing) {
      commitAgain = true
      return committing
    }
    committing = (async () => {
      do {
        commitAgain = false
        if (frozen || !consumer) return
        const due = [...trackers.values()].flatMap((t) => {
          const offset = t.pendingCommit()
          return offset === undefined ? [] : [{ t, offset }]
        })
        if (due.length === 0) return
        try {
          await consumer.commitOffsets(due.map(({ t, offset }) => ({ topic: t.topic, partition: t.partition, offset: String(offset) })))
          for (const { t, offset } of due) {
            t.markCommitted(offset)
            committed.set(key(t.topic, t.partition), offset)
          }
          stats.commits++
        } catch (err) {
          stats.commitFailures++
          failureLog.warn('commit', { error: (err as Error).message }, 'offset commit failed; will retry')
          scheduleCommit()
          return
        }
      } while (commitAgain)
    })().finally(() => {
      committing = undefined
    })
    return committing
  }

  function pausePartition(topic: string, partition: number): void {
    const k = key(topic, partition)
    if (paused.has(k) || !consumer) return
    paused.set(k, { topic, partition })
    stats.pauses++
    consumer.pause([{ topic, partitions: [partition] }])
    logger.debug(
      { topic, partition, inFlightRecords: budget.records, inFlightBytes: budget.bytes },
      'in-flight budget full; partition paused',
    )
  }

  function maybeResume(): void {
    if (paused.size === 0 || closing || resumeTimer !== undefined || !budget.drained) return
    // A little jitter so members of a group do not all hit a recovering sink at the same instant.
    resumeTimer = setTimeout(
      () => {
        resumeTimer = undefined
        if (closing || !consumer || !budget.drained) return
        const byTopic = new Map<string, number[]>()
        for (const { topic, partition } of paused.values()) byTopic.set(topic, [...(byTopic.get(topic) ?? []), partition])
        paused.clear()
        try {
          consumer.resume([...byTopic].map(([topic, partitions]) => ({ topic, partitions })))
        } catch {
          // Not running (crash restart in progress): the new consumer group starts unpaused anyway.
        }
      },
      Math.round(random() * cfg.backoff.initialMs),
    )
  }

  /** Calls the handler until the chunk is acknowledged, or gives up when closing or revoked. */
  async function deliver(records: RawRecord[], tracker: PartitionTracker, chunk: Chunk): Promise<void> {
    const current = (): boolean => trackers.get(key(tracker.topic, tracker.partition)) === tracker
    for (let attempt = 0; ; attempt++) {
      try {
        await handler!(records)
        if (current() && tracker.ack(chunk)) scheduleCommit()
        return
      } catch (err) {
        if (closing || !current()) return
        stats.redeliveries++
        const where = { topic: tracker.topic, partition: tracker.partition, firstOffset: chunk.first, lastOffset: chunk.last }
        failureLog.warn(
          'deliver',
          { ...where, attempt, code: errorCodeOf(err), error: (err as Error).message },
          'batch not acknowledged; re-delivering after backoff',
        )
        await sleep(jitteredBackoff(attempt, cfg.backoff.initialMs, cfg.backoff.maxMs, random))
        if (closing || !current()) return
      }
    }
  }

  function dispatch(tracker: PartitionTracker, messages: KafkaMessage[]): void {
    const records: RawRecord[] = []
    let bytes = 0
    const cluster = cfg.clusters !== undefined && Object.hasOwn(cfg.clusters, tracker.topic) ? cfg.clusters[tracker.topic] : undefined
    for (const m of messages) {
      const value = m.value ?? Buffer.alloc(0)
      bytes += value.length + (m.key?.length ?? 0)
      const record: RawRecord = { value, coords: { kind: 'kafka', topic: tracker.topic, partition: tracker.partition, offset: m.offset } }
      if (m.headers !== undefined) record.headers = headersToStrings(m.headers)
      if (m.key !== null && m.key !== undefined && m.key.length > 0) record.key = m.key
      if (cluster !== undefined) record.cluster = cluster
      records.push(record)
    }
    const chunk = tracker.deliver(Number(messages[0]!.offset), Number(messages[messages.length - 1]!.offset), records.length, bytes)
    budget.add(chunk.records, chunk.bytes)
    const p: Promise<void> = deliver(records, tracker, chunk).finally(() => {
      budget.release(chunk.records, chunk.bytes)
      inFlight.delete(p)
      deliveredAt.delete(p)
      maybeResume()
    })
    inFlight.add(p)
    deliveredAt.set(p, Date.now())
  }

  async function eachBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    if (closing) return
    const { topic, partition } = batch
    const tracker = trackerFor(topic, partition)
    lag.set(key(topic, partition), Number(batch.offsetLag()))
    const messages = batch.messages.filter((m) => !tracker.isDelivered(Number(m.offset)))
    for (let i = 0; i < messages.length;) {
      if (closing || !isRunning() || isStale()) break
      if (budget.full) {
        // Unresolved records are fetched again after resume, from the first one not delivered.
        pausePartition(topic, partition)
        break
      }
      const slice = messages.slice(i, i + cfg.batchMaxRecords)
      dispatch(tracker, slice)
      resolveOffset(slice[slice.length - 1]!.offset)
      i += slice.length
    }
    if (messages.length === 0 && batch.messages.length > 0) resolveOffset(batch.lastOffset())
    try {
      await heartbeat()
    } catch (err) {
      // Seen here, the rebalance has not started our rejoin yet: commit what is acknowledged first.
      if ((err as { type?: string }).type === 'REBALANCE_IN_PROGRESS') await commitNow().catch(() => undefined)
      throw err
    }
  }

  /** Pauses a fresh assignment until the committed offsets it starts from are known (offset-reset.ts). */
  function holdUntilOffsetsRead(c: Consumer, assignment: Record<string, number[]>): void {
    const parts = Object.entries(assignment).map(([topic, partitions]) => ({ topic, partitions: [...partitions] }))
    if (parts.length === 0) return
    c.pause(parts)
    const join = ++joins
    void (async () => {
      const committedAtJoin = await resets.onJoin(cfg.topics)
      if (closing || join !== joins) return
      for (const s of await resets.newPartitionStarts(assignment, committedAtJoin).catch(() => [])) {
        c.seek({ topic: s.topic, partition: s.partition, offset: String(s.offset) })
      }
    })().finally(() => {
      if (closing || join !== joins) return
      // Partitions the in-flight budget paused meanwhile stay paused until it drains.
      const resume = parts
        .map(({ topic, partitions }) => ({ topic, partitions: partitions.filter((p) => !paused.has(key(topic, p))) }))
        .filter((t) => t.partitions.length > 0)
      try {
        c.resume(resume)
      } catch {
        // not running any more (crashed, or a new generation): its own join pauses and resumes
      }
    })
  }

  /** After a crash kafkajs will not restart from: connect and run the same consumer again after a backoff. */
  function scheduleRestart(c: Consumer, err: Error): void {
    if (closing || restartTimer !== undefined) return
    const delayMs = jitteredBackoff(restartAttempt, cfg.restart.initialMs, cfg.restart.maxMs, random)
    restartAttempt++
    stats.consumerRestarts++
    membership.restarting(err.message, restartAttempt, delayMs)
    logger.warn(
      { groupId: cfg.groupId, error: err.message, errorName: err.name, attempt: restartAttempt, delayMs },
      'kafka consumer stopped on an error kafkajs does not retry; restarting it',
    )
    restartTimer = setTimeout(() => {
      restartTimer = undefined
      void (async () => {
        if (closing) return
        try {
          // kafkajs disconnected it before reporting the crash; the subscription is kept.
          reconnecting = c.connect()
          await reconnecting.finally(() => (reconnecting = undefined))
          if (closing) return
          // A join that fails again is reported as another crash event, which schedules the next attempt.
          await c.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch })
        } catch (e) {
          if (!closing) scheduleRestart(c, e as Error)
        }
      })()
    }, delayMs)
  }

  function listen(c: Consumer): void {
    membership.watch(c)
    c.on(c.events.REBALANCING, () => {
      void commitNow()
      frozen = true
    })
    c.on(c.events.GROUP_JOIN, ({ payload }) => {
      // kafkajs restarts every assigned partition from its committed offset after a join, so the
      // old trackers (and acks still arriving for them) no longer describe what will be committed.
      trackers = new Map()
      frozen = false
      restartAttempt = 0
      stats.rebalances++
      holdUntilOffsetsRead(c, payload.memberAssignment)
      assigned = Object.entries(payload.memberAssignment).flatMap(([t, ps]) => ps.map((p) => key(t, p)))
      for (const k of lag.keys()) if (!assigned.includes(k)) lag.delete(k)
      logger.info({ groupId: cfg.groupId, memberId: payload.memberId, assigned }, 'joined consumer group')
    })
    c.on(c.events.CRASH, ({ payload }) => {
      // A crash replaces kafkajs' consumer group object, and with it the paused set.
      paused.clear()
      trackers = new Map()
      logger.error({ error: payload.error.message, restart: payload.restart }, 'kafka consumer crashed')
      if (payload.restart || closing) return
      // The crashed generation's trackers are gone above: its acks commit nothing; the rejoin replays them.
      if (restartableCrash(payload.error)) return scheduleRestart(c, payload.error)
      running = false
      fatal = fatalSourceError(cfg, payload.error)
      settleStopped(fatal)
    })
  }

  return {
    stopped,
    async start() {
      if (consumer || closing) return
      const where = { cfg, prefix: 'source.kafka', unavailable: 'EA_SOURCE_UNAVAILABLE', what: 'kafka source' } as const
      try {
        await preflight({ ...where, deps: { ...deps, logger }, component: 'kafka-source', topics: cfg.topics, signal: starting.signal })
      } catch (err) {
        // A shutdown during the preflight: nothing was opened, nothing to report.
        if (closing) return
        if (protocolErrorType(err) === 'UNKNOWN_TOPIC_OR_PARTITION') {
          throw new EnvoyAuditError(
            'EA_CONFIG_INVALID',
            `source.kafka.topics: ${cfg.topics.join(',')}: a topic does not exist on ${cfg.brokers.join(',')} (it is never auto-created)`,
            { cause: err },
          )
        }
        throw err
      }
      // A SIGTERM during the preflight: nothing more to open.
      if (closing) return
      const failures = new BrokerFailures()
      const kafkaConfig = await buildKafkaConfig(
        cfg,
        { ...deps, logger: failures.watch(kafkajsLogger, 'as-is') },
        'source.kafka',
        'kafka-source',
      )
      brokerList = new BrokerList(cfg.brokers)
      kafka = newKafka({ ...kafkaConfig, brokers: brokerList.list, socketFactory: brokerList.socketFactory }, deps)
      const c = kafka.consumer({
        groupId: cfg.groupId,
        sessionTimeout: cfg.sessionTimeoutMs,
        rebalanceTimeout: cfg.rebalanceTimeoutMs,
        heartbeatInterval: cfg.heartbeatIntervalMs,
        maxWaitTimeInMs: cfg.maxWaitTimeMs,
        minBytes: cfg.minBytes,
        maxBytes: cfg.maxBytes,
        maxBytesPerPartition: cfg.maxBytesPerPartition,
        allowAutoTopicCreation: false,
        metadataMaxAge: cfg.metadataMaxAgeMs,
        // READ_COMMITTED (kafkajs' default, stated so it cannot change under us): records of aborted
        // transactions and the commit/abort markers never reach the pipeline.
        readUncommitted: false,
      })
      listen(c)
      try {
        // The admin client (offset-reset accounting) is connected up front: at a join there is no time to.
        // The brokers answered the preflight just now, so this normally takes one round trip.
        await within(
          cfg.startupTimeoutMs,
          (async () => {
            await Promise.all([c.connect(), resets.connect()])
            await c.subscribe({ topics: [...cfg.topics], fromBeginning: cfg.fromBeginning })
          })(),
        )
      } catch (err) {
        // Everything this start opened is closed, so a failed `run` exits at once (nothing left to wait on).
        brokerList.close()
        await Promise.allSettled([c.disconnect(), adminClient?.disconnect()])
        throw startupError(where, err, failures)
      }
      consumer = c
    },
    async run(h) {
      if (running || closing) return
      if (!consumer) throw new EnvoyAuditError('EA_SOURCE_UNAVAILABLE', 'kafka source: run() before start()')
      handler = h
      running = true
      await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch })
      // kafkajs reports a refused first join (bad session timeout, authorization) only as a crash
      // event before run() returns: surface it as a startup error, not only through `stopped`.
      if (fatal !== undefined) throw fatal
    },
    close() {
      closePromise ??= (async () => {
        closing = true
        starting.abort(new Error('kafka source closed while starting'))
        clearTimeout(resumeTimer)
        clearTimeout(restartTimer)
        restartTimer = undefined
        clearTimeout(commitTimer)
        commitTimer = undefined
        for (const wake of [...sleepers]) wake()
        const c = consumer
        if (c && running) {
          // Stop fetching but stay in the group, so what is acknowledged while draining is committed.
          try {
            c.pause(cfg.topics.map((topic) => ({ topic })))
          } catch {
            // not running any more (crashed): nothing to pause
          }
          let timer: NodeJS.Timeout | undefined
          const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, cfg.drainTimeoutMs)))
          await Promise.race([Promise.allSettled([...inFlight]), timeout])
          clearTimeout(timer)
          if (inFlight.size > 0)
            logger.warn(
              { unacknowledgedBatches: inFlight.size },
              'drain timeout: closing with batches unacknowledged (they will be replayed)',
            )
          frozen = false
          await commitNow()
        }
        await reconnecting?.catch(() => undefined)
        await c?.disconnect().catch((err: Error) => logger.warn({ error: err.message }, 'kafka consumer disconnect failed'))
        await resets.pending
        // An admin still connecting (a join during an outage) is not waited for: no new connection from here on.
        brokerList?.close()
        await adminClient?.disconnect().catch(() => undefined)
        running = false
        settleStopped()
      })()
      return closePromise
    },
    health: () => membership.health(),
    committedLag: (waitMs) => lagReader.snapshot(waitMs),
    stats() {
      let oldest: number | undefined
      for (const at of deliveredAt.values()) if (oldest === undefined || at < oldest) oldest = at
      return {
        oldestUnackedSeconds: oldest === undefined ? 0 : (Date.now() - oldest) / 1000,
        inFlightRecords: budget.records,
        inFlightBytes: budget.bytes,
        paused: [...paused.keys()],
        assigned: [...assigned],
        committed: Object.fromEntries(committed),
        lag: Object.fromEntries(lag),
        ...stats,
        ...resets.stats,
        lostByPartition: { ...resets.stats.lostByPartition },
      }
    },
  }
}
