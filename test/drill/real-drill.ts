/**
 * The frame every real-server drill runs in: its own topics, group and aliases (real-stack.ts); a
 * producer sending demo mesh lines at a steady rate for the whole scenario; the drill's own readers of
 * both topics; a commit check every 2 s and after every fault (real-checks.ts). After the scenario the
 * producer stops, the members drain, stop gracefully and must have committed every partition to its end;
 * then the final books are drawn and `envoy-audit verify --opensearch` must find the ledger INTACT.
 * Prints one JSON line; a failed drill keeps its topics and indices for inspection and names them.
 */
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { runCli } from '../helpers/cli.js'
import { expectedEventId } from '../helpers/event-ids.js'
import { dlqKey, headerText } from './dlq-headers.js'
import { IndexBooks, TopicReader, type DeadLetterRecord, type SourceRecord } from './real-books.js'
import { Books, finalBooks } from './real-checks.js'
import { realEnv, requireRestartable, type RealEnv } from './real-env.js'
import { createStack, Member, removeStack, type Stack } from './real-stack.js'
import { DrillTraffic, PacedProducer, sleep, textHash } from './real-traffic.js'

export interface RealOptions {
  /** Lines produced per second throughout the drill. */
  rate: number
  partitions: number
  kills: number
  restarts: number
  cycles: number
  /** Seconds of streaming between two faults. */
  runSeconds: number
  /** Seconds a stopped server stays down. */
  downSeconds: number
  /** Longest wait for the members to acknowledge everything after the producer stopped. */
  drainSeconds: number
  seed: number
  keep: boolean
  log: (line: string) => void
}

export interface DrillContext {
  stack: Stack
  books: Books
  env: RealEnv
  opts: RealOptions
  log: (line: string) => void
  /** The members still running when the scenario returns are drained and stopped by the frame. */
  members: Member[]
  /** Starts an `envoy-audit run` member; the frame reports how every member it started exited. */
  spawn(label: string, supervise: boolean): Member
  /** Events indexed plus dead-letter messages read: grows while some member is making progress. */
  progress(): Promise<number>
  /** Waits until progress() grows; returns how long that took. */
  waitProgress(what: string, timeoutMs?: number): Promise<number>
  random(): number
}

export interface ScenarioResult {
  ok: boolean
  [key: string]: unknown
}

export type Scenario = (ctx: DrillContext) => Promise<ScenarioResult>

export interface DrillSpec {
  name: string
  restarts?: 'kafka' | 'opensearch'
  scenario: Scenario
}

export async function runRealDrill(spec: DrillSpec, opts: RealOptions): Promise<boolean> {
  const t0 = Date.now()
  const log = (l: string): void => opts.log(`${spec.name}: ${l}`)
  const env = realEnv(process.env, log)
  if (spec.restarts !== undefined) requireRestartable(env, spec.restarts)
  log(`against ${env.origin}`)
  const stack = await createStack(env, spec.name, opts.partitions, log)
  const traffic = new DrillTraffic(opts.seed)
  const source = new TopicReader<SourceRecord>(stack.kafka, stack.topic, `${stack.name}-reader`, (partition, offset, value) => {
    const hash = textHash(value)
    return { hash, expect: traffic.junkHashes.has(hash) ? 'dead' : (expectedEventId(value) ?? 'dead') }
  })
  const dlq = new TopicReader<DeadLetterRecord>(stack.kafka, stack.dlqTopic, `${stack.name}-dlq-reader`, (_p, _o, _v, headers) => ({
    key: dlqKey({ headers }),
    reason: /^EA_[A-Z0-9_]+/.exec(headerText(headers['envoy-audit.reason']))?.[0] ?? 'no reason header',
  }))
  const index = new IndexBooks(env.opensearchUrl, stack.eventsAlias, stack.osHeaders)
  const books = new Books(stack.admin, stack.topic, stack.dlqTopic, stack.groupId, source, dlq, index, log)
  const producer = new PacedProducer(env.brokers, stack.topic, traffic, opts.rate, log)
  let seed = opts.seed >>> 0
  const random = (): number => {
    seed = (seed + 0x6d2b79f5) >>> 0
    let t = seed
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  let lastProgress = 0
  const progress = async (): Promise<number> => {
    try {
      lastProgress = (await index.count()) + dlq.messagesRead
    } catch {
      // OpenSearch down: no progress to see
    }
    return lastProgress
  }
  const started: Member[] = []
  const ctx: DrillContext = {
    stack,
    books,
    env,
    opts,
    log,
    members: [],
    progress,
    random,
    spawn(label, supervise) {
      const m = new Member(stack, label, supervise, log)
      started.push(m)
      return m
    },
    async waitProgress(what, timeoutMs = 120_000) {
      const t0 = Date.now()
      const base = await progress()
      while ((await progress()) <= base) {
        if (Date.now() - t0 > timeoutMs) throw new Error(`no progress within ${timeoutMs} ms: ${what}`)
        await sleep(200)
      }
      return Date.now() - t0
    },
  }
  let timer: NodeJS.Timeout | undefined
  let ok = false
  let result: Record<string, unknown>
  try {
    await Promise.all([source.start(), dlq.start(), producer.start()])
    timer = setInterval(() => void books.checkCommits('live'), 2000)
    const scenario = await spec.scenario(ctx)
    await sleep(2000)
    await producer.stop()
    log(`producer stopped after ${producer.stats.acked} lines; draining`)
    const drained = await books.drained(opts.drainSeconds * 1000)
    clearInterval(timer)
    await books.checkCommits('drained')
    const exits = await Promise.all(ctx.members.map((m) => m.stop()))
    await books.checkCommits('members stopped')
    const fullyCommitted = await books.fullyCommitted()
    const final = await finalBooks(books)
    const inTopic = new Set<string>()
    for (const p of source.records.values()) for (const r of p.values()) inTopic.add(r.hash)
    const ackedMissingFromTopic = [...producer.ackedHashes].filter((h) => !inTopic.has(h)).length
    const verify = await runCli(
      [
        'verify',
        '--opensearch',
        env.opensearchUrl,
        '--events-alias',
        stack.eventsAlias,
        '--findings-alias',
        stack.findingsAlias,
        '--index-prefix',
        stack.integrityPrefix,
        '--key-file',
        stack.keyFile,
        '--require-key',
      ],
      { timeoutMs: 600_000 },
    )
    const integrity = verify.stdout.split('\n')[0] || verify.stderr.trim().split('\n').at(-1) || `exit ${String(verify.code)}`
    const { ok: scenarioOk, ...scenarioCounts } = scenario
    const checks: Record<string, boolean> = {
      scenario: scenarioOk,
      drained,
      fullyCommitted,
      stoppedCleanly: exits.every((c) => c === 0),
      noMemberCrashed: started.every((m) => m.unexpectedExits.length === 0 && m.fatalLine() === undefined),
      noneLost: final.lost === 0,
      noDuplicates: final.duplicates === 0 && final.duplicatedIdsByTerms === 0,
      nothingUnexpected: final.unexpectedInIndex === 0,
      everyGoodLineIndexed: final.eventsIndexed === final.validRecords && final.distinctEventIds === final.validRecords,
      deadLettersAreTheJunk: final.deadLetters === final.junkRecords && final.goodLinesDeadLettered === 0,
      ackedLinesInTopic: ackedMissingFromTopic === 0,
      noEarlyCommit: books.commits.earlyCommits === 0 && books.commits.commitsChecked > 0,
      integrityIntact: verify.code === 0 && integrity.startsWith('INTACT'),
    }
    ok = Object.values(checks).every(Boolean)
    result = {
      recordsProduced: producer.stats.acked,
      eventsIndexed: final.eventsIndexed,
      distinctEventIds: final.distinctEventIds,
      duplicates: final.duplicates,
      lost: final.lost,
      deadLetters: final.deadLetters,
      commitsChecked: books.commits.commitsChecked,
      earlyCommits: books.commits.earlyCommits,
      elapsedSeconds: Math.round((Date.now() - t0) / 1000),
      ...scenarioCounts,
      recordsInTopic: final.recordsInTopic,
      validRecords: final.validRecords,
      junkRecords: final.junkRecords,
      eventsIndexedViaAliasName: final.eventsIndexedViaAliasName,
      duplicatedIdsByTerms: final.duplicatedIdsByTerms,
      unexpectedInIndex: final.unexpectedInIndex,
      goodLinesDeadLettered: final.goodLinesDeadLettered,
      deadLetterCopies: final.deadLetterCopies,
      deadLetterReasons: final.deadLetterReasons,
      ackedMissingFromTopic,
      producerSendErrors: producer.stats.sendErrors,
      commitCheckRounds: books.commits.rounds,
      commitChecksSkipped: books.commits.skipped,
      memberExitCodes: exits,
      unexpectedMemberExits: started.flatMap((m) => m.unexpectedExits).length,
      membersWithFatalError: started.filter((m) => m.fatalLine() !== undefined).length,
      integrity,
      setup: stack.setup,
      rate: opts.rate,
      partitions: opts.partitions,
      seed: opts.seed,
      ...(ok
        ? {}
        : {
            failed: Object.entries(checks)
              .filter(([, v]) => !v)
              .map(([k]) => k),
            earlyCommitExamples: books.commits.examples,
            lostExamples: final.lostExamples,
            kept: stack.name,
          }),
    }
  } catch (err) {
    const exits = started.flatMap((m) => m.unexpectedExits.map((e) => `${m.label}: ${e}`))
    // A member that printed its fatal error but is still running is a replica no supervisor will restart.
    const stuck = started
      .filter((m) => m.proc.child.exitCode === null && m.proc.child.signalCode === null && m.fatalLine() !== undefined)
      .map((m) => `${m.label}: ${m.fatalLine()!}`)
    result = {
      error: (err as Error).message,
      elapsedSeconds: Math.round((Date.now() - t0) / 1000),
      unexpectedMemberExits: exits.length,
      memberExitExamples: exits.slice(0, 3),
      membersAliveAfterFatalError: stuck,
      kept: stack.name,
    }
    ok = false
  } finally {
    if (timer !== undefined) clearInterval(timer)
    await producer.stop().catch(() => undefined)
    const running = started.filter((m) => m.proc.child.exitCode === null && m.proc.child.signalCode === null)
    for (const m of running) await m.kill()
    if (!ok) {
      for (const m of started) writeFileSync(join(stack.dir, `${m.label}.stderr`), m.proc.stderr())
      for (const m of started.filter((x) => x.unexpectedExits.length > 0 || running.includes(x)))
        log(`member ${m.label} stderr tail: ${m.stderrTail().slice(-1500)}`)
      log(`every member's stderr is in ${stack.dir}`)
    }
    await Promise.all([source.stop(), dlq.stop()])
    if (ok && !opts.keep) {
      await removeStack(stack, [`${stack.name}-reader`, `${stack.name}-dlq-reader`], log)
      rmSync(stack.dir, { recursive: true, force: true })
    } else await stack.admin.disconnect().catch(() => undefined)
  }
  console.log(JSON.stringify({ drill: spec.name, ok, ...result }))
  return ok
}
