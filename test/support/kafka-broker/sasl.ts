import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Handler, RequestContext } from './context.js'
import { ErrorCode, Writer } from './wire.js'

const MECHANISMS = ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512']
// kafkajs refuses fewer than 4096 iterations, as the RFC recommends.
const ITERATIONS = 4096

interface ScramStep {
  clientFirstBare: string
  serverFirst: string
  nonce: string
  salted: Buffer
}

export const saslHandshake: Handler = (r, ctx) => {
  const mechanism = r.string().toUpperCase()
  const ok = ctx.broker.opts.sasl !== undefined && MECHANISMS.includes(mechanism)
  if (ok) ctx.conn.saslMechanism = mechanism
  const w = new Writer().int16(ok ? ErrorCode.NONE : ErrorCode.UNSUPPORTED_SASL_MECHANISM)
  return w.array(ctx.broker.opts.sasl ? MECHANISMS : [], (w, m) => w.string(m))
}

const reply = (errorCode: number, message: string | null, bytes: Buffer): Writer =>
  new Writer().int16(errorCode).string(message).bytes(bytes)

const fail = (message: string): Writer => reply(ErrorCode.SASL_AUTHENTICATION_FAILED, message, Buffer.alloc(0))

export const saslAuthenticate: Handler = (r, ctx) => {
  const msg = (r.bytes() ?? Buffer.alloc(0)).toString('utf8')
  const users = ctx.broker.opts.sasl?.users ?? {}
  const mechanism = ctx.conn.saslMechanism
  if (!mechanism) return reply(ErrorCode.ILLEGAL_SASL_STATE, 'SaslHandshake first', Buffer.alloc(0))
  if (mechanism === 'PLAIN') {
    const [, user = '', password] = msg.split('\u0000')
    if (users[user] === undefined || users[user] !== password) return fail('Authentication failed: Invalid username or password')
    ctx.conn.authenticated = true
    return reply(ErrorCode.NONE, null, Buffer.alloc(0))
  }
  return scram(msg, ctx, mechanism === 'SCRAM-SHA-512' ? 'sha512' : 'sha256', users)
}

const attrs = (s: string): Record<string, string> => Object.fromEntries(s.split(',').map((kv) => [kv.slice(0, 1), kv.slice(2)]))

const hmac = (hash: string, key: Buffer, data: string): Buffer => createHmac(hash, key).update(data).digest()

// RFC 5802 server side: first message issues salt + nonce, second verifies the proof.
function scram(msg: string, ctx: RequestContext, hash: 'sha256' | 'sha512', users: Record<string, string>): Writer {
  const step = ctx.conn.saslStep as ScramStep | undefined
  if (!step) {
    const clientFirstBare = msg.replace(/^[^,]*,[^,]*,/, '')
    const { n: user = '', r: clientNonce = '' } = attrs(clientFirstBare)
    const password = users[user.replace(/=2C/g, ',').replace(/=3D/g, '=')]
    if (password === undefined) return fail('Authentication failed: Invalid username or password')
    const salt = randomBytes(16)
    const nonce = clientNonce + randomBytes(12).toString('base64')
    const serverFirst = `r=${nonce},s=${salt.toString('base64')},i=${ITERATIONS}`
    const salted = pbkdf2Sync(password, salt, ITERATIONS, hash === 'sha256' ? 32 : 64, hash)
    ctx.conn.saslStep = { clientFirstBare, serverFirst, nonce, salted } satisfies ScramStep
    return reply(ErrorCode.NONE, null, Buffer.from(serverFirst))
  }
  ctx.conn.saslStep = undefined
  const final = attrs(msg)
  const withoutProof = msg.slice(0, msg.lastIndexOf(',p='))
  if (final.r !== step.nonce || !final.p) return fail('Authentication failed: bad nonce')
  const authMessage = `${step.clientFirstBare},${step.serverFirst},${withoutProof}`
  const clientKey = hmac(hash, step.salted, 'Client Key')
  const storedKey = createHash(hash).update(clientKey).digest()
  const signature = hmac(hash, storedKey, authMessage)
  const proof = Buffer.from(final.p, 'base64')
  const recovered = Buffer.from(proof.map((b, i) => b ^ signature[i]!))
  const expected = createHash(hash).update(recovered).digest()
  if (proof.length !== signature.length || !timingSafeEqual(expected, storedKey)) {
    return fail('Authentication failed: Invalid username or password')
  }
  ctx.conn.authenticated = true
  const serverSignature = hmac(hash, hmac(hash, step.salted, 'Server Key'), authMessage)
  return reply(ErrorCode.NONE, null, Buffer.from(`v=${serverSignature.toString('base64')}`))
}
