import { randomUUID } from 'node:crypto'
import { ErrorCode } from './wire.js'

export interface JoinRequest {
  groupId: string
  memberId: string
  clientId: string
  sessionTimeout: number
  rebalanceTimeout: number
  protocolType: string
  protocols: { name: string; metadata: Buffer }[]
}

export interface JoinResult {
  errorCode: number
  generationId: number
  protocolName: string
  leaderId: string
  memberId: string
  members: { memberId: string; metadata: Buffer }[]
}

export interface SyncResult {
  errorCode: number
  assignment: Buffer
}

type GroupState = 'Empty' | 'PreparingRebalance' | 'CompletingRebalance' | 'Stable'

interface Member {
  memberId: string
  clientId: string
  sessionTimeout: number
  rebalanceTimeout: number
  protocols: { name: string; metadata: Buffer }[]
  assignment: Buffer
  lastSeen: number
  pendingJoin?: (r: JoinResult) => void
  pendingSync?: (r: SyncResult) => void
}

class Group {
  state: GroupState = 'Empty'
  generationId = 0
  protocolType = ''
  protocolName = ''
  leaderId = ''
  members = new Map<string, Member>()
  rebalanceTimer?: NodeJS.Timeout
  offsets = new Map<string, Map<number, number>>()
  departures: Departure[] = []
  constructor(readonly id: string) {}
}

const EMPTY = Buffer.alloc(0)

/** Why a member left its group, and how long the broker had not heard from it. */
export interface Departure {
  memberId: string
  reason: 'leave' | 'session-timeout' | 'rebalance-timeout'
  silentMs: number
  sessionTimeoutMs: number
}

export interface GroupSnapshot {
  state: GroupState
  generationId: number
  leaderId: string
  members: { memberId: string; clientId: string; assignment: Buffer }[]
}

// Single-node coordinator: Empty -> PreparingRebalance -> CompletingRebalance -> Stable.
// JoinGroup and SyncGroup calls are parked (their promises stay pending) until the round completes.
export class GroupCoordinator {
  private groups = new Map<string, Group>()
  private sweeper: NodeJS.Timeout

  constructor(sweepIntervalMs = 100) {
    this.sweeper = setInterval(() => this.expireSessions(), sweepIntervalMs)
    this.sweeper.unref()
  }

  close(): void {
    clearInterval(this.sweeper)
    for (const g of this.groups.values()) clearTimeout(g.rebalanceTimer)
  }

  private group(id: string): Group {
    let g = this.groups.get(id)
    if (!g) this.groups.set(id, (g = new Group(id)))
    return g
  }

  /** DescribeGroups: an unknown group is "Dead" with no members, as Kafka answers. */
  describe(groupId: string): {
    state: string
    protocolType: string
    protocolName: string
    members: { memberId: string; clientId: string; metadata: Buffer; assignment: Buffer }[]
  } {
    const g = this.groups.get(groupId)
    if (!g) return { state: 'Dead', protocolType: '', protocolName: '', members: [] }
    const stable = g.state === 'Stable' || g.state === 'CompletingRebalance'
    return {
      state: g.state,
      protocolType: g.protocolType,
      protocolName: stable ? g.protocolName : '',
      members: [...g.members.values()].map((m) => ({
        memberId: m.memberId,
        clientId: m.clientId,
        metadata: m.protocols.find((p) => p.name === g.protocolName)?.metadata ?? EMPTY,
        assignment: g.state === 'Stable' ? m.assignment : EMPTY,
      })),
    }
  }

  departures(groupId: string): Departure[] {
    return [...(this.groups.get(groupId)?.departures ?? [])]
  }

  snapshot(groupId: string): GroupSnapshot | undefined {
    const g = this.groups.get(groupId)
    if (!g) return undefined
    const members = [...g.members.values()].map((m) => ({ memberId: m.memberId, clientId: m.clientId, assignment: m.assignment }))
    return { state: g.state, generationId: g.generationId, leaderId: g.leaderId, members }
  }

  join(req: JoinRequest): Promise<JoinResult> {
    const g = this.group(req.groupId)
    const fail = (errorCode: number): Promise<JoinResult> =>
      Promise.resolve({ errorCode, generationId: -1, protocolName: '', leaderId: '', memberId: req.memberId, members: [] })
    if (g.members.size > 0 && (g.protocolType !== req.protocolType || !this.commonProtocol(g, req.protocols))) {
      return fail(ErrorCode.INCONSISTENT_GROUP_PROTOCOL)
    }
    let member: Member | undefined
    if (req.memberId === '') {
      member = {
        memberId: `${req.clientId}-${randomUUID()}`,
        clientId: req.clientId,
        sessionTimeout: req.sessionTimeout,
        rebalanceTimeout: req.rebalanceTimeout,
        protocols: req.protocols,
        assignment: EMPTY,
        lastSeen: Date.now(),
      }
      g.members.set(member.memberId, member)
    } else {
      member = g.members.get(req.memberId)
      if (!member) return fail(ErrorCode.UNKNOWN_MEMBER_ID)
      Object.assign(member, { sessionTimeout: req.sessionTimeout, rebalanceTimeout: req.rebalanceTimeout, protocols: req.protocols })
      member.lastSeen = Date.now()
    }
    g.protocolType = req.protocolType
    const m = member
    return new Promise((resolve) => {
      // A rejoin over a new connection supersedes a join parked on a dead one.
      m.pendingJoin?.({
        errorCode: ErrorCode.REBALANCE_IN_PROGRESS,
        generationId: -1,
        protocolName: '',
        leaderId: '',
        memberId: m.memberId,
        members: [],
      })
      m.pendingJoin = resolve
      this.prepareRebalance(g)
      this.maybeCompleteJoin(g)
    })
  }

  sync(
    groupId: string,
    generationId: number,
    memberId: string,
    assignments: { memberId: string; assignment: Buffer }[],
  ): Promise<SyncResult> {
    const g = this.groups.get(groupId)
    const m = g?.members.get(memberId)
    const fail = (errorCode: number) => Promise.resolve({ errorCode, assignment: EMPTY })
    if (!g || !m) return fail(ErrorCode.UNKNOWN_MEMBER_ID)
    m.lastSeen = Date.now()
    if (g.state === 'PreparingRebalance') return fail(ErrorCode.REBALANCE_IN_PROGRESS)
    if (generationId !== g.generationId) return fail(ErrorCode.ILLEGAL_GENERATION)
    if (g.state === 'Stable') return Promise.resolve({ errorCode: ErrorCode.NONE, assignment: m.assignment })
    return new Promise((resolve) => {
      m.pendingSync = resolve
      if (memberId !== g.leaderId) return
      const byMember = new Map(assignments.map((a) => [a.memberId, a.assignment]))
      g.state = 'Stable'
      for (const member of g.members.values()) {
        member.assignment = byMember.get(member.memberId) ?? EMPTY
        member.lastSeen = Date.now()
        const reply = member.pendingSync
        member.pendingSync = undefined
        reply?.({ errorCode: ErrorCode.NONE, assignment: member.assignment })
      }
    })
  }

  heartbeat(groupId: string, generationId: number, memberId: string): number {
    const g = this.groups.get(groupId)
    const m = g?.members.get(memberId)
    if (!g || !m) return ErrorCode.UNKNOWN_MEMBER_ID
    m.lastSeen = Date.now()
    if (g.state === 'PreparingRebalance') return ErrorCode.REBALANCE_IN_PROGRESS
    if (generationId !== g.generationId) return ErrorCode.ILLEGAL_GENERATION
    return ErrorCode.NONE
  }

  leave(groupId: string, memberId: string): number {
    const g = this.groups.get(groupId)
    if (!g || !g.members.has(memberId)) return ErrorCode.UNKNOWN_MEMBER_ID
    this.removeMember(g, memberId, 'leave')
    return ErrorCode.NONE
  }

  commit(groupId: string, generationId: number, memberId: string, offsets: { topic: string; partition: number; offset: number }[]): number {
    const g = this.group(groupId)
    // Admin-style commits (no generation, no member) are only allowed on an empty group.
    if (generationId < 0 && memberId === '') {
      if (g.members.size > 0) return ErrorCode.UNKNOWN_MEMBER_ID
    } else {
      const m = g.members.get(memberId)
      if (!m) return ErrorCode.UNKNOWN_MEMBER_ID
      m.lastSeen = Date.now()
      // As in Kafka: a member may still commit with its current generation while the group is
      // PreparingRebalance (that is how consumers commit on revocation), but not while
      // assignments are being handed out.
      if (g.state === 'CompletingRebalance') return ErrorCode.REBALANCE_IN_PROGRESS
      if (generationId !== g.generationId) return ErrorCode.ILLEGAL_GENERATION
    }
    for (const o of offsets) {
      let t = g.offsets.get(o.topic)
      if (!t) g.offsets.set(o.topic, (t = new Map()))
      t.set(o.partition, o.offset)
    }
    return ErrorCode.NONE
  }

  committed(groupId: string, topic: string, partition: number): number | undefined {
    return this.groups.get(groupId)?.offsets.get(topic)?.get(partition)
  }

  committedForTopic(groupId: string, topic: string): Record<number, number> {
    return Object.fromEntries(this.groups.get(groupId)?.offsets.get(topic) ?? [])
  }

  private commonProtocol(g: Group, candidate: { name: string }[]): string | undefined {
    return candidate.map((p) => p.name).find((name) => [...g.members.values()].every((m) => m.protocols.some((p) => p.name === name)))
  }

  private prepareRebalance(g: Group): void {
    if (g.state === 'PreparingRebalance') return
    if (g.state === 'CompletingRebalance') {
      for (const m of g.members.values()) {
        const reply = m.pendingSync
        m.pendingSync = undefined
        reply?.({ errorCode: ErrorCode.REBALANCE_IN_PROGRESS, assignment: EMPTY })
      }
    }
    g.state = 'PreparingRebalance'
    const timeout = Math.max(...[...g.members.values()].map((m) => m.rebalanceTimeout), 0)
    clearTimeout(g.rebalanceTimer)
    // Members that never rejoin are evicted once the rebalance timeout passes.
    g.rebalanceTimer = setTimeout(() => {
      for (const m of [...g.members.values()]) {
        if (m.pendingJoin) continue
        g.members.delete(m.memberId)
        g.departures.push({
          memberId: m.memberId,
          reason: 'rebalance-timeout',
          silentMs: Date.now() - m.lastSeen,
          sessionTimeoutMs: m.sessionTimeout,
        })
      }
      this.maybeCompleteJoin(g)
    }, timeout)
    g.rebalanceTimer.unref()
  }

  private maybeCompleteJoin(g: Group): void {
    if (g.state !== 'PreparingRebalance') return
    const members = [...g.members.values()]
    if (members.some((m) => !m.pendingJoin)) return
    clearTimeout(g.rebalanceTimer)
    g.generationId += 1
    if (members.length === 0) {
      g.state = 'Empty'
      g.leaderId = ''
      return
    }
    if (!g.members.has(g.leaderId)) g.leaderId = members[0]!.memberId
    const leader = g.members.get(g.leaderId)!
    g.protocolName = this.commonProtocol(g, leader.protocols) ?? ''
    g.state = 'CompletingRebalance'
    const metadata = members.map((m) => ({
      memberId: m.memberId,
      metadata: m.protocols.find((p) => p.name === g.protocolName)?.metadata ?? EMPTY,
    }))
    for (const m of members) {
      const reply = m.pendingJoin!
      m.pendingJoin = undefined
      m.assignment = EMPTY
      m.lastSeen = Date.now()
      reply({
        errorCode: ErrorCode.NONE,
        generationId: g.generationId,
        protocolName: g.protocolName,
        leaderId: g.leaderId,
        memberId: m.memberId,
        members: m.memberId === g.leaderId ? metadata : [],
      })
    }
  }

  private removeMember(g: Group, memberId: string, reason: Departure['reason']): void {
    const m = g.members.get(memberId)
    if (!m) return
    g.members.delete(memberId)
    g.departures.push({ memberId, reason, silentMs: Date.now() - m.lastSeen, sessionTimeoutMs: m.sessionTimeout })
    m.pendingJoin?.({ errorCode: ErrorCode.UNKNOWN_MEMBER_ID, generationId: -1, protocolName: '', leaderId: '', memberId, members: [] })
    m.pendingSync?.({ errorCode: ErrorCode.UNKNOWN_MEMBER_ID, assignment: EMPTY })
    this.prepareRebalance(g)
    this.maybeCompleteJoin(g)
  }

  // A member parked in JoinGroup is covered by the rebalance timeout instead.
  private expireSessions(): void {
    const now = Date.now()
    for (const g of this.groups.values()) {
      for (const m of [...g.members.values()]) {
        if (!m.pendingJoin && now - m.lastSeen > m.sessionTimeout) this.removeMember(g, m.memberId, 'session-timeout')
      }
    }
  }
}
