/**
 * One real-server drill's own resources, all named after it so that drills never share state with
 * each other or with the tests on the same servers: the source and dead-letter topics, the consumer
 * group, the events and findings aliases (counted as `<alias>*`), the integrity ledger indices and a
 * signing key. `envoy-audit setup` installs templates and aliases first, as an operator would; where
 * it cannot (no ISM plugin on the node), the drill says so and the sink writes to the alias name as
 * it finds it. Members are `envoy-audit run` child processes with this stack's config.
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Kafka, logLevel, type Admin } from 'kafkajs'
import { runCli } from '../helpers/cli.js'
import { startService, type ServiceProcess } from '../helpers/service-process.js'
import type { RealEnv } from './real-env.js'

export interface Stack {
  name: string
  topic: string
  dlqTopic: string
  groupId: string
  eventsAlias: string
  findingsAlias: string
  integrityPrefix: string
  keyFile: string
  dir: string
  env: RealEnv
  kafka: Kafka
  admin: Admin
  /** What `envoy-audit setup` printed, or why it failed. */
  setup: string
  osHeaders: Record<string, string>
}

function opensearchAuth(): { connection: Record<string, string>; headers: Record<string, string> } {
  const user = process.env.OPENSEARCH_USERNAME
  const password = process.env.OPENSEARCH_PASSWORD
  if (user === undefined || user === '' || password === undefined) return { connection: {}, headers: {} }
  return {
    connection: { username: user, password },
    headers: { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` },
  }
}

export async function createStack(env: RealEnv, drill: string, partitions: number, log: (l: string) => void): Promise<Stack> {
  const name = `ea-drill-${drill}-${Date.now().toString(36)}`
  const dir = mkdtempSync(join(tmpdir(), `${name}-`))
  const keyFile = join(dir, 'integrity.key')
  writeFileSync(keyFile, `${name}-checkpoint-key-0123456789\n`)
  const kafka = new Kafka({
    clientId: 'ea-drill',
    brokers: env.brokers,
    logLevel: logLevel.NOTHING,
    retry: { retries: 20, initialRetryTime: 300, maxRetryTime: 3000 },
  })
  const admin = kafka.admin()
  await admin.connect()
  const stack: Stack = {
    name,
    topic: name,
    dlqTopic: `${name}-dlq`,
    groupId: `${name}-group`,
    eventsAlias: `${name}-events`,
    findingsAlias: `${name}-findings`,
    integrityPrefix: `${name}-integrity`,
    keyFile,
    dir,
    env,
    kafka,
    admin,
    setup: '',
    osHeaders: opensearchAuth().headers,
  }
  await admin.createTopics({
    waitForLeaders: true,
    topics: [
      { topic: stack.topic, numPartitions: partitions },
      { topic: stack.dlqTopic, numPartitions: 1 },
    ],
  })
  const args = [
    'setup',
    '--opensearch',
    env.opensearchUrl,
    '--events-alias',
    stack.eventsAlias,
    '--findings-alias',
    stack.findingsAlias,
    '--integrity-prefix',
    stack.integrityPrefix,
    '--policy',
    `${name}-retention`,
    '--replicas',
    '0',
  ]
  let setup = await runCli(args, { timeoutMs: 120_000 })
  // A node without the ISM plugin (the test services have none): setup asks to accept that explicitly.
  const withoutIsm = setup.code !== 0 && setup.stderr.includes('--without-ism')
  if (withoutIsm) setup = await runCli([...args, '--without-ism'], { timeoutMs: 120_000 })
  stack.setup =
    setup.code === 0
      ? `ok${withoutIsm ? ' (--without-ism)' : ''}`
      : `failed (exit ${String(setup.code)}): ${setup.stderr.trim().split('\n').at(-1) ?? ''}`
  log(
    `${name}: topic ${stack.topic} (${partitions} partitions), dead letters ` +
      `${stack.dlqTopic}, group ${stack.groupId}, events ${stack.eventsAlias}*; setup ` +
      `${stack.setup}`,
  )
  return stack
}

/** The `envoy-audit run` config of every member: tuned for quick failover, otherwise the defaults. */
export function memberConfig(s: Stack): unknown {
  return {
    source: {
      kind: 'kafka',
      kafka: {
        brokers: s.env.brokers,
        topics: [s.topic],
        groupId: s.groupId,
        fromBeginning: true,
        // 6 s is Kafka's default group.min.session.timeout.ms: a killed member is gone within it.
        sessionTimeoutMs: 6000,
        heartbeatIntervalMs: 500,
        rebalanceTimeoutMs: 10_000,
        maxWaitTimeMs: 200,
        commitIntervalMs: 200,
      },
    },
    sink: {
      kind: 'opensearch',
      opensearch: {
        connection: { node: s.env.opensearchUrl, requestTimeoutMs: 15_000, ...opensearchAuth().connection },
        sink: { eventsAlias: s.eventsAlias, findingsAlias: s.findingsAlias, flushIntervalMs: 50, retry: { initialMs: 50, maxMs: 2000 } },
      },
    },
    deadLetter: { kind: 'kafka', topic: s.dlqTopic },
    integrity: { keyFile: s.keyFile, requireKey: true, indexPrefix: s.integrityPrefix },
    service: { enabled: false, shutdownTimeoutSeconds: 30 },
    log: { level: process.env.DRILL_MEMBER_LOG_LEVEL ?? 'warn' },
  }
}

/**
 * An `envoy-audit run` member. With `supervise`, a member that exits on its own is started again, as a
 * Kubernetes Deployment would, and the exit is counted: the drill reports it, it is not data loss.
 */
export class Member {
  proc: ServiceProcess
  starts = 1
  unexpectedExits: string[] = []
  private stopping = false
  private incarnation = 0

  constructor(
    private readonly s: Stack,
    readonly label: string,
    private readonly supervise: boolean,
    private readonly log: (l: string) => void,
  ) {
    this.proc = this.spawn()
  }

  private spawn(): ServiceProcess {
    const p = startService(memberConfig(this.s), join(this.s.dir, `${this.label}-${this.incarnation++}.yaml`))
    void p.exited.then((code) => {
      if (this.stopping || p !== this.proc) return
      const tail = p.stderr().trim().split('\n').slice(-3).join(' | ')
      this.unexpectedExits.push(`${String(code)}: ${tail.slice(0, 500)}`)
      this.log(`member ${this.label} exited on its own (${String(code)}): ${tail.slice(0, 300)}`)
      if (this.supervise) {
        this.starts++
        this.proc = this.spawn()
      }
    })
    return p
  }

  /** SIGKILL: the process dies wherever it is. */
  async kill(): Promise<void> {
    this.stopping = true
    this.proc.child.kill('SIGKILL')
    await this.proc.exited
  }

  /** SIGTERM: the graceful stop (drain, commit, leave the group); resolves with the exit code. */
  async stop(): Promise<number | string> {
    this.stopping = true
    if (this.proc.child.exitCode !== null || this.proc.child.signalCode !== null)
      return this.proc.child.exitCode ?? this.proc.child.signalCode ?? -1
    this.proc.child.kill('SIGTERM')
    return this.proc.exited
  }

  /** The CLI's fatal error line (`envoy-audit: ... [EA_...]`), if the member printed one. */
  fatalLine(): string | undefined {
    return [...this.proc.stderr().matchAll(/^envoy-audit: .*\[EA_[A-Z0-9_]+\]$/gm)].at(-1)?.[0]
  }

  stderrTail(): string {
    return this.proc.stderr().slice(-2000)
  }
}

/** Deletes everything the stack created: topics, groups, indices, templates and the ISM policy. */
export async function removeStack(s: Stack, readerGroups: string[], log: (l: string) => void): Promise<void> {
  const url = s.env.opensearchUrl
  const req = (method: string, path: string): Promise<Response> =>
    fetch(`${url}${path}`, { method, headers: s.osHeaders, signal: AbortSignal.timeout(30_000) })
  try {
    await s.admin.deleteGroups([s.groupId, ...readerGroups]).catch(() => undefined)
    await s.admin.deleteTopics({ topics: [s.topic, s.dlqTopic] })
    const indices = (await (await req('GET', `/_cat/indices/${s.name}-*?format=json&h=index&expand_wildcards=all`)).json()) as {
      index: string
    }[]
    for (const i of indices) await req('DELETE', `/${encodeURIComponent(i.index)}`)
    const templates = (await (await req('GET', `/_index_template/${s.name}-*`)).json()) as { index_templates?: { name: string }[] }
    for (const t of templates.index_templates ?? []) await req('DELETE', `/_index_template/${encodeURIComponent(t.name)}`)
    await req('DELETE', `/_plugins/_ism/policies/${s.name}-retention`)
  } catch (err) {
    log(`cleanup of ${s.name} incomplete: ${(err as Error).message}`)
  } finally {
    await s.admin.disconnect().catch(() => undefined)
  }
}
