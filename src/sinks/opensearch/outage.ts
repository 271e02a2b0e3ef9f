/**
 * The sink's view of whether OpenSearch can be written to at all. A request-level failure (no
 * connection, a timeout, a status on the whole request) is about the path to the cluster, not about
 * the documents in that request: every other request would fail the same way. So the sink does not
 * let each bulk request back off on its own (each sleep held a concurrency slot and grew to
 * retry.maxMs, so after a 30 s outage the first request went out up to 30 s after the cluster was
 * back). It stops sending, and one small probe request tests the path, at most `probeMaxMs` apart;
 * when a probe gets through, everything waiting goes at once.
 *
 * A cluster that takes the probes but fails full requests again (overload: a one-document request
 * passes where a 5 MiB one does not) must not be hammered with full requests every probe interval:
 * each such relapse doubles the wait before the next probe, up to retry.maxMs, until a full request
 * succeeds.
 */
import { backoffMs } from './classify.js'

export interface OutageTiming {
  initialMs: number
  maxMs: number
  probeMaxMs: number
}

export class OutageGate {
  /** Full requests that failed since the last one that succeeded, counted once per opening. */
  private relapses = 0
  /** Probes that failed in a row. */
  private probes = 0
  private openedAt: number | undefined

  constructor(
    private readonly timing: OutageTiming,
    private readonly random: () => number = Math.random,
    private readonly now: () => number = Date.now,
  ) {}

  private get probeCap(): number {
    return Math.min(this.timing.probeMaxMs, this.timing.maxMs)
  }

  get open(): boolean {
    return this.openedAt !== undefined
  }

  /** How long the gate has been open (0 when closed). */
  get openForMs(): number {
    return this.openedAt === undefined ? 0 : this.now() - this.openedAt
  }

  /**
   * A full request failed. Returns the wait before the first probe when this opened the gate;
   * undefined when it was open already (a request sent before it opened).
   */
  requestFailed(): number | undefined {
    if (this.openedAt !== undefined) return undefined
    this.openedAt = this.now()
    this.probes = 0
    const t = this.timing
    return this.relapses++ === 0
      ? backoffMs(0, t.initialMs, this.probeCap, this.random)
      : backoffMs(this.relapses - 1, t.initialMs, t.maxMs, this.random)
  }

  /** The probe failed too: the wait before the next one. */
  probeFailed(): number {
    return backoffMs(++this.probes, this.timing.initialMs, this.probeCap, this.random)
  }

  /** The probe got through: the gate closes; returns how long it was open. */
  probeSucceeded(): number {
    const was = this.openForMs
    this.openedAt = undefined
    this.probes = 0
    return was
  }

  /** A full request got through: the cluster takes real load again, so the next outage starts afresh. */
  requestSucceeded(): void {
    if (this.openedAt === undefined) this.relapses = 0
  }
}
