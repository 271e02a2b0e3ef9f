/**
 * The transform worker threads (node:worker_threads): each builds the same parser and stages as the
 * main thread from the same configuration (src/compose/transform-worker.ts) and answers micro-batches
 * (worker-protocol.ts). The pool never fails a batch: a job it cannot answer (no worker ready yet, a
 * worker that died or exited with jobs in flight) settles as `undefined`, and the runner parses that
 * slice on its own thread from the records it still holds. A worker that dies is replaced, up to a
 * bound; past it the pool stops using workers and says why once.
 */
import { Worker } from 'node:worker_threads'
import { packJob, type TransformJob, type TransformReply } from './worker-protocol.js'
export type { ReplyShape } from './worker-protocol.js'
import type { RawRecord } from './component.js'

export interface TransformPoolOptions {
  /** The worker's module: a `.js` file, or under tsx/vitest a `.ts` one (booted through tsx's loader). */
  script: URL
  /** Handed to every worker (structured clone): what it builds its parser and stages from. */
  workerData: unknown
  size: number
  /** Told once per worker that died, and when the pool gives up on workers. */
  warn?: (message: string) => void
  /** Replacements for dead workers before the pool stops using workers (default: 3 per worker). */
  maxRestarts?: number
}

export interface PoolStats {
  workers: number
  ready: number
  busy: number
  queued: number
  answered: number
  redone: number
  unanswered: number
  crashes: number
  restarts: number
}

/** The stats that go up and down; the others only count up. */
export const POOL_GAUGES: readonly (keyof PoolStats)[] = ['workers', 'ready', 'busy', 'queued']

/** The stats of a pool not started yet. */
export function idlePoolStats(workers: number): PoolStats {
  return { workers, ready: 0, busy: 0, queued: 0, answered: 0, redone: 0, unanswered: 0, crashes: 0, restarts: 0 }
}

interface Slot {
  worker: Worker
  ready: boolean
  inFlight: Map<number, (reply: TransformReply | undefined) => void>
}

export class TransformPool {
  readonly size: number
  private readonly slots: Slot[] = []
  private nextId = 0
  private restarts = 0
  private closed = false
  private broken = false
  private answered = 0
  private redone = 0
  private unanswered = 0
  private crashes = 0
  private readonly maxRestarts: number

  constructor(private readonly options: TransformPoolOptions) {
    this.size = options.size
    this.maxRestarts = options.maxRestarts ?? 3 * options.size
  }

  /**
   * Starts the workers and resolves once each has built its stages or died (a worker that is not
   * ready within `readyTimeoutMs` is waited for no longer: until it is, its share runs on the main thread).
   */
  async start(readyTimeoutMs = 60_000): Promise<void> {
    if (this.slots.length > 0 || this.closed) return
    for (let i = 0; i < this.size; i++) this.slots.push(this.spawn())
    const settled = this.slots.map(
      (s) =>
        new Promise<void>((resolve) => {
          if (s.ready) return resolve()
          s.worker.once('message', () => resolve())
          s.worker.once('exit', () => resolve())
        }),
    )
    let timer: NodeJS.Timeout | undefined
    await Promise.race([Promise.all(settled), new Promise<void>((r) => (timer = setTimeout(r, readyTimeoutMs).unref()))])
    clearTimeout(timer)
  }

  /**
   * What the pool is doing now (workers, ready, busy: with a slice to answer, queued: slices sent and not
   * yet answered) and since it started: slices answered, slices handed back (CRI partial lines or a job
   * that threw), slices a dying worker left unanswered (each parsed again on the main thread), workers
   * that died while the pool was open, and dead workers replaced.
   */
  stats(): PoolStats {
    let busy = 0
    let queued = 0
    for (const s of this.slots) {
      if (s.inFlight.size > 0) busy++
      queued += s.inFlight.size
    }
    return {
      workers: this.size,
      ready: this.ready(),
      busy,
      queued,
      answered: this.answered,
      redone: this.redone,
      unanswered: this.unanswered,
      crashes: this.crashes,
      restarts: this.restarts,
    }
  }

  /** Workers ready to take a job. */
  ready(): number {
    return this.broken ? 0 : this.slots.filter((s) => s.ready).length
  }

  /** The worker threads, for diagnostics and for the tests and drills that kill one. */
  threads(): readonly Worker[] {
    return this.slots.map((s) => s.worker)
  }

  /**
   * Sends a slice to the least busy ready worker. Resolves with its reply, or `undefined` when no
   * worker answered (none ready, or it died): never rejects.
   */
  run(slice: readonly RawRecord[]): Promise<TransformReply | undefined> {
    let best: Slot | undefined
    for (const s of this.slots) if (s.ready && (best === undefined || s.inFlight.size < best.inFlight.size)) best = s
    if (best === undefined || this.broken || this.closed) return Promise.resolve(undefined)
    const id = this.nextId++
    const slot = best
    const { job, transfer } = packJob(id, slice)
    return new Promise((resolve) => {
      slot.inFlight.set(id, resolve)
      // Referenced only while it owes an answer: an idle pool never keeps the process alive.
      slot.worker.ref()
      try {
        slot.worker.postMessage(job satisfies TransformJob, transfer)
      } catch {
        slot.inFlight.delete(id)
        this.unanswered++
        resolve(undefined)
      }
    })
  }

  /** Terminates every worker; jobs in flight settle as unanswered. Idempotent. */
  async close(): Promise<void> {
    this.closed = true
    const slots = this.slots.splice(0)
    for (const s of slots) settleAll(s)
    await Promise.all(slots.map((s) => s.worker.terminate().catch(() => 0)))
  }

  private spawn(): Slot {
    const worker = new Worker(bootUrl(this.options.script), { workerData: this.options.workerData })
    const slot: Slot = { worker, ready: false, inFlight: new Map() }
    worker.on('message', (m: TransformReply | { ready: true }) => {
      if ('ready' in m) {
        slot.ready = true
        if (slot.inFlight.size === 0) worker.unref()
        return
      }
      if (m.result !== undefined) this.answered++
      else this.redone++
      const settle = slot.inFlight.get(m.id)
      slot.inFlight.delete(m.id)
      if (slot.inFlight.size === 0) worker.unref()
      settle?.(m)
    })
    // 'error' is followed by 'exit': the slot is settled and replaced once, on exit.
    worker.on('error', (err) => this.options.warn?.(`transform worker ${worker.threadId} failed: ${err.message}`))
    worker.on('exit', (code) => {
      slot.ready = false
      if (this.closed) return void settleAll(slot)
      this.crashes++
      this.unanswered += settleAll(slot)
      this.options.warn?.(`transform worker ${worker.threadId} exited (code ${code}); its slices are parsed on the main thread`)
      const at = this.slots.indexOf(slot)
      if (at < 0) return
      if (this.restarts >= this.maxRestarts) {
        if (!this.broken) this.options.warn?.(`transform workers died ${this.restarts + 1} times: continuing on the main thread only`)
        this.broken = true
        return
      }
      this.restarts++
      this.slots[at] = this.spawn()
    })
    return slot
  }
}

/** Settles every job of the slot as unanswered; returns how many there were. */
function settleAll(slot: Slot): number {
  const waiting = [...slot.inFlight.values()]
  slot.inFlight.clear()
  for (const settle of waiting) settle(undefined)
  return waiting.length
}

/** A `.ts` entry (tests, tsx) is booted through tsx's loader, which each worker thread registers for itself. */
function bootUrl(script: URL): URL {
  if (!script.pathname.endsWith('.ts')) return script
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'))
  const boot = `import { register } from ${tsx}; register(); await import(${JSON.stringify(script.href)})`
  return new URL(`data:text/javascript,${encodeURIComponent(boot)}`)
}
