import type { Handler } from './context.js'
import { ErrorCode, Writer } from './wire.js'

const NODE_ID = 0

// The single node coordinates every group.
export const findCoordinator: Handler = (r, ctx) => {
  r.string()
  const { host, port } = ctx.broker
  return new Writer()
    .int16(ctx.forcedError ?? ErrorCode.NONE)
    .int32(NODE_ID)
    .string(host)
    .int32(port)
}

export const joinGroup: Handler = async (r, ctx) => {
  const groupId = r.string()
  const sessionTimeout = r.int32()
  const rebalanceTimeout = ctx.apiVersion >= 1 ? r.int32() : sessionTimeout
  const memberId = r.string()
  const protocolType = r.string()
  const protocols = r.array((r) => ({ name: r.string(), metadata: r.bytes() ?? Buffer.alloc(0) }))
  const { groupMinSessionTimeoutMs = 6_000, groupMaxSessionTimeoutMs = 1_800_000 } = ctx.broker.opts
  const refused =
    ctx.forcedError ??
    (sessionTimeout < groupMinSessionTimeoutMs || sessionTimeout > groupMaxSessionTimeoutMs ? ErrorCode.INVALID_SESSION_TIMEOUT : undefined)
  const res =
    refused !== undefined
      ? { errorCode: refused, generationId: -1, protocolName: '', leaderId: '', memberId, members: [] }
      : await ctx.broker.groups.join({
          groupId,
          memberId,
          clientId: ctx.clientId,
          sessionTimeout,
          rebalanceTimeout,
          protocolType,
          protocols,
        })
  const w = new Writer()
  if (ctx.apiVersion >= 2) w.int32(0)
  w.int16(res.errorCode).int32(res.generationId).string(res.protocolName).string(res.leaderId).string(res.memberId)
  w.array(res.members, (w, m) => w.string(m.memberId).bytes(m.metadata))
  return w
}

export const syncGroup: Handler = async (r, ctx) => {
  const groupId = r.string()
  const generationId = r.int32()
  const memberId = r.string()
  const assignments = r.array((r) => ({ memberId: r.string(), assignment: r.bytes() ?? Buffer.alloc(0) }))
  const res =
    ctx.forcedError !== undefined
      ? { errorCode: ctx.forcedError, assignment: Buffer.alloc(0) }
      : await ctx.broker.groups.sync(groupId, generationId, memberId, assignments)
  return new Writer().int16(res.errorCode).bytes(res.assignment)
}

export const heartbeat: Handler = (r, ctx) => {
  const groupId = r.string()
  const generationId = r.int32()
  const memberId = r.string()
  const code = ctx.broker.groups.heartbeat(groupId, generationId, memberId)
  return new Writer().int16(ctx.forcedError ?? code)
}

export const leaveGroup: Handler = (r, ctx) => {
  const groupId = r.string()
  const memberId = r.string()
  const code = ctx.forcedError ?? ctx.broker.groups.leave(groupId, memberId)
  return new Writer().int16(code)
}

export const describeGroups: Handler = (r, ctx) => {
  const ids = r.array((r) => r.string())
  const w = new Writer()
  w.array(ids, (w, id) => {
    const g = ctx.broker.groups.describe(id)
    w.int16(ctx.forcedError ?? ErrorCode.NONE)
      .string(id)
      .string(g.state)
      .string(g.protocolType)
      .string(g.protocolName)
    w.array(g.members, (w, m) =>
      w.string(m.memberId).string(m.clientId).string(`/${ctx.broker.host}`).bytes(m.metadata).bytes(m.assignment),
    )
  })
  return w
}

export const offsetCommit: Handler = (r, ctx) => {
  const groupId = r.string()
  const generationId = r.int32()
  const memberId = r.string()
  if (ctx.apiVersion >= 2) r.int64() // retention: offsets are kept for the broker's lifetime
  const topics = r.array((r) => ({
    topic: r.string(),
    partitions: r.array((r) => {
      const partition = r.int32()
      const offset = r.int64()
      r.nullableString()
      return { partition, offset }
    }),
  }))
  const flat = topics.flatMap((t) => t.partitions.map((p) => ({ topic: t.topic, ...p })))
  const code = ctx.forcedError ?? ctx.broker.groups.commit(groupId, generationId, memberId, flat)
  const w = new Writer()
  w.array(topics, (w, t) => w.string(t.topic).array(t.partitions, (w, p) => w.int32(p.partition).int16(code)))
  return w
}

export const offsetFetch: Handler = (r, ctx) => {
  const groupId = r.string()
  const topics = r.array((r) => ({ topic: r.string(), partitions: r.array((r) => r.int32()) }))
  const w = new Writer()
  w.array(topics, (w, t) =>
    w.string(t.topic).array(t.partitions, (w, p) => {
      const offset = ctx.broker.groups.committed(groupId, t.topic, p) ?? -1
      w.int32(p)
        .int64(ctx.forcedError === undefined ? offset : -1)
        .string('')
        .int16(ctx.forcedError ?? ErrorCode.NONE)
    }),
  )
  return w
}
