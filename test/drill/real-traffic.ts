/**
 * The traffic of the real-server drills: the demo's simulated mesh (src/demo: Istio JSON and TEXT
 * lines in Fluent Bit and CRI envelopes, with the istio-proxy noise the demo plants), regenerated in
 * chunks with a fresh seed so every line is new, plus one planted junk line in every `junkEvery`
 * (a Fluent Bit record cut short, or an istio-proxy agent line) so the dead-letter path carries load.
 * Each line says whether it must be indexed or dead-lettered. The producer sends at a steady rate,
 * keyed by pod as the collectors do, and keeps a line it could not send for the next attempt.
 */
import { createHash } from 'node:crypto'
import { Kafka, logLevel, type Producer } from 'kafkajs'
import { generateMeshTraffic } from '../../src/demo/mesh-traffic.js'

export interface DrillLine {
  key: string
  text: string
  /** Must end as a dead letter (demo noise or planted junk), not as an event. */
  junk: boolean
}

/** A line's identity in the drill's books (the texts themselves would cost ~1 KB each). */
export const textHash = (text: string | Buffer): string => createHash('sha256').update(text).digest('base64url').slice(0, 22)

export class DrillTraffic {
  /** Every junk line handed out, sent or not: a record in the topic with one of these must be dead-lettered. */
  readonly junkHashes = new Set<string>()
  private chunk: DrillLine[] = []
  private next = 0
  private round = 0
  private count = 0

  constructor(
    private readonly seed: number,
    private readonly junkEvery = 40,
  ) {}

  take(): DrillLine {
    const line = this.draw()
    if (line.junk) this.junkHashes.add(textHash(line.text))
    return line
  }

  private draw(): DrillLine {
    if (this.next >= this.chunk.length) this.refill()
    const line = this.chunk[this.next++]!
    if (++this.count % this.junkEvery !== 0) return line
    // The planted junk keeps the line's key; its text cannot parse as an access log.
    const cut = this.count % (2 * this.junkEvery) === 0
    return {
      key: line.key,
      text: cut
        ? line.text.slice(0, Math.floor(line.text.length / 2))
        : `${new Date().toISOString()}\tinfo\tads\tADS: "drill-${this.seed}-${this.count}" push`,
      junk: true,
    }
  }

  private refill(): void {
    const minutes = 5
    const traffic = generateMeshTraffic({
      seed: this.seed * 1000 + this.round++,
      sessions: 200,
      durationMinutes: minutes,
      start: new Date(Date.now() - minutes * 60_000).toISOString(),
      noise: true,
    })
    this.chunk = traffic.lines.map((l) => ({ key: `${l.namespace}/${l.pod}`, text: l.text, junk: l.format === 'noise' }))
    this.next = 0
  }
}

export interface ProducerStats {
  /** Lines the broker acknowledged (acks=-1). */
  acked: number
  ackedJunk: number
  sendErrors: number
  lastError?: string
}

/**
 * Produces `rate` lines per second in 100 ms steps until stop(). Idempotent (no duplicate from its own
 * retries), so every acknowledged line is in the topic once; a failed send is retried with the same
 * lines, and a line whose failed send had reached the log anyway shows up twice in the topic.
 */
export class PacedProducer {
  readonly stats: ProducerStats = { acked: 0, ackedJunk: 0, sendErrors: 0 }
  /** textHash of every acknowledged line, to check that each one reached the topic. */
  readonly ackedHashes = new Set<string>()
  private readonly producer: Producer
  private running: Promise<void> | undefined
  private stopping = false

  constructor(
    brokers: string[],
    private readonly topic: string,
    private readonly traffic: DrillTraffic,
    private readonly rate: number,
    private readonly log: (l: string) => void,
  ) {
    const kafka = new Kafka({
      clientId: 'ea-drill-producer',
      brokers,
      logLevel: logLevel.NOTHING,
      retry: { retries: 8, initialRetryTime: 200, maxRetryTime: 3000 },
    })
    this.producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false })
  }

  async start(): Promise<void> {
    await this.producer.connect()
    this.running = this.loop()
  }

  private async loop(): Promise<void> {
    let pending: DrillLine[] = []
    let owed = 0
    let last = Date.now()
    while (!this.stopping) {
      await sleep(100)
      const now = Date.now()
      owed += ((now - last) / 1000) * this.rate
      last = now
      // While sends fail, do not pile up more than a few seconds of lines.
      while (owed >= 1 && pending.length < this.rate * 5) {
        pending.push(this.traffic.take())
        owed--
      }
      owed = Math.min(owed, this.rate)
      if (pending.length === 0) continue
      try {
        await this.producer.send({ topic: this.topic, acks: -1, messages: pending.map((l) => ({ key: l.key, value: l.text })) })
        for (const l of pending) {
          this.ackedHashes.add(textHash(l.text))
          if (l.junk) this.stats.ackedJunk++
        }
        this.stats.acked += pending.length
        pending = []
      } catch (err) {
        this.stats.sendErrors++
        this.stats.lastError = (err as Error).message
        if (this.stats.sendErrors % 10 === 1)
          this.log(
            `producer: send failed (${this.stats.sendErrors} so far), retrying the same ${pending.length} lines: ${(err as Error).message}`,
          )
      }
    }
    // Whatever is still pending when stopped was never acknowledged: it is not counted as produced,
    // and the final read of the topic decides whether it landed.
  }

  async stop(): Promise<void> {
    this.stopping = true
    await this.running
    await this.producer.disconnect().catch(() => undefined)
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
