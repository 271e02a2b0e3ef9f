/**
 * The four faults of the real-server drills, each run inside the frame of real-drill.ts (which
 * produces, checks commits every 2 s and draws the books afterwards):
 *
 * real-sigkill        `envoy-audit run` killed with SIGKILL `kills` times, each time a random 0.2-2 s
 *                     after its incarnation first made progress, with a backlog still to process.
 * real-kafka-restart  the broker stopped (SIGTERM, then SIGKILL on the next round) and started again.
 * real-opensearch-restart  the node stopped while a bulk request is executing (SIGKILL, then SIGTERM)
 *                     and started again.
 * real-rebalance      a second member joins the group and leaves it (SIGTERM, then SIGKILL).
 */
import { AssignerProtocol } from 'kafkajs'
import { startKafka, startOpenSearch, stopService } from '../services/services.js'
import { committedOffsets, highWatermarks } from './real-books.js'
import type { DrillContext, DrillSpec, ScenarioResult } from './real-drill.js'
import { sleep } from './real-traffic.js'

const signalFor = (round: number, first: NodeJS.Signals, second: NodeJS.Signals): NodeJS.Signals => (round % 2 === 0 ? first : second)

/** Records in the topic past the group's committed offsets: the work a fault lands in the middle of. */
async function backlog(ctx: DrillContext): Promise<number> {
  const committed = await committedOffsets(ctx.stack.admin, ctx.stack.groupId, ctx.stack.topic)
  const high = await highWatermarks(ctx.stack.admin, ctx.stack.topic)
  return [...high].reduce((n, [p, h]) => n + h - (committed.get(p) ?? 0), 0)
}

async function sigkill(ctx: DrillContext): Promise<ScenarioResult> {
  const { opts, log } = ctx
  let killsMidStream = 0
  const delays: number[] = []
  for (let k = 0; k < opts.kills; k++) {
    const m = ctx.spawn(`kill-${k}`, false)
    // Kill only once this incarnation is doing work: a kill during start-up tests nothing.
    const startedIn = await ctx.waitProgress(`incarnation ${k + 1} making progress`)
    const delay = 200 + Math.floor(ctx.random() * 1800)
    await sleep(delay)
    const left = await backlog(ctx)
    await m.kill()
    delays.push(delay)
    if (left > 0 && m.unexpectedExits.length === 0) killsMidStream++
    await ctx.books.checkCommits(`after kill ${k + 1}`)
    log(`kill ${k + 1}/${opts.kills}: ${delay} ms after first progress (${startedIn} ms after start), ${left} records not yet committed`)
  }
  ctx.members.push(ctx.spawn('final', true))
  await ctx.waitProgress('the last incarnation making progress')
  await sleep(opts.runSeconds * 1000)
  return {
    ok: killsMidStream === opts.kills,
    kills: opts.kills,
    killsMidStream,
    killDelayMsMin: Math.min(...delays),
    killDelayMsMax: Math.max(...delays),
  }
}

async function kafkaRestart(ctx: DrillContext): Promise<ScenarioResult> {
  const { opts, log, env } = ctx
  ctx.members.push(ctx.spawn('member', true))
  await ctx.waitProgress('the member making progress')
  const rounds: string[] = []
  let resumed = 0
  for (let r = 0; r < opts.restarts; r++) {
    await sleep(opts.runSeconds * 1000)
    const signal = signalFor(r, 'SIGTERM', 'SIGKILL')
    const left = await backlog(ctx)
    const t0 = Date.now()
    await stopService(env.services, 'kafka', { signal, graceMs: 60_000 })
    const stopMs = Date.now() - t0
    await sleep(opts.downSeconds * 1000)
    const t1 = Date.now()
    await startKafka(env.services)
    const startMs = Date.now() - t1
    await ctx.books.checkCommits(`after kafka restart ${r + 1}`)
    const resumeMs = await ctx.waitProgress(`progress after kafka restart ${r + 1}`, 180_000)
    resumed++
    rounds.push(
      `${signal}: ${left} records not yet committed, stop ${stopMs} ms, down ` +
        `${opts.downSeconds} s, start ${startMs} ms, progress again ${resumeMs} ms later`,
    )
    log(`kafka restart ${r + 1}/${opts.restarts}: ${rounds.at(-1)!}`)
  }
  await sleep(opts.runSeconds * 1000)
  return { ok: resumed === opts.restarts, restarts: opts.restarts, rounds }
}

async function opensearchRestart(ctx: DrillContext): Promise<ScenarioResult> {
  const { opts, log, env } = ctx
  ctx.members.push(ctx.spawn('member', true))
  await ctx.waitProgress('the member making progress')
  const rounds: string[] = []
  let midBulk = 0
  for (let r = 0; r < opts.restarts; r++) {
    await sleep(opts.runSeconds * 1000)
    const signal = signalFor(r, 'SIGKILL', 'SIGTERM')
    // Stop it while a bulk request is executing on the node.
    let bulks = 0
    const deadline = Date.now() + 15_000
    while (bulks === 0 && Date.now() < deadline) {
      bulks = await ctx.books.index.bulkTasksInFlight().catch(() => 0)
      if (bulks === 0) await sleep(5)
    }
    if (bulks > 0) midBulk++
    const t0 = Date.now()
    await stopService(env.services, 'opensearch', { signal, graceMs: 60_000 })
    const stopMs = Date.now() - t0
    await sleep(opts.downSeconds * 1000)
    const t1 = Date.now()
    await startOpenSearch(env.services)
    const startMs = Date.now() - t1
    await ctx.books.checkCommits(`after opensearch restart ${r + 1}`)
    const resumeMs = await ctx.waitProgress(`progress after opensearch restart ${r + 1}`, 180_000)
    rounds.push(
      `${signal} with ${bulks} bulk request(s) executing: stop ${stopMs} ms, down ` +
        `${opts.downSeconds} s, start ${startMs} ms, progress again ${resumeMs} ms later`,
    )
    log(`opensearch restart ${r + 1}/${opts.restarts}: ${rounds.at(-1)!}`)
  }
  await sleep(opts.runSeconds * 1000)
  return { ok: midBulk === opts.restarts, restarts: opts.restarts, stoppedMidBulk: midBulk, rounds }
}

/** Members of the group with the partitions each holds. */
async function groupMembers(ctx: DrillContext): Promise<number[][]> {
  const { groups } = await ctx.stack.admin.describeGroups([ctx.stack.groupId])
  const g = groups[0]
  if (g === undefined || g.state !== 'Stable') return []
  return g.members.map((m) =>
    m.memberAssignment.length === 0
      ? []
      : (AssignerProtocol.MemberAssignment.decode(m.memberAssignment)?.assignment[ctx.stack.topic] ?? []),
  )
}

async function waitGroup(ctx: DrillContext, what: string, ok: (members: number[][]) => boolean): Promise<number> {
  const t0 = Date.now()
  for (;;) {
    const members = await groupMembers(ctx).catch(() => [])
    if (ok(members)) return Date.now() - t0
    if (Date.now() - t0 > 90_000)
      throw new Error(`group ${ctx.stack.groupId}: ${what} not seen within 90 s (members: ${JSON.stringify(members)})`)
    await sleep(200)
  }
}

async function rebalance(ctx: DrillContext): Promise<ScenarioResult> {
  const { opts, log } = ctx
  const partitions = opts.partitions
  ctx.members.push(ctx.spawn('a', true))
  await ctx.waitProgress('member a making progress')
  const rounds: string[] = []
  let cleanLeaves = 0
  let leaves = 0
  for (let c = 0; c < opts.cycles; c++) {
    await sleep(opts.runSeconds * 1000)
    const b = ctx.spawn(`b-${c}`, false)
    const joinMs = await waitGroup(ctx, 'two members sharing the partitions', (m) => m.length === 2 && m.every((p) => p.length > 0))
    await ctx.books.checkCommits(`after b joined (${c + 1})`)
    await sleep(opts.runSeconds * 1000)
    const signal = signalFor(c, 'SIGTERM', 'SIGKILL')
    const left = await backlog(ctx)
    let exit: number | string = 'killed'
    if (signal === 'SIGTERM') {
      exit = await b.stop()
      if (exit === 0) cleanLeaves++
    } else {
      await b.kill()
      cleanLeaves++
    }
    await ctx.books.checkCommits(`after b left (${c + 1})`)
    const backMs = await waitGroup(ctx, 'member a alone with every partition', (m) => m.length === 1 && m[0]!.length === partitions)
    leaves++
    rounds.push(
      `b joined in ${joinMs} ms; left by ${signal} (exit ${String(exit)}) with ${left} ` +
        `records not yet committed; a held every partition again ${backMs} ms later`,
    )
    log(`cycle ${c + 1}/${opts.cycles}: ${rounds.at(-1)!}`)
  }
  await sleep(opts.runSeconds * 1000)
  return { ok: leaves === opts.cycles && cleanLeaves === opts.cycles, cycles: opts.cycles, rounds }
}

export const REAL_DRILLS: readonly DrillSpec[] = [
  { name: 'real-sigkill', scenario: sigkill },
  { name: 'real-kafka-restart', restarts: 'kafka', scenario: kafkaRestart },
  { name: 'real-opensearch-restart', restarts: 'opensearch', scenario: opensearchRestart },
  { name: 'real-rebalance', scenario: rebalance },
]
